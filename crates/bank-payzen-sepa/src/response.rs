//! A response (the IPN, or the browser return): the raw form pairs, checked before any
//! value is read: every name once, UTF-8, the fields every response carries, the
//! signature with the key of the instance's mode, then the mode and the shop.

use bank_core::{Currency, Money};

use crate::error::PayzenError;
use crate::signature::{self, Algorithm};

/// The largest response read (PayZen's IPNs are a few KiB; the server caps bodies too).
pub const MAX_BODY: usize = 64 * 1024;
/// The most fields read.
pub const MAX_FIELDS: usize = 512;

/// A response whose signature has not been checked yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    fields: Vec<(String, String)>,
}

fn malformed(reason: impl Into<String>) -> PayzenError {
    PayzenError::Malformed {
        reason: reason.into(),
    }
}

fn decode(raw: &[u8]) -> Result<String, PayzenError> {
    let not_utf8 = |_| malformed("a value that is not UTF-8");
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        // Most values: nothing to decode, one copy.
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(not_utf8);
    }
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
    String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error()))
}

/// Cuts what is quoted back in an error to something printable and short.
pub(crate) fn quoted(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// The same, for messages of PayZen's own (up to 200 characters).
pub(crate) fn quoted_long(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

impl Response {
    /// Parses a form body or a query string: `name=value` pairs, UTF-8.
    ///
    /// # Errors
    /// [`PayzenError::Malformed`] for a body too large, a name twice or not a `vads_*` /
    /// `signature` shaped name, a value that is not UTF-8 or holds a NUL.
    pub fn parse(body: &[u8]) -> Result<Self, PayzenError> {
        if body.len() > MAX_BODY {
            return Err(malformed(format!("more than {MAX_BODY} bytes")));
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if fields.len() == MAX_FIELDS {
                return Err(malformed(format!("more than {MAX_FIELDS} fields")));
            }
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let name = decode(name)?;
            if name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(malformed(format!("field name {:?}", quoted(&name))));
            }
            let value = decode(value)?;
            if value.contains('\0') {
                return Err(malformed(format!("a NUL in {name}")));
            }
            if fields.iter().any(|(n, _)| *n == name) {
                // Two values of one signed name: which one was signed is anybody's guess.
                return Err(malformed(format!("{name} given twice")));
            }
            fields.push((name, value));
        }
        Ok(Response { fields })
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` when present and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every field, in the order received.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Checks the message against the instance: the fields every response carries, the
    /// signature with `key` (the key of `ctx_mode`, the instance's mode) and `algorithm`,
    /// then `vads_ctx_mode` and `vads_site_id`. Nothing else may be read before this.
    ///
    /// # Errors
    /// [`PayzenError::Malformed`], [`PayzenError::Signature`], [`PayzenError::Mode`],
    /// [`PayzenError::Shop`].
    pub fn verify(
        &self,
        algorithm: Algorithm,
        ctx_mode: &'static str,
        key: &str,
        site_id: &str,
    ) -> Result<(), PayzenError> {
        for required in [
            "signature",
            "vads_ctx_mode",
            "vads_auth_result",
            "vads_site_id",
        ] {
            if self.get(required).is_none() {
                return Err(malformed(format!("no {required}")));
            }
        }
        let got = self.get("signature").unwrap_or_default();
        let pairs = self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if !signature::verify(algorithm, pairs, key, got) {
            return Err(PayzenError::Signature {
                algorithm: algorithm.name(),
                mode: ctx_mode,
            });
        }
        let mode = self.get("vads_ctx_mode").unwrap_or_default();
        if mode != ctx_mode {
            return Err(PayzenError::Mode {
                got: quoted(mode),
                mode: ctx_mode,
            });
        }
        let site = self.get("vads_site_id").unwrap_or_default();
        if site != site_id {
            return Err(PayzenError::Shop { got: quoted(site) });
        }
        Ok(())
    }

    /// `amount_field` in the currency of `currency_field` (numeric ISO 4217), exactly.
    ///
    /// # Errors
    /// [`PayzenError::Amount`] when either is missing or not readable.
    pub fn money(&self, amount_field: &str, currency_field: &str) -> Result<Money, PayzenError> {
        let amount = self.get(amount_field).unwrap_or_default();
        let currency = self.get(currency_field).unwrap_or_default();
        let bad = |reason| PayzenError::Amount {
            amount: quoted(amount),
            currency: quoted(currency),
            reason,
        };
        if amount.is_empty() || amount.len() > 12 || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a whole number of minor units"));
        }
        let minor: i64 = amount.parse().map_err(|_| bad("too large"))?;
        let numeric: u16 = currency
            .parse()
            .ok()
            .filter(|_| currency.len() == 3)
            .ok_or_else(|| bad("not a numeric ISO 4217 code"))?;
        let currency = Currency::from_numeric(numeric).map_err(|_| bad("an unknown currency"))?;
        Money::from_minor(minor, currency).map_err(|_| bad("out of range"))
    }
}
