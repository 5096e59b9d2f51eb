//! The webhook event envelope, and what each handled event is about.
//!
//! An event is decoded into a [`Subject`]: the PayPal object it names and what the event
//! says of it. The acquirer then reads that object back from PayPal before deciding
//! anything ("fetch, don't believe"): the fresh status wins over the event's, so events
//! arriving out of order or replayed change nothing, and an object this app cannot read
//! (another merchant's) settles nothing.

use serde_json::Value;

use crate::amount;
use crate::error::PayPalError;

/// The event types handled; the webhook to create in PayPal's dashboard subscribes to
/// these (`docs/providers/paypal.md`).
pub const HANDLED: [&str; 16] = [
    "CHECKOUT.ORDER.APPROVED",
    "CHECKOUT.ORDER.COMPLETED",
    "CHECKOUT.PAYMENT-APPROVAL.REVERSED",
    "PAYMENT.CAPTURE.COMPLETED",
    "PAYMENT.CAPTURE.PENDING",
    "PAYMENT.CAPTURE.DENIED",
    "PAYMENT.CAPTURE.DECLINED",
    "PAYMENT.CAPTURE.REFUNDED",
    "PAYMENT.CAPTURE.REVERSED",
    "CUSTOMER.DISPUTE.CREATED",
    "PAYMENT.SALE.COMPLETED",
    "BILLING.SUBSCRIPTION.ACTIVATED",
    "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
    "BILLING.SUBSCRIPTION.SUSPENDED",
    "BILLING.SUBSCRIPTION.CANCELLED",
    "BILLING.SUBSCRIPTION.EXPIRED",
];

/// The envelope of a webhook event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `id` (`WH-…`): the deduplication key.
    pub id: String,
    /// `event_type`.
    pub event_type: String,
    /// `resource_type`.
    pub resource_type: Option<String>,
    /// `resource`.
    pub resource: Value,
}

fn short(s: &str) -> String {
    s.chars().take(128).collect()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_string)
}

/// A PayPal id as PayPal writes them (`5O190127TN364715T`, `I-BW452GLLEP1G`,
/// `PP-D-27803`): safe to put in a path.
pub fn is_paypal_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn id(v: &Value, key: &str) -> Option<String> {
    text(v, key).filter(|s| is_paypal_id(s))
}

impl Event {
    /// Parses an event (the body was verified first).
    ///
    /// # Errors
    /// [`PayPalError::BadEvent`] for a body that is not an event.
    pub fn parse(body: &[u8]) -> Result<Self, PayPalError> {
        let bad = |reason: String| PayPalError::BadEvent { reason };
        let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no id".into()))?;
        let event_type = v
            .get("event_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no event_type".into()))?;
        let resource = v.get("resource").cloned().unwrap_or(Value::Null);
        if !resource.is_object() {
            return Err(bad("no resource object".into()));
        }
        Ok(Event {
            id: short(id),
            event_type: short(event_type),
            resource_type: text(&v, "resource_type"),
            resource,
        })
    }
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Subject {
    /// An order (approved, completed, its approval reversed).
    Order {
        /// The order id.
        order_id: String,
    },
    /// A capture (completed, pending, denied).
    Capture {
        /// The capture id.
        capture_id: String,
    },
    /// A refund of a capture (from us or from PayPal's dashboard).
    Refund {
        /// The refund id.
        refund_id: String,
        /// The capture refunded (the refund's `up` link).
        capture_id: Option<String>,
        /// Everything refunded of the capture so far
        /// (`seller_payable_breakdown.total_refunded_amount`).
        total_refunded: Option<bank_core::Money>,
    },
    /// A capture reversed (a chargeback lost).
    Reversal {
        /// The capture id.
        capture_id: String,
    },
    /// A dispute opened on a capture.
    Dispute {
        /// The dispute id.
        dispute_id: String,
        /// The disputed capture (`disputed_transactions[].seller_transaction_id`).
        capture_id: Option<String>,
        /// `reason`.
        reason: Option<String>,
    },
    /// A subscription's payment (a v1 sale whose `billing_agreement_id` is the
    /// subscription).
    Sale {
        /// The sale id.
        sale_id: String,
        /// The subscription id.
        subscription_id: String,
    },
    /// A subscription changed state.
    Subscription {
        /// The subscription id.
        subscription_id: String,
    },
    /// Authentic, not acted on.
    Ignored,
}

/// The capture id of a refund or reversal: its `up` link
/// (`…/v2/payments/captures/{id}`).
fn up_capture(resource: &Value) -> Option<String> {
    resource
        .get("links")?
        .as_array()?
        .iter()
        .filter(|l| l.get("rel").and_then(Value::as_str) == Some("up"))
        .filter_map(|l| l.get("href").and_then(Value::as_str))
        .find_map(|href| {
            let (_, tail) = href.split_once("/v2/payments/captures/")?;
            let id = tail.split(['/', '?']).next()?;
            is_paypal_id(id).then(|| id.to_string())
        })
}

/// What `e` is about.
///
/// # Errors
/// [`PayPalError::Amount`] or [`PayPalError::Currency`] for an amount ours cannot hold.
pub fn subject(e: &Event) -> Result<Subject, PayPalError> {
    let r = &e.resource;
    let rid = || id(r, "id");
    Ok(match e.event_type.as_str() {
        "CHECKOUT.ORDER.APPROVED"
        | "CHECKOUT.ORDER.COMPLETED"
        | "CHECKOUT.PAYMENT-APPROVAL.REVERSED" => match rid().or_else(|| id(r, "order_id")) {
            Some(order_id) => Subject::Order { order_id },
            None => Subject::Ignored,
        },
        "PAYMENT.CAPTURE.COMPLETED"
        | "PAYMENT.CAPTURE.PENDING"
        | "PAYMENT.CAPTURE.DENIED"
        | "PAYMENT.CAPTURE.DECLINED" => match rid() {
            Some(capture_id) => Subject::Capture { capture_id },
            None => Subject::Ignored,
        },
        "PAYMENT.CAPTURE.REFUNDED" => match rid() {
            Some(refund_id) => Subject::Refund {
                refund_id,
                capture_id: up_capture(r),
                total_refunded: amount::read_money(
                    r.get("seller_payable_breakdown")
                        .and_then(|b| b.get("total_refunded_amount")),
                )
                .transpose()?,
            },
            None => Subject::Ignored,
        },
        "PAYMENT.CAPTURE.REVERSED" => match up_capture(r).or_else(rid) {
            Some(capture_id) => Subject::Reversal { capture_id },
            None => Subject::Ignored,
        },
        "CUSTOMER.DISPUTE.CREATED" => {
            let capture_id = r
                .get("disputed_transactions")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find_map(|t| id(t, "seller_transaction_id")));
            match id(r, "dispute_id").or_else(rid) {
                Some(dispute_id) => Subject::Dispute {
                    dispute_id,
                    capture_id,
                    reason: text(r, "reason"),
                },
                None => Subject::Ignored,
            }
        }
        "PAYMENT.SALE.COMPLETED" => match (rid(), id(r, "billing_agreement_id")) {
            // A sale without a subscription is not ours (REST Checkout uses captures).
            (Some(sale_id), Some(subscription_id)) => Subject::Sale {
                sale_id,
                subscription_id,
            },
            _ => Subject::Ignored,
        },
        t if t.starts_with("BILLING.SUBSCRIPTION.") && HANDLED.contains(&t) => match rid() {
            Some(subscription_id) => Subject::Subscription { subscription_id },
            None => Subject::Ignored,
        },
        _ => Subject::Ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, resource: Value) -> Event {
        Event::parse(
            json!({"id": "WH-1", "event_type": kind, "resource_type": "x", "resource": resource})
                .to_string()
                .as_bytes(),
        )
        .expect("event")
    }

    #[test]
    fn refund_names_its_capture_and_total() {
        let e = event(
            "PAYMENT.CAPTURE.REFUNDED",
            json!({"id": "1JU08902781691411", "status": "COMPLETED",
                   "amount": {"value": "5.00", "currency_code": "EUR"},
                   "seller_payable_breakdown": {"total_refunded_amount": {"value": "7.50", "currency_code": "EUR"}},
                   "links": [{"rel": "self", "href": "https://api.paypal.com/v2/payments/refunds/1JU08902781691411"},
                             {"rel": "up", "href": "https://api.paypal.com/v2/payments/captures/2GG279541U471931P"}]}),
        );
        match subject(&e).expect("subject") {
            Subject::Refund {
                capture_id,
                total_refunded,
                ..
            } => {
                assert_eq!(capture_id.as_deref(), Some("2GG279541U471931P"));
                assert_eq!(total_refunded.map(|m| m.minor()), Some(750));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_that_are_not_paypal_ids_are_ignored() {
        let e = event(
            "PAYMENT.CAPTURE.COMPLETED",
            json!({"id": "../../v1/oauth2/token"}),
        );
        assert_eq!(subject(&e).expect("subject"), Subject::Ignored);
        let e = event(
            "PAYMENT.SALE.COMPLETED",
            json!({"id": "8PW3", "state": "completed"}),
        );
        assert_eq!(
            subject(&e).expect("subject"),
            Subject::Ignored,
            "a sale without subscription"
        );
    }

    #[test]
    fn not_events_are_refused() {
        for body in [
            &b"[]"[..],
            b"{\"id\":\"WH\"}",
            b"{\"id\":\"WH\",\"event_type\":\"X\"}",
            b"\xff",
        ] {
            assert!(Event::parse(body).is_err());
        }
    }
}
