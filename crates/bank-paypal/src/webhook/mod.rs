//! Webhook verification: offline (the certificate's RSA-SHA256 signature over
//! `transmission_id|transmission_time|webhook_id|crc32(body)`) or by PayPal's
//! `verify-webhook-signature` postback, never one after the other: a signature that fails
//! one method is rejected, not asked again of another that might say yes.

pub mod cert;
pub mod headers;

use openssl::hash::MessageDigest;
use openssl::sign::Verifier;

pub use cert::{CertCache, CertPolicy, SigningCert};
pub use headers::{signed_message, WebhookHeaders, AUTH_ALGO};

use crate::error::PayPalError;

/// Checks `signature` over `message` with the certificate's key (RSASSA-PKCS1-v1_5,
/// SHA-256). OpenSSL compares the recovered digest itself.
///
/// # Errors
/// [`PayPalError::BadSignature`].
pub fn verify_signature(
    cert: &SigningCert,
    message: &[u8],
    signature: &[u8],
    webhook_id: &str,
) -> Result<(), PayPalError> {
    let bad = || PayPalError::BadSignature {
        webhook_id: webhook_id.to_string(),
    };
    let mut v = Verifier::new(MessageDigest::sha256(), &cert.key).map_err(|_| bad())?;
    v.update(message).map_err(|_| bad())?;
    match v.verify(signature) {
        Ok(true) => Ok(()),
        _ => Err(bad()),
    }
}

/// The offline check of one delivery with a certificate already checked: the work done
/// on every webhook once the certificate is cached.
///
/// # Errors
/// [`PayPalError::Certificate`] when the certificate is not valid at `now`;
/// [`PayPalError::BadSignature`].
pub fn verify_offline(
    h: &WebhookHeaders,
    cert: &SigningCert,
    webhook_id: &str,
    body: &[u8],
    now: i64,
) -> Result<(), PayPalError> {
    if !(cert.not_before..=cert.not_after).contains(&now) {
        return Err(PayPalError::Certificate {
            url: h.cert_url.clone(),
            reason: "not valid at the verification time".into(),
        });
    }
    let message = h.signed_message(webhook_id, body);
    verify_signature(cert, message.as_bytes(), &h.signature, webhook_id)
}

/// The body of a `verify-webhook-signature` request: the raw event spliced in byte for
/// byte, because PayPal checks the signature over its own re-serialisation of it and a
/// parsed-then-encoded event can differ in key order or escapes.
///
/// # Errors
/// [`PayPalError::BadEvent`] when the body is not one JSON value.
pub fn postback_body(
    h: &WebhookHeaders,
    webhook_id: &str,
    body: &[u8],
) -> Result<String, PayPalError> {
    use base64::Engine as _;
    let text = std::str::from_utf8(body).map_err(|_| PayPalError::BadEvent {
        reason: "not UTF-8".into(),
    })?;
    let raw: &serde_json::value::RawValue =
        serde_json::from_str(text).map_err(|e| PayPalError::BadEvent {
            reason: format!("not JSON: {e}"),
        })?;
    #[derive(serde::Serialize)]
    struct Request<'a> {
        auth_algo: &'a str,
        cert_url: &'a str,
        transmission_id: &'a str,
        transmission_sig: String,
        transmission_time: &'a str,
        webhook_id: &'a str,
        webhook_event: &'a serde_json::value::RawValue,
    }
    serde_json::to_string(&Request {
        auth_algo: &h.auth_algo,
        cert_url: &h.cert_url,
        transmission_id: &h.transmission_id,
        transmission_sig: base64::engine::general_purpose::STANDARD.encode(&h.signature),
        transmission_time: &h.transmission_time,
        webhook_id,
        webhook_event: raw,
    })
    .map_err(|e| PayPalError::BadEvent {
        reason: e.to_string(),
    })
}
