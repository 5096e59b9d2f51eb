//! Stripe's form encoding of nested parameters: `metadata[order_id]=42`,
//! `line_items[0][price_data][currency]=eur`.
//!
//! Bodies are `application/x-www-form-urlencoded` with the brackets of keys left
//! unescaped, as the official clients send them; spaces are `+`. The parser (used by the
//! sandbox) accepts brackets escaped or not and builds a JSON tree in which objects whose
//! keys are all indices become arrays.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A form body under construction, in parameter order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormBody {
    pairs: Vec<(String, String)>,
}

impl FormBody {
    /// An empty body.
    pub fn new() -> Self {
        FormBody::default()
    }

    /// Adds `key=value` (`key` may be nested: `metadata[k]`).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The encoded body.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(
            self.pairs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
                + 16,
        );
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            // Brackets stay readable in keys, as the official clients send them.
            escape(&mut out, k, true);
            out.push('=');
            escape(&mut out, v, false);
        }
        out
    }
}

/// `application/x-www-form-urlencoded` escaping (alphanumerics and `*-._` kept, space as
/// `+`), keeping `[` and `]` when `brackets`.
fn escape(out: &mut String, s: &str, brackets: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b'[' | b']' if brackets => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// Splits `a[b][0]` into `["a", "b", "0"]`; `None` when the brackets do not close.
fn segments(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => return Some(vec![key]),
    };
    let mut out = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        out.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    Some(out)
}

/// Parses a form body (or query string) into a JSON tree. Keys whose brackets do not
/// close are kept whole; a later value replaces an earlier one; `a[]` appends.
pub fn parse_nested(raw: &[u8]) -> Value {
    let mut root = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        let segs = segments(&k).unwrap_or_else(|| vec![&k]);
        insert(&mut root, &segs, Value::String(v.into_owned()));
    }
    arrays(Value::Object(root))
}

fn insert(map: &mut Map<String, Value>, segs: &[&str], value: Value) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    let key = if first.is_empty() {
        // `a[]`: the next free index.
        map.len().to_string()
    } else {
        (*first).to_string()
    };
    if rest.is_empty() {
        map.insert(key, value);
        return;
    }
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(child) = slot {
        insert(child, rest, value);
    }
}

/// Objects whose keys are all small indices become arrays, in index order.
fn arrays(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let indexed = !m.is_empty()
                && m.keys().all(|k| {
                    k.len() <= 4 && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())
                });
            if indexed {
                let sorted: BTreeMap<usize, Value> = m
                    .into_iter()
                    .filter_map(|(k, v)| k.parse().ok().map(|i| (i, arrays(v))))
                    .collect();
                Value::Array(sorted.into_values().collect())
            } else {
                Value::Object(m.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}
