//! The one error type of the crate, with structured fields.

use bank_core::ProviderFailure;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayzenError {
    /// The message is not one PayZen could have sent (a field twice, too large, missing a
    /// field every response carries).
    #[error("malformed PayZen message: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The signature does not match the fields with this instance's key and algorithm.
    #[error("PayZen signature does not match ({algorithm}, {mode} key)")]
    Signature {
        /// The configured algorithm.
        algorithm: &'static str,
        /// The key tried: `TEST` or `PRODUCTION`.
        mode: &'static str,
    },
    /// Signed, but for the other mode (`vads_ctx_mode`).
    #[error("a {got} message on a {mode} instance")]
    Mode {
        /// As received (cut).
        got: String,
        /// The instance's mode.
        mode: &'static str,
    },
    /// Signed, but for another shop (`vads_site_id`).
    #[error("message of shop {got:?}, not this instance's")]
    Shop {
        /// As received (cut).
        got: String,
    },
    /// An amount or currency that cannot be read exactly.
    #[error("amount {amount:?} in currency {currency:?} cannot be read: {reason}")]
    Amount {
        /// As received (cut).
        amount: String,
        /// As received (cut).
        currency: String,
        /// Why.
        reason: &'static str,
    },
    /// An option is wrong.
    #[error("option {option}: {reason}")]
    Config {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// No transaction id is left for this shop today (`000000`–`899999` are ours; `9…` is
    /// the back office's).
    #[error("no vads_trans_id left for shop {site_id} on {day}")]
    TransIdsExhausted {
        /// The shop.
        site_id: String,
        /// The UTC day, `YYYYMMDD`.
        day: String,
    },
    /// The operation needs what this call did not have (the engine's counters, REST
    /// credentials, the payment's `vads_trans_uuid`).
    #[error("{operation} is not possible: {reason}")]
    Unavailable {
        /// The operation.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// The REST API answered `{"status": "ERROR"}`.
    #[error("PayZen refused {operation}: {code} {message}{}", detailed.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rest {
        /// The operation (`Transaction/CancelOrRefund`).
        operation: &'static str,
        /// `errorCode` (`PSP_010`, `INT_905`…).
        code: String,
        /// `errorMessage`.
        message: String,
        /// `detailedErrorCode` and `detailedErrorMessage`, when given.
        detailed: Option<String>,
    },
    /// The REST call could not be made, or its answer could not be read: the outcome of an
    /// operation that changes money is then unknown.
    #[error("PayZen {operation}: {reason}")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// Why.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The sandbox could not start.
    #[error("sandbox: {reason}")]
    Sandbox {
        /// Why.
        reason: String,
    },
}

impl PayzenError {
    /// This error as a `bank_core` error of instance `instance`, keeping it as the source.
    ///
    /// Anything that says a message is not genuine or not for us is a
    /// [`bank_core::Error::Verification`]: stored for review, nothing changed.
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        match &self {
            PayzenError::Malformed { .. }
            | PayzenError::Signature { .. }
            | PayzenError::Mode { .. }
            | PayzenError::Shop { .. }
            | PayzenError::Amount { .. } => {
                bank_core::Error::verification(instance, self.to_string())
            }
            PayzenError::Config { option, reason } => bank_core::Error::Config {
                file: "<options>".into(),
                key: format!("instance.{instance}.options.{option}"),
                reason: reason.clone(),
            },
            PayzenError::Rest { code, .. } => {
                let code = code.clone();
                bank_core::Error::provider(instance, ProviderFailure::Refused, self.to_string())
                    .with_code(code)
                    .with_source(self)
            }
            PayzenError::TransIdsExhausted { .. }
            | PayzenError::Unavailable { .. }
            | PayzenError::Sandbox { .. } => {
                bank_core::Error::provider(instance, ProviderFailure::Unavailable, self.to_string())
                    .with_source(self)
            }
            PayzenError::Transport { .. } => bank_core::Error::provider(
                instance,
                ProviderFailure::OutcomeUnknown,
                self.to_string(),
            )
            .with_source(self),
        }
    }
}
