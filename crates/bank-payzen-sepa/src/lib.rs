//! # bank-payzen-sepa
//!
//! PayZen and Lyra's white labels (Systempay, Sogecommerce, Scellius, Clic&Pay, Monetico
//! Retail…) for the bank payments workspace: the `vads_*` hosted form for card and SEPA
//! Direct Debit, the IPN that settles it, the SEPA lifecycle with its late returns,
//! recurring payments, and the REST operations (refund, cancel, validate, read back, end a
//! subscription).
//!
//! | module        | what                                                            |
//! |---------------|-----------------------------------------------------------------|
//! | [`signature`] | `vads_*` sorted, `+`-joined, `+key`; HMAC-SHA-256 or SHA-1       |
//! | [`form`]      | the signed form, in eopayment 3.15's field order; RRULE schedules |
//! | [`response`]  | the IPN and the return: raw pairs checked before any value is read |
//! | [`acquirer`]  | the `payzen-sepa` provider: what each status means, REST calls   |
//! | [`rest`]      | the REST API V4 client and its answers                          |
//! | [`platform`]  | the white labels' hosts                                         |
//! | `sandbox`     | the emulator (feature `sandbox`)                                |
//!
//! Why it looks this way:
//! - **Only the IPN settles.** The browser return chooses the page; it is checked when
//!   signed, and never trusted.
//! - **A SEPA debit authorised is not money.** It waits (`attente`) until PayZen presents
//!   and captures it; a debit returned later is a late failure, even when the notice of
//!   its collection never came.
//! - **`vads_trans_id` comes from the store's counters**, one per shop and UTC day, drawn
//!   when the payer chooses PayZen: several servers never reuse one, and a site is not
//!   capped at ten payments a second as with a clock-derived id.
//! - **Nothing that moves money is retried**: PayZen's REST API takes no idempotency key,
//!   so a lost answer is an unknown outcome for a person, never a second refund.
//!
//! Integrator documentation: `docs/providers/payzen-sepa.md` in the workspace.

#![forbid(unsafe_code)]

pub mod acquirer;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod form;
pub mod platform;
pub mod response;
pub mod rest;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod signature;

pub use acquirer::{acknowledgement, describe, Payzen};
pub use error::PayzenError;
pub use response::Response;

/// Provider name in configuration.
pub const PROVIDER: &str = "payzen-sepa";

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build: acquirer::build }
}
