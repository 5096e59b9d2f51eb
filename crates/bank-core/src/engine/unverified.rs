//! Evidence of requests that did not verify: kept, but never more than a budget.
//!
//! Anyone can post to a notification endpoint. Such a request changes nothing, but it is
//! evidence (a provider misconfigured, an attack under way), so it is stored for review,
//! with two bounds so that strangers cannot fill the disk:
//!
//! - each field is cut: [`MAX_QUERY`], [`MAX_BODY`], [`MAX_HEADERS`] headers of at most
//!   [`MAX_HEADER_VALUE`] bytes; the reason says what was cut and gives the SHA-256 and size
//!   of the whole request;
//! - per instance (all unknown instances share one budget) and per hour, only the first
//!   `engine.unverified_per_hour` are stored; every request is counted in
//!   `bank_unverified` (count, bytes, digest of the last), one small row per instance and
//!   hour.
//!
//! Operators prune old rejected requests with `bank notifications prune`; verified
//! notifications are kept whole and for ever.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Engine;
use crate::acquirer::Notification;
use crate::error::Error;
use crate::store::{NewNotification, Verdict};

/// Longest query string stored for a request that did not verify.
pub const MAX_QUERY: usize = 2048;
/// Longest body stored for a request that did not verify.
pub const MAX_BODY: usize = 4096;
/// Most headers stored for a request that did not verify.
pub const MAX_HEADERS: usize = 32;
/// Longest header value stored for a request that did not verify (names: 64 bytes).
pub const MAX_HEADER_VALUE: usize = 256;
/// The bucket shared by every instance not configured here.
pub const UNKNOWN_BUCKET: &str = "*";

const HOUR_MS: i64 = 3_600_000;

impl Engine {
    /// Stores a request addressed to `instance` that did not verify, within the budget (see
    /// the module documentation), or only counts it. `configured` says whether `instance`
    /// is one of ours: unknown instances share one budget.
    pub(super) async fn record_unverified(
        &self,
        instance: &str,
        configured: bool,
        n: &Notification,
        reason: &str,
    ) -> Result<(), Error> {
        let (digest, size) = digest(n);
        let bucket = if configured { instance } else { UNKNOWN_BUCKET };
        let now = self.clock.now();
        let count = self
            .store
            .tally_unverified(bucket, window(now), size, &digest)
            .await?;
        let budget = i64::from(self.settings.unverified_per_hour);
        if count > budget {
            // Log the crossing and then rarely: the log is a disk too.
            if count == budget + 1 || count % 1000 == 0 {
                tracing::warn!(
                    bucket,
                    count,
                    budget,
                    "requests that did not verify: over this hour's budget, only counted"
                );
            }
            return Ok(());
        }
        let (raw, cut) = capped(n);
        let mut why = super::notify::printable(reason);
        why.push_str(&format!(" [not verified: {size} bytes, sha256 {digest}"));
        if !cut.is_empty() {
            why.push_str(&format!("; cut: {}", cut.join(", ")));
        }
        why.push(']');
        self.store
            .record_notification(&NewNotification {
                instance: super::notify::printable(instance)
                    .chars()
                    .take(64)
                    .collect(),
                raw,
                verdict: Verdict::Rejected,
                reason: Some(why),
                event_id: None,
            })
            .await?;
        Ok(())
    }
}

/// The start of the hour of `now`.
fn window(now: DateTime<Utc>) -> DateTime<Utc> {
    let ms = now.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(HOUR_MS)).unwrap_or(now)
}

/// SHA-256 (hex) and size of the whole request: method, query, headers, body.
fn digest(n: &Notification) -> (String, i64) {
    let mut h = Sha256::new();
    let mut size = 0usize;
    let mut part = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
        size += b.len();
    };
    part(n.method.as_str().as_bytes());
    part(n.query.as_bytes());
    for (k, v) in &n.headers {
        part(k.as_bytes());
        part(v.as_bytes());
    }
    part(&n.body);
    (
        hex::encode(h.finalize()),
        i64::try_from(size).unwrap_or(i64::MAX),
    )
}

/// The request cut to the stored sizes, credentials dropped, and what was cut.
pub(super) fn capped(n: &Notification) -> (Notification, Vec<String>) {
    let mut stored = super::notify::without_credentials(n);
    let mut cut = Vec::new();
    if stored.query.len() > MAX_QUERY {
        cut.push(format!("query of {} bytes", stored.query.len()));
        stored.query = prefix(&stored.query, MAX_QUERY).to_string();
    }
    if stored.body.len() > MAX_BODY {
        cut.push(format!("body of {} bytes", stored.body.len()));
        stored.body.truncate(MAX_BODY);
    }
    if stored.headers.len() > MAX_HEADERS {
        cut.push(format!("{} headers", stored.headers.len()));
        stored.headers.truncate(MAX_HEADERS);
    }
    let mut long = 0;
    for (k, v) in &mut stored.headers {
        if k.len() > 64 || v.len() > MAX_HEADER_VALUE {
            long += 1;
            *k = prefix(k, 64).to_string();
            *v = prefix(v, MAX_HEADER_VALUE).to_string();
        }
    }
    if long > 0 {
        cut.push(format!("{long} long header(s)"));
    }
    (stored, cut)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::{Channel, HttpMethod};

    #[test]
    fn every_field_is_cut_and_said() {
        let mut n = Notification::new(Channel::Server, HttpMethod::Post, Utc::now());
        n.query = "é".repeat(5000);
        n.body = vec![b'x'; 500_000];
        n.headers = (0..100)
            .map(|i| (format!("x-{i}"), "v".repeat(1000)))
            .collect();
        n.headers.push(("cookie".into(), "secret".into()));
        let (s, cut) = capped(&n);
        assert!(s.query.len() <= MAX_QUERY && s.query.chars().all(|c| c == 'é'));
        assert_eq!(s.body.len(), MAX_BODY);
        assert_eq!(s.headers.len(), MAX_HEADERS);
        assert!(s.headers.iter().all(|(_, v)| v.len() <= MAX_HEADER_VALUE));
        assert!(s.headers.iter().all(|(k, _)| k != "cookie"));
        assert_eq!(cut.len(), 4, "{cut:?}");
        let (d, size) = digest(&n);
        assert_eq!(d.len(), 64);
        assert!(size > 500_000);
    }

    #[test]
    fn windows_are_hours() {
        let t = DateTime::from_timestamp_millis(3 * HOUR_MS + 1234).expect("time");
        assert_eq!(window(t).timestamp_millis(), 3 * HOUR_MS);
    }
}
