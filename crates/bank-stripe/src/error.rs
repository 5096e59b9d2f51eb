//! The one error type of the crate, with structured fields.

use bank_core::ProviderFailure;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StripeError {
    /// The `Stripe-Signature` header is missing.
    #[error("no Stripe-Signature header")]
    MissingSignature,
    /// The `Stripe-Signature` header cannot be read.
    #[error("malformed Stripe-Signature header: {reason}")]
    BadHeader {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `v1` signature of the header matches any configured secret.
    #[error("no v1 signature matches a configured webhook secret")]
    BadSignature,
    /// The signature is older than the tolerance (a replay of an old delivery).
    #[error("{}", stale(*timestamp, *age, *tolerance))]
    Stale {
        /// The header's `t`.
        timestamp: i64,
        /// Seconds between `t` and now.
        age: i64,
        /// The tolerance, seconds.
        tolerance: i64,
    },
    /// The body is not a Stripe event.
    #[error("the body is not a Stripe event: {reason}")]
    BadEvent {
        /// Why.
        reason: String,
    },
    /// An amount cannot be expressed in Stripe's unit for its currency, or comes back
    /// from Stripe in a form ours cannot hold.
    #[error("amount {amount} {currency} cannot be converted: {reason}")]
    Amount {
        /// The amount, as given.
        amount: i64,
        /// Currency code.
        currency: String,
        /// Why.
        reason: &'static str,
    },
    /// Stripe does not take this currency (or we have not checked how it does).
    #[error("currency {currency} is not supported by this provider")]
    Currency {
        /// Currency code as received.
        currency: String,
    },
    /// An option is wrong (a live key in a test instance, say).
    #[error("option {option}: {reason}")]
    Config {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// Stripe answered with an error object.
    #[error("Stripe answered {status} {kind}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// `error.type`: `card_error`, `invalid_request_error`, `idempotency_error`,
        /// `api_error`…
        kind: String,
        /// `error.code`.
        code: Option<String>,
        /// `error.decline_code`.
        decline_code: Option<String>,
        /// `error.message`.
        message: String,
        /// `Request-Id` of the answer, for Stripe's support.
        request_id: Option<String>,
    },
    /// The request may or may not have reached Stripe (connection, time-out, 5xx after
    /// every retry, an answer that is not JSON).
    #[error("{operation}: outcome unknown after {attempts} attempt(s): {reason}")]
    Unknown {
        /// What was being done.
        operation: &'static str,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The API calls made while handling a webhook outlasted their overall deadline
    /// (`webhook_api_timeout_seconds`): the webhook is answered 5xx and Stripe redelivers.
    #[error("{operation}: no answer from Stripe within {seconds} s while handling a webhook; Stripe will redeliver it")]
    Deadline {
        /// What was being done.
        operation: &'static str,
        /// The deadline, seconds.
        seconds: u64,
    },
    /// The sandbox could not start.
    #[error("sandbox: {reason}")]
    Sandbox {
        /// Why.
        reason: String,
    },
}

impl StripeError {
    /// True when Stripe certainly did not act on the request: an error object for a
    /// refused, invalid or rate-limited request (400, 401, 402, 403, 404, 429, idempotency
    /// mismatch). A 409 (concurrent request on the same key) is not: the other request
    /// may have acted.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StripeError::Api { status, .. } if (400..500).contains(status) && *status != 409)
    }

    /// This error as a `bank_core` error of instance `instance`, keeping it as the source.
    ///
    /// Verification failures become [`bank_core::Error::Verification`]. Provider failures:
    /// a refused or invalid request is [`ProviderFailure::Refused`]; a rate limit
    /// (429) or a sandbox that cannot start [`ProviderFailure::Unavailable`] (nothing
    /// happened); a server error, a lost answer or a deadline
    /// [`ProviderFailure::OutcomeUnknown`] (Stripe may have acted: the idempotency key makes
    /// a retry safe, and a refund stays pending until someone looks).
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        let failure = match &self {
            StripeError::MissingSignature
            | StripeError::BadHeader { .. }
            | StripeError::BadSignature
            | StripeError::Stale { .. }
            | StripeError::BadEvent { .. } => {
                return bank_core::Error::verification(instance, self.to_string())
            }
            StripeError::Config { option, reason } => {
                return bank_core::Error::Config {
                    file: "<options>".into(),
                    key: format!("instance.{instance}.options.{option}"),
                    reason: reason.clone(),
                }
            }
            StripeError::Api { status: 429, .. } | StripeError::Sandbox { .. } => {
                ProviderFailure::Unavailable
            }
            StripeError::Api { .. } if self.is_refusal() => ProviderFailure::Refused,
            StripeError::Amount { .. } | StripeError::Currency { .. } => ProviderFailure::Refused,
            StripeError::Api { .. }
            | StripeError::Unknown { .. }
            | StripeError::Deadline { .. } => ProviderFailure::OutcomeUnknown,
        };
        let code = match &self {
            StripeError::Api { code, .. } => code.clone(),
            _ => None,
        };
        let mut e = bank_core::Error::provider(instance, failure, self.to_string());
        if let Some(c) = code {
            e = e.with_code(c);
        }
        e.with_source(self)
    }
}

/// The message of [`StripeError::Stale`]: the signing time, readable, the tolerance, and
/// how to check a captured delivery at the time it was signed (`bank verify --now`).
fn stale(timestamp: i64, age: i64, tolerance: i64) -> String {
    let at = chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let when = at.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
    let now = at.as_deref().unwrap_or("<its signing time, RFC 3339>");
    format!(
        "signature timestamp {timestamp}{when} is {age} s old, beyond the tolerance of \
         {tolerance} s (a delayed or replayed delivery); to check a webhook captured earlier, \
         verify it at its signing time: bank verify --now {now} …"
    )
}
