//! The one error type of the crate, with structured fields, and its mapping into
//! [`bank_core::Error`].

use bank_core::ProviderFailure;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayboxError {
    /// An option is missing or malformed.
    #[error("option {option}: {reason}")]
    Config {
        /// The option name.
        option: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A notification is not authentic or cannot be read (bad or missing signature,
    /// missing variable, duplicated variable, malformed value).
    #[error("{reason}")]
    Verification {
        /// Why, in words (never a key or the expected signature).
        reason: String,
    },
    /// A payment request cannot be built for this transaction.
    #[error("cannot build the Paybox form: {reason}")]
    Request {
        /// Why.
        reason: String,
    },
    /// An operation needs data the transaction does not carry (no Paybox transaction
    /// number, no registered card).
    #[error("transaction {reference}: {reason}")]
    MissingData {
        /// The transaction.
        reference: String,
        /// What is missing.
        reason: String,
    },
    /// A Paybox Direct operation was asked of an instance built without the engine's
    /// services (question numbers come from the store) or without the `cle` option.
    #[error("Paybox Direct unavailable: {reason}")]
    DirectUnavailable {
        /// Why.
        reason: String,
    },
    /// Paybox Direct could not be reached: nothing was sent (connection refused, name not
    /// resolved) on every host tried.
    #[error("Paybox Direct unreachable ({hosts} host(s) tried): {reason}")]
    Unreachable {
        /// How many hosts were tried.
        hosts: usize,
        /// The last network error.
        reason: String,
    },
    /// A Paybox Direct request was sent but no usable answer came back (time-out, broken
    /// connection, HTTP error, unreadable or inconsistent answer): the operation may or may
    /// not have been processed.
    #[error("Paybox Direct outcome unknown: {reason}")]
    OutcomeUnknown {
        /// What went wrong.
        reason: String,
    },
    /// Paybox Direct answered with a code other than `00000`.
    #[error("Paybox Direct refused ({code}): {message}")]
    Refused {
        /// `CODEREPONSE`.
        code: String,
        /// `COMMENTAIRE`, or the meaning of the code.
        message: String,
        /// True when the code says the operation was not processed and may be retried
        /// later (authorisation centre unreachable, Paybox busy).
        retryable: bool,
    },
    /// The sandbox could not start.
    #[error("sandbox: {reason}")]
    Sandbox {
        /// Why.
        reason: String,
    },
}

impl PayboxError {
    pub(crate) fn verification(reason: impl Into<String>) -> Self {
        PayboxError::Verification {
            reason: reason.into(),
        }
    }

    /// This error as a `bank_core` error for instance `instance`.
    ///
    /// A verification failure becomes [`bank_core::Error::Verification`] (stored for
    /// review, answered 400). For Paybox Direct: a definite refusal is
    /// [`ProviderFailure::Refused`], an answer that says to try again or nothing sent at all
    /// [`ProviderFailure::Unavailable`] (nothing happened: the engine releases a refund
    /// reservation), an answer lost or unclear [`ProviderFailure::OutcomeUnknown`] (the
    /// engine leaves the refund pending for staff).
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        let instance = instance.to_string();
        match self {
            PayboxError::Verification { reason } => {
                bank_core::Error::Verification { instance, reason }
            }
            PayboxError::Config { option, reason } => bank_core::Error::Config {
                file: "<configuration>".into(),
                key: format!("instance.{instance}.options.{option}"),
                reason,
            },
            PayboxError::Refused {
                code,
                message,
                retryable,
            } => bank_core::Error::provider(
                instance,
                if retryable {
                    ProviderFailure::Unavailable
                } else {
                    ProviderFailure::Refused
                },
                format!("Paybox Direct refused ({code}): {message}"),
            )
            .with_code(code),
            e @ PayboxError::OutcomeUnknown { .. } => {
                bank_core::Error::provider(instance, ProviderFailure::OutcomeUnknown, e.to_string())
            }
            // Nothing was sent: Paybox did nothing.
            e @ (PayboxError::Unreachable { .. }
            | PayboxError::DirectUnavailable { .. }
            | PayboxError::Sandbox { .. }) => {
                bank_core::Error::provider(instance, ProviderFailure::Unavailable, e.to_string())
            }
            // Our request could not be made: the same one never will.
            e @ (PayboxError::Request { .. } | PayboxError::MissingData { .. }) => {
                bank_core::Error::provider(instance, ProviderFailure::Refused, e.to_string())
            }
        }
    }
}
