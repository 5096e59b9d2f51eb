//! A local PayZen (feature `sandbox`).
//!
//! - `POST /vads-payment/`: a form, checked as PayZen checks it (the fields every form
//!   needs, the signature with the key of its `vads_ctx_mode`, a `vads_trans_id` not used
//!   yet that day), answered with the payment page, or PayZen's refusal;
//! - `/checkout/{id}`: test cards and IBANs (approved, refused, SEPA collected, SEPA
//!   returned) or cancel; the IPN is signed and sent to `vads_url_check`, re-sent until a
//!   200 (bounded), and the browser returns with the signed fields (return mode GET);
//! - `POST /api-payment/V4/…`: `Transaction/CancelOrRefund`, `Transaction/Validate`,
//!   `Transaction/Get`, `Subscription/Cancel`, Basic authentication with the REST
//!   password of the mode;
//! - [`SandboxHandle`]: what time brings, on demand: SEPA debits presented (collected, or
//!   collected then returned), instalments paid or refused, refunds in the back office.

mod routes;
pub mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use state::{Keys, State};
pub use state::{Message, TestMeans};

use crate::error::PayzenError;
use crate::signature::Algorithm;

/// The sandbox's shop id.
pub const SANDBOX_SITE_ID: &str = "12345678";
/// Its TEST key.
pub const SANDBOX_KEY_TEST: &str = "1122334455667788";
/// Its PRODUCTION key (the sandbox takes both modes, as PayZen's one URL does).
pub const SANDBOX_KEY_PRODUCTION: &str = "9988776655443322";
/// Its REST password, both modes.
pub const SANDBOX_REST_PASSWORD: &str = "testpassword_SANDBOX0123456789";

/// How the sandbox behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The shop's signature algorithm.
    pub algorithm: Algorithm,
    /// Delivery attempts of each IPN.
    pub delivery_attempts: u32,
    /// The first wait between attempts (doubled each time).
    pub delivery_backoff: Duration,
    /// Send IPNs at all (the conformance driver takes them from the sandbox instead).
    pub deliver: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            algorithm: Algorithm::HmacSha256,
            delivery_attempts: 5,
            delivery_backoff: Duration::from_millis(500),
            deliver: true,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) config: SandboxConfig,
    pub(crate) keys: Keys,
    pub(crate) http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) base: String,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn dispatch(self: &Arc<Self>) {
        let pending = std::mem::take(&mut self.state().pending);
        if !self.config.deliver {
            return;
        }
        // The messages of one payment go in order, each delivered (or given up) before the
        // next: a debit collected then returned must not arrive returned then collected.
        let mut by_payment: Vec<Vec<Message>> = Vec::new();
        for m in pending {
            match by_payment.iter_mut().find(|g| g[0].uuid == m.uuid) {
                Some(g) => g.push(m),
                None => by_payment.push(vec![m]),
            }
        }
        for group in by_payment {
            let inner = self.clone();
            self.rt.spawn(async move {
                for m in group {
                    inner.clone().send(m).await;
                }
            });
        }
    }

    async fn send(self: Arc<Self>, m: Message) {
        for attempt in 1..=self.config.delivery_attempts.max(1) {
            let r = self
                .http
                .post(&m.url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(m.body.clone())
                .send()
                .await;
            let ok = r.is_ok_and(|r| r.status().is_success());
            self.state().attempts.push((m.uuid.clone(), attempt, ok));
            if ok {
                return;
            }
            tokio::time::sleep(
                self.config
                    .delivery_backoff
                    .saturating_mul(1 << (attempt - 1).min(10)),
            )
            .await;
        }
    }
}

/// Starts sandboxes.
#[derive(Debug)]
pub struct Sandbox;

fn sandbox_err(e: impl fmt::Display) -> PayzenError {
    PayzenError::Sandbox {
        reason: e.to_string(),
    }
}

fn serve(
    std: std::net::TcpListener,
    config: SandboxConfig,
    stop: bank_core::sandbox_host::StopSignal,
) -> Result<(Arc<Inner>, bank_core::sandbox_host::Serve), String> {
    let addr = std.local_addr().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::from_std(std).map_err(|e| e.to_string())?;
    let base = format!("http://{addr}");
    let inner = Arc::new(Inner {
        state: Mutex::new(State::default()),
        keys: Keys {
            algorithm: config.algorithm,
            test: SANDBOX_KEY_TEST.into(),
            production: SANDBOX_KEY_PRODUCTION.into(),
        },
        config,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?,
        rt: tokio::runtime::Handle::current(),
        base,
    });
    let router = routes::router(inner.clone());
    let server = Box::pin(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await;
    });
    Ok((inner, server))
}

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 on its own thread and runtime.
    ///
    /// # Errors
    /// [`PayzenError::Sandbox`].
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, PayzenError> {
        let (inner, hosted) = bank_core::sandbox_host::on_own_thread(
            "payzen-sandbox",
            Box::new(move |l, stop| serve(l, config, stop)),
        )
        .map_err(sandbox_err)?;
        Ok(SandboxHandle { inner, hosted })
    }

    /// Starts a sandbox on the current tokio runtime (`bank serve`).
    ///
    /// # Errors
    /// [`PayzenError::Sandbox`] outside a runtime.
    pub fn spawn(config: SandboxConfig) -> Result<SandboxHandle, PayzenError> {
        let (inner, hosted) =
            bank_core::sandbox_host::on_current_runtime(Box::new(move |l, stop| {
                serve(l, config, stop)
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
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.inner.base.clone()
    }

    /// The options of an instance on this sandbox, taking `means`.
    pub fn options_for(&self, means: &str) -> Vec<(String, String)> {
        self.shop_options(SANDBOX_SITE_ID, means)
    }

    /// The same for shop `site_id` (eight digits): the sandbox hosts any number of shops,
    /// each with its own transaction ids of the day.
    pub fn shop_options(&self, site_id: &str, means: &str) -> Vec<(String, String)> {
        vec![
            ("site_id".into(), site_id.into()),
            ("key_test".into(), SANDBOX_KEY_TEST.into()),
            ("key_production".into(), SANDBOX_KEY_PRODUCTION.into()),
            (
                "signature_algorithm".into(),
                self.inner.keys.algorithm.name().into(),
            ),
            ("means".into(), means.into()),
            ("rest_password_test".into(), SANDBOX_REST_PASSWORD.into()),
            (
                "form_url".into(),
                format!("{}/vads-payment/", self.base_url()),
            ),
            (
                "rest_url".into(),
                format!("{}/api-payment/", self.base_url()),
            ),
        ]
    }

    fn act<T>(
        &self,
        f: impl FnOnce(&mut State, &Keys, chrono::DateTime<chrono::Utc>) -> Result<T, String>,
    ) -> Result<T, String> {
        let r = f(
            &mut self.inner.state(),
            &self.inner.keys,
            chrono::Utc::now(),
        );
        self.inner.dispatch();
        r
    }

    /// Takes a form as its page would be posted: the checkout id, or PayZen's refusal.
    ///
    /// # Errors
    /// The refusal, in words.
    pub fn submit(&self, fields: &[(String, String)]) -> Result<String, String> {
        self.inner.state().take(&self.inner.keys, fields.to_vec())
    }

    /// The payer pays checkout `id` with `means`: the IPN (sent unless delivery is off).
    ///
    /// # Errors
    /// An unknown checkout, or a means the form does not offer.
    pub fn pay(&self, id: &str, means: TestMeans) -> Result<Message, String> {
        self.act(|s, k, now| s.pay(k, id, means, now).map(|(m, _)| m))
    }

    /// The payer cancels on the page (`ABANDONED`).
    ///
    /// # Errors
    /// An unknown checkout.
    pub fn abandon(&self, id: &str) -> Result<Message, String> {
        self.act(|s, k, now| s.abandon(k, id, now).map(|(m, _)| m))
    }

    /// A SEPA debit waiting for presentation is presented: collected, or collected then
    /// returned (the test IBAN decides). The `BATCH` messages.
    ///
    /// # Errors
    /// Not a debit waiting for presentation.
    pub fn present(&self, uuid: &str) -> Result<Vec<Message>, String> {
        self.act(|s, k, now| s.present(k, uuid, now))
    }

    /// A card payment's capture fails at the bank (`CAPTURE_FAILED`, `BATCH`).
    ///
    /// # Errors
    /// An unknown payment.
    pub fn capture_fails(&self, uuid: &str) -> Result<Message, String> {
        self.act(|s, k, now| s.change(k, uuid, "CAPTURE_FAILED", "BATCH", vec![], now))
    }

    /// The next instalment of subscription `id`: paid, or refused (`REC`).
    ///
    /// # Errors
    /// Not a running subscription.
    pub fn instalment(&self, id: &str, paid: bool) -> Result<Message, String> {
        self.act(|s, k, now| s.instalment(k, id, paid, now))
    }

    /// A refund made in the back office (`MERCH_BO`): its IPN.
    ///
    /// # Errors
    /// Not a refundable payment.
    pub fn refund_in_back_office(&self, uuid: &str, minor: Option<i64>) -> Result<Message, String> {
        self.act(|s, k, now| s.refund(k, uuid, minor, now, true).map(|(_, m)| m))
    }

    /// Every message made, oldest first (sent or not).
    pub fn messages(&self) -> Vec<Message> {
        self.inner.state().sent.clone()
    }

    /// The last message about order or subscription `needle`.
    pub fn last_message(&self, needle: &str) -> Option<Message> {
        self.messages().into_iter().rev().find(|m| {
            m.get("vads_order_id") == Some(needle) || m.get("vads_subscription") == Some(needle)
        })
    }

    /// The status of payment `uuid` at the sandbox.
    pub fn status(&self, uuid: &str) -> Option<String> {
        self.inner
            .state()
            .payments
            .get(uuid)
            .map(|p| p.status.clone())
    }

    /// Whether subscription `id` still runs.
    pub fn subscription_active(&self, id: &str) -> Option<bool> {
        self.inner.state().subscriptions.get(id).map(|s| s.active)
    }

    /// IPN delivery attempts, and how many were acknowledged.
    pub fn attempts(&self) -> (usize, usize) {
        let a = &self.inner.state().attempts;
        (a.len(), a.iter().filter(|(_, _, ok)| *ok).count())
    }
}

impl bank_core::Sandbox for SandboxHandle {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "a local PayZen; card 4970 1000 0000 0003 pays, 0014 is refused; IBANs collected or returned, presented at {}/sandbox",
            self.base_url()
        ))
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        self.options_for("card_sdd")
    }
}

bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::PROVIDER,
        instance: "payzen",
        order: 10,
        start: |ctx| Box::pin(async move {
            let handle = Sandbox::spawn(SandboxConfig::default())
                .map_err(|e| e.into_core(&ctx.instance))?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
