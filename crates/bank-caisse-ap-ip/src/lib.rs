//! # bank-caisse-ap-ip
//!
//! The counter card terminal over TCP: the French Caisse-AP protocol ("Concert V3") of the
//! Association du Paiement, spoken by Ingenico, Verifone and other terminals sold in
//! France. The point of sale sends the amount to the terminal, so nobody keys an amount
//! by hand, and gets the result back. A browser cannot open a raw TCP connection, so the
//! server does it for the point-of-sale front end.
//!
//! | module       | what                                                                   |
//! |--------------|------------------------------------------------------------------------|
//! | [`codec`]    | tag-length-value frames: one-buffer encoding, borrowing decoder, incremental detection |
//! | [`protocol`] | requests, and the answer check of caisse-ap.md §6 and §11              |
//! | [`client`]   | the TCP client: deadline, drain window, size cap, one exchange per terminal |
//! | [`acquirer`] | the `caisse-ap-ip` provider, one instance per terminal                 |
//! | [`service`]  | [`TerminalService`]: charge a transaction on a terminal, settle, resolve unknowns |
//! | [`cli`]      | `bank terminal pay` and `bank terminal emulate`                        |
//! | `emulator`   | a terminal on 127.0.0.1 with each known quirk (feature `sandbox`)      |
//!
//! Why it looks this way:
//! - **Errors mean nothing was charged.** Once a request has left, every failure is an
//!   outcome, not an error: approved, declined, unreachable (nothing sent), or *unknown*.
//! - **An unknown outcome is never guessed.** A time-out, a closed connection, garbage,
//!   an echo that differs: the card may or may not have been charged. It is never retried
//!   automatically and never marked `echec`; the cashier reads the terminal's receipt and
//!   records it ([`TerminalService::resolve`]).
//! - **Never a false approval.** `AE=10` is an approval only with the request's `CA`,
//!   `CB`, `CD` and `CE` echoed and no contradicting failure code; anything ambiguous
//!   (a field that decides the outcome repeated) is unknown.
//! - **One exchange at a time per terminal**, refused rather than queued: a double click
//!   cannot charge twice.
//! - **The terminal's answer goes through the engine's normal path**
//!   ([`bank_core::Engine::settle_verified`]), with the frames as evidence, card number
//!   masked.
//!
//! The protocol notes are in the workspace's `docs/providers/caisse-ap-ip.md`, with the
//! terminal set-up.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod cli;
pub mod client;
pub mod codec;
#[cfg(feature = "conformance")]
mod conformance;
#[cfg(feature = "sandbox")]
pub mod emulator;
mod error;
mod port;
pub mod protocol;
pub mod service;

pub use acquirer::{describe, settings_from_options, CaisseApIp, PROVIDER};
pub use client::{
    Exchange, ExchangeOutcome, TerminalClient, TerminalConfig, TerminalSession, DEFAULT_DEADLINE,
};
pub use codec::{Field, Frame, Scan, Scanner, Tag};
pub use error::CaisseApError;
pub use protocol::{
    validate_answer, Action, AnswerVerdict, Approval, Decline, PaymentMethod, Request,
    RequestHeader, UnknownCause,
};
pub use service::{CashierWord, ChargeOutcome, ChargeReport, TerminalService};
