//! The Checkout Session request of a transaction: form parameters and idempotency key.
//!
//! The reference travels in `client_reference_id` and in the metadata of the session and
//! of the object Stripe creates from it (the PaymentIntent in payment mode, the
//! Subscription in subscription mode), with the installation id, so that every later
//! event names the transaction and the installation it belongs to.

use bank_core::{Echeance, Interval, PaymentContext, Transaction};
use sha2::{Digest, Sha256};

use crate::amount;
use crate::error::StripeError;
use crate::form::FormBody;

/// Metadata key of our transaction reference.
pub const META_REFERENCE: &str = "bank_reference";
/// Metadata key of the installation id.
pub const META_INSTALLATION: &str = "bank_installation";
/// Metadata key of the instance id.
pub const META_INSTANCE: &str = "bank_instance";
/// Metadata key of the number of instalments of a bounded subscription (informative:
/// Stripe Checkout does not end a subscription after a count).
pub const META_INSTALMENTS: &str = "bank_instalments";

/// A Checkout Session request ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The form parameters.
    pub body: FormBody,
    /// `Idempotency-Key`: the same transaction, amount and parameters always give the same
    /// key, so a retried request (or a second click within Stripe's 24 h) returns the same
    /// session instead of creating another.
    pub idempotency_key: String,
}

fn success_url(return_url: &str) -> String {
    let sep = if return_url.contains('?') { '&' } else { '?' };
    format!("{return_url}{sep}session_id={{CHECKOUT_SESSION_ID}}")
}

fn interval(i: Interval) -> &'static str {
    match i {
        Interval::Month => "month",
        Interval::Year => "year",
    }
}

/// Builds the Checkout Session request of `tx` for instance `instance`.
///
/// A recurring transaction with a schedule from `decrire_echeance` opens a subscription:
/// a recurring price of the instalment amount, plus a one-time line for what the first
/// payment adds on top of it.
///
/// # Errors
/// [`StripeError::Amount`] or [`StripeError::Currency`] for an amount Stripe cannot take;
/// [`StripeError::Config`] for a schedule Checkout cannot express (a first payment smaller
/// than the instalments, another currency).
pub fn build(
    tx: &Transaction,
    ctx: &PaymentContext,
    instance: &str,
) -> Result<CheckoutRequest, StripeError> {
    let currency = tx.amount.currency();
    if !amount::is_supported(currency) {
        return Err(StripeError::Currency {
            currency: currency.code().to_string(),
        });
    }
    let cur = amount::code(currency);
    let total = amount::to_stripe(tx.amount)?;
    let schedule: Option<&Echeance> = if tx.recurring {
        Some(ctx.echeance.as_ref().ok_or(StripeError::Config {
            option: "recurring",
            reason: format!(
                "transaction {} is recurring but decrire_echeance gave no schedule",
                tx.reference
            ),
        })?)
    } else {
        None
    };
    let mut b = FormBody::new();
    b.push(
        "mode",
        if schedule.is_some() {
            "subscription"
        } else {
            "payment"
        },
    );
    b.push("success_url", success_url(&ctx.urls.return_url));
    b.push("cancel_url", ctx.urls.cancel_url.as_str());
    b.push("client_reference_id", tx.reference.as_str());
    let meta = [
        (META_REFERENCE, tx.reference.as_str()),
        (META_INSTALLATION, ctx.installation.as_str()),
        (META_INSTANCE, instance),
    ];
    for (k, v) in meta {
        b.push(format!("metadata[{k}]"), v);
    }
    let email = tx
        .billing
        .as_ref()
        .and_then(|bi| bi.email.clone())
        .or_else(|| tx.auteur.clone().filter(|a| a.contains('@')));
    if let Some(email) = email {
        b.push("customer_email", email);
    }
    let name = format!("Payment {}", tx.reference);
    match schedule {
        None => {
            b.push("line_items[0][quantity]", "1");
            b.push("line_items[0][price_data][currency]", cur.as_str());
            b.push("line_items[0][price_data][unit_amount]", total.to_string());
            b.push("line_items[0][price_data][product_data][name]", name);
            for (k, v) in meta {
                b.push(format!("payment_intent_data[metadata][{k}]"), v);
            }
        }
        Some(e) => {
            if e.amount.currency() != currency {
                return Err(StripeError::Config {
                    option: "recurring",
                    reason: "instalments in another currency than the first payment".into(),
                });
            }
            let each = amount::to_stripe(e.amount)?;
            if each > total {
                return Err(StripeError::Config {
                    option: "recurring",
                    reason: format!(
                        "the first payment ({}) is smaller than each instalment ({}): Stripe Checkout cannot charge less on the first invoice",
                        tx.amount, e.amount
                    ),
                });
            }
            b.push("line_items[0][quantity]", "1");
            b.push("line_items[0][price_data][currency]", cur.as_str());
            b.push("line_items[0][price_data][unit_amount]", each.to_string());
            b.push(
                "line_items[0][price_data][recurring][interval]",
                interval(e.interval),
            );
            b.push(
                "line_items[0][price_data][product_data][name]",
                format!("Subscription {}", tx.reference),
            );
            if total > each {
                b.push("line_items[1][quantity]", "1");
                b.push("line_items[1][price_data][currency]", cur.as_str());
                b.push(
                    "line_items[1][price_data][unit_amount]",
                    (total - each).to_string(),
                );
                b.push(
                    "line_items[1][price_data][product_data][name]",
                    format!("First payment {}", tx.reference),
                );
            }
            for (k, v) in meta {
                b.push(format!("subscription_data[metadata][{k}]"), v);
            }
            if let Some(n) = e.count {
                b.push(
                    format!("subscription_data[metadata][{META_INSTALMENTS}]"),
                    n.to_string(),
                );
            }
        }
    }
    let idempotency_key = key_for(&tx.reference, tx.amount.minor(), currency.code(), &b);
    Ok(CheckoutRequest {
        body: b,
        idempotency_key,
    })
}

/// `bank-checkout-<reference>-<minor><CUR>-<16 hex of SHA-256 of the body>`. The hash
/// makes a changed request (another e-mail from `renseigner_facturation`) a new session
/// rather than an `idempotency_error`; an identical one is always the same session.
fn key_for(reference: &str, minor: i64, currency: &str, body: &FormBody) -> String {
    let digest = Sha256::digest(body.encode().as_bytes());
    format!(
        "bank-checkout-{reference}-{minor}{currency}-{}",
        &hex::encode(digest)[..16]
    )
}
