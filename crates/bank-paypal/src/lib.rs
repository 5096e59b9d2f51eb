//! # bank-paypal
//!
//! PayPal Checkout for the bank payments workspace: Orders v2 created when the payer
//! chooses PayPal, captured by the server, REST webhooks verified offline against
//! PayPal's certificate (or by PayPal's postback), refunds, capture and void of
//! authorisations, disputes and reversals, Billing v1 subscriptions, and (feature
//! `sandbox`) a local emulator of the API subset used here.
//!
//! | module           | what                                                                 |
//! |------------------|----------------------------------------------------------------------|
//! | [`webhook`]      | header set, signed message, certificate URL rule, chain check, cache |
//! | [`event`]        | the event envelope and what each handled event is about             |
//! | [`order`]        | the create-order request, its request id, orders and captures read back |
//! | [`subscription`] | product, plan and subscription from `decrire_echeance`              |
//! | [`amount`]       | PayPal's currencies and decimals (none for HUF, JPY, TWD)           |
//! | [`client`]       | OAuth token cache, `PayPal-Request-Id`, bounded retries, error JSON |
//! | [`acquirer`]     | the `paypal` provider                                              |
//! | `sandbox`        | the emulator (feature `sandbox`)                                    |
//!
//! Why it looks this way:
//! - **Nothing the payer's browser says is believed.** The return only names an order;
//!   the server reads it from PayPal, checks whom it was paid to, and captures it.
//! - **Every event is read back before it decides.** The event names a capture, order,
//!   refund or subscription; its current state at PayPal decides, so replayed and
//!   out-of-order events change nothing.
//! - **Retries never act twice.** Every state-changing call carries a `PayPal-Request-Id`
//!   derived from what it does (the order of a transaction, the capture of an order, the
//!   engine's refund key).
//! - **A certificate is trusted for what it is, not for where it says it is.** Only
//!   PayPal's hosts are fetched from, and the certificate must chain to a trusted root and
//!   carry PayPal's name at the engine's time.
//!
//! Integrator documentation: `docs/providers/paypal.md` in the workspace.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod amount;
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod event;
pub mod order;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod subscription;
pub mod webhook;

pub use acquirer::{acknowledgement, describe, PayPal, Settings, Verification};
pub use client::{Client, RetryPolicy, LIVE_BASE, SANDBOX_BASE};
pub use error::PayPalError;
pub use event::{Event, Subject};

/// Provider name in configuration.
pub const PROVIDER: &str = "paypal";

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build: acquirer::build }
}
