//! # bank-paybox
//!
//! Paybox (Verifone) for the bank payments workspace: the hosted payment page ("Paybox
//! System"), its signed server-to-server notification (IPN), and the server-to-server
//! operations of Paybox Direct and Direct Plus (capture, refund, cancel, inquiry, debits
//! on a registered card).
//!
//! | module       | what                                                                  |
//! |--------------|-----------------------------------------------------------------------|
//! | [`form`]     | the `PBX_*` form in the documented order, `PBX_HMAC` (HMAC-SHA512) last |
//! | [`response`] | IPN and returns: RSA-SHA1 over the raw query bytes, then decoding     |
//! | [`codes`]    | result codes and their meaning                                        |
//! | [`direct`]   | Paybox Direct: questions, answers, echo checks, backup host           |
//! | [`acquirer`] | the `paybox` provider                                                 |
//! | [`settings`] | options, endpoints, keys parsed once                                  |
//! | `sandbox`    | a local Paybox: hosted page, signed IPN, Direct (feature `sandbox`)   |
//!
//! Why it looks this way:
//! - **Only the signed IPN settles.** Browser returns are checked when signed but never
//!   change a transaction; the payer may never come back, and an unsigned return proves
//!   nothing.
//! - **A paid IPN is confirmed on our contract.** Every Paybox account signs with the same
//!   key, so with `cle` a Paybox Direct inquiry under our site and rank must know the
//!   transaction before it counts as paid (a payment on another merchant's account is
//!   rejected); without `cle`, only the source address can be checked.
//! - **The signature is checked over the bytes Paybox sent**, before any decoding: the
//!   URL-encoding of the query is part of what Paybox signed (paybox.md §5.3).
//! - **A Direct question that moves money is sent once.** Only a connection that never
//!   opened is tried again on the backup host; any other failure is an unknown outcome
//!   that staff resolves, never a second refund.
//! - **Keys are decoded when the instance is built** (hex HMAC key, RSA public key), so a
//!   request or a verification costs little more than its cryptography.
//!
//! Integration notes (configuration, back office, test cards, going live) are in the
//! workspace's `docs/providers/paybox.md`.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod codes;
#[cfg(feature = "conformance")]
pub mod conformance;
mod countries;
pub mod direct;
mod error;
pub mod form;
pub mod response;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod settings;
pub mod time;

pub use acquirer::{describe, paybox_numbers, Paybox, Subscriber, PROVIDER};
pub use error::PayboxError;
pub use settings::{HmacKey, Settings, PAYBOX_PUBLIC_KEY_PEM};
