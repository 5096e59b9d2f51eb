//! Which certificates sign PayPal webhooks, and how one is fetched, checked and cached.
//!
//! No PayPal document states a rule; the rule here is the one the research notes argue
//! for (`docs/providers/paypal.md`):
//! 1. the URL is `https` on port 443, without user information, on one of PayPal's API
//!    hosts (the sandbox's only for a test instance), under `/v1/notifications/certs/`;
//!    redirects are not followed and at most 64 KiB are read;
//! 2. the certificate chains to a trusted root (DigiCert's, bundled, or an instance's
//!    own), carries PayPal's message-verification name, and is valid at the engine's time;
//! 3. a checked certificate is kept per URL for at most a day, and used only while valid.
//!
//! Without rule 1 an attacker names their own certificate and every forgery verifies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bank_core::Mode;
use openssl::pkey::{PKey, Public};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509PurposeId, X509StoreContext, X509};

use crate::error::PayPalError;

/// PayPal's live API hosts (`api.` and `api-m.` are one service).
pub const LIVE_HOSTS: [&str; 2] = ["api.paypal.com", "api-m.paypal.com"];
/// PayPal's sandbox API hosts.
pub const SANDBOX_HOSTS: [&str; 2] = ["api.sandbox.paypal.com", "api-m.sandbox.paypal.com"];
/// The name on the live signing certificate.
pub const LIVE_NAME: &str = "messageverificationcerts.paypal.com";
/// The name on the sandbox signing certificate.
pub const SANDBOX_NAME: &str = "messageverificationcerts.sandbox.paypal.com";
/// Where certificates are served.
pub const CERT_PATH: &str = "/v1/notifications/certs/";
/// The most read from a certificate URL.
pub const MAX_CERT_BYTES: usize = 64 * 1024;
/// The longest a checked certificate is kept.
pub const CACHE_SECONDS: i64 = 24 * 3600;
/// The most URLs kept (each a certificate PayPal really served).
const CACHE_ENTRIES: usize = 32;
/// The most certificate fetches per minute: PayPal rotates its certificate every year or
/// two, while anyone can post webhooks naming made-up certificate ids on PayPal's hosts,
/// each of which would cost an outgoing request.
pub const FETCHES_PER_MINUTE: usize = 10;

/// DigiCert's roots, under which PayPal's signing certificates have been issued (the
/// High Assurance EV root until 2024, Global Root G2 since), and the intermediate of the
/// 2015–2019 certificates, which the certificate URL did not serve.
const BUNDLED_ROOTS: [&str; 2] = [
    include_str!("../../certs/digicert-high-assurance-ev-root-ca.pem"),
    include_str!("../../certs/digicert-global-root-g2.pem"),
];
const BUNDLED_INTERMEDIATES: [&str; 1] = [include_str!(
    "../../certs/digicert-sha2-extended-validation-server-ca.pem"
)];

/// Which certificate URLs and certificates an instance trusts.
#[derive(Clone)]
pub struct CertPolicy {
    /// Hosts served over https on port 443.
    hosts: Vec<String>,
    /// Extra origins (`http://127.0.0.1:8089`): the local sandbox, test instances only.
    extra_origins: Vec<url::Url>,
    /// The name the leaf must carry (SAN).
    subject_name: String,
    roots: Vec<X509>,
    intermediates: Vec<X509>,
}

impl std::fmt::Debug for CertPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPolicy")
            .field("hosts", &self.hosts)
            .field(
                "extra_origins",
                &self
                    .extra_origins
                    .iter()
                    .map(url::Url::as_str)
                    .collect::<Vec<_>>(),
            )
            .field("subject_name", &self.subject_name)
            .field("roots", &self.roots.len())
            .field("intermediates", &self.intermediates.len())
            .finish()
    }
}

fn pem_certs(pem: &str, option: &'static str) -> Result<Vec<X509>, PayPalError> {
    X509::stack_from_pem(pem.as_bytes()).map_err(|e| PayPalError::Config {
        option,
        reason: format!("not PEM certificates: {e}"),
    })
}

impl CertPolicy {
    /// PayPal's rule for `mode`: live hosts and name, or the sandbox's; DigiCert's roots.
    pub fn paypal(mode: Mode) -> Self {
        let (hosts, name) = match mode {
            Mode::Live => (LIVE_HOSTS, LIVE_NAME),
            Mode::Test => (SANDBOX_HOSTS, SANDBOX_NAME),
        };
        let parse = |pems: &[&str]| -> Vec<X509> {
            pems.iter()
                .flat_map(|p| X509::stack_from_pem(p.as_bytes()).unwrap_or_default())
                .collect()
        };
        CertPolicy {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            extra_origins: Vec::new(),
            subject_name: name.to_string(),
            roots: parse(&BUNDLED_ROOTS),
            intermediates: parse(&BUNDLED_INTERMEDIATES),
        }
    }

    /// The same, also trusting the roots in `pem` (the local sandbox's throwaway root,
    /// or a root PayPal moves to before this crate bundles it).
    ///
    /// # Errors
    /// [`PayPalError::Config`] when `pem` holds no certificate.
    pub fn with_roots(mut self, pem: &str) -> Result<Self, PayPalError> {
        let certs = pem_certs(pem, "webhook_trust_pem")?;
        if certs.is_empty() {
            return Err(PayPalError::Config {
                option: "webhook_trust_pem",
                reason: "no certificate in it".into(),
            });
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// The same, also accepting certificates served from `origin` (`http://127.0.0.1:8089`,
    /// the local sandbox). Only for test instances: the caller checks.
    ///
    /// # Errors
    /// [`PayPalError::Config`] for something that is not an origin.
    pub fn with_origin(mut self, origin: &str) -> Result<Self, PayPalError> {
        let u = url::Url::parse(origin).map_err(|e| PayPalError::Config {
            option: "webhook_cert_origins",
            reason: format!("{origin:?}: {e}"),
        })?;
        if u.host_str().is_none() || !matches!(u.scheme(), "http" | "https") {
            return Err(PayPalError::Config {
                option: "webhook_cert_origins",
                reason: format!("{origin:?} is not an http(s) origin"),
            });
        }
        self.extra_origins.push(u);
        Ok(self)
    }

    /// The name the certificate must carry.
    pub fn subject_name(&self) -> &str {
        &self.subject_name
    }

    /// Rule 1: the URL may be fetched.
    ///
    /// # Errors
    /// [`PayPalError::CertUrl`] saying why not.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, PayPalError> {
        let refuse = |reason| PayPalError::CertUrl {
            url: raw.chars().take(200).collect(),
            reason,
        };
        let u = url::Url::parse(raw).map_err(|_| refuse("not a URL"))?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(refuse("user information in the URL"));
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err(refuse("a query or fragment"));
        }
        let host = u.host_str().unwrap_or("");
        let paypal = u.scheme() == "https"
            && u.port().is_none()
            && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
        let extra = self.extra_origins.iter().any(|o| {
            o.scheme() == u.scheme()
                && o.host_str() == u.host_str()
                && o.port_or_known_default() == u.port_or_known_default()
        });
        if !paypal && !extra {
            return Err(refuse(if u.scheme() != "https" {
                "not https"
            } else {
                "not one of PayPal's API hosts for this instance's mode"
            }));
        }
        let id = u
            .path()
            .strip_prefix(CERT_PATH)
            .ok_or(refuse("not under /v1/notifications/certs/"))?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(refuse("not a certificate id"));
        }
        Ok(u)
    }

    /// Rules 2: the PEM served at `url` as a checked signing certificate at time `now`.
    ///
    /// # Errors
    /// [`PayPalError::Certificate`] saying why not.
    pub fn check_pem(&self, url: &str, pem: &[u8], now: i64) -> Result<SigningCert, PayPalError> {
        let refuse = |reason: String| PayPalError::Certificate {
            url: url.to_string(),
            reason,
        };
        let certs = X509::stack_from_pem(pem).map_err(|e| refuse(format!("not PEM: {e}")))?;
        let Some(leaf) = certs.first() else {
            return Err(refuse("no certificate".into()));
        };
        let ossl = |e: openssl::error::ErrorStack| refuse(e.to_string());
        let mut chain = Stack::new().map_err(ossl)?;
        for c in certs.iter().skip(1).chain(&self.intermediates) {
            chain.push(c.clone()).map_err(ossl)?;
        }
        let mut param = X509VerifyParam::new().map_err(ossl)?;
        param.set_time(now as _);
        param.set_host(&self.subject_name).map_err(ossl)?;
        let mut store = X509StoreBuilder::new().map_err(ossl)?;
        for r in &self.roots {
            store.add_cert(r.clone()).map_err(ossl)?;
        }
        store.set_param(&param).map_err(ossl)?;
        store.set_purpose(X509PurposeId::SSL_SERVER).map_err(ossl)?;
        let store = store.build();
        let mut ctx = X509StoreContext::new().map_err(ossl)?;
        let (ok, error) = ctx
            .init(&store, leaf, &chain, |c| {
                let ok = c.verify_cert()?;
                Ok((ok, c.error()))
            })
            .map_err(ossl)?;
        if !ok {
            return Err(refuse(format!(
                "{} (at {}; expected a certificate for {} chaining to a trusted root)",
                error.error_string(),
                chrono::DateTime::from_timestamp(now, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                self.subject_name
            )));
        }
        let key = leaf.public_key().map_err(ossl)?;
        if key.rsa().map(|r| r.size() < 256).unwrap_or(true) {
            return Err(refuse("not an RSA key of at least 2048 bits".into()));
        }
        let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(ossl)?;
        let unix = |t: &openssl::asn1::Asn1TimeRef| -> Result<i64, PayPalError> {
            let d = epoch.diff(t).map_err(ossl)?;
            Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
        };
        Ok(SigningCert {
            key: Arc::new(key),
            not_before: unix(leaf.not_before())?,
            not_after: unix(leaf.not_after())?,
            checked_at: now,
        })
    }
}

/// A checked signing certificate: its public key and when it may be used.
#[derive(Clone)]
pub struct SigningCert {
    /// The key.
    pub key: Arc<PKey<Public>>,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// When it was checked (the engine's time).
    pub checked_at: i64,
}

impl std::fmt::Debug for SigningCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCert")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("checked_at", &self.checked_at)
            .finish_non_exhaustive()
    }
}

impl SigningCert {
    /// True when it may still be used at `now` without checking it again.
    pub fn usable_at(&self, now: i64) -> bool {
        (self.not_before..=self.not_after).contains(&now)
            && (self.checked_at..self.checked_at + CACHE_SECONDS).contains(&now)
    }
}

/// Checked certificates by URL, and the recent fetches.
#[derive(Debug, Default)]
pub struct CertCache {
    entries: Mutex<HashMap<String, SigningCert>>,
    fetches: Mutex<std::collections::VecDeque<i64>>,
    /// Held while a certificate is fetched: deliveries arriving together on a cold cache
    /// (a burst after a start or a rotation) wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
}

impl CertCache {
    /// The certificate of `url`, if checked and usable at `now`.
    pub fn get(&self, url: &str, now: i64) -> Option<SigningCert> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(url).filter(|c| c.usable_at(now)).cloned()
    }

    /// Keeps `cert` for `url`; the oldest entry goes when the cache is full.
    pub fn put(&self, url: &str, cert: SigningCert) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_ENTRIES && !map.contains_key(url) {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, c)| c.checked_at)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(url.to_string(), cert);
    }

    /// Waits for the right to fetch a certificate (one fetch at a time): the caller looks
    /// the cache up again once it holds it.
    pub async fn fetch_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.fetching.lock().await
    }

    /// Counts a fetch at `now` if fewer than [`FETCHES_PER_MINUTE`] were made in the
    /// minute before; false when the budget is spent (the delivery is answered 503 and a
    /// genuine one is retried by PayPal).
    pub fn admit_fetch(&self, now: i64) -> bool {
        let mut recent = self.fetches.lock().unwrap_or_else(|p| p.into_inner());
        while recent.front().is_some_and(|t| *t <= now - 60 || *t > now) {
            recent.pop_front();
        }
        if recent.len() >= FETCHES_PER_MINUTE {
            return false;
        }
        recent.push_back(now);
        true
    }

    /// How many certificates are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fetches the certificate at `url` (already checked by [`CertPolicy::check_url`]):
/// no redirect, 5 s, 64 KiB at most.
///
/// # Errors
/// [`PayPalError::CertFetch`]: temporary, PayPal retries the delivery;
/// [`PayPalError::Certificate`] when PayPal says there is no such certificate.
pub async fn fetch(http: &reqwest::Client, url: &url::Url) -> Result<Vec<u8>, PayPalError> {
    let fail = |reason: String| PayPalError::CertFetch {
        url: url.to_string(),
        reason,
    };
    let mut resp = http
        .get(url.clone())
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| fail(format!("network: {e}")))?;
    if matches!(resp.status().as_u16(), 404 | 410) {
        // A definite answer: PayPal has no such certificate (a made-up id).
        return Err(PayPalError::Certificate {
            url: url.to_string(),
            reason: format!("PayPal has no such certificate (HTTP {})", resp.status()),
        });
    }
    if resp.status() != reqwest::StatusCode::OK {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > MAX_CERT_BYTES {
            return Err(fail(format!("more than {MAX_CERT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
