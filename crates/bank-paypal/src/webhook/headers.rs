//! The header set of a PayPal webhook delivery.

use bank_core::Notification;

use crate::error::PayPalError;

/// The one algorithm accepted: PayPal signs with it since 2015; anything else (an
/// attacker's `SHA1withRSA`) is refused rather than mapped.
pub const AUTH_ALGO: &str = "SHA256withRSA";

/// The headers that make a webhook verifiable, as received (no reformatting: the
/// transmission time is signed as sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `PAYPAL-TRANSMISSION-ID`.
    pub transmission_id: String,
    /// `PAYPAL-TRANSMISSION-TIME`.
    pub transmission_time: String,
    /// `PAYPAL-TRANSMISSION-SIG`, decoded from base64.
    pub signature: Vec<u8>,
    /// `PAYPAL-CERT-URL`.
    pub cert_url: String,
    /// `PAYPAL-AUTH-ALGO`.
    pub auth_algo: String,
}

fn required<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    header: &'static str,
    max: usize,
) -> Result<&'a str, PayPalError> {
    let v = get(header)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(PayPalError::MissingHeader { header })?;
    if v.len() > max {
        return Err(PayPalError::BadHeader {
            header,
            reason: "too long",
        });
    }
    if v.bytes().any(|b| b.is_ascii_control() || b == b'|') {
        return Err(PayPalError::BadHeader {
            header,
            reason: "control character or '|' (the signed message's separator)",
        });
    }
    Ok(v)
}

impl WebhookHeaders {
    /// Reads the header set of a delivery (names are case-insensitive).
    ///
    /// # Errors
    /// [`PayPalError::MissingHeader`], [`PayPalError::BadHeader`] or
    /// [`PayPalError::AuthAlgo`].
    pub fn from_notification(n: &Notification) -> Result<Self, PayPalError> {
        Self::from_lookup(|name| n.header(name))
    }

    /// Reads the header set through `get` (a header look-up by name).
    ///
    /// # Errors
    /// As [`WebhookHeaders::from_notification`].
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, PayPalError> {
        use base64::Engine as _;
        let transmission_id = required(&get, "paypal-transmission-id", 50)?;
        let transmission_time = required(&get, "paypal-transmission-time", 40)?;
        if chrono::DateTime::parse_from_rfc3339(transmission_time).is_err() {
            return Err(PayPalError::BadHeader {
                header: "paypal-transmission-time",
                reason: "not an RFC 3339 time",
            });
        }
        let sig = required(&get, "paypal-transmission-sig", 1024)?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| PayPalError::BadHeader {
                header: "paypal-transmission-sig",
                reason: "not base64",
            })?;
        let cert_url = required(&get, "paypal-cert-url", 500)?;
        let auth_algo = required(&get, "paypal-auth-algo", 100)?;
        if auth_algo != AUTH_ALGO {
            return Err(PayPalError::AuthAlgo {
                algo: auth_algo.chars().take(40).collect(),
            });
        }
        Ok(WebhookHeaders {
            transmission_id: transmission_id.to_string(),
            transmission_time: transmission_time.to_string(),
            signature,
            cert_url: cert_url.to_string(),
            auth_algo: auth_algo.to_string(),
        })
    }

    /// The message PayPal signs: `transmission_id|transmission_time|webhook_id|crc32`,
    /// the CRC-32 (IEEE) of the exact body bytes as an unsigned decimal.
    pub fn signed_message(&self, webhook_id: &str, body: &[u8]) -> String {
        signed_message(
            &self.transmission_id,
            &self.transmission_time,
            webhook_id,
            body,
        )
    }
}

/// The signed message of a delivery (see [`WebhookHeaders::signed_message`]).
pub fn signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    format!(
        "{transmission_id}|{transmission_time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}
