//! The one error type of the crate, with structured fields.

use bank_core::ProviderFailure;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpnError {
    /// The body is not an IPN PayPal could have sent.
    #[error("malformed IPN: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The IPN names a charset we cannot decode.
    #[error("IPN charset {charset:?} is not known")]
    Charset {
        /// As received (cut).
        charset: String,
    },
    /// PayPal's postback answered `INVALID` (or anything but `VERIFIED`).
    #[error("PayPal's postback answered {answer:?}: not a message PayPal sent")]
    Invalid {
        /// The answer, cut to 40 characters.
        answer: String,
    },
    /// The postback could not be made or answered oddly: temporary, PayPal re-sends.
    #[error("PayPal's postback failed: {reason}")]
    Postback {
        /// Why.
        reason: String,
    },
    /// Verified, but for the other mode (`test_ipn`).
    #[error("a {got} IPN on a {mode} instance")]
    Mode {
        /// `test` or `live` (the message).
        got: &'static str,
        /// The instance's mode.
        mode: &'static str,
    },
    /// Verified, but paid to someone else (`receiver_email`, `receiver_id`, `business`):
    /// an edited button, or another merchant pointing at this listener.
    #[error("IPN paid to {field} {got:?}, not to this instance's merchant")]
    Receiver {
        /// The field that differs.
        field: &'static str,
        /// Its value (cut).
        got: String,
    },
    /// An amount that cannot be read exactly.
    #[error("amount {amount:?} {currency:?} cannot be read: {reason}")]
    Amount {
        /// As received.
        amount: String,
        /// As received.
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
    /// Building an encrypted button failed.
    #[error("encrypted button: {reason}")]
    Ewp {
        /// Why.
        reason: String,
    },
    /// The sandbox could not start.
    #[error("sandbox: {reason}")]
    Sandbox {
        /// Why.
        reason: String,
    },
}

impl IpnError {
    /// This error as a `bank_core` error of instance `instance`, keeping it as the source.
    ///
    /// Anything that says the message is not genuine, or not for us, is a
    /// [`bank_core::Error::Verification`]: stored for review, nothing changed. A postback
    /// that could not be made is [`ProviderFailure::Unavailable`] (the listener answers
    /// 5xx and PayPal re-sends).
    pub fn into_core(self, instance: &str) -> bank_core::Error {
        match &self {
            IpnError::Malformed { .. }
            | IpnError::Charset { .. }
            | IpnError::Invalid { .. }
            | IpnError::Mode { .. }
            | IpnError::Receiver { .. }
            | IpnError::Amount { .. } => bank_core::Error::verification(instance, self.to_string()),
            IpnError::Config { option, reason } => bank_core::Error::Config {
                file: "<options>".into(),
                key: format!("instance.{instance}.options.{option}"),
                reason: reason.clone(),
            },
            IpnError::Postback { .. } | IpnError::Sandbox { .. } => {
                bank_core::Error::provider(instance, ProviderFailure::Unavailable, self.to_string())
                    .with_source(self)
            }
            IpnError::Ewp { .. } => {
                bank_core::Error::provider(instance, ProviderFailure::Refused, self.to_string())
                    .with_source(self)
            }
        }
    }
}
