//! Stripe events: the envelope, and what each event type we handle means for a
//! transaction.
//!
//! The envelope is typed; `data.object` is read leniently as JSON, because its shape
//! follows the webhook endpoint's API version, not ours: unknown fields are ignored, most
//! fields may be null, and both the pre-2025 and the "basil" places of the subscription id
//! of an invoice are read. Nothing in a correctly signed event makes decoding fail once
//! the envelope has an id and a type: an event we do not understand is acknowledged and
//! ignored.

use bank_core::{Money, Outcome};
use serde::Deserialize;
use serde_json::Value;

use crate::amount;
use crate::checkout::{META_INSTALLATION, META_REFERENCE};
use crate::error::StripeError;

/// The envelope of a Stripe event.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Event {
    /// `evt_…`: the unit of deduplication.
    pub id: String,
    /// `checkout.session.completed`…
    #[serde(rename = "type")]
    pub kind: String,
    /// True for live-mode events.
    #[serde(default)]
    pub livemode: bool,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// The API version the object is rendered in.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The object.
    pub data: EventData,
}

/// `data` of an event.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct EventData {
    /// The resource, as JSON.
    pub object: Value,
}

impl Event {
    /// Parses an event body (after its signature was checked).
    ///
    /// # Errors
    /// [`StripeError::BadEvent`] when it is not JSON or has no id, type or object.
    pub fn parse(body: &[u8]) -> Result<Self, StripeError> {
        let e: Event = serde_json::from_slice(body).map_err(|e| StripeError::BadEvent {
            reason: e.to_string(),
        })?;
        if !e.data.object.is_object() {
            return Err(StripeError::BadEvent {
                reason: "data.object is not an object".into(),
            });
        }
        Ok(e)
    }

    /// The object's `object` field (`checkout.session`, `charge`…).
    pub fn object_kind(&self) -> Option<&str> {
        self.data.object.get("object").and_then(Value::as_str)
    }

    /// The object's id.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id").and_then(Value::as_str)
    }
}

/// What an event means for our transactions.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Our transaction reference (for instalments and subscription ends: the first one).
    pub reference: Option<String>,
    /// The installation named in the metadata.
    pub installation: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The amount paid (or refunded in total, or disputed).
    pub amount: Option<Money>,
    /// Our authorisation number: the PaymentIntent of a one-off payment, the invoice of a
    /// subscription payment (the same for every event of one payment, so that a second
    /// notice is a replay and not a second payment).
    pub authorisation: Option<String>,
    /// The subscription, for a subscription's first payment and its end.
    pub subscription_id: Option<String>,
    /// Stripe's error or decline code.
    pub error_code: Option<String>,
    /// Stripe's message.
    pub error_message: Option<String>,
    /// A PaymentIntent whose metadata names the transaction, when the object itself does
    /// not (a dispute, a charge created without metadata).
    pub lookup_payment_intent: Option<String>,
}

impl Decoded {
    fn nothing() -> Self {
        Decoded {
            reference: None,
            installation: None,
            outcome: Outcome::Nothing,
            amount: None,
            authorisation: None,
            subscription_id: None,
            error_code: None,
            error_message: None,
            lookup_payment_intent: None,
        }
    }
}

/// The event types this crate acts on (to enable on the webhook endpoint).
pub const HANDLED: [&str; 10] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.deleted",
];

/// The id of an expandable field: a string, or an expanded object's `id`.
pub fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn text(o: &Value, k: &str) -> Option<String> {
    o.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reference and installation from a metadata object.
pub fn from_metadata(meta: Option<&Value>) -> (Option<String>, Option<String>) {
    let Some(m) = meta else {
        return (None, None);
    };
    (text(m, META_REFERENCE), text(m, META_INSTALLATION))
}

fn money(o: &Value, field: &str) -> Result<Option<Money>, StripeError> {
    let (Some(v), Some(c)) = (
        o.get(field).and_then(Value::as_i64),
        o.get("currency").and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    amount::from_stripe(v, c).map(Some)
}

/// The subscription metadata and id of an invoice: `parent.subscription_details` since
/// the 2025 "basil" versions, `subscription_details` and `subscription` before.
fn invoice_subscription(o: &Value) -> (Option<&Value>, Option<String>) {
    let details = o
        .pointer("/parent/subscription_details")
        .filter(|d| d.is_object())
        .or_else(|| o.get("subscription_details").filter(|d| d.is_object()));
    let meta = details
        .and_then(|d| d.get("metadata"))
        .filter(|m| m.get(META_REFERENCE).is_some())
        .or_else(|| {
            o.pointer("/lines/data/0/metadata")
                .filter(|m| m.get(META_REFERENCE).is_some())
        })
        .or_else(|| o.get("metadata"));
    let sub = details
        .and_then(|d| id_of(d.get("subscription")))
        .or_else(|| id_of(o.get("subscription")));
    (meta, sub)
}

/// What paid an invoice, as the refund parameter naming it: `("payment_intent", pi_…)` or,
/// for a payment recorded as a bare charge, `("charge", ch_…)`.
///
/// Since the 2025 "basil" versions the invoice lists its payments under
/// `payments.data[].payment` (an includable field: Stripe returns it only when the invoice
/// is read with `expand[]=payments`); the paid entry is preferred over earlier failed or
/// cancelled attempts. Before basil the invoice had `payment_intent` (and `charge`).
pub fn invoice_payment(o: &Value) -> Option<(&'static str, String)> {
    let of = |payment: Option<&Value>| {
        let p = payment?;
        id_of(p.get("payment_intent"))
            .map(|pi| ("payment_intent", pi))
            .or_else(|| id_of(p.get("charge")).map(|ch| ("charge", ch)))
    };
    if let Some(list) = o.pointer("/payments/data").and_then(Value::as_array) {
        let paid = list
            .iter()
            .filter(|p| p.get("status").and_then(Value::as_str) == Some("paid"));
        if let Some(found) = paid.chain(list.iter()).find_map(|p| of(p.get("payment"))) {
            return Some(found);
        }
    }
    of(Some(o))
}

/// The PaymentIntent of an invoice (see [`invoice_payment`]), when a PaymentIntent paid it.
pub fn invoice_payment_intent(o: &Value) -> Option<String> {
    match invoice_payment(o)? {
        ("payment_intent", pi) => Some(pi),
        _ => None,
    }
}

/// Interprets an event. Unknown types and objects without our metadata give
/// [`Outcome::Nothing`] (acknowledged, ignored).
///
/// # Errors
/// [`StripeError::Amount`] or [`StripeError::Currency`] for an amount we cannot hold
/// (authentic but not for us: the caller acknowledges it).
pub fn decode(e: &Event) -> Result<Decoded, StripeError> {
    let o = &e.data.object;
    let mut d = Decoded::nothing();
    let (reference, installation) = from_metadata(o.get("metadata"));
    d.reference = reference;
    d.installation = installation;
    match e.kind.as_str() {
        "checkout.session.completed"
        | "checkout.session.async_payment_succeeded"
        | "checkout.session.async_payment_failed"
        | "checkout.session.expired" => {
            d.reference = d.reference.or_else(|| text(o, "client_reference_id"));
            d.amount = money(o, "amount_total")?;
            let subscription = o.get("mode").and_then(Value::as_str) == Some("subscription");
            d.authorisation = if subscription {
                id_of(o.get("invoice"))
            } else {
                id_of(o.get("payment_intent"))
            };
            d.subscription_id = id_of(o.get("subscription"));
            let status = o.get("payment_status").and_then(Value::as_str);
            d.outcome = match (e.kind.as_str(), status) {
                ("checkout.session.completed", Some("paid" | "no_payment_required")) => {
                    Outcome::Paid
                }
                // A delayed method (SEPA debit): the mandate is signed, the money not in.
                ("checkout.session.completed", Some("unpaid")) => Outcome::Waiting,
                ("checkout.session.async_payment_succeeded", _) => Outcome::Paid,
                ("checkout.session.async_payment_failed", _) => {
                    d.error_code = Some("async_payment_failed".into());
                    d.error_message = Some("the delayed payment failed".into());
                    Outcome::Failed
                }
                ("checkout.session.expired", _) => Outcome::Cancelled,
                _ => Outcome::Nothing,
            };
        }
        "payment_intent.payment_failed" => {
            d.outcome = Outcome::Failed;
            d.amount = money(o, "amount")?;
            d.authorisation = text(o, "id");
            let err = o.get("last_payment_error");
            d.error_code = err.and_then(|x| text(x, "decline_code").or_else(|| text(x, "code")));
            d.error_message = err.and_then(|x| text(x, "message"));
            if d.error_code.is_none() {
                d.error_code = Some("payment_failed".into());
            }
        }
        "charge.refunded" => {
            let total = money(o, "amount_refunded")?;
            if let Some(total) = total {
                d.outcome = Outcome::Refunded { total };
            }
            if d.reference.is_none() {
                d.lookup_payment_intent = id_of(o.get("payment_intent"));
            }
        }
        "charge.dispute.created" => {
            d.outcome = Outcome::LateFailure;
            d.amount = money(o, "amount")?;
            d.error_code = Some(format!(
                "dispute:{}",
                text(o, "reason").unwrap_or_else(|| "general".into())
            ));
            d.error_message = Some("the payer disputed the payment (chargeback)".into());
            if d.reference.is_none() {
                d.lookup_payment_intent = id_of(o.get("payment_intent"));
            }
        }
        "invoice.paid" | "invoice.payment_failed" => {
            let (meta, sub) = invoice_subscription(o);
            let (reference, installation) = from_metadata(meta);
            d.reference = reference;
            d.installation = installation;
            d.subscription_id = sub;
            d.authorisation = text(o, "id");
            let reason = o.get("billing_reason").and_then(Value::as_str);
            let paid = e.kind == "invoice.paid";
            d.amount = money(o, if paid { "amount_paid" } else { "amount_due" })?;
            d.outcome = match (paid, reason) {
                (true, Some("subscription_create")) => Outcome::Paid,
                (true, Some("subscription_cycle")) => Outcome::InstalmentPaid,
                (false, Some("subscription_create")) => Outcome::Failed,
                // Stripe retries a failed renewal (dunning) while `next_payment_attempt`
                // is set: only the last failure ends the subscription.
                (false, Some("subscription_cycle"))
                    if o.get("next_payment_attempt").is_none_or(Value::is_null) =>
                {
                    Outcome::InstalmentFailed
                }
                _ => Outcome::Nothing,
            };
            if !paid {
                d.error_code = Some("invoice_payment_failed".into());
                d.error_message = Some(format!(
                    "invoice payment failed (attempt {})",
                    o.get("attempt_count").and_then(Value::as_i64).unwrap_or(0)
                ));
            }
        }
        "customer.subscription.deleted" => {
            d.outcome = Outcome::SubscriptionEnded;
            d.subscription_id = text(o, "id");
        }
        _ => {
            // Authentic, not acted on: no reference, so nothing is looked up or changed.
            d.reference = None;
        }
    }
    Ok(d)
}
