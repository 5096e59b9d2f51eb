//! The `Stripe-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]`.
//!
//! `v1 = hex(HMAC-SHA256(key = the whole secret string, "whsec_" included, as UTF-8;
//! message = t || "." || raw body))`. The secret is *not* base64-decoded (Standard
//! Webhooks does that; Stripe does not). A delivery is accepted when any `v1` matches any
//! configured secret (rotation), the header has exactly one integer `t`, and `now - t` is
//! within the tolerance. Signatures are compared in constant time (`Mac::verify_slice`).

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::error::StripeError;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance, seconds.
pub const DEFAULT_TOLERANCE: i64 = 300;

/// The parts of a `Stripe-Signature` header that count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t`: when Stripe signed this delivery attempt.
    pub timestamp: i64,
    /// Every `v1`, hex-decoded (32 bytes each).
    pub v1: Vec<Vec<u8>>,
}

impl SignatureHeader {
    /// Parses a header. Items other than `t` and `v1` (`v0`, future schemes) are ignored;
    /// a `v1` that is not 64 hex digits is ignored too (it can match nothing).
    ///
    /// # Errors
    /// [`StripeError::BadHeader`] when `t` is missing, repeated or not an integer, or when
    /// no usable `v1` is present.
    pub fn parse(header: &str) -> Result<Self, StripeError> {
        let bad = |reason| StripeError::BadHeader { reason };
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for item in header.split(',') {
            let Some((k, v)) = item.trim().split_once('=') else {
                continue;
            };
            match k {
                "t" => {
                    if timestamp.is_some() {
                        return Err(bad("more than one t"));
                    }
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("t is not an integer"));
                    }
                    timestamp = Some(v.parse::<i64>().map_err(|_| bad("t is out of range"))?);
                }
                "v1" => {
                    if let Ok(sig) = hex::decode(v) {
                        if sig.len() == 32 {
                            v1.push(sig);
                        }
                    }
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(bad("no t"))?;
        if v1.is_empty() {
            return Err(bad("no v1 signature"));
        }
        Ok(SignatureHeader { timestamp, v1 })
    }
}

/// The webhook signing secrets of an endpoint: one, or several during a rotation.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<SecretString>);

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets([{} redacted])", self.0.len())
    }
}

impl WebhookSecrets {
    /// Secrets from one option value: `whsec_…` items separated by spaces or commas.
    ///
    /// # Errors
    /// [`StripeError::Config`] when there is none.
    pub fn parse(value: &str) -> Result<Self, StripeError> {
        let secrets: Vec<SecretString> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        if secrets.is_empty() {
            return Err(StripeError::Config {
                option: "webhook_secrets",
                reason: "no webhook signing secret (whsec_…)".into(),
            });
        }
        Ok(WebhookSecrets(secrets))
    }

    /// Secrets from a list.
    pub fn new(secrets: Vec<SecretString>) -> Self {
        WebhookSecrets(secrets)
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no secret is held (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks `header` over `body` at `now` (Unix seconds). A `tolerance` of 0 or less
    /// turns the age check off, as in the official libraries. Timestamps in the future
    /// are accepted, as the official libraries do.
    ///
    /// # Errors
    /// [`StripeError::BadHeader`], [`StripeError::BadSignature`] or [`StripeError::Stale`].
    pub fn verify(
        &self,
        header: &str,
        body: &[u8],
        now: i64,
        tolerance: i64,
    ) -> Result<i64, StripeError> {
        let h = SignatureHeader::parse(header)?;
        let t = h.timestamp.to_string();
        let matched = self.0.iter().any(|secret| {
            let mac = mac_over(secret.expose_secret(), &t, body);
            h.v1.iter().any(|sig| mac.clone().verify_slice(sig).is_ok())
        });
        if !matched {
            return Err(StripeError::BadSignature);
        }
        // The signature covers `t`, so the age is checked on an authentic timestamp.
        let age = now.saturating_sub(h.timestamp);
        if tolerance > 0 && age > tolerance {
            return Err(StripeError::Stale {
                timestamp: h.timestamp,
                age,
                tolerance,
            });
        }
        Ok(h.timestamp)
    }
}

fn mac_over(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` at `timestamp` with `secret`, lower-case hex.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(
        mac_over(secret, &timestamp.to_string(), body)
            .finalize()
            .into_bytes(),
    )
}

/// A complete header signed with every secret of `secrets` (one `v1` each), as Stripe
/// sends during a rotation. For tests and the sandbox.
pub fn header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut h = format!("t={timestamp}");
    for s in secrets {
        h.push_str(",v1=");
        h.push_str(&sign(s, timestamp, body));
    }
    h
}
