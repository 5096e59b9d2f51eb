//! Paybox's answers: the IPN and the browser returns (paybox.md §5).
//!
//! Paybox signs the `PBX_RETOUR` variables other than the signature, exactly as they
//! appear URL-encoded in the query string, with its RSA-1024 key (PKCS#1 v1.5, SHA-1).
//! So the check runs over the **raw bytes** from the first Paybox variable up to
//! `&signature=`, before anything is decoded; parameters the merchant put in its own URL
//! (`?ref=…` before Paybox's variables) are outside the signed bytes and never read.
//! The signature itself is percent-decoded, then base64-decoded.

use base64::Engine as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha1::{Digest, Sha1};

use crate::error::PayboxError;
use crate::form::{FIRST_VARIABLE, SIGNATURE_VARIABLE};

/// Longest query accepted (Paybox's are a few hundred bytes).
pub const MAX_QUERY_LEN: usize = 8 * 1024;

/// A query split into Paybox's signed bytes and the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedQuery<'a> {
    /// The bytes Paybox signed, still URL-encoded.
    pub signed: &'a str,
    /// The signature's value as received (URL-encoded base64).
    pub signature: &'a str,
}

/// Finds the signed bytes and the signature in a raw query string.
///
/// # Errors
/// [`PayboxError::Verification`] when the signature is missing or not last, or Paybox's
/// first variable is not found before it.
pub fn split(query: &str) -> Result<SignedQuery<'_>, PayboxError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(PayboxError::verification(format!(
            "query of {} bytes is longer than {MAX_QUERY_LEN}",
            query.len()
        )));
    }
    let marker = concat_marker();
    let at = query.rfind(marker.as_str()).ok_or_else(|| {
        PayboxError::verification("no signature: the `signature` variable is missing")
    })?;
    let signature = &query[at + marker.len()..];
    if signature.contains('&') {
        return Err(PayboxError::verification(
            "the signature is not the last variable",
        ));
    }
    if signature.is_empty() {
        return Err(PayboxError::verification("empty signature"));
    }
    let before = &query[..at];
    let start = start_of_variables(before).ok_or_else(|| {
        PayboxError::verification(format!(
            "Paybox's variables (starting with `{FIRST_VARIABLE}`) not found before the signature"
        ))
    })?;
    Ok(SignedQuery {
        signed: &before[start..],
        signature,
    })
}

fn concat_marker() -> String {
    format!("&{SIGNATURE_VARIABLE}=")
}

/// Byte offset of the first `montant=` pair (at the start or after an `&`).
fn start_of_variables(s: &str) -> Option<usize> {
    let needle = format!("{FIRST_VARIABLE}=");
    if s.starts_with(&needle) {
        return Some(0);
    }
    s.find(&format!("&{needle}")).map(|i| i + 1)
}

/// Decodes a signature as found in the query: percent-decoding (a literal `+` or a space
/// stands for `+`, as base64 has no space), then base64.
///
/// # Errors
/// [`PayboxError::Verification`] when it is not base64.
pub fn decode_signature(raw: &str) -> Result<Vec<u8>, PayboxError> {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw)
        .map(|b| if b == b' ' { b'+' } else { b })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    b64.decode(&decoded)
        .or_else(|_| {
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            )
            .decode(&decoded)
        })
        .map_err(|_| PayboxError::verification("invalid signature: not base64"))
}

/// Verifies an RSA PKCS#1 v1.5 SHA-1 signature of `data`.
///
/// # Errors
/// [`PayboxError::Verification`] when it does not verify with `key`.
pub fn verify_rsa(key: &RsaPublicKey, data: &[u8], signature: &[u8]) -> Result<(), PayboxError> {
    let digest = Sha1::digest(data);
    key.verify(Pkcs1v15Sign::new::<Sha1>(), &digest, signature)
        .map_err(|_| {
            PayboxError::verification("bad signature: not signed by the configured Paybox key")
        })
}

/// Checks the signature of a raw query and returns the signed bytes.
///
/// # Errors
/// [`PayboxError::Verification`].
pub fn verify_query<'a>(key: &RsaPublicKey, query: &'a str) -> Result<&'a str, PayboxError> {
    let q = split(query)?;
    let sig = decode_signature(q.signature)?;
    verify_rsa(key, q.signed.as_bytes(), &sig)?;
    Ok(q.signed)
}

/// Decoded variables of the signed bytes. A variable repeated is refused: which one would
/// count is ambiguous.
///
/// # Errors
/// [`PayboxError::Verification`].
pub fn variables(signed: &str) -> Result<Vec<(String, String)>, PayboxError> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(12);
    for (k, v) in url::form_urlencoded::parse(signed.as_bytes()) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(PayboxError::verification(format!(
                "variable {k:?} appears twice"
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The variables of [`crate::form::RETOUR`], decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// `M`: amount in minor units.
    pub montant: String,
    /// `R`: `PBX_CMD`.
    pub reference: String,
    /// `A`: authorisation number (empty when refused).
    pub code_autorisation: String,
    /// `E`: result code.
    pub erreur: String,
    /// `T`: Paybox call number (`NUMAPPEL`).
    pub numero_appel: String,
    /// `S`: Paybox transaction number (`NUMTRANS`).
    pub numero_transaction: String,
    /// `W`: date.
    pub date_transaction: String,
    /// `Q`: time.
    pub heure_transaction: String,
    /// `U`: card handle for Direct Plus (first payment of a subscription).
    pub abonnement: Option<String>,
    /// `D`: card expiry, `YYMM`.
    pub validite: Option<String>,
}

impl Answer {
    /// Reads the variables; `montant`, `reference` and `erreur` are required.
    ///
    /// # Errors
    /// [`PayboxError::Verification`] naming the missing variable.
    pub fn from_variables(vars: Vec<(String, String)>) -> Result<Self, PayboxError> {
        let mut a = Answer::default();
        let mut seen = [false; 3];
        for (k, v) in vars {
            match k.as_str() {
                "montant" => {
                    seen[0] = true;
                    a.montant = v;
                }
                "reference" => {
                    seen[1] = true;
                    a.reference = v;
                }
                "erreur" => {
                    seen[2] = true;
                    a.erreur = v;
                }
                "code_autorisation" => a.code_autorisation = v,
                "numero_appel" => a.numero_appel = v,
                "numero_transaction" => a.numero_transaction = v,
                "date_transaction" => a.date_transaction = v,
                "heure_transaction" => a.heure_transaction = v,
                "abonnement" => a.abonnement = Some(v),
                "validite" => a.validite = Some(v),
                _ => {}
            }
        }
        for (i, name) in ["montant", "reference", "erreur"].iter().enumerate() {
            if !seen[i] {
                return Err(PayboxError::verification(format!(
                    "variable {name:?} missing"
                )));
            }
        }
        Ok(a)
    }

    /// The amount in minor units.
    ///
    /// # Errors
    /// [`PayboxError::Verification`] when it is not 1 to 12 digits.
    pub fn amount_minor(&self) -> Result<i64, PayboxError> {
        let m = self.montant.as_str();
        if (1..=12).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()) {
            m.parse()
                .map_err(|_| PayboxError::verification(format!("montant {m:?} is not a number")))
        } else {
            Err(PayboxError::verification(format!(
                "montant {m:?} is not an amount in minor units"
            )))
        }
    }

    /// The card handle and expiry (`YYMM`) of a registered card, from `U` (`handle`, or
    /// `handle  YYMM  CVV` with two spaces between parts) and `D`.
    pub fn card(&self) -> Option<(String, Option<String>)> {
        let u = self.abonnement.as_deref()?.trim();
        let mut parts = u.split("  ").map(str::trim).filter(|p| !p.is_empty());
        let token = parts.next()?.to_string();
        let yymm = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        let from_u = parts.next().filter(|p| yymm(p)).map(str::to_string);
        let expiry = self
            .validite
            .as_deref()
            .map(str::trim)
            .filter(|d| yymm(d))
            .map(str::to_string)
            .or(from_u);
        Some((token, expiry))
    }
}

/// Verifies a raw query and reads its variables: the whole check of an IPN or a signed
/// return, before anything is trusted.
///
/// # Errors
/// [`PayboxError::Verification`].
pub fn verify(key: &RsaPublicKey, query: &str) -> Result<Answer, PayboxError> {
    let signed = verify_query(key, query)?;
    Answer::from_variables(variables(signed)?)
}

/// The string eopayment 3.15 verifies for an IPN (`callback=True`): its eight fixed
/// variables, re-encoded with Python's `urllib.parse.quote` (`/` kept). Only for
/// cross-checks with eopayment (paybox.md §5.3): the crate verifies the raw bytes.
pub fn eopayment_ipn_string(a: &Answer) -> String {
    const SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'~')
        .remove(b'/');
    let pairs = [
        ("montant", &a.montant),
        ("reference", &a.reference),
        ("code_autorisation", &a.code_autorisation),
        ("erreur", &a.erreur),
        ("numero_appel", &a.numero_appel),
        ("numero_transaction", &a.numero_transaction),
        ("date_transaction", &a.date_transaction),
        ("heure_transaction", &a.heure_transaction),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, SAFE)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_paybox_bytes_after_merchant_parameters() {
        let q = "ref=shop-1&montant=100&reference=R&erreur=00000&signature=abc%2B";
        let s = split(q).unwrap();
        assert_eq!(s.signed, "montant=100&reference=R&erreur=00000");
        assert_eq!(s.signature, "abc%2B");
    }

    #[test]
    fn split_refusals() {
        for q in [
            "montant=1&reference=R&erreur=00000",
            "montant=1&reference=R&erreur=00000&signature=",
            "montant=1&signature=abc&x=1",
            "reference=R&erreur=00000&signature=abc",
            "signature=abc",
            "xmontant=1&signature=abc",
        ] {
            assert!(split(q).is_err(), "{q}");
        }
        let long = format!("montant=1&pad={}&signature=a", "x".repeat(MAX_QUERY_LEN));
        assert!(split(&long).is_err());
    }

    #[test]
    fn signature_decoding_is_lenient_on_plus_only() {
        assert_eq!(decode_signature("YQ%3D%3D").unwrap(), b"a");
        assert_eq!(decode_signature("YQ==").unwrap(), b"a");
        assert_eq!(decode_signature("YQ").unwrap(), b"a");
        assert_eq!(decode_signature("%2B%2F8%3D").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_signature("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_signature("%20/8=").unwrap(), vec![0xfb, 0xff]);
        // eopayment's example of an invalid signature.
        assert!(decode_signature("a").is_err());
        assert!(decode_signature("!!!!").is_err());
    }

    #[test]
    fn variables_refuse_duplicates_and_decode() {
        let v = variables("montant=1&reference=CMD%2042%21ORDER/1&erreur=00000").unwrap();
        assert_eq!(v[1].1, "CMD 42!ORDER/1");
        assert!(variables("montant=1&montant=2").is_err());
    }

    #[test]
    fn answer_requires_three_variables() {
        let ok = Answer::from_variables(variables("montant=1&reference=R&erreur=00000").unwrap());
        assert!(ok.is_ok());
        for q in [
            "reference=R&erreur=00000",
            "montant=1&erreur=00000",
            "montant=1&reference=R",
        ] {
            assert!(
                Answer::from_variables(variables(q).unwrap()).is_err(),
                "{q}"
            );
        }
    }

    #[test]
    fn amounts() {
        let a = |m: &str| Answer {
            montant: m.into(),
            ..Answer::default()
        };
        assert_eq!(a("4242").amount_minor().unwrap(), 4242);
        assert_eq!(a("0000001999").amount_minor().unwrap(), 1999);
        for bad in ["", "-1", "1.5", "12a", "1234567890123", " 1"] {
            assert!(a(bad).amount_minor().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn card_from_u_and_d() {
        let a = |u: Option<&str>, d: Option<&str>| Answer {
            abonnement: u.map(Into::into),
            validite: d.map(Into::into),
            ..Answer::default()
        };
        assert_eq!(a(None, Some("2912")).card(), None);
        assert_eq!(
            a(Some("SLDLrcsLMPC  2912  ---"), None).card(),
            Some(("SLDLrcsLMPC".into(), Some("2912".into())))
        );
        assert_eq!(
            a(Some("SLDLrcsLMPC"), Some("2701")).card(),
            Some(("SLDLrcsLMPC".into(), Some("2701".into())))
        );
        assert_eq!(a(Some("tok"), None).card(), Some(("tok".into(), None)));
        assert_eq!(a(Some("   "), None).card(), None);
    }
}
