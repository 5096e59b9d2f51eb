//! The one error type of the crate, with structured fields.

use bank_core::ProviderFailure;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayPalError {
    /// A webhook header PayPal always sends is missing.
    #[error("no {header} header")]
    MissingHeader {
        /// Its name.
        header: &'static str,
    },
    /// A webhook header cannot be read.
    #[error("malformed {header} header: {reason}")]
    BadHeader {
        /// Its name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `PAYPAL-AUTH-ALGO` names an algorithm other than `SHA256withRSA`.
    #[error("signature algorithm {algo:?} is not accepted (only SHA256withRSA)")]
    AuthAlgo {
        /// As received.
        algo: String,
    },
    /// `PAYPAL-CERT-URL` is not a PayPal certificate address this instance trusts: it is
    /// never fetched (an attacker's certificate would make every forgery verify).
    #[error("certificate URL {url:?} refused: {reason}")]
    CertUrl {
        /// As received (cut to 200 characters).
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The certificate could not be fetched: temporary, PayPal is answered 5xx and retries.
    #[error("certificate {url} could not be fetched: {reason}")]
    CertFetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The certificate does not chain to a trusted root, is not PayPal's message
    /// verification certificate, or is not valid at the verification time.
    #[error("certificate {url} refused: {reason}")]
    Certificate {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The RSA-SHA256 signature does not match the signed message.
    #[error("the webhook signature does not match (transmission id, time, webhook id {webhook_id} and the body's CRC32)")]
    BadSignature {
        /// The webhook id the message was built with (ours).
        webhook_id: String,
    },
    /// PayPal's `verify-webhook-signature` answered something other than `SUCCESS`.
    #[error("PayPal's verify-webhook-signature answered {status}")]
    Postback {
        /// `verification_status` as received.
        status: String,
    },
    /// The body is not a PayPal webhook event.
    #[error("the body is not a PayPal webhook event: {reason}")]
    BadEvent {
        /// Why.
        reason: String,
    },
    /// An amount cannot be written as PayPal wants it, or comes back in a form ours
    /// cannot hold.
    #[error("amount {amount} {currency} cannot be converted: {reason}")]
    Amount {
        /// The amount, as given.
        amount: String,
        /// Currency code.
        currency: String,
        /// Why.
        reason: &'static str,
    },
    /// PayPal does not take this currency.
    #[error("currency {currency} is not taken by PayPal")]
    Currency {
        /// Currency code as received.
        currency: String,
    },
    /// An option is wrong.
    #[error("option {option}: {reason}")]
    Config {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The OAuth token request was refused (wrong client id or secret).
    #[error("PayPal refused the app's credentials ({status} {error}): {description}")]
    Credentials {
        /// HTTP status.
        status: u16,
        /// `error` (`invalid_client`).
        error: String,
        /// `error_description`.
        description: String,
    },
    /// PayPal answered with an error object.
    #[error("PayPal answered {status} {name}{}: {message}{}", issue.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(), debug_id.as_deref().map(|d| format!(" [debug_id {d}]")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// `name`: `UNPROCESSABLE_ENTITY`, `RESOURCE_NOT_FOUND`, `AUTHENTICATION_FAILURE`…
        name: String,
        /// The first `details[].issue`: `INSTRUMENT_DECLINED`, `ORDER_ALREADY_CAPTURED`…
        issue: Option<String>,
        /// `message`.
        message: String,
        /// `debug_id`, for PayPal's support.
        debug_id: Option<String>,
    },
    /// The request may or may not have reached PayPal (connection, time-out, 5xx after
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
    /// Nothing was sent: PayPal could not be reached for the access token, or answered
    /// the token request with a server error.
    #[error("{operation}: PayPal unreachable, nothing sent: {reason}")]
    Unreachable {
        /// What was being done.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// An answer of PayPal's that lacks what the operation needs.
    #[error("{operation}: PayPal's answer has no {missing}")]
    Incomplete {
        /// What was being done.
        operation: &'static str,
        /// What is missing.
        missing: &'static str,
    },
    /// The sandbox could not start.
    #[error("sandbox: {reason}")]
    Sandbox {
        /// Why.
        reason: String,
    },
}

impl PayPalError {
    /// True when PayPal certainly did not act on the request: an error object for a
    /// refused or invalid request (4xx but 409), or refused credentials.
    pub fn is_refusal(&self) -> bool {
        match self {
            PayPalError::Api { status, .. } => (400..500).contains(status) && *status != 409,
            PayPalError::Credentials { .. } => true,
            _ => false,
        }
    }

    /// The first `details[].issue` of an API error.
    pub fn issue(&self) -> Option<&str> {
        match self {
            PayPalError::Api { issue, .. } => issue.as_deref(),
            _ => None,
        }
    }

    /// True for a failure of the webhook's authenticity (as opposed to a temporary one).
    pub fn is_verification(&self) -> bool {
        matches!(
            self,
            PayPalError::MissingHeader { .. }
                | PayPalError::BadHeader { .. }
                | PayPalError::AuthAlgo { .. }
                | PayPalError::CertUrl { .. }
                | PayPalError::Certificate { .. }
                | PayPalError::BadSignature { .. }
                | PayPalError::Postback { .. }
                | PayPalError::BadEvent { .. }
        )
    }

    /// This error as a `bank_core` error of instance `instance`, keeping it as the source.
    ///
    /// Authenticity failures become [`bank_core::Error::Verification`] (stored for review,
    /// nothing changed). A certificate that cannot be fetched, a rate limit or refused
    /// credentials are [`ProviderFailure::Unavailable`]: nothing happened, and a webhook
    /// is answered 5xx so that PayPal retries. A refused request is
    /// [`ProviderFailure::Refused`]; a server error or a lost answer
    /// [`ProviderFailure::OutcomeUnknown`] (PayPal may have acted: the request id makes a
    /// retry safe).
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        if self.is_verification() {
            return bank_core::Error::verification(instance, self.to_string());
        }
        let failure = match &self {
            PayPalError::Config { option, reason } => {
                return bank_core::Error::Config {
                    file: "<options>".into(),
                    key: format!("instance.{instance}.options.{option}"),
                    reason: reason.clone(),
                }
            }
            PayPalError::Api { status: 429, .. }
            | PayPalError::CertFetch { .. }
            | PayPalError::Credentials { .. }
            | PayPalError::Unreachable { .. }
            | PayPalError::Sandbox { .. } => ProviderFailure::Unavailable,
            PayPalError::Api { .. } if self.is_refusal() => ProviderFailure::Refused,
            PayPalError::Amount { .. } | PayPalError::Currency { .. } => ProviderFailure::Refused,
            _ => ProviderFailure::OutcomeUnknown,
        };
        let code = self.issue().map(str::to_string).or_else(|| match &self {
            PayPalError::Api { name, .. } => Some(name.clone()),
            _ => None,
        });
        let mut e = bank_core::Error::provider(instance, failure, self.to_string());
        if let Some(c) = code {
            e = e.with_code(c);
        }
        e.with_source(self)
    }
}
