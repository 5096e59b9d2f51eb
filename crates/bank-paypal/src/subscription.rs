//! Subscriptions (Billing v1): the catalog product, the plan and the subscription of a
//! recurring transaction, from `decrire_echeance`.
//!
//! The first payment is the plan's first cycle, charged when the payer approves: a
//! one-cycle `TRIAL` at the first amount when it differs from the instalments, then the
//! `REGULAR` cycles at the instalment amount (`count` of them, or until cancelled). A
//! failed payment suspends the subscription at once (`payment_failure_threshold` 1), so
//! that `resilier` follows the first failure as with the other providers.

use bank_core::{Echeance, Interval, Money, PaymentContext, Transaction};
use serde_json::{json, Value};

use crate::amount;
use crate::error::PayPalError;
use crate::event::is_paypal_id;

fn frequency(i: Interval) -> Value {
    json!({
        "interval_unit": match i { Interval::Month => "MONTH", Interval::Year => "YEAR" },
        "interval_count": 1,
    })
}

/// The catalog product of `tx`'s subscription.
pub fn product_body(tx: &Transaction) -> Value {
    json!({
        "name": format!("Subscription {}", tx.reference),
        "type": "SERVICE",
    })
}

/// The plan of `tx`'s schedule.
///
/// # Errors
/// [`PayPalError::Currency`] or [`PayPalError::Amount`] for amounts PayPal refuses;
/// [`PayPalError::Amount`] when the first payment and the instalments differ in currency.
pub fn plan_body(product_id: &str, tx: &Transaction, e: &Echeance) -> Result<Value, PayPalError> {
    if e.amount.currency() != tx.amount.currency() {
        return Err(PayPalError::Amount {
            amount: e.amount.to_decimal_string(),
            currency: e.amount.currency().code().to_string(),
            reason: "a subscription's instalments are in the first payment's currency",
        });
    }
    let price = |m: Money| -> Result<Value, PayPalError> {
        Ok(json!({ "fixed_price": amount::money_json(m)? }))
    };
    let mut cycles = Vec::new();
    let trial = tx.amount != e.amount;
    if trial {
        cycles.push(json!({
            "frequency": frequency(e.interval),
            "tenure_type": "TRIAL",
            "sequence": 1,
            "total_cycles": 1,
            "pricing_scheme": price(tx.amount)?,
        }));
    }
    // Without a trial the first regular cycle is the first payment.
    let regular = e.count.map_or(0, |n| n + u32::from(!trial));
    cycles.push(json!({
        "frequency": frequency(e.interval),
        "tenure_type": "REGULAR",
        "sequence": cycles.len() + 1,
        "total_cycles": regular,
        "pricing_scheme": price(e.amount)?,
    }));
    Ok(json!({
        "product_id": product_id,
        "name": format!("Plan {}", tx.reference),
        "status": "ACTIVE",
        "billing_cycles": cycles,
        "payment_preferences": {
            "auto_bill_outstanding": false,
            "setup_fee_failure_action": "CANCEL",
            "payment_failure_threshold": 1,
        },
    }))
}

/// The subscription of `tx` on `plan_id`: `custom_id` is our reference.
pub fn subscription_body(
    plan_id: &str,
    tx: &Transaction,
    ctx: &PaymentContext,
    brand: Option<&str>,
) -> Value {
    let mut app = json!({
        "return_url": ctx.urls.return_url,
        "cancel_url": ctx.urls.cancel_url,
        "user_action": "SUBSCRIBE_NOW",
        "shipping_preference": "NO_SHIPPING",
    });
    if let Some(b) = brand {
        app["brand_name"] = json!(b.chars().take(127).collect::<String>());
    }
    json!({
        "plan_id": plan_id,
        "custom_id": tx.reference,
        "application_context": app,
    })
}

/// The request id of one step of `tx`'s subscription (`product`, `plan`, `subscription`).
pub fn request_id(step: &str, reference: &str) -> String {
    format!(
        "bank-{step}-{}",
        reference.chars().take(64).collect::<String>()
    )
}

/// A subscription as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionView {
    /// `I-…`.
    pub id: String,
    /// `APPROVAL_PENDING`, `APPROVED`, `ACTIVE`, `SUSPENDED`, `CANCELLED`, `EXPIRED`.
    pub status: String,
    /// Our reference.
    pub custom_id: Option<String>,
    /// `create_time`.
    pub create_time: Option<String>,
}

impl SubscriptionView {
    /// Reads a subscription.
    ///
    /// # Errors
    /// [`PayPalError::Incomplete`] without id or status.
    pub fn read(v: &Value) -> Result<Self, PayPalError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let missing = |m| PayPalError::Incomplete {
            operation: "read a subscription",
            missing: m,
        };
        Ok(SubscriptionView {
            id: s("id").filter(|i| is_paypal_id(i)).ok_or(missing("id"))?,
            status: s("status").ok_or(missing("status"))?,
            custom_id: s("custom_id"),
            create_time: s("create_time"),
        })
    }
}

/// One payment of a subscription, from `GET …/subscriptions/{id}/transactions`.
#[derive(Clone, Debug, PartialEq)]
pub struct SalePayment {
    /// The sale id.
    pub id: String,
    /// `COMPLETED`, `DECLINED`, `PARTIALLY_REFUNDED`, `PENDING`, `REFUNDED`.
    pub status: String,
    /// `amount_with_breakdown.gross_amount`.
    pub amount: Option<Money>,
    /// `time`.
    pub time: String,
}

/// The payments of a subscription, oldest first.
///
/// # Errors
/// An amount PayPal wrote that ours cannot hold.
pub fn payments(list: &Value) -> Result<Vec<SalePayment>, PayPalError> {
    let mut v = Vec::new();
    for t in list
        .get("transactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(id), Some(status)) = (s("id"), s("status")) else {
            continue;
        };
        v.push(SalePayment {
            id,
            status,
            amount: amount::read_money(
                t.get("amount_with_breakdown")
                    .and_then(|a| a.get("gross_amount")),
            )
            .transpose()?,
            time: s("time").unwrap_or_default(),
        });
    }
    // RFC 3339 times in UTC ("Z") sort as text.
    v.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
    Ok(v)
}
