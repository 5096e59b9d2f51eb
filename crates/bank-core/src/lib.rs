//! # bank-core
//!
//! The domain of `bank`: money, transactions and their status, the [`Acquirer`] trait every
//! payment provider implements, the host [`Hooks`] with SPIP Bank's pipeline names, the
//! provider [`registry`], the [`Store`] contract, and the [`Engine`] that ties them together.
//!
//! Why the interface looks this way:
//! - **Acquirers never write.** They build requests and verify notifications; the engine
//!   alone changes transactions, so the rules of the notification path (verify before
//!   trusting, amount check, compare-and-set, outbox) hold for every provider, including
//!   ones written later by someone else.
//! - **One transition table** ([`status`]) decides every change of status; the store writes
//!   changes with a compare-and-set on a version, so concurrent notifications produce one
//!   change and one set of hooks.
//! - **Hooks go through an outbox** written in the same database transaction as the change,
//!   and are delivered after commit with a stable idempotency key: a crash loses none.
//! - **Money is integers**: minor units and an ISO 4217 currency, parsed exactly.
//!
//! No HTTP server and no SQL live here: `bank-server` and `bank-store` do that.

#![forbid(unsafe_code)]

pub mod acquirer;
pub mod channel;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod hooks;
pub mod money;
pub mod outbound;
pub mod own_form;
pub mod registry;
pub mod sandbox_host;
pub mod signer;
pub mod status;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transaction;

pub use acquirer::{
    Acquirer, Capabilities, Channel, Counters, Form, HttpMethod, InstanceInfo, InstanceUrls, Mode,
    Notification, OperationContext, OperationResult, Outcome, ParamKind, Parameter, PaymentContext,
    PaymentRequest, ProviderDescription, RefundSupport, Reply, Verified, VerifyContext,
};
pub use channel::{
    Sandbox, SandboxContext, SandboxFactory, StaticSandbox, TerminalFactory, TerminalPort,
    TerminalRefusal,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, EngineSettings, Installation, InstanceConfig, Options};
pub use engine::{DeliveryReport, Effect, Engine, NotificationResult, PaymentChoice};
pub use error::{Error, ProviderFailure};
pub use hooks::{Echeance, HookCall, HookChain, HookName, Hooks, Interval, NoHooks, ReturnPage};
pub use money::{Currency, Money};
pub use outbound::RetryPolicy;
pub use registry::{ProviderFactory, Registry};
pub use signer::FormSigner;
pub use status::{Event, Status, Transition};
pub use store::Store;
pub use transaction::{Billing, HistoryEntry, HistoryKind, NewTransaction, Reference, Transaction};

/// Re-exported for provider crates implementing [`Acquirer`].
pub use async_trait::async_trait;
/// Re-exported so provider crates register with the same `inventory` version.
pub use inventory;
/// Re-exported for secrets in provider configuration.
pub use secrecy;
