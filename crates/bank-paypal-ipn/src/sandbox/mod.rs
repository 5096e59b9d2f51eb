//! A local PayPal for buttons and IPN (feature `sandbox`).
//!
//! - `POST /cgi-bin/webscr`: a button (plain, or `_s-xclick` with `encrypted`: decrypted
//!   with the sandbox's own "PayPal" key, its signer checked against the registered
//!   `cert_id`; plain buttons refused when the merchant blocks them), answered with the
//!   checkout page; or a postback `cmd=_notify-validate&…`, answered `VERIFIED` only for a
//!   message the sandbox sent, byte for byte, `INVALID` otherwise;
//! - `/checkout/{id}`: test buyers: `buyer@example.com` pays, `echeck@example.com` pays by
//!   eCheck (Pending), `failed@example.com` has the eCheck fail; or cancel;
//! - IPNs in windows-1252 (PayPal's default encoding) sent to `notify_url` and re-sent until
//!   a 200 (bounded);
//! - [`SandboxHandle`]: refunds, reversals, cancelled reversals, subscription payments and
//!   failures, cancellations, on demand; the messages sent.

mod routes;
pub mod state;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

pub use state::{Buyer, Message, State};

use crate::error::IpnError;

/// The merchant of the sandbox.
pub const SANDBOX_BUSINESS: &str = "merchant@example.com";
/// Its account id.
pub const SANDBOX_RECEIVER_ID: &str = "BANKSANDBOX01";

/// How the sandbox behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Refuse plain buttons (the profile's "Block non-encrypted website payments").
    pub block_plain: bool,
    /// IPN attempts per message.
    pub delivery_attempts: u32,
    /// Delay before the first re-send, doubled each time.
    pub delivery_backoff: Duration,
    /// Send IPNs (else they are only kept, for tests that hand them over themselves).
    pub deliver: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            block_plain: false,
            delivery_attempts: 5,
            delivery_backoff: Duration::from_millis(500),
            deliver: true,
        }
    }
}

/// A key and self-signed certificate.
pub struct KeyPair {
    /// The key.
    pub key: PKey<Private>,
    /// The certificate.
    pub cert: X509,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new RSA-2048 key and a self-signed certificate named `cn` (what a merchant makes
    /// with `openssl req -x509` for EWP).
    ///
    /// # Errors
    /// OpenSSL's, as [`IpnError::Sandbox`].
    pub fn generate(cn: &str) -> Result<Self, IpnError> {
        let err = |e: openssl::error::ErrorStack| IpnError::Sandbox {
            reason: e.to_string(),
        };
        let key = PKey::from_rsa(Rsa::generate(2048).map_err(err)?).map_err(err)?;
        let mut name = X509NameBuilder::new().map_err(err)?;
        name.append_entry_by_text("CN", cn).map_err(err)?;
        let name = name.build();
        let mut b = X509Builder::new().map_err(err)?;
        b.set_version(2).map_err(err)?;
        let mut serial = BigNum::new().map_err(err)?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false).map_err(err)?;
        let serial = serial.to_asn1_integer().map_err(err)?;
        b.set_serial_number(&serial).map_err(err)?;
        b.set_subject_name(&name).map_err(err)?;
        b.set_issuer_name(&name).map_err(err)?;
        b.set_pubkey(&key).map_err(err)?;
        let now = chrono::Utc::now().timestamp();
        let (from, until) = (
            Asn1Time::from_unix((now - 86_400) as _).map_err(err)?,
            Asn1Time::from_unix((now + 10 * 365 * 86_400) as _).map_err(err)?,
        );
        b.set_not_before(&from).map_err(err)?;
        b.set_not_after(&until).map_err(err)?;
        b.sign(&key, MessageDigest::sha256()).map_err(err)?;
        Ok(KeyPair {
            key,
            cert: b.build(),
        })
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap_or_default()).unwrap_or_default()
    }

    /// The key, PEM.
    pub fn key_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().unwrap_or_default())
            .unwrap_or_default()
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) config: SandboxConfig,
    /// PayPal's own key: EWP buttons are enveloped to its certificate.
    pub(crate) paypal: KeyPair,
    /// Merchant certificates uploaded, by `cert_id`.
    pub(crate) merchant_certs: Mutex<Vec<(String, X509)>>,
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

    /// Sends the messages queued since the last call.
    pub(crate) fn dispatch(self: &Arc<Self>) {
        let pending = std::mem::take(&mut self.state().pending);
        if !self.config.deliver {
            return;
        }
        for m in pending {
            let inner = self.clone();
            self.rt.spawn(async move { inner.send(m).await });
        }
    }

    async fn send(self: Arc<Self>, m: Message) {
        for attempt in 1..=self.config.delivery_attempts.max(1) {
            let r = self
                .http
                .post(&m.notify_url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(m.body.clone())
                .send()
                .await;
            let ok = r.is_ok_and(|r| r.status().as_u16() == 200);
            self.state().attempts.push((m.txn_key.clone(), attempt, ok));
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

fn sandbox_err(e: impl fmt::Display) -> IpnError {
    IpnError::Sandbox {
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
        state: Mutex::new(State::new(base.clone())),
        config,
        paypal: KeyPair::generate("bank sandbox PayPal (not PayPal)").map_err(|e| e.to_string())?,
        merchant_certs: Mutex::new(Vec::new()),
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
    /// [`IpnError::Sandbox`].
    pub fn start(config: SandboxConfig) -> Result<SandboxHandle, IpnError> {
        let (inner, hosted) = bank_core::sandbox_host::on_own_thread(
            "paypal-ipn-sandbox",
            Box::new(move |l, stop| serve(l, config, stop)),
        )
        .map_err(sandbox_err)?;
        Ok(SandboxHandle {
            inner,
            hosted,
            demo: std::sync::OnceLock::new(),
        })
    }

    /// Starts a sandbox on the current tokio runtime (`bank serve`).
    ///
    /// # Errors
    /// [`IpnError::Sandbox`] outside a runtime.
    pub fn spawn(config: SandboxConfig) -> Result<SandboxHandle, IpnError> {
        let (inner, hosted) =
            bank_core::sandbox_host::on_current_runtime(Box::new(move |l, stop| {
                serve(l, config, stop)
            }))
            .map_err(sandbox_err)?;
        Ok(SandboxHandle {
            inner,
            hosted,
            demo: std::sync::OnceLock::new(),
        })
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    inner: Arc<Inner>,
    hosted: bank_core::sandbox_host::Hosted,
    /// The demo's encrypted-button options, made once (a key and an uploaded certificate).
    demo: std::sync::OnceLock<Vec<(String, String)>>,
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

    /// The options of an instance with plain buttons on this sandbox.
    pub fn instance_options(&self) -> Vec<(String, String)> {
        vec![
            ("business".into(), SANDBOX_BUSINESS.into()),
            ("receiver_id".into(), SANDBOX_RECEIVER_ID.into()),
            (
                "form_url".into(),
                format!("{}/cgi-bin/webscr", self.base_url()),
            ),
            (
                "verify_url".into(),
                format!("{}/cgi-bin/webscr", self.base_url()),
            ),
        ]
    }

    /// The options of an instance with encrypted buttons: a merchant key and certificate
    /// made and "uploaded" here, its `cert_id`, and the sandbox's PayPal certificate.
    ///
    /// # Errors
    /// [`IpnError::Sandbox`] when OpenSSL fails.
    pub fn ewp_options(&self) -> Result<Vec<(String, String)>, IpnError> {
        let merchant = KeyPair::generate("merchant EWP certificate")?;
        let cert_id = self.upload_certificate(merchant.cert.clone());
        let mut o = self.instance_options();
        o.push(("ewp_cert_id".into(), cert_id));
        o.push(("ewp_merchant_cert".into(), merchant.cert_pem()));
        o.push(("ewp_merchant_key".into(), merchant.key_pem()));
        o.push(("ewp_paypal_cert".into(), self.paypal_cert_pem()));
        Ok(o)
    }

    /// Registers a merchant certificate, as uploading it to the PayPal profile does: its
    /// `cert_id`.
    pub fn upload_certificate(&self, cert: X509) -> String {
        let mut certs = lock(&self.inner.merchant_certs);
        let id = format!("CERT{}", state::new_id(9));
        certs.push((id.clone(), cert));
        id
    }

    /// The sandbox's PayPal certificate, PEM.
    pub fn paypal_cert_pem(&self) -> String {
        self.inner.paypal.cert_pem()
    }

    /// The sandbox's PayPal key, PEM (tests decrypt buttons with `openssl smime`).
    pub fn paypal_key_pem(&self) -> String {
        self.inner.paypal.key_pem()
    }

    fn act<T>(&self, f: impl FnOnce(&mut State) -> Result<T, String>) -> Result<T, String> {
        let r = f(&mut self.inner.state());
        self.inner.dispatch();
        r
    }

    /// Takes a button's fields as the form would post them: the checkout id.
    ///
    /// # Errors
    /// What PayPal would show: a refused button.
    pub fn submit(&self, fields: &[(String, String)]) -> Result<String, String> {
        routes::intake(&self.inner, fields)
    }

    /// The payer pays checkout `id` as `buyer`: the IPN queued (and sent), and the return URL.
    ///
    /// # Errors
    /// An unknown checkout.
    pub fn pay(&self, id: &str, buyer: Buyer) -> Result<String, String> {
        self.act(|s| s.pay(id, buyer, None))
    }

    /// The fields of checkout `id` as the sandbox took them (decrypted, for an EWP button).
    pub fn checkout_fields(&self, id: &str) -> Option<Vec<(String, String)>> {
        self.inner.state().checkout(id).cloned()
    }

    /// The donor types `amount` on a Donate button without one, and pays as `buyer`.
    ///
    /// # Errors
    /// An unknown checkout, or not an amount of the button's currency.
    pub fn donate(&self, id: &str, buyer: Buyer, amount: &str) -> Result<String, String> {
        self.act(|s| s.pay(id, buyer, Some(amount)))
    }

    /// A pending eCheck clears, or fails.
    ///
    /// # Errors
    /// Not a pending payment.
    pub fn settle_echeck(&self, txn_id: &str, cleared: bool) -> Result<Message, String> {
        self.act(|s| s.settle_echeck(txn_id, cleared))
    }

    /// Every message sent, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.inner.state().sent.clone()
    }

    /// The last message about `invoice` (or a `subscr_id`), if any.
    pub fn last_message(&self, needle: &str) -> Option<Message> {
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.mentions(needle))
    }

    /// A refund made at PayPal (`minor` of the payment; `None`: the whole).
    ///
    /// # Errors
    /// Not a completed payment.
    pub fn refund(&self, txn_id: &str, minor: Option<i64>) -> Result<Message, String> {
        self.act(|s| s.refund(txn_id, minor))
    }

    /// A chargeback pulls the payment back (`Reversed`).
    ///
    /// # Errors
    /// Not a completed payment.
    pub fn reverse(&self, txn_id: &str) -> Result<Message, String> {
        self.act(|s| s.reverse(txn_id, false))
    }

    /// The merchant won the dispute (`Canceled_Reversal`).
    ///
    /// # Errors
    /// Not a reversed payment.
    pub fn cancel_reversal(&self, txn_id: &str) -> Result<Message, String> {
        self.act(|s| s.reverse(txn_id, true))
    }

    /// The next payment of subscription `subscr_id`: paid, or failed.
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn renew(&self, subscr_id: &str, paid: bool) -> Result<Message, String> {
        self.act(|s| s.renew(subscr_id, paid))
    }

    /// The payer cancels subscription `subscr_id` at PayPal.
    ///
    /// # Errors
    /// Not an active subscription.
    pub fn cancel_subscription(&self, subscr_id: &str) -> Result<Message, String> {
        self.act(|s| s.cancel_subscription(subscr_id))
    }

    /// How many IPN delivery attempts were made, and how many were acknowledged.
    pub fn attempts(&self) -> (usize, usize) {
        let a = &self.inner.state().attempts;
        (a.len(), a.iter().filter(|(_, _, ok)| *ok).count())
    }
}

impl bank_core::Sandbox for SandboxHandle {
    fn hint(&self) -> Option<String> {
        Some("a local PayPal for buttons; buyer@example.com pays, echeck@example.com pays by eCheck (pending)".into())
    }

    fn instance_options(&self) -> Vec<(String, String)> {
        // The demo uses encrypted buttons, as every merchant should: one key and one
        // uploaded certificate, however often it is asked.
        self.demo
            .get_or_init(|| {
                self.ewp_options()
                    .unwrap_or_else(|_| SandboxHandle::instance_options(self))
            })
            .clone()
    }
}

// The demo's PayPal buttons: encrypted, plain ones blocked, IPNs to our listener.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: crate::PROVIDER,
        instance: "paypal-ipn",
        order: 9,
        start: |ctx| Box::pin(async move {
            let _ = &ctx;
            let handle = Sandbox::spawn(SandboxConfig { block_plain: true, ..SandboxConfig::default() })
                .map_err(|e| e.into_core(&ctx.instance))?;
            Ok(Box::new(handle) as Box<dyn bank_core::Sandbox>)
        }),
    }
}
