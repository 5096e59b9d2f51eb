//! Hooks for hosts outside Rust: each hook event is POSTed as JSON to the configured URLs,
//! signed, from the outbox (so with its retries, backoff and idempotency key).
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Bank-Hook: traiter_reglement
//! Idempotency-Key: shop-4x…:v1:traiter_reglement
//! Bank-Signature: t=1767225600,v1=5f2b…[,v1=…]
//!
//! {"hook":"traiter_reglement","idempotency_key":"…","attempt":1,"transaction":{…},"detail":{…}}
//! ```
//!
//! `v1` is HMAC-SHA256, hex, keyed by a configured secret, over `<t>.<body>` (the raw body
//! bytes). During a rotation two secrets are configured and two `v1` are sent: the host
//! accepts the request when any matches one of its secrets and `t` is recent. Any answer
//! other than 2xx (or no answer within the timeout) is a failure, and the outbox retries.
//! docs/CALLBACKS.md shows the check in PHP and Python.

use std::fmt;
use std::time::Duration;

use bank_core::async_trait;
use bank_core::config::{resolve_section_secret, Env};
use bank_core::{Config, Error, HookCall, Hooks};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The `[callbacks]` section: `urls`, `secrets` (text, `{ env }` or `{ file }`),
/// `timeout_seconds`.
#[derive(Clone)]
pub struct CallbackHooks {
    urls: Vec<String>,
    secrets: Vec<SecretString>,
    client: reqwest::Client,
    clock: fn() -> i64,
}

impl fmt::Debug for CallbackHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHooks")
            .field("urls", &self.urls)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// The `Bank-Signature` header value for `body` at `t` with `secrets`.
pub fn signature_header(secrets: &[SecretString], t: i64, body: &[u8]) -> String {
    let mut parts = vec![format!("t={t}")];
    for s in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(s.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        parts.push(format!("v1={}", hex::encode(mac.finalize().into_bytes())));
    }
    parts.join(",")
}

impl CallbackHooks {
    /// Callbacks to `urls` signed with `secrets`.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no secret, or a URL is not http(s).
    pub fn new(
        urls: Vec<String>,
        secrets: Vec<SecretString>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let bad = |key: &str, reason: String| Error::Config {
            file: "<callbacks>".into(),
            key: key.into(),
            reason,
        };
        if secrets.is_empty() {
            return Err(bad(
                "callbacks.secrets",
                "at least one secret signs the callbacks".into(),
            ));
        }
        for u in &urls {
            let parsed =
                url::Url::parse(u).map_err(|e| bad("callbacks.urls", format!("{u:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad("callbacks.urls", format!("{u:?}: http or https only")));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("bank/", env!("CARGO_PKG_VERSION"), " callbacks"))
            .build()
            .map_err(|e| bad("callbacks", e.to_string()))?;
        Ok(CallbackHooks {
            urls,
            secrets,
            client,
            clock: || chrono::Utc::now().timestamp(),
        })
    }

    /// Reads `[callbacks]` from the configuration; `None` when the section is absent.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn from_config(config: &Config, env: &dyn Env) -> Result<Option<Self>, Error> {
        let Some(t) = config.sections.get("callbacks") else {
            return Ok(None);
        };
        let err = |key: &str, reason: &str| Error::Config {
            file: config.source.clone(),
            key: key.into(),
            reason: reason.into(),
        };
        let mut urls = Vec::new();
        let mut secrets = Vec::new();
        let mut timeout = 10;
        for (k, v) in t {
            match (k.as_str(), v) {
                ("urls", toml::Value::Array(a)) => {
                    for u in a {
                        urls.push(
                            u.as_str()
                                .ok_or_else(|| err("callbacks.urls", "expected strings"))?
                                .to_string(),
                        );
                    }
                }
                ("secrets", toml::Value::Array(a)) => {
                    for (i, s) in a.iter().enumerate() {
                        secrets.push(resolve_section_secret(
                            config,
                            s,
                            &format!("callbacks.secrets[{i}]"),
                            env,
                        )?);
                    }
                }
                ("timeout_seconds", toml::Value::Integer(n)) if (1..=60).contains(n) => {
                    timeout = n.unsigned_abs()
                }
                _ => return Err(err(&format!("callbacks.{k}"), "unknown key or bad value")),
            }
        }
        Self::new(urls, secrets, Duration::from_secs(timeout)).map(Some)
    }

    async fn post(&self, call: &HookCall) -> Result<(), Error> {
        let body = serde_json::to_vec(&serde_json::json!({
            "hook": call.hook,
            "idempotency_key": call.idempotency_key,
            "attempt": call.attempt,
            "transaction": call.transaction,
            "detail": call.detail,
        }))
        .map_err(|e| Error::hook(call.hook.as_str(), e.to_string()))?;
        let t = (self.clock)();
        let signature = signature_header(&self.secrets, t, &body);
        for url in &self.urls {
            let resp = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("bank-hook", call.hook.as_str())
                .header("idempotency-key", &call.idempotency_key)
                .header("bank-signature", &signature)
                .body(body.clone())
                .send()
                .await
                .map_err(|e| Error::hook(call.hook.as_str(), format!("{url}: {e}")))?;
            if !resp.status().is_success() {
                return Err(Error::hook(
                    call.hook.as_str(),
                    format!("{url} answered {}", resp.status()),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Hooks for CallbackHooks {
    async fn event(&self, call: &HookCall) -> Result<(), Error> {
        self.post(call).await
    }
}
