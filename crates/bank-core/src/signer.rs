//! Signs the forms that post back to our own endpoints (offline buttons, simulation).
//!
//! Without it anyone could post "the payer chose cheque" or "simulate ok" for any
//! reference. The key is the installation secret; comparison is constant-time.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 over length-prefixed parts, keyed by the installation secret.
#[derive(Clone)]
pub struct FormSigner {
    key: Arc<SecretString>,
}

impl fmt::Debug for FormSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FormSigner([REDACTED])")
    }
}

impl FormSigner {
    /// A signer keyed by `secret`.
    pub fn new(secret: SecretString) -> Self {
        FormSigner {
            key: Arc::new(secret),
        }
    }

    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        for p in parts {
            // Length prefixes keep ("ab","c") and ("a","bc") apart.
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac
    }

    /// The token for `parts`, lower-case hex.
    pub fn sign(&self, parts: &[&str]) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    /// True when `token` is exactly the token of `parts`: the canonical lower-case hex that
    /// [`FormSigner::sign`] writes, compared in constant time. Another spelling of the same
    /// bytes (upper case) is refused: a token has one form, so a stored or logged token is
    /// the one that was accepted.
    pub fn verify(&self, parts: &[&str], token: &str) -> bool {
        let expected = self.sign(parts);
        expected.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_every_part() {
        let s = FormSigner::new(SecretString::from("k"));
        let t = s.sign(&["cheque", "shop-abc", "1000"]);
        assert!(s.verify(&["cheque", "shop-abc", "1000"], &t));
        assert!(!s.verify(&["cheque", "shop-abc", "1001"], &t));
        assert!(!s.verify(&["cheques", "hop-abc", "1000"], &t));
        assert!(!s.verify(&["cheque", "shop-abc", "1000"], "zz"));
        assert!(
            !s.verify(&["cheque", "shop-abc", "1000"], &t.to_ascii_uppercase()),
            "one spelling only"
        );
        assert_eq!(format!("{s:?}"), "FormSigner([REDACTED])");
        let other = FormSigner::new(SecretString::from("other"));
        assert!(!other.verify(&["cheque", "shop-abc", "1000"], &t));
    }
}
