//! # bank-stripe
//!
//! Stripe for the bank payments workspace: Checkout Sessions, signed webhooks, refunds,
//! subscriptions, and (feature `sandbox`) a local emulator of the API subset used here.
//!
//! | module        | what                                                                  |
//! |---------------|-----------------------------------------------------------------------|
//! | [`signature`] | the `Stripe-Signature` check: exactly one `t`, any `v1` against any secret, tolerance |
//! | [`event`]     | the event envelope and what each handled event means for a transaction |
//! | [`checkout`]  | the Checkout Session request of a transaction, its idempotency key     |
//! | [`form`]      | Stripe's nested form encoding (`metadata[k]=v`), and its parser        |
//! | [`amount`]    | amounts in Stripe's unit (zero-decimal, three-decimal, ISK)            |
//! | [`client`]    | the API client: pinned version, idempotency keys, bounded retries      |
//! | [`acquirer`]  | the `stripe` provider                                                 |
//! | `sandbox`     | the emulator: API, hosted page with test cards, signed webhooks (feature `sandbox`) |
//!
//! Why it looks this way:
//! - **The raw body is verified before anything is parsed**, with the engine's clock, so
//!   a stale or replayed delivery is refused the same way in tests and in production.
//! - **Nothing authentic is answered with an error.** Events of another installation
//!   sharing the account (a development copy: the SPIP Bank bug where Stripe retried for
//!   days), of the other mode, of unknown types or without our metadata are acknowledged
//!   with 200 and ignored.
//! - **One payment, one authorisation.** Every event of one payment carries the same
//!   authorisation (the PaymentIntent, or the invoice of a subscription payment), so a
//!   second notice of it is a replay for the engine, not a second payment.
//! - **Retries never act twice.** Every POST has an idempotency key derived from what it
//!   does (the transaction and its request for a session, the engine's key for a refund),
//!   reused on every retry.
//!
//! Integrator documentation: `docs/providers/stripe.md` in the workspace.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod amount;
pub mod checkout;
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod event;
pub mod form;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod signature;

pub use acquirer::{acknowledgement, describe, Settings, Stripe};
pub use client::{Client, RetryPolicy, API_BASE, API_VERSION};
pub use error::StripeError;
pub use event::{Decoded, Event};
pub use signature::{SignatureHeader, WebhookSecrets};

/// Provider name in configuration.
pub const PROVIDER: &str = "stripe";

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build: acquirer::build }
}
