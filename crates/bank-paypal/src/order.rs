//! Orders v2: the create-order request of a transaction, its request id, and reading
//! orders and captures back.

use bank_core::{Money, PaymentContext, Transaction};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::amount;
use crate::error::PayPalError;
use crate::event::is_paypal_id;

/// Capture at once, or authorise now and capture later (staff, or the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// `CAPTURE`.
    Capture,
    /// `AUTHORIZE`.
    Authorize,
}

impl Intent {
    /// PayPal's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Capture => "CAPTURE",
            Intent::Authorize => "AUTHORIZE",
        }
    }
}

/// A create-order request ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRequest {
    /// The JSON body.
    pub body: Value,
    /// `PayPal-Request-Id`: the same transaction and body always give the same order
    /// (PayPal keeps ids six hours), a changed body a new one.
    pub request_id: String,
}

/// What the payer sees at PayPal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Experience {
    /// `brand_name` (the shop's name), at most 127 characters.
    pub brand_name: Option<String>,
    /// `locale` (`fr-FR`).
    pub locale: Option<String>,
}

fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The order of `tx`: one purchase unit carrying the reference (`custom_id`,
/// `invoice_id`) and the installation (`reference_id`), PayPal's amount for the
/// currency, and the return and cancel URLs; the payer is sent to `payer-action`.
///
/// # Errors
/// [`PayPalError::Currency`] or [`PayPalError::Amount`] for an amount PayPal refuses.
pub fn build(
    tx: &Transaction,
    ctx: &PaymentContext,
    intent: Intent,
    experience: &Experience,
) -> Result<OrderRequest, PayPalError> {
    let mut context = json!({
        "return_url": ctx.urls.return_url,
        "cancel_url": ctx.urls.cancel_url,
        "user_action": "PAY_NOW",
        "shipping_preference": "NO_SHIPPING",
        "landing_page": "NO_PREFERENCE",
    });
    if let Some(b) = &experience.brand_name {
        context["brand_name"] = json!(cut(b, 127));
    }
    if let Some(l) = &experience.locale {
        context["locale"] = json!(l);
    }
    let mut paypal = json!({ "experience_context": context });
    if let Some(email) = ctx.billing.as_ref().and_then(|b| b.email.as_deref()) {
        if email.len() <= 254 && email.contains('@') {
            paypal["email_address"] = json!(email);
        }
    }
    let body = json!({
        "intent": intent.as_str(),
        "purchase_units": [{
            "reference_id": cut(&ctx.installation, 256),
            "custom_id": cut(&tx.reference, 127),
            "invoice_id": cut(&tx.reference, 127),
            "description": cut(&format!("Payment {}", tx.reference), 127),
            "amount": amount::money_json(tx.amount)?,
        }],
        "payment_source": { "paypal": paypal },
    });
    let digest = Sha256::digest(body.to_string().as_bytes());
    Ok(OrderRequest {
        request_id: format!(
            "bank-order-{}-{}",
            cut(&tx.reference, 64),
            &hex::encode(digest)[..16]
        ),
        body,
    })
}

/// The request id of capturing (or authorising) order `order_id`: one per order, so a
/// retried or concurrent capture is the same capture.
pub fn capture_request_id(order_id: &str) -> String {
    format!("bank-capture-{order_id}")
}

/// Where to send the payer: the `payer-action` link, else `approve` (never built by
/// hand).
pub fn payer_link(order: &Value) -> Option<String> {
    let links = order.get("links")?.as_array()?;
    ["payer-action", "approve"].iter().find_map(|rel| {
        links
            .iter()
            .find(|l| l.get("rel").and_then(Value::as_str) == Some(rel))
            .and_then(|l| l.get("href").and_then(Value::as_str))
            .map(str::to_string)
    })
}

/// A capture (or authorisation), as read from an order or a capture answer.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentView {
    /// The capture or authorisation id.
    pub id: String,
    /// `status`: `COMPLETED`, `PENDING`, `DECLINED`, `FAILED`, `REFUNDED`,
    /// `PARTIALLY_REFUNDED` (captures); `CREATED`, `CAPTURED`, `VOIDED`… (authorisations).
    pub status: String,
    /// `status_details.reason`.
    pub reason: Option<String>,
    /// The amount.
    pub amount: Option<Money>,
    /// `custom_id`: our reference.
    pub custom_id: Option<String>,
    /// `invoice_id`.
    pub invoice_id: Option<String>,
    /// `payee.merchant_id`, when the answer has it.
    pub payee: Option<String>,
    /// `supplementary_data.related_ids.order_id`.
    pub order_id: Option<String>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl PaymentView {
    /// Reads a capture or authorisation object.
    ///
    /// # Errors
    /// [`PayPalError::Incomplete`] without an id or status; an amount error.
    pub fn read(v: &Value) -> Result<Self, PayPalError> {
        let missing = |m| PayPalError::Incomplete {
            operation: "read a payment",
            missing: m,
        };
        let id = s(v, "id")
            .filter(|i| is_paypal_id(i))
            .ok_or(missing("id"))?;
        let status = s(v, "status").ok_or(missing("status"))?;
        Ok(PaymentView {
            id,
            status,
            reason: v.get("status_details").and_then(|d| s(d, "reason")),
            amount: amount::read_money(v.get("amount")).transpose()?,
            custom_id: s(v, "custom_id"),
            invoice_id: s(v, "invoice_id"),
            payee: v.get("payee").and_then(|p| s(p, "merchant_id")),
            order_id: v
                .get("supplementary_data")
                .and_then(|d| d.get("related_ids"))
                .and_then(|r| s(r, "order_id")),
        })
    }
}

/// An order as read back: status, purchase unit and its payments.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderView {
    /// The order id.
    pub id: String,
    /// `status`: `CREATED`, `PAYER_ACTION_REQUIRED`, `APPROVED`, `COMPLETED`, `VOIDED`…
    pub status: String,
    /// `intent`.
    pub intent: Option<String>,
    /// The first purchase unit's `custom_id`.
    pub custom_id: Option<String>,
    /// Its `payee.merchant_id`.
    pub payee: Option<String>,
    /// Its amount.
    pub amount: Option<Money>,
    /// Its captures.
    pub captures: Vec<PaymentView>,
    /// Its authorisations.
    pub authorizations: Vec<PaymentView>,
}

impl OrderView {
    /// Reads an order.
    ///
    /// # Errors
    /// [`PayPalError::Incomplete`] without id, status or purchase unit; an amount error.
    pub fn read(v: &Value) -> Result<Self, PayPalError> {
        let missing = |m| PayPalError::Incomplete {
            operation: "read an order",
            missing: m,
        };
        let id = s(v, "id")
            .filter(|i| is_paypal_id(i))
            .ok_or(missing("id"))?;
        let status = s(v, "status").ok_or(missing("status"))?;
        let unit = v
            .get("purchase_units")
            .and_then(Value::as_array)
            .and_then(|u| u.first())
            .ok_or(missing("purchase unit"))?;
        let payments = |kind: &str| -> Result<Vec<PaymentView>, PayPalError> {
            unit.get("payments")
                .and_then(|p| p.get(kind))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(PaymentView::read).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
        };
        Ok(OrderView {
            id,
            status,
            intent: s(v, "intent"),
            custom_id: s(unit, "custom_id"),
            payee: unit.get("payee").and_then(|p| s(p, "merchant_id")),
            amount: amount::read_money(unit.get("amount")).transpose()?,
            captures: payments("captures")?,
            authorizations: payments("authorizations")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bank_core::{FormSigner, InstanceUrls};

    fn tx(minor: i64, code: &str) -> Transaction {
        let currency = bank_core::Currency::from_code(code).expect("currency");
        bank_core::testing::transaction(
            "shop-0123456789abcdef",
            Money::from_minor(minor, currency).expect("money"),
        )
    }

    fn ctx() -> PaymentContext {
        PaymentContext {
            installation: "shop".into(),
            urls: InstanceUrls::standard("https://shop.example", "paypal", "shop-0123456789abcdef"),
            now: chrono::Utc::now(),
            billing: None,
            echeance: None,
            signer: FormSigner::new(secrecy::SecretString::from(
                "0123456789abcdef0123456789abcdef".to_string(),
            )),
            counters: None,
        }
    }

    #[test]
    fn order_carries_reference_amount_and_urls() {
        let r = build(
            &tx(1990, "EUR"),
            &ctx(),
            Intent::Capture,
            &Experience::default(),
        )
        .expect("order");
        let unit = &r.body["purchase_units"][0];
        assert_eq!(r.body["intent"], "CAPTURE");
        assert_eq!(unit["custom_id"], "shop-0123456789abcdef");
        assert_eq!(unit["invoice_id"], "shop-0123456789abcdef");
        assert_eq!(unit["reference_id"], "shop");
        assert_eq!(
            unit["amount"],
            json!({"currency_code": "EUR", "value": "19.90"})
        );
        let ec = &r.body["payment_source"]["paypal"]["experience_context"];
        assert_eq!(
            ec["return_url"],
            "https://shop.example/bank/paypal/retour?ref=shop-0123456789abcdef"
        );
        assert!(r
            .request_id
            .starts_with("bank-order-shop-0123456789abcdef-"));
        assert!(
            r.request_id.len() <= 108,
            "PayPal-Request-Id is 1 to 108 characters"
        );
        let again = build(
            &tx(1990, "EUR"),
            &ctx(),
            Intent::Capture,
            &Experience::default(),
        )
        .expect("order");
        assert_eq!(again.request_id, r.request_id, "a retry is the same order");
        let other = build(
            &tx(2000, "EUR"),
            &ctx(),
            Intent::Capture,
            &Experience::default(),
        )
        .expect("order");
        assert_ne!(other.request_id, r.request_id);
        let jpy = build(
            &tx(1500, "JPY"),
            &ctx(),
            Intent::Authorize,
            &Experience::default(),
        )
        .expect("jpy");
        assert_eq!(jpy.body["purchase_units"][0]["amount"]["value"], "1500");
        assert_eq!(jpy.body["intent"], "AUTHORIZE");
    }

    #[test]
    fn refused_currencies_create_nothing() {
        assert!(matches!(
            build(
                &tx(1000, "KRW"),
                &ctx(),
                Intent::Capture,
                &Experience::default()
            ),
            Err(PayPalError::Currency { .. })
        ));
        assert!(matches!(
            build(
                &tx(100_050, "HUF"),
                &ctx(),
                Intent::Capture,
                &Experience::default()
            ),
            Err(PayPalError::Amount { .. })
        ));
    }

    #[test]
    fn payer_link_prefers_payer_action() {
        let o = json!({"links": [
            {"rel": "self", "href": "https://api-m.paypal.com/v2/checkout/orders/X"},
            {"rel": "approve", "href": "https://www.paypal.com/approve"},
            {"rel": "payer-action", "href": "https://www.paypal.com/checkoutnow?token=X"}]});
        assert_eq!(
            payer_link(&o).as_deref(),
            Some("https://www.paypal.com/checkoutnow?token=X")
        );
    }
}
