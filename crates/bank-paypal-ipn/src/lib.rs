//! # bank-paypal-ipn
//!
//! PayPal Website Payments Standard for the bank payments workspace: Buy Now, Donate and
//! Subscribe buttons, plain or encrypted (EWP), and the IPN listener that settles them,
//! each message verified by posting it back to PayPal byte for byte. For the shops and
//! associations whose Donate and Subscribe buttons, old subscriptions and in-flight
//! payments keep sending IPN; new payments belong to the `paypal` provider (Checkout).
//!
//! | module     | what                                                              |
//! |------------|-------------------------------------------------------------------|
//! | [`ipn`]    | the IPN body: raw pairs, the message's charset, duplicates refused |
//! | [`button`] | the button form, and EWP (PKCS#7 signed then enveloped with 3DES)  |
//! | [`acquirer`] | the `paypal-ipn` provider: postback, receiver and mode checks, statuses |
//! | `sandbox`  | the emulator (feature `sandbox`)                                   |
//!
//! Why it looks this way:
//! - **A VERIFIED IPN proves PayPal sent it, not that the payer paid what was asked.** A
//!   plain button can be edited (a lower amount, another currency, the payer's own account
//!   as `business`); the receiver is checked here and the amount and currency by the
//!   engine against the stored transaction, so such a payment never settles.
//! - **The postback carries the raw body**, never a re-encoding; the values are decoded in
//!   the charset the message names (windows-1252 by default).
//! - **Each refund is its own message**: the engine adds its amount once (its `txn_id`).
//!
//! Integrator documentation: `docs/providers/paypal-ipn.md` in the workspace.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod button;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod ipn;
#[cfg(feature = "sandbox")]
pub mod sandbox;

pub use acquirer::{acknowledgement, describe, PayPalIpn};
pub use error::IpnError;
pub use ipn::Ipn;

/// Provider name in configuration.
pub const PROVIDER: &str = "paypal-ipn";

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build: acquirer::build }
}
