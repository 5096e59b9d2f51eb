//! The `signature` field, the same for the form and every response: the values of every
//! `vads_*` field (empty ones too), sorted by field name, joined with `+`, then `+` and the
//! key of the mode; HMAC-SHA-256 keyed with the key's text (base64), or the legacy SHA-1
//! (lowercase hex). The key is text, never hex- or base64-decoded (unlike Paybox's).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The shop's signature algorithm (a back-office setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-256, base64: the default of every shop since 2016.
    HmacSha256,
    /// SHA-1, hex: legacy shops only.
    Sha1,
}

impl Algorithm {
    /// As configured: `hmac_sha256` or `sha1`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac_sha256",
            Algorithm::Sha1 => "sha1",
        }
    }
}

/// The string that is signed: `vads_*` values sorted by name, `+`-joined, `+key`.
pub fn signed_string<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
) -> String {
    let mut vads: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(name, _)| name.starts_with("vads_"))
        .collect();
    vads.sort_by(|a, b| a.0.cmp(b.0));
    let mut s =
        String::with_capacity(vads.iter().map(|(_, v)| v.len() + 1).sum::<usize>() + key.len());
    for (_, value) in vads {
        s.push_str(value);
        s.push('+');
    }
    s.push_str(key);
    s
}

/// The signature of `fields` with `key`.
pub fn sign<'a>(
    algorithm: Algorithm,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
) -> String {
    let message = signed_string(fields, key);
    match algorithm {
        Algorithm::Sha1 => hex::encode(Sha1::digest(message.as_bytes())),
        Algorithm::HmacSha256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(message.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
    }
}

/// True when `got` is the signature of `fields` with `key`, compared in constant time.
pub fn verify<'a>(
    algorithm: Algorithm,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
    got: &str,
) -> bool {
    let expected = sign(algorithm, fields, key);
    expected.as_bytes().ct_eq(got.as_bytes()).into()
}
