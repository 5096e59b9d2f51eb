//! What every provider that calls an API needs: how failed calls are retried, and whether
//! a configured address is this machine (a live instance must never talk to a sandbox).

use std::time::Duration;

/// How failed calls to a provider's API are retried (each retry with the same
/// idempotency key or request id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Two retries, 0.5 s then 1 s (Stripe's and PayPal's official clients' schedule).
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0 for the first).
    pub fn delay(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay)
    }
}

/// True when `url` names this machine (loopback, `localhost`, unspecified, no host).
pub fn is_local_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(500));
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(5), Duration::from_secs(5));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn local_hosts() {
        for u in [
            "http://127.0.0.1:8080",
            "http://localhost/",
            "http://[::1]/",
            "http://0.0.0.0/",
            "http://a.localhost/",
        ] {
            assert!(is_local_host(&url::Url::parse(u).unwrap()), "{u}");
        }
        assert!(!is_local_host(
            &url::Url::parse("https://api-m.paypal.com").unwrap()
        ));
    }
}
