//! The IPN body: form pairs in the charset the message names, read without changing the
//! raw bytes (they are posted back exactly as received).

use encoding_rs::Encoding;

use crate::error::IpnError;

/// The largest IPN read (PayPal's are a few KiB; the server caps bodies too).
pub const MAX_BODY: usize = 64 * 1024;
/// The most fields read.
pub const MAX_FIELDS: usize = 256;

/// A decoded IPN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipn {
    fields: Vec<(String, String)>,
    /// The charset the values were decoded with.
    pub charset: &'static str,
}

fn malformed(reason: impl Into<String>) -> IpnError {
    IpnError::Malformed {
        reason: reason.into(),
    }
}

fn decode_bytes(raw: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus).collect()
}

impl Ipn {
    /// Parses an IPN body: `name=value` pairs, names ASCII, values decoded with the
    /// message's `charset` (windows-1252 when absent, PayPal's default).
    ///
    /// # Errors
    /// [`IpnError::Malformed`] for a body too large, a field twice, a NUL, a value not
    /// valid in its charset; [`IpnError::Charset`] for an unknown charset.
    pub fn parse(body: &[u8]) -> Result<Self, IpnError> {
        if body.len() > MAX_BODY {
            return Err(malformed(format!("more than {MAX_BODY} bytes")));
        }
        let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
        for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if raw.len() == MAX_FIELDS {
                return Err(malformed(format!("more than {MAX_FIELDS} fields")));
            }
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let name = decode_bytes(name);
            if name.is_empty()
                || name.len() > 64
                || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                return Err(malformed("a field name that is not PayPal's"));
            }
            let name = String::from_utf8(name).map_err(|_| malformed("field name"))?;
            if raw.iter().any(|(n, _)| *n == name) {
                return Err(malformed(format!("field {name} appears twice")));
            }
            let value = decode_bytes(value);
            if value.contains(&0) {
                return Err(malformed(format!("NUL byte in {name}")));
            }
            raw.push((name, value));
        }
        if raw.is_empty() {
            return Err(malformed("empty body"));
        }
        let label = raw
            .iter()
            .find(|(n, _)| n == "charset")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| b"windows-1252".to_vec());
        let encoding = Encoding::for_label(&label).ok_or_else(|| IpnError::Charset {
            charset: String::from_utf8_lossy(&label).chars().take(40).collect(),
        })?;
        let mut fields = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let (text, had_errors) = encoding.decode_without_bom_handling(&value);
            if had_errors {
                return Err(malformed(format!(
                    "{name} is not valid {}",
                    encoding.name()
                )));
            }
            fields.push((name, text.into_owned()));
        }
        Ok(Ipn {
            fields,
            charset: encoding.name(),
        })
    }

    /// The value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every field, in order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_by_default_and_utf8_when_named() {
        let a = Ipn::parse(b"first_name=J%F6rg&mc_gross=19.99&charset=windows-1252").unwrap();
        assert_eq!(a.get("first_name"), Some("Jörg"));
        let b = Ipn::parse(b"first_name=J%C3%B6rg&charset=UTF-8").unwrap();
        assert_eq!(b.get("first_name"), Some("Jörg"));
        let c = Ipn::parse(b"first_name=J%F6rg").unwrap();
        assert_eq!(
            c.get("first_name"),
            Some("Jörg"),
            "windows-1252 when no charset is named"
        );
        assert_eq!(
            Ipn::parse(b"item_name=a+b%2Bc").unwrap().get("item_name"),
            Some("a b+c")
        );
    }

    #[test]
    fn odd_bodies_are_refused() {
        for body in [
            &b"txn_id=1&txn_id=2"[..],
            b"first_name=J%F6rg&charset=UTF-8",
            b"charset=klingon&x=1",
            b"x=%00",
            b"na%20me=1",
            b"",
            b"&&&",
        ] {
            assert!(
                Ipn::parse(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let big = vec![b'a'; MAX_BODY + 1];
        assert!(Ipn::parse(&big).is_err());
        let many: Vec<u8> = (0..=MAX_FIELDS)
            .map(|i| format!("f{i}=1&"))
            .collect::<String>()
            .into_bytes();
        assert!(Ipn::parse(&many).is_err());
    }
}
