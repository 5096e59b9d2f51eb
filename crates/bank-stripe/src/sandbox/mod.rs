//! A local emulator of the Stripe API subset used by this crate (feature `sandbox`).
//!
//! - `/v1/…`: Checkout Sessions, PaymentIntents, charges, refunds, disputes, invoices,
//!   subscriptions, customers and events, with Stripe's JSON shapes, ids, error objects
//!   and idempotency semantics (same key and parameters: the saved answer with
//!   `Idempotent-Replayed: true`; same key, other parameters: `idempotency_error`).
//! - `/c/pay/{session}`: the hosted checkout page, driven by Stripe's test cards
//!   ([`cards`]): 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined,
//!   4000 0000 0000 3220 asks for 3-D Secure, a SEPA IBAN is collected later…
//! - a webhook sender that signs each event with every configured endpoint secret and
//!   retries with backoff until a 2xx (bounded);
//! - `/_sandbox/…` and [`SandboxHandle`] methods to act as the payer, the dashboard and
//!   time: pay, refund from the dashboard, dispute, collect or fail a SEPA debit, renew a
//!   subscription, expire a session; and to read the events sent and the deliveries.
//!
//! Start it on its own thread ([`Sandbox::start`], from anywhere, the port known at once)
//! or on the current tokio runtime ([`Sandbox::spawn`]).

pub mod cards;
mod page;
mod routes;
mod state;
mod webhook;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

pub use state::{ApiError, Delivery, PayOutcome, Renewal, State};

use crate::error::StripeError;

/// The secret key the sandbox accepts by default.
pub const SANDBOX_SECRET_KEY: &str = "sk_test_bank_sandbox_0123456789";
/// The webhook signing secret the sandbox uses by default.
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_bank_sandbox_0123456789";

/// How the sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The API key it accepts.
    pub secret_key: String,
    /// The endpoint's signing secrets: each delivery carries one `v1` per secret, as Stripe
    /// does while a secret is being rolled.
    pub webhook_secrets: Vec<String>,
    /// Where events are delivered (`http://host/bank/<instance>/notify`); `None` keeps them
    /// in the event log only.
    pub webhook_url: Option<String>,
    /// Event types delivered (others are logged only). Empty: all.
    pub enabled_events: Vec<String>,
    /// Delivery attempts per event.
    pub delivery_attempts: u32,
    /// Delay before the first redelivery, doubled each time.
    pub delivery_backoff: Duration,
    /// When set, a SEPA debit is collected (or fails, by its IBAN) this long after the
    /// payment, as Stripe's test mode does after a few minutes.
    pub sepa_after: Option<Duration>,
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("webhook_url", &self.webhook_url)
            .field("enabled_events", &self.enabled_events.len())
            .field("delivery_attempts", &self.delivery_attempts)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            secret_key: SANDBOX_SECRET_KEY.into(),
            webhook_secrets: vec![SANDBOX_WEBHOOK_SECRET.into()],
            webhook_url: None,
            enabled_events: crate::event::HANDLED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            delivery_attempts: 5,
            delivery_backoff: Duration::from_millis(500),
            sepa_after: None,
        }
    }
}

/// A fault to inject into the API, to test retries, idempotency and time-outs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    /// Requests whose path starts with this (`/v1/refunds`).
    pub path_prefix: String,
    /// The status to answer (500, 429…); 0 answers normally (with `delay`: only slow).
    pub status: u16,
    /// How long the API waits before answering (a slow or hanging Stripe).
    pub delay: Duration,
    /// Execute the request (and save its answer under its idempotency key) before
    /// answering with the fault: the answer was lost on the way back.
    pub after_executing: bool,
    /// How many requests get it.
    pub remaining: u32,
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) config: Mutex<SandboxConfig>,
    pub(crate) http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Handle,
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn config(&self) -> SandboxConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands the events emitted since the last call to the webhook sender.
    pub(crate) fn dispatch(self: &Arc<Self>) {
        let (pending, sepa) = {
            let mut st = self.state();
            let pending: Vec<(String, Value)> = std::mem::take(&mut st.pending)
                .into_iter()
                .filter_map(|id| st.event(&id).cloned().map(|e| (id, e)))
                .collect();
            let sepa: Vec<(String, bool)> = pending
                .iter()
                .filter(|(_, e)| {
                    e["type"] == "checkout.session.completed"
                        && e["data"]["object"]["payment_status"] == "unpaid"
                })
                .filter_map(|(_, e)| {
                    let cs = e["data"]["object"]["id"].as_str()?.to_string();
                    st.sepa_outcome(&cs).map(|ok| (cs, ok))
                })
                .collect();
            (pending, sepa)
        };
        let config = self.config();
        for (_, event) in pending {
            webhook::deliver(self.clone(), &config, event);
        }
        if let Some(after) = config.sepa_after {
            for (cs, ok) in sepa {
                let inner = self.clone();
                self.rt.spawn(async move {
                    tokio::time::sleep(after).await;
                    let done = inner.state().settle_async(&cs, ok);
                    if done.is_ok() {
                        inner.dispatch();
                    }
                });
            }
        }
    }
}

/// Starts sandboxes.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 (an ephemeral port) on its own thread and runtime:
    /// usable from a plain `#[test]`, a `#[tokio::test]` or a synchronous `options()`,
    /// and it outlives the runtime of the caller.
    ///
    /// # Errors
    /// [`StripeError::Sandbox`] when it cannot listen.
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, StripeError> {
        let (inner, hosted) = bank_core::sandbox_host::on_own_thread(
            "stripe-sandbox",
            Box::new(move |l, stop| serve(l, config, stop).map_err(|e| e.to_string())),
        )
        .map_err(|reason| StripeError::Sandbox { reason })?;
        Ok(SandboxHandle { inner, hosted })
    }

    /// Starts a sandbox on the current tokio runtime (`bank serve`): the port is bound
    /// before this returns; the server lives until the handle is shut down or the runtime
    /// stops.
    ///
    /// # Errors
    /// [`StripeError::Sandbox`] outside a runtime or when it cannot listen.
    pub fn spawn(config: SandboxConfig) -> Result<SandboxHandle, StripeError> {
        let (inner, hosted) =
            bank_core::sandbox_host::on_current_runtime(Box::new(move |l, stop| {
                serve(l, config, stop).map_err(|e| e.to_string())
            }))
            .map_err(|reason| StripeError::Sandbox { reason })?;
        Ok(SandboxHandle { inner, hosted })
    }
}

type Server = bank_core::sandbox_host::Serve;

/// Builds the server on the current runtime (must be called inside it).
fn serve(
    listener: std::net::TcpListener,
    config: SandboxConfig,
    stop: bank_core::sandbox_host::StopSignal,
) -> Result<(Arc<Inner>, Server), StripeError> {
    let err = |e: std::io::Error| StripeError::Sandbox {
        reason: e.to_string(),
    };
    let addr = listener.local_addr().map_err(err)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(err)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks) bank-sandbox")
        .build()
        .map_err(|e| StripeError::Sandbox {
            reason: e.to_string(),
        })?;
    let inner = Arc::new(Inner {
        state: Mutex::new(State::new(format!("http://{addr}"))),
        config: Mutex::new(config),
        http,
        rt: tokio::runtime::Handle::current(),
    });
    let router = routes::router(inner.clone());
    let server = Box::pin(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "stripe sandbox stopped");
        }
    });
    Ok((inner, server))
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
        format!("http://{}", self.hosted.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.hosted.addr()
    }

    /// The options of an instance using this sandbox (`secret_key`, `webhook_secrets`,
    /// `api_base`).
    pub fn instance_options(&self) -> Vec<(String, String)> {
        let c = self.inner.config();
        vec![
            ("secret_key".into(), c.secret_key),
            ("webhook_secrets".into(), c.webhook_secrets.join(" ")),
            ("api_base".into(), self.base_url()),
        ]
    }

    /// Where events are delivered from now on (`None`: log only).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .webhook_url = url;
    }

    /// The endpoint's signing secrets from now on (a rotation: old and new).
    pub fn set_webhook_secrets(&self, secrets: Vec<String>) {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .webhook_secrets = secrets;
    }

    /// Every event emitted, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.inner.state().events.clone()
    }

    /// The events of `kind` about `object` (a session, PaymentIntent, charge, invoice or
    /// subscription id, or a metadata reference), oldest first.
    pub fn events_about(&self, kind: &str, needle: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == kind && e["data"]["object"].to_string().contains(needle))
            .collect()
    }

    /// The body Stripe would send for event `id` (pretty-printed JSON, as Stripe sends)
    /// and its `Stripe-Signature` at `timestamp`, signed with every endpoint secret.
    pub fn signed(&self, id: &str, timestamp: i64) -> Option<(String, Vec<u8>)> {
        let event = self.inner.state().event(id).cloned()?;
        let body = serde_json::to_vec_pretty(&event).ok()?;
        let secrets = self.inner.config().webhook_secrets;
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        Some((crate::signature::header(&refs, timestamp, &body), body))
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.state().deliveries.clone()
    }

    /// API requests received: method, path, idempotency key.
    pub fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.inner.state().requests.clone()
    }

    /// Injects a fault into the API.
    pub fn inject(&self, fault: Fault) {
        self.inner.state().faults.push(fault);
    }

    /// An object as stored: every field, includable ones (an invoice's `payments`) too.
    pub fn object(&self, id: &str) -> Option<Value> {
        self.inner.state().objects.get(id).cloned()
    }

    fn act<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let r = f(&mut self.inner.state());
        self.inner.dispatch();
        r
    }

    /// The payer pays session `cs` on the hosted page with a test card or IBAN.
    ///
    /// # Errors
    /// The error the page would show (an unknown card number, a session not open).
    pub fn pay(&self, cs: &str, card: &str) -> Result<PayOutcome, ApiError> {
        self.act(|s| s.pay(cs, card))
    }

    /// The payer completes (or fails) 3-D Secure.
    ///
    /// # Errors
    /// A session not open.
    pub fn authenticate(&self, cs: &str, approve: bool) -> Result<PayOutcome, ApiError> {
        self.act(|s| s.authenticate(cs, approve))
    }

    /// The delayed payment (SEPA) of session `cs` is collected, or fails.
    ///
    /// # Errors
    /// No delayed payment under way.
    pub fn settle_async(&self, cs: &str, succeeded: bool) -> Result<Value, ApiError> {
        self.act(|s| s.settle_async(cs, succeeded))
    }

    /// Session `cs` expires unpaid.
    ///
    /// # Errors
    /// A session not open.
    pub fn expire(&self, cs: &str) -> Result<Value, ApiError> {
        self.act(|s| s.expire_session(cs))
    }

    /// A refund made from the dashboard (`amount` in Stripe's unit; `None`: the rest).
    ///
    /// # Errors
    /// Nothing to refund.
    pub fn refund_from_dashboard(&self, pi: &str, amount: Option<i64>) -> Result<Value, ApiError> {
        let p = match amount {
            Some(a) => serde_json::json!({ "payment_intent": pi, "amount": a }),
            None => serde_json::json!({ "payment_intent": pi }),
        };
        self.act(|s| s.refund(&p, None))
    }

    /// The payer disputes the payment of `pi`.
    ///
    /// # Errors
    /// No successful payment.
    pub fn dispute(&self, pi: &str) -> Result<Value, ApiError> {
        self.act(|s| s.dispute(pi, "fraudulent"))
    }

    /// A renewal of subscription `sub`.
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn renew(&self, sub: &str, outcome: Renewal) -> Result<Value, ApiError> {
        self.act(|s| s.renew(sub, outcome))
    }

    /// Stops the server (and its thread, when it has one).
    pub fn shutdown(self) {
        self.hosted.shutdown();
    }
}

impl bank_core::Sandbox for SandboxHandle {
    fn hint(&self) -> Option<String> {
        Some("a local Stripe; card 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined, 4000 0000 0000 3220 asks for 3-D Secure".into())
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        SandboxHandle::instance_options(self)
    }
}

// The demo's Stripe: webhooks to our endpoint, SEPA debits collected after ten seconds.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::PROVIDER,
        instance: "stripe",
        order: 6,
        start: |ctx| Box::pin(async move {
            let config = SandboxConfig {
                webhook_url: Some(format!(
                    "{}/bank/{}/notify",
                    ctx.base_url.trim_end_matches('/'),
                    ctx.instance
                )),
                sepa_after: Some(Duration::from_secs(10)),
                ..SandboxConfig::default()
            };
            let handle = Sandbox::spawn(config).map_err(|e| e.into_core(&ctx.instance))?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
