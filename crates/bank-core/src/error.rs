//! The one error type of `bank-core`, with structured fields.

use std::path::PathBuf;

/// Everything that can go wrong in the core, the engine and the acquirer contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An amount could not be parsed or is not allowed.
    #[error("invalid amount {input:?}: {reason}")]
    InvalidAmount {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Not an ISO 4217 currency with a minor unit.
    #[error("unknown currency {code:?}")]
    UnknownCurrency {
        /// What was given.
        code: String,
    },
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: expected {expected}, got {got}")]
    CurrencyMismatch {
        /// Expected currency code.
        expected: &'static str,
        /// Given currency code.
        got: &'static str,
    },
    /// A stored status name is not one of ours.
    #[error("unknown status {name:?}")]
    UnknownStatus {
        /// What was read.
        name: String,
    },
    /// The options of a new transaction contradict each other.
    #[error("invalid transaction: {field}: {reason}")]
    InvalidTransaction {
        /// The option at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The configuration is wrong; names the file, the key and the reason.
    #[error("configuration error in {file}: {key}: {reason}")]
    Config {
        /// The file (or `<environment>`, `<defaults>`).
        file: String,
        /// The key at fault, dotted (`instance.cheque.options.payee`).
        key: String,
        /// Why.
        reason: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No provider of this name is compiled in.
    #[error(
        "unknown provider {provider:?} for instance {instance:?} (compiled providers: {known})"
    )]
    UnknownProvider {
        /// The instance.
        instance: String,
        /// The provider asked for.
        provider: String,
        /// The providers compiled in, comma-separated.
        known: String,
    },
    /// No configured instance has this id.
    #[error("unknown acquirer instance {instance:?}")]
    UnknownInstance {
        /// The id asked for.
        instance: String,
    },
    /// No transaction has this reference.
    #[error("unknown transaction {reference:?}")]
    UnknownTransaction {
        /// The reference asked for.
        reference: String,
    },
    /// A notification failed verification (bad signature, malformed, stale, tampered).
    #[error("notification for {instance} rejected: {reason}")]
    Verification {
        /// The instance that rejected it.
        instance: String,
        /// Why, for the log and the stored record (never the secret or expected signature).
        reason: String,
    },
    /// The acquirer cannot do this.
    #[error("{instance} does not support {operation}")]
    Unsupported {
        /// The instance.
        instance: String,
        /// The operation (`refund`, `capture`).
        operation: &'static str,
    },
    /// A staff action or request is not allowed in the transaction's state.
    #[error("{action} not allowed on transaction {reference} in status {status}")]
    NotAllowed {
        /// The action.
        action: &'static str,
        /// The transaction.
        reference: String,
        /// Its status.
        status: crate::status::Status,
    },
    /// An amount given for an operation is not acceptable (refund over the paid amount).
    #[error("amount not allowed for {action} on {reference}: {reason}")]
    AmountNotAllowed {
        /// The action.
        action: &'static str,
        /// The transaction.
        reference: String,
        /// Why.
        reason: String,
    },
    /// The database belongs to another installation (a copied production database).
    #[error("this database belongs to installation {stored:?}, not {configured:?}: refusing to act on its transactions")]
    InstallationMismatch {
        /// The id stored in the database.
        stored: String,
        /// The id in the configuration.
        configured: String,
    },
    /// A simulation provider was configured in live mode, or beside a live instance.
    #[error(
        "instance {instance} is a simulation and cannot run in live mode or beside a live instance"
    )]
    SimulationInLive {
        /// The instance.
        instance: String,
    },
    /// A provider call failed (network, API error); `failure` says what that means for
    /// what happens next.
    #[error("provider error from {instance} ({failure}): {message}")]
    Provider {
        /// The instance.
        instance: String,
        /// The provider's code, if any.
        code: Option<String>,
        /// What went wrong.
        message: String,
        /// Whether anything happened at the provider, and whether to try again.
        failure: ProviderFailure,
        /// The underlying error (HTTP client, parser), kept for the logs.
        #[source]
        source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A host hook failed; the outbox retries it.
    #[error("hook {hook} failed: {reason}")]
    Hook {
        /// Hook name.
        hook: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error("store error: {message}")]
    Store {
        /// What went wrong.
        message: String,
        /// True for a write conflict or busy database that a retry can solve.
        retryable: bool,
    },
    /// A refund was sent to the provider and its outcome is unknown (timeout, network,
    /// provider error that may have come after the refund). The amount stays pending:
    /// check at the provider, then confirm or release it
    /// ([`crate::Engine::resolve_pending_refund`]).
    #[error("refund of {amount} on {reference}: outcome unknown ({reason}); check at the provider, then confirm or release it")]
    RefundOutcomeUnknown {
        /// The transaction.
        reference: String,
        /// The amount.
        amount: String,
        /// The provider's error.
        reason: String,
    },
}

/// What a failed provider call means for the engine: one vocabulary for every provider,
/// decided by the provider crate that knows its API, used by the engine (a refund
/// reservation is released only when nothing happened) and the HTTP layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderFailure {
    /// The provider answered and refused (declined, invalid request): nothing happened,
    /// and the same request would be refused again.
    Refused,
    /// The provider did not act (unreachable before anything was sent, rate-limited,
    /// maintenance): nothing happened; the same request may pass later.
    Unavailable,
    /// The request may have been acted on (a timeout or lost answer after sending, a
    /// server error that may follow the action): find out at the provider before deciding.
    OutcomeUnknown,
}

impl ProviderFailure {
    /// True when the provider certainly did not act.
    pub fn nothing_happened(self) -> bool {
        self != ProviderFailure::OutcomeUnknown
    }

    /// True when the same request may succeed later.
    pub fn may_pass_later(self) -> bool {
        self != ProviderFailure::Refused
    }
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderFailure::Refused => "refused",
            ProviderFailure::Unavailable => "unavailable, nothing done",
            ProviderFailure::OutcomeUnknown => "outcome unknown",
        })
    }
}

impl Error {
    /// A provider failure, for acquirer implementations.
    pub fn provider(
        instance: impl Into<String>,
        failure: ProviderFailure,
        message: impl Into<String>,
    ) -> Self {
        Error::Provider {
            instance: instance.into(),
            code: None,
            message: message.into(),
            failure,
            source: None,
        }
    }

    /// The provider's own code, on a [`Error::Provider`].
    #[must_use]
    pub fn with_code(mut self, c: impl Into<String>) -> Self {
        if let Error::Provider { code, .. } = &mut self {
            *code = Some(c.into());
        }
        self
    }

    /// The underlying error, on a [`Error::Provider`].
    #[must_use]
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let Error::Provider { source, .. } = &mut self {
            *source = Some(std::sync::Arc::new(e));
        }
        self
    }

    /// A hook failure, for host implementations.
    pub fn hook(hook: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Hook {
            hook: hook.into(),
            reason: reason.into(),
        }
    }

    /// A verification failure, for acquirer implementations.
    pub fn verification(instance: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Verification {
            instance: instance.into(),
            reason: reason.into(),
        }
    }

    /// A store failure.
    pub fn store(message: impl std::fmt::Display) -> Self {
        Error::Store {
            message: message.to_string(),
            retryable: false,
        }
    }
}
