//! A local emulator of the PayPal REST subset used by this crate (feature `sandbox`).
//!
//! - `POST /v1/oauth2/token`: client credentials (Basic), tokens that expire, 401
//!   `invalid_client` for a wrong secret, 401 `AUTHENTICATION_FAILURE` for a missing or
//!   expired bearer;
//! - Orders v2 and Payments v2: create (validated like PayPal: intent, currency,
//!   decimals), get, capture, authorise, refund, capture and void of authorisations, with
//!   idempotency by `PayPal-Request-Id` (a replay answers 200 with the resource as it is
//!   now) and PayPal's error shape and issue names;
//! - `/checkoutnow?token=…`: the approval page, driven by test buyers
//!   (`buyer@example.com` pays, `pending@example.com` waits for review,
//!   `declined@example.com` is declined at capture) or cancelled;
//! - Billing v1: products, plans, subscriptions, their approval page, payments listed,
//!   renewals on demand, cancellation;
//! - webhooks signed like PayPal's (RSA-SHA256 over `id|time|webhook_id|crc32`) with a
//!   throwaway certificate chain whose leaf is named like PayPal's sandbox certificate,
//!   served at `/v1/notifications/certs/CERT-…`; delivered and retried until a 2xx
//!   (bounded); `verify-webhook-signature` answers `SUCCESS` only for a delivery it made.
//!
//! [`SandboxHandle`] methods act as the payer, PayPal's risk team and time: approve,
//! settle a pending capture, dispute, reverse, renew, refund from the dashboard, reissue
//! the certificate, inject faults.

pub mod pki;
mod routes;
pub mod state;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use serde_json::Value;

pub use state::{ApiError, Buyer, Fault, Renewal, State};

use crate::error::PayPalError;

/// The sandbox app's client id.
pub const SANDBOX_CLIENT_ID: &str = "bank-sandbox-client";
/// The sandbox app's secret.
pub const SANDBOX_SECRET: &str = "bank-sandbox-secret-0123456789";
/// The merchant the sandbox's orders pay.
pub const SANDBOX_MERCHANT_ID: &str = "BANKSANDBOXMERCH";
/// The sandbox webhook's id.
pub const SANDBOX_WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";

/// How the sandbox behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Where events are delivered; `None` keeps them in the log only.
    pub webhook_url: Option<String>,
    /// Delivery attempts per event.
    pub delivery_attempts: u32,
    /// Delay before the first redelivery, doubled each time.
    pub delivery_backoff: Duration,
    /// Lifetime of access tokens.
    pub token_lifetime: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            webhook_url: None,
            delivery_attempts: 5,
            delivery_backoff: Duration::from_millis(500),
            token_lifetime: Duration::from_secs(32_400),
        }
    }
}

/// A signed delivery: its headers and body.
pub type SignedDelivery = (Vec<(String, String)>, Vec<u8>);

/// One webhook delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Event id.
    pub event: String,
    /// Event type.
    pub kind: String,
    /// Attempt number (1…).
    pub attempt: u32,
    /// HTTP status answered, if any.
    pub status: Option<u16>,
}

/// What a signed delivery was, for `verify-webhook-signature`.
#[derive(Clone, Debug)]
struct Sent {
    transmission_time: String,
    cert_url: String,
    crc: u32,
    signature: String,
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) config: Mutex<SandboxConfig>,
    pub(crate) chain: Mutex<pki::Chain>,
    pub(crate) cert_id: Mutex<String>,
    pub(crate) tokens: Mutex<HashMap<String, std::time::Instant>>,
    sent: Mutex<HashMap<String, Sent>>,
    pub(crate) deliveries: Mutex<Vec<Delivery>>,
    pub(crate) http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) base: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn config(&self) -> SandboxConfig {
        lock(&self.config).clone()
    }

    fn cert_url(&self) -> String {
        format!(
            "{}/v1/notifications/certs/{}",
            self.base,
            lock(&self.cert_id)
        )
    }

    /// The body and headers of event `id`, signed at `time` with a new transmission id.
    fn sign(&self, id: &str, time: chrono::DateTime<chrono::Utc>) -> Option<SignedDelivery> {
        let event = self.state().event(id).cloned()?;
        let body = serde_json::to_vec(&event).ok()?;
        let transmission_id = uuid_like();
        let transmission_time = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let message = crate::webhook::signed_message(
            &transmission_id,
            &transmission_time,
            SANDBOX_WEBHOOK_ID,
            &body,
        );
        let signature = {
            let chain = lock(&self.chain);
            let mut s = Signer::new(MessageDigest::sha256(), &chain.leaf.key).ok()?;
            s.update(message.as_bytes()).ok()?;
            base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec().ok()?)
        };
        let cert_url = self.cert_url();
        lock(&self.sent).insert(
            transmission_id.clone(),
            Sent {
                transmission_time: transmission_time.clone(),
                cert_url: cert_url.clone(),
                crc: crc32fast::hash(&body),
                signature: signature.clone(),
            },
        );
        let headers = vec![
            ("paypal-transmission-id".to_string(), transmission_id),
            ("paypal-transmission-time".to_string(), transmission_time),
            ("paypal-transmission-sig".to_string(), signature),
            ("paypal-cert-url".to_string(), cert_url),
            (
                "paypal-auth-algo".to_string(),
                crate::webhook::AUTH_ALGO.to_string(),
            ),
            ("paypal-auth-version".to_string(), "v2".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        Some((headers, body))
    }

    /// `verify-webhook-signature`: SUCCESS only for a delivery this sandbox signed, with
    /// the same headers, for its webhook, whose event is byte for byte what was sent.
    pub(crate) fn postback(&self, req: &[u8]) -> &'static str {
        #[derive(serde::Deserialize)]
        struct Req<'a> {
            auth_algo: String,
            cert_url: String,
            transmission_id: String,
            transmission_sig: String,
            transmission_time: String,
            webhook_id: String,
            #[serde(borrow)]
            webhook_event: &'a serde_json::value::RawValue,
        }
        let Ok(r) = serde_json::from_slice::<Req<'_>>(req) else {
            return "FAILURE";
        };
        let sent = lock(&self.sent).get(&r.transmission_id).cloned();
        match sent {
            Some(s)
                if r.auth_algo == crate::webhook::AUTH_ALGO
                    && r.webhook_id == SANDBOX_WEBHOOK_ID
                    && s.cert_url == r.cert_url
                    && s.transmission_time == r.transmission_time
                    && s.signature == r.transmission_sig
                    && s.crc == crc32fast::hash(r.webhook_event.get().as_bytes()) =>
            {
                "SUCCESS"
            }
            _ => "FAILURE",
        }
    }

    /// Hands the events emitted since the last call to the webhook sender.
    pub(crate) fn dispatch(self: &Arc<Self>) {
        let pending = std::mem::take(&mut self.state().pending);
        let Some(url) = self.config().webhook_url else {
            return;
        };
        for id in pending {
            let inner = self.clone();
            let url = url.clone();
            self.rt.spawn(async move { inner.deliver(&id, &url).await });
        }
    }

    async fn deliver(self: Arc<Self>, id: &str, url: &str) {
        let config = self.config();
        let kind = self
            .state()
            .event(id)
            .and_then(|e| e["event_type"].as_str().map(str::to_string))
            .unwrap_or_default();
        for attempt in 1..=config.delivery_attempts.max(1) {
            let Some((headers, body)) = self.sign(id, chrono::Utc::now()) else {
                return;
            };
            let mut req = self.http.post(url).body(body);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let status = req.send().await.ok().map(|r| r.status().as_u16());
            lock(&self.deliveries).push(Delivery {
                event: id.to_string(),
                kind: kind.clone(),
                attempt,
                status,
            });
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            tokio::time::sleep(
                config
                    .delivery_backoff
                    .saturating_mul(1 << (attempt - 1).min(10)),
            )
            .await;
        }
    }
}

fn uuid_like() -> String {
    let h = state::new_id(32).to_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Starts sandboxes.
#[derive(Debug)]
pub struct Sandbox;

type Server = bank_core::sandbox_host::Serve;

fn sandbox_err(e: impl fmt::Display) -> PayPalError {
    PayPalError::Sandbox {
        reason: e.to_string(),
    }
}

fn serve(
    listener: std::net::TcpListener,
    config: SandboxConfig,
    stop: bank_core::sandbox_host::StopSignal,
) -> Result<(Arc<Inner>, Server), PayPalError> {
    let addr = listener.local_addr().map_err(sandbox_err)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(sandbox_err)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent("PayPal/AUHD-214.0-58109767 bank-sandbox")
        .build()
        .map_err(sandbox_err)?;
    let base = format!("http://{addr}");
    let inner = Arc::new(Inner {
        state: Mutex::new(State::new(base.clone(), SANDBOX_MERCHANT_ID.into())),
        config: Mutex::new(config),
        chain: Mutex::new(pki::Chain::new().map_err(sandbox_err)?),
        cert_id: Mutex::new(format!(
            "CERT-360caa42-fca2a594-{}",
            state::new_id(8).to_lowercase()
        )),
        tokens: Mutex::new(HashMap::new()),
        sent: Mutex::new(HashMap::new()),
        deliveries: Mutex::new(Vec::new()),
        http,
        rt: tokio::runtime::Handle::current(),
        base,
    });
    let router = routes::router(inner.clone());
    let server = Box::pin(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "paypal sandbox stopped");
        }
    });
    Ok((inner, server))
}

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 (an ephemeral port) on its own thread and runtime:
    /// usable from a plain `#[test]`, a `#[tokio::test]` or a synchronous `options()`,
    /// and it outlives the runtime of the caller.
    ///
    /// # Errors
    /// [`PayPalError::Sandbox`] when it cannot listen.
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, PayPalError> {
        let (inner, hosted) = bank_core::sandbox_host::on_own_thread(
            "paypal-sandbox",
            Box::new(move |l, stop| serve(l, config, stop).map_err(|e| e.to_string())),
        )
        .map_err(sandbox_err)?;
        Ok(SandboxHandle { inner, hosted })
    }

    /// Starts a sandbox on the current tokio runtime (`bank serve`).
    ///
    /// # Errors
    /// [`PayPalError::Sandbox`] outside a runtime or when it cannot listen.
    pub fn spawn(config: SandboxConfig) -> Result<SandboxHandle, PayPalError> {
        let (inner, hosted) =
            bank_core::sandbox_host::on_current_runtime(Box::new(move |l, stop| {
                serve(l, config, stop).map_err(|e| e.to_string())
            }))
            .map_err(sandbox_err)?;
        Ok(SandboxHandle { inner, hosted })
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    inner: Arc<Inner>,
    hosted: bank_core::sandbox_host::Hosted,
}

impl fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.hosted.addr())
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// `http://127.0.0.1:<port>`: the `api_base` option.
    pub fn base_url(&self) -> String {
        self.inner.base.clone()
    }

    /// The options of an instance using this sandbox.
    pub fn instance_options(&self) -> Vec<(String, String)> {
        vec![
            ("client_id".into(), SANDBOX_CLIENT_ID.into()),
            ("client_secret".into(), SANDBOX_SECRET.into()),
            ("webhook_id".into(), SANDBOX_WEBHOOK_ID.into()),
            ("merchant_id".into(), SANDBOX_MERCHANT_ID.into()),
            ("api_base".into(), self.base_url()),
            (
                "webhook_trust_pem".into(),
                lock(&self.inner.chain).root_pem(),
            ),
            ("webhook_cert_origins".into(), self.base_url()),
        ]
    }

    /// Where events are delivered from now on (`None`: log only).
    pub fn set_webhook_url(&self, url: Option<String>) {
        lock(&self.inner.config).webhook_url = url;
    }

    /// The lifetime of access tokens handed out from now on.
    pub fn set_token_lifetime(&self, d: Duration) {
        lock(&self.inner.config).token_lifetime = d;
    }

    /// Forgets every access token handed out (they expired, or the app's secret was
    /// rotated): the next call with one is answered 401.
    pub fn expire_tokens(&self) {
        lock(&self.inner.tokens).clear();
    }

    /// Every event emitted, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.inner.state().events.clone()
    }

    /// The events of `kind` whose resource mentions `needle`, oldest first.
    pub fn events_about(&self, kind: &str, needle: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event_type"] == kind && e["resource"].to_string().contains(needle))
            .collect()
    }

    /// Event `id` signed as a delivery at `time`: headers and body.
    pub fn signed(&self, id: &str, time: chrono::DateTime<chrono::Utc>) -> Option<SignedDelivery> {
        self.inner.sign(id, time)
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.inner.deliveries).clone()
    }

    /// API requests received: method, path, request id.
    pub fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.inner.state().requests.clone()
    }

    /// How many times the signing certificate was fetched.
    pub fn certificate_fetches(&self) -> u32 {
        self.inner.state().certificate_fetches
    }

    /// How many access tokens were asked for.
    pub fn token_requests(&self) -> u32 {
        self.inner.state().token_requests
    }

    /// Injects a fault into the API.
    pub fn inject(&self, fault: Fault) {
        self.inner.state().faults.push(fault);
    }

    /// A new signing certificate (new URL) valid between the two Unix times.
    ///
    /// # Errors
    /// [`PayPalError::Sandbox`] when OpenSSL fails.
    pub fn reissue_certificate(&self, not_before: i64, not_after: i64) -> Result<(), PayPalError> {
        lock(&self.inner.chain)
            .reissue(not_before, not_after)
            .map_err(sandbox_err)?;
        *lock(&self.inner.cert_id) =
            format!("CERT-360caa42-fca2a594-{}", state::new_id(8).to_lowercase());
        Ok(())
    }

    fn act<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let r = f(&mut self.inner.state());
        self.inner.dispatch();
        r
    }

    /// Calls the sandbox's API as an app would (the driver creates foreign orders with it).
    pub fn state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let r = f(&mut self.inner.state());
        self.inner.dispatch();
        r
    }

    /// The payer approves order `id` as `buyer`: the URL PayPal sends the browser back to.
    ///
    /// # Errors
    /// An order that cannot be approved.
    pub fn approve(&self, id: &str, buyer: Buyer) -> Result<String, ApiError> {
        self.act(|s| s.approve(id, buyer))
    }

    /// The payer approves subscription `id`: its first payment is taken.
    ///
    /// # Errors
    /// Not waiting for approval.
    pub fn approve_subscription(&self, id: &str) -> Result<String, ApiError> {
        self.act(|s| s.approve_subscription(id))
    }

    /// A pending capture clears, or is denied.
    ///
    /// # Errors
    /// Not a pending capture.
    pub fn settle_pending(&self, capture: &str, completed: bool) -> Result<Value, ApiError> {
        self.act(|s| s.settle_pending(capture, completed))
    }

    /// The payer disputes a capture.
    ///
    /// # Errors
    /// Not a completed capture.
    pub fn dispute(&self, capture: &str) -> Result<Value, ApiError> {
        self.act(|s| s.dispute(capture))
    }

    /// PayPal reverses a capture.
    ///
    /// # Errors
    /// Not a completed capture.
    pub fn reverse(&self, capture: &str) -> Result<Value, ApiError> {
        self.act(|s| s.reverse(capture))
    }

    /// A refund from PayPal's dashboard (`None`: the rest).
    ///
    /// # Errors
    /// Nothing to refund.
    pub fn refund_from_dashboard(
        &self,
        capture: &str,
        amount: Option<Value>,
    ) -> Result<Value, ApiError> {
        let req = match amount {
            Some(a) => serde_json::json!({ "amount": a }),
            None => serde_json::json!({}),
        };
        self.act(|s| s.refund(capture, &req).map(|(_, v)| v))
    }

    /// The next cycle of a subscription.
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn renew(&self, subscription: &str, outcome: Renewal) -> Result<Value, ApiError> {
        self.act(|s| s.renew(subscription, outcome))
    }

    /// Stops the server (and its thread, when it has one).
    pub fn shutdown(self) {
        self.hosted.shutdown();
    }
}

impl bank_core::Sandbox for SandboxHandle {
    fn hint(&self) -> Option<String> {
        Some("a local PayPal; buyer@example.com pays, pending@example.com waits for review, declined@example.com is declined".into())
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        SandboxHandle::instance_options(self)
    }
}

// The demo's PayPal: webhooks to our endpoint.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::PROVIDER,
        instance: "paypal",
        order: 8,
        start: |ctx| Box::pin(async move {
            let config = SandboxConfig {
                webhook_url: Some(format!("{}/bank/{}/notify", ctx.base_url.trim_end_matches('/'), ctx.instance)),
                ..SandboxConfig::default()
            };
            let handle = Sandbox::spawn(config).map_err(|e| e.into_core(&ctx.instance))?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
