//! Any webhook header set (five values, one per line) never panics the header parser or
//! the certificate URL rule, and what passes cannot smuggle the message's separator.
#![no_main]

use bank_core::Mode;
use bank_paypal::webhook::{CertPolicy, WebhookHeaders};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 5] = [
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let values: Vec<&str> = text.splitn(5, '\n').collect();
    let get = |name: &str| {
        NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i).copied())
    };
    if let Ok(h) = WebhookHeaders::from_lookup(get) {
        assert!(!h.transmission_id.contains('|') && !h.transmission_time.contains('|'));
        let m = h.signed_message("WEBHOOKID", data);
        assert_eq!(m.matches('|').count(), 3);
    }
    static POLICIES: std::sync::OnceLock<[CertPolicy; 2]> = std::sync::OnceLock::new();
    let policies =
        POLICIES.get_or_init(|| [CertPolicy::paypal(Mode::Test), CertPolicy::paypal(Mode::Live)]);
    for policy in policies {
        if let Some(url) = values.get(3) {
            if let Ok(u) = policy.check_url(url) {
                assert_eq!(u.scheme(), "https");
                assert!(u.path().starts_with("/v1/notifications/certs/"));
            }
        }
    }
});
