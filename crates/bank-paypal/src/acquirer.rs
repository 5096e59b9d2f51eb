//! The `paypal` provider: one instance per PayPal REST app and mode.

use std::fmt;
use std::sync::Arc;

use bank_core::{
    async_trait, Acquirer, Capabilities, Channel, Error, InstanceInfo, Mode, Money, Notification,
    OperationContext, OperationResult, Options, Outcome, ParamKind, Parameter, PaymentContext,
    PaymentRequest, ProviderDescription, ProviderFailure, RefundSupport, Reply, Transaction,
    Verified, VerifyContext,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::client::{Client, RetryPolicy, LIVE_BASE, SANDBOX_BASE};
use crate::error::PayPalError;
use crate::event::{self, is_paypal_id, Event, Subject};
use crate::order::{self, Experience, Intent, OrderView, PaymentView};
use crate::subscription::{self, SubscriptionView};
use crate::webhook::{self, CertCache, CertPolicy, SigningCert, WebhookHeaders};
use crate::{amount, PROVIDER};

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "PayPal",
        parameters: vec![
            Parameter::text("client_id", "REST app client id"),
            Parameter::text("client_secret", "REST app secret").secret(),
            Parameter::text(
                "webhook_id",
                "Id of the webhook created for this site in the app (it is part of every signed message)",
            ),
            Parameter::text(
                "merchant_id",
                "The PayPal account's merchant id: payments to anyone else never settle",
            ),
            Parameter::text("api_base", "API base URL (default: PayPal's sandbox or live API, by mode)")
                .kind(ParamKind::Url)
                .optional(),
            Parameter::text("intent", "capture: take the money on approval; authorize: staff or the host captures later")
                .kind(ParamKind::Choice(&["capture", "authorize"]))
                .default_value("capture"),
            Parameter::text(
                "webhook_verification",
                "offline: check the signature with PayPal's certificate; postback: ask PayPal's verify-webhook-signature",
            )
            .kind(ParamKind::Choice(&["offline", "postback"]))
            .default_value("offline"),
            Parameter::text(
                "webhook_trust_pem",
                "Extra root certificates (PEM) for webhook signing certificates",
            )
            .kind(ParamKind::Multiline)
            .optional(),
            Parameter::text(
                "webhook_cert_origins",
                "Extra origins certificates may be fetched from (test instances only: the local sandbox)",
            )
            .optional(),
            Parameter::text("brand_name", "Name shown to the payer at PayPal").optional(),
            Parameter::text("max_network_retries", "Retries of a failed API call (same request id)")
                .kind(ParamKind::Integer)
                .default_value("2"),
        ],
    }
}

pub(crate) fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let id = info.id.clone();
    Ok(Arc::new(
        PayPal::new(info, options).map_err(|e| e.into_core(&id))?,
    ))
}

/// How webhooks are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The certificate's signature, checked here.
    Offline,
    /// PayPal's `verify-webhook-signature`.
    Postback,
}

/// Checked settings of one instance.
#[derive(Clone)]
pub struct Settings {
    /// The app's client id.
    pub client_id: String,
    /// The app's secret.
    pub client_secret: SecretString,
    /// Our webhook's id.
    pub webhook_id: String,
    /// The merchant paid.
    pub merchant_id: String,
    /// API base URL.
    pub api_base: String,
    /// Capture at once or later.
    pub intent: Intent,
    /// How webhooks are verified.
    pub verification: Verification,
    /// Which signing certificates are trusted.
    pub cert_policy: CertPolicy,
    /// Shown to the payer.
    pub experience: Experience,
    /// Retry policy of API calls.
    pub retry: RetryPolicy,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("webhook_id", &self.webhook_id)
            .field("merchant_id", &self.merchant_id)
            .field("api_base", &self.api_base)
            .field("intent", &self.intent)
            .field("verification", &self.verification)
            .field("cert_policy", &self.cert_policy)
            .field("retry", &self.retry)
            .finish()
    }
}

fn cfg(option: &'static str, reason: impl Into<String>) -> PayPalError {
    PayPalError::Config {
        option,
        reason: reason.into(),
    }
}

fn required(options: &Options, name: &'static str) -> Result<String, PayPalError> {
    options
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| cfg(name, "missing"))
}

impl Settings {
    /// Reads and checks the options of an instance in `mode`.
    ///
    /// # Errors
    /// [`PayPalError::Config`] naming the option.
    pub fn from_options(options: &Options, mode: Mode) -> Result<Self, PayPalError> {
        let client_id = required(options, "client_id")?;
        let client_secret = options
            .secret("client_secret")
            .map_err(|_| cfg("client_secret", "missing"))?;
        if client_secret.expose_secret().trim().is_empty() {
            return Err(cfg("client_secret", "empty"));
        }
        let webhook_id = required(options, "webhook_id")?;
        if webhook_id.len() > 50 || webhook_id.contains('|') {
            return Err(cfg(
                "webhook_id",
                "PayPal's webhook ids are at most 50 characters",
            ));
        }
        let merchant_id = required(options, "merchant_id")?;
        let default_base = match mode {
            Mode::Live => LIVE_BASE,
            Mode::Test => SANDBOX_BASE,
        };
        let api_base = options.get("api_base").unwrap_or(default_base).to_string();
        let parsed = url::Url::parse(&api_base).map_err(|e| cfg("api_base", e.to_string()))?;
        if mode == Mode::Live
            && (parsed.scheme() != "https" || bank_core::outbound::is_local_host(&parsed))
        {
            return Err(cfg(
                "api_base",
                "a live instance talks to PayPal over https (the sandbox is for test instances)",
            ));
        }
        if mode == Mode::Live && parsed.host_str().is_some_and(|h| h.contains("sandbox")) {
            return Err(cfg(
                "api_base",
                "a live instance cannot use PayPal's sandbox",
            ));
        }
        let intent = match options.get("intent").unwrap_or("capture") {
            "capture" => Intent::Capture,
            "authorize" => Intent::Authorize,
            other => return Err(cfg("intent", format!("{other:?}: capture or authorize"))),
        };
        let verification = match options.get("webhook_verification").unwrap_or("offline") {
            "offline" => Verification::Offline,
            "postback" => Verification::Postback,
            other => {
                return Err(cfg(
                    "webhook_verification",
                    format!("{other:?}: offline or postback"),
                ))
            }
        };
        let mut cert_policy = CertPolicy::paypal(mode);
        if let Some(pem) = options
            .get("webhook_trust_pem")
            .filter(|p| !p.trim().is_empty())
        {
            cert_policy = cert_policy.with_roots(pem)?;
        }
        if let Some(origins) = options
            .get("webhook_cert_origins")
            .filter(|p| !p.trim().is_empty())
        {
            if mode == Mode::Live {
                return Err(cfg(
                    "webhook_cert_origins",
                    "a live instance takes certificates from PayPal's hosts only",
                ));
            }
            for o in origins.split([' ', ',']).filter(|o| !o.is_empty()) {
                cert_policy = cert_policy.with_origin(o)?;
            }
        }
        let retries = options
            .integer("max_network_retries", 2)
            .map_err(|e| cfg("max_network_retries", e.to_string()))?;
        if !(0..=10).contains(&retries) {
            return Err(cfg("max_network_retries", "between 0 and 10"));
        }
        Ok(Settings {
            client_id,
            client_secret,
            webhook_id,
            merchant_id,
            api_base,
            intent,
            verification,
            cert_policy,
            experience: Experience {
                brand_name: options.get("brand_name").map(str::to_string),
                locale: None,
            },
            retry: RetryPolicy {
                max_retries: retries as u32,
                ..RetryPolicy::default()
            },
        })
    }
}

/// A PayPal instance.
pub struct PayPal {
    info: InstanceInfo,
    settings: Settings,
    client: Client,
    certs: CertCache,
}

impl fmt::Debug for PayPal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPal")
            .field("info", &self.info)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The reply PayPal gets for every authentic event.
pub fn acknowledgement() -> Reply {
    Reply {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"received":true}"#.into(),
    }
}

/// Issues of a capture that end the payment (the payer starts again, with another means
/// or another time).
const FINAL_CAPTURE_ISSUES: [&str; 9] = [
    "INSTRUMENT_DECLINED",
    "TRANSACTION_REFUSED",
    "PAYER_CANNOT_PAY",
    "PAYEE_BLOCKED_TRANSACTION",
    "TRANSACTION_BLOCKED_BY_PAYEE",
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
    "COMPLIANCE_VIOLATION",
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
    "PAYER_ACTION_REQUIRED",
];

/// What payment `pos` of subscription `s` (its payments listed oldest first) means: the
/// first pays the first transaction, each later one is an instalment, told apart by
/// PayPal's list and not by the time of arrival. Deduplicated by sale id.
fn sale_outcome(
    s: &SubscriptionView,
    payments: &[subscription::SalePayment],
    pos: usize,
) -> Verified {
    let p = &payments[pos];
    let mut v = verified(s.custom_id.clone(), Outcome::Nothing);
    v.subscription_id = Some(s.id.clone());
    v.authorisation = Some(p.id.clone());
    v.amount = p.amount;
    v.event_id = Some(format!("sale:{}", p.id));
    v.detail = json!({ "subscription": s.id, "sale": p.id, "status": p.status, "cycle": pos + 1 });
    let completed = matches!(
        p.status.as_str(),
        "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED"
    );
    v.outcome = match (pos, completed) {
        (0, true) => Outcome::Paid,
        (_, true) => Outcome::InstalmentPaid,
        _ => Outcome::Nothing,
    };
    v
}

/// Verified, for `reference`, with the acknowledgement as reply.
fn verified(reference: Option<String>, outcome: Outcome) -> Verified {
    let mut v = Verified::new(reference, outcome);
    v.reply = acknowledgement();
    v
}

impl PayPal {
    /// An instance from its options.
    ///
    /// # Errors
    /// [`PayPalError::Config`].
    pub fn new(info: InstanceInfo, options: &Options) -> Result<Self, PayPalError> {
        let settings = Settings::from_options(options, info.mode)?;
        PayPal::with_settings(info, settings)
    }

    /// An instance from checked settings.
    ///
    /// # Errors
    /// [`PayPalError::Config`] when the HTTP client cannot be built.
    pub fn with_settings(info: InstanceInfo, settings: Settings) -> Result<Self, PayPalError> {
        let client = Client::new(
            &settings.api_base,
            &settings.client_id,
            settings.client_secret.clone(),
            settings.retry,
        )?;
        Ok(PayPal {
            info,
            settings,
            client,
            certs: CertCache::default(),
        })
    }

    /// The API client of this instance.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The checked signing certificates kept.
    pub fn cert_cache(&self) -> &CertCache {
        &self.certs
    }

    fn err(&self, e: PayPalError) -> Error {
        e.into_core(&self.info.id)
    }

    fn refused(&self, message: String) -> Error {
        Error::provider(self.info.id.clone(), ProviderFailure::Refused, message)
    }

    /// Checks a webhook delivery (headers, certificate, signature, or the postback) and
    /// parses its event, without reading anything back from PayPal. Used by `verify`,
    /// by `bank verify` on captured webhooks, by benchmarks and fuzzing.
    ///
    /// # Errors
    /// [`PayPalError`] verification variants; [`PayPalError::CertFetch`] (temporary).
    pub async fn check(&self, n: &Notification, now: i64) -> Result<Event, PayPalError> {
        let h = WebhookHeaders::from_notification(n)?;
        match self.settings.verification {
            Verification::Offline => {
                let cert = match self.certs.get(&h.cert_url, now) {
                    Some(c) => c,
                    None => {
                        // One fetch at a time: deliveries that waited find it cached.
                        let _turn = self.certs.fetch_turn().await;
                        match self.certs.get(&h.cert_url, now) {
                            Some(c) => c,
                            None => self.fetch_certificate(&h.cert_url, now).await?,
                        }
                    }
                };
                webhook::verify_offline(&h, &cert, &self.settings.webhook_id, &n.body, now)?;
            }
            Verification::Postback => {
                // The URL rule holds here too: a delivery naming a foreign certificate is
                // refused before PayPal is asked anything.
                self.settings.cert_policy.check_url(&h.cert_url)?;
                let body = webhook::postback_body(&h, &self.settings.webhook_id, &n.body)?;
                let answer = self
                    .client
                    .post_raw(
                        "verify a webhook signature",
                        "/v1/notifications/verify-webhook-signature",
                        body,
                    )
                    .await?;
                let status = answer
                    .body
                    .get("verification_status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if status != "SUCCESS" {
                    return Err(PayPalError::Postback {
                        status: status.chars().take(40).collect(),
                    });
                }
            }
        }
        Event::parse(&n.body)
    }

    /// Fetches, checks and keeps the certificate at `raw_url`, within the fetch budget.
    async fn fetch_certificate(&self, raw_url: &str, now: i64) -> Result<SigningCert, PayPalError> {
        let url = self.settings.cert_policy.check_url(raw_url)?;
        if !self.certs.admit_fetch(now) {
            return Err(PayPalError::CertFetch {
                url: raw_url.to_string(),
                reason: format!(
                    "more than {} certificate fetches in a minute: retry later",
                    webhook::cert::FETCHES_PER_MINUTE
                ),
            });
        }
        let pem = webhook::cert::fetch(self.client.http(), &url).await?;
        let c = self.settings.cert_policy.check_pem(raw_url, &pem, now)?;
        self.certs.put(raw_url, c.clone());
        Ok(c)
    }

    /// Reads order `id` back (staff, reconciliation).
    ///
    /// # Errors
    /// [`PayPalError::Api`] (404 for an order this app cannot see).
    pub async fn read_order(&self, id: &str) -> Result<OrderView, PayPalError> {
        if !is_paypal_id(id) {
            return Err(PayPalError::Api {
                status: 404,
                name: "RESOURCE_NOT_FOUND".into(),
                issue: Some("INVALID_RESOURCE_ID".into()),
                message: "not a PayPal id".into(),
                debug_id: None,
            });
        }
        let v = self
            .client
            .get("read an order", &format!("/v2/checkout/orders/{id}"))
            .await?;
        OrderView::read(&v)
    }

    /// Reads capture `id` back (staff, reconciliation).
    ///
    /// # Errors
    /// As [`PayPal::read_order`].
    pub async fn read_capture(&self, id: &str) -> Result<PaymentView, PayPalError> {
        let v = self
            .client
            .get("read a capture", &format!("/v2/payments/captures/{id}"))
            .await?;
        PaymentView::read(&v)
    }

    /// Checks that a payment was made to our merchant.
    fn check_payee(&self, payee: Option<&str>, what: &str) -> Result<(), Error> {
        match payee {
            Some(p) if p == self.settings.merchant_id => Ok(()),
            Some(p) => Err(Error::verification(
                &self.info.id,
                format!(
                    "{what} was paid to merchant {}, not to {}: nothing settled",
                    p.chars().take(40).collect::<String>(),
                    self.settings.merchant_id
                ),
            )),
            None => Err(Error::verification(
                &self.info.id,
                format!("{what} does not say whom it was paid to: nothing settled"),
            )),
        }
    }

    /// The outcome of an order read back after approval: captured (or authorised) now
    /// if the payer approved it, else what its payment says. The capture carries a
    /// request id of its own, so the return, the webhook and any retry are one capture;
    /// when its answer is lost the order is read again before deciding.
    async fn settle_order(&self, order_id: &str, installation: &str) -> Result<Verified, Error> {
        let mut o = match self.read_order(order_id).await {
            Ok(o) => o,
            Err(e @ PayPalError::Api { status: 404, .. }) => {
                tracing::info!(instance = %self.info.id, order = %order_id, error = %e, "order unknown to this app: acknowledged, ignored");
                return Ok(verified(None, Outcome::Nothing));
            }
            Err(e) => return Err(self.err(e)),
        };
        self.check_payee(o.payee.as_deref(), &format!("order {}", o.id))?;
        let reference = o.custom_id.clone();
        let ours = reference
            .as_deref()
            .and_then(bank_core::Reference::installation_of)
            .is_some_and(|i| i == installation);
        if o.status == "APPROVED" && !ours {
            // Another site sharing the app (or an order not made by bank): its own
            // server captures it, never this one.
            tracing::info!(instance = %self.info.id, order = %o.id, reference = ?reference, "approved order of another installation: not captured");
            let mut v = verified(reference, Outcome::Nothing);
            v.detail = json!({ "order": o.id, "order_status": o.status });
            return Ok(v);
        }
        if o.status == "APPROVED" {
            let (path, op) = match o.intent.as_deref() {
                Some("AUTHORIZE") => ("authorize", "authorize an order"),
                _ => ("capture", "capture an order"),
            };
            let done = self
                .client
                .post(
                    op,
                    &format!("/v2/checkout/orders/{}/{path}", o.id),
                    &json!({}),
                    &order::capture_request_id(&o.id),
                )
                .await;
            o = match done {
                Ok(answer) => OrderView::read(&answer.body).map_err(|e| self.err(e))?,
                Err(e) if e.issue().is_some_and(|i| FINAL_CAPTURE_ISSUES.contains(&i)) => {
                    let mut v = verified(reference, Outcome::Failed);
                    v.error_code = e.issue().map(str::to_string);
                    v.error_message = Some(format!("PayPal declined the payment: {e}"));
                    v.detail = json!({ "order": o.id });
                    return Ok(v);
                }
                Err(e @ (PayPalError::Unknown { .. } | PayPalError::Api { .. })) => {
                    // Lost answer, already captured, in progress: PayPal's order says.
                    tracing::warn!(instance = %self.info.id, order = %o.id, error = %e, "capture answer unusable: reading the order back");
                    self.read_order(&o.id).await.map_err(|e| self.err(e))?
                }
                Err(e) => return Err(self.err(e)),
            };
        }
        let mut v = verified(reference, Outcome::Nothing);
        v.detail = json!({ "order": o.id, "order_status": o.status });
        let payment = o.captures.first().or(o.authorizations.first());
        match (o.status.as_str(), payment) {
            (_, Some(p)) => {
                self.apply_payment(&mut v, p, !o.captures.is_empty());
                v.detail["payment"] = json!(p.id);
            }
            ("VOIDED", None) => {
                v.outcome = Outcome::Failed;
                v.error_message = Some("PayPal voided the order".into());
            }
            // Not approved yet (or being completed): nothing to say.
            _ => {}
        }
        Ok(v)
    }

    /// Sets `v` from a capture or authorisation read from PayPal.
    fn apply_payment(&self, v: &mut Verified, p: &PaymentView, capture: bool) {
        v.authorisation = Some(p.id.clone());
        v.amount = p.amount;
        v.outcome = match (capture, p.status.as_str()) {
            (true, "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED") => Outcome::Paid,
            (false, "CREATED" | "CAPTURED" | "PARTIALLY_CAPTURED") => Outcome::Paid,
            (_, "PENDING") => Outcome::Waiting,
            (_, "DECLINED" | "FAILED" | "DENIED" | "VOIDED" | "EXPIRED") => Outcome::Failed,
            _ => Outcome::Nothing,
        };
        if matches!(v.outcome, Outcome::Waiting | Outcome::Failed) {
            v.error_code = Some(p.reason.clone().unwrap_or_else(|| p.status.clone()));
            v.error_message = Some(match &p.reason {
                Some(r) => format!("PayPal payment {} ({r})", p.status.to_lowercase()),
                None => format!("PayPal payment {}", p.status.to_lowercase()),
            });
        }
    }

    /// A capture read back, with the order it belongs to when PayPal's capture does not
    /// name its payee. `None` when this app cannot see it.
    async fn capture_and_payee(&self, capture_id: &str) -> Result<Option<PaymentView>, Error> {
        let c = match self.read_capture(capture_id).await {
            Ok(c) => c,
            Err(PayPalError::Api { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        if c.payee.is_some() {
            return Ok(Some(c));
        }
        let payee = match &c.order_id {
            Some(o) => self.read_order(o).await.map_err(|e| self.err(e))?.payee,
            None => None,
        };
        Ok(Some(PaymentView { payee, ..c }))
    }

    async fn on_capture(&self, capture_id: &str) -> Result<Verified, Error> {
        let Some(c) = self.capture_and_payee(capture_id).await? else {
            return Ok(verified(None, Outcome::Nothing));
        };
        self.check_payee(c.payee.as_deref(), &format!("capture {}", c.id))?;
        let mut v = verified(c.custom_id.clone(), Outcome::Nothing);
        self.apply_payment(&mut v, &c, true);
        v.detail = json!({ "capture": c.id, "status": c.status });
        Ok(v)
    }

    async fn on_refund(
        &self,
        refund_id: &str,
        capture_id: Option<String>,
        total: Option<Money>,
    ) -> Result<Verified, Error> {
        let capture_id = match capture_id {
            Some(c) => c,
            None => {
                let r = match self
                    .client
                    .get(
                        "read a refund",
                        &format!("/v2/payments/refunds/{refund_id}"),
                    )
                    .await
                {
                    Ok(r) => r,
                    Err(PayPalError::Api { status: 404, .. }) => {
                        return Ok(verified(None, Outcome::Nothing))
                    }
                    Err(e) => return Err(self.err(e)),
                };
                let e = Event {
                    id: String::new(),
                    event_type: "PAYMENT.CAPTURE.REFUNDED".into(),
                    resource_type: None,
                    resource: r,
                };
                match event::subject(&e).map_err(|e| self.err(e))? {
                    Subject::Refund {
                        capture_id: Some(c),
                        ..
                    } => c,
                    _ => return Ok(verified(None, Outcome::Nothing)),
                }
            }
        };
        let Some(c) = self.capture_and_payee(&capture_id).await? else {
            return Ok(verified(None, Outcome::Nothing));
        };
        self.check_payee(c.payee.as_deref(), &format!("capture {}", c.id))?;
        let total = match (total, c.status.as_str()) {
            (Some(t), _) => Some(t),
            (None, "REFUNDED") => c.amount,
            (None, _) => None,
        };
        let mut v = verified(c.custom_id.clone(), Outcome::Nothing);
        v.detail = json!({ "refund": refund_id, "capture": c.id, "capture_status": c.status });
        match total {
            Some(total) => v.outcome = Outcome::Refunded { total },
            None => {
                tracing::warn!(instance = %self.info.id, refund = %refund_id, "refund event without the total refunded: recorded, nothing changed");
            }
        }
        Ok(v)
    }

    async fn on_late_failure(
        &self,
        capture_id: &str,
        code: String,
        message: String,
    ) -> Result<Verified, Error> {
        let Some(c) = self.capture_and_payee(capture_id).await? else {
            return Ok(verified(None, Outcome::Nothing));
        };
        self.check_payee(c.payee.as_deref(), &format!("capture {}", c.id))?;
        let mut v = verified(c.custom_id.clone(), Outcome::LateFailure);
        v.error_code = Some(code);
        v.error_message = Some(message);
        v.detail = json!({ "capture": c.id, "status": c.status });
        Ok(v)
    }

    async fn read_subscription(&self, id: &str) -> Result<Option<SubscriptionView>, Error> {
        match self
            .client
            .get(
                "read a subscription",
                &format!("/v1/billing/subscriptions/{id}"),
            )
            .await
        {
            Ok(v) => SubscriptionView::read(&v)
                .map(Some)
                .map_err(|e| self.err(e)),
            Err(PayPalError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The payments of subscription `s`, oldest first.
    async fn subscription_payments(
        &self,
        s: &SubscriptionView,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<subscription::SalePayment>, Error> {
        let start = s
            .create_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc) - chrono::Duration::days(1))
            .unwrap_or(now - chrono::Duration::days(3660));
        let end = now.max(start) + chrono::Duration::days(1);
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let list = self
            .client
            .get(
                "list a subscription's payments",
                &format!(
                    "/v1/billing/subscriptions/{}/transactions?start_time={}&end_time={}",
                    s.id,
                    fmt(start),
                    fmt(end)
                ),
            )
            .await
            .map_err(|e| self.err(e))?;
        subscription::payments(&list).map_err(|e| self.err(e))
    }

    /// A payment of a subscription: the first one pays the first transaction, each later
    /// one is an instalment (told apart by PayPal's list, not by the time of arrival).
    async fn on_sale(
        &self,
        sale_id: &str,
        sub_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Verified, Error> {
        let Some(s) = self.read_subscription(sub_id).await? else {
            return Ok(verified(None, Outcome::Nothing));
        };
        let payments = self.subscription_payments(&s, now).await?;
        let Some(pos) = payments.iter().position(|p| p.id == sale_id) else {
            tracing::warn!(instance = %self.info.id, sale = %sale_id, subscription = %s.id, "payment not (yet) listed by PayPal: answering 5xx so that PayPal redelivers");
            return Err(Error::provider(
                self.info.id.clone(),
                ProviderFailure::Unavailable,
                format!("sale {sale_id} is not listed in subscription {} yet", s.id),
            ));
        };
        Ok(sale_outcome(&s, &payments, pos))
    }

    async fn on_subscription(
        &self,
        event_type: &str,
        sub_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Verified, Error> {
        let Some(s) = self.read_subscription(sub_id).await? else {
            return Ok(verified(None, Outcome::Nothing));
        };
        let mut v = verified(s.custom_id.clone(), Outcome::Nothing);
        v.subscription_id = Some(s.id.clone());
        v.detail = json!({ "subscription": s.id, "status": s.status });
        match event_type {
            "BILLING.SUBSCRIPTION.ACTIVATED" => {
                // The first payment, if PayPal has taken it already (else its sale event
                // settles it).
                let payments = self.subscription_payments(&s, now).await?;
                if !payments.is_empty() {
                    return Ok(sale_outcome(&s, &payments, 0));
                }
            }
            "BILLING.SUBSCRIPTION.PAYMENT.FAILED" => {
                v.outcome = Outcome::InstalmentFailed;
                v.error_code = Some("PAYMENT_FAILED".into());
                v.error_message = Some("PayPal could not take a subscription payment".into());
            }
            "BILLING.SUBSCRIPTION.SUSPENDED"
            | "BILLING.SUBSCRIPTION.CANCELLED"
            | "BILLING.SUBSCRIPTION.EXPIRED"
                if matches!(s.status.as_str(), "SUSPENDED" | "CANCELLED" | "EXPIRED") =>
            {
                v.outcome = Outcome::SubscriptionEnded;
            }
            _ => {}
        }
        Ok(v)
    }

    /// The capture to refund for `tx`: its authorisation when it is a capture, else the
    /// capture of the authorisation it names.
    async fn capture_of(&self, tx: &Transaction) -> Result<String, Error> {
        let auth = tx
            .authorisation
            .clone()
            .filter(|a| is_paypal_id(a))
            .ok_or_else(|| {
                self.refused(format!("{} has no PayPal payment to refund", tx.reference))
            })?;
        match self.read_capture(&auth).await {
            Ok(c) => return Ok(c.id),
            Err(PayPalError::Api { status: 404, .. }) => {}
            Err(e) => return Err(self.err(e)),
        }
        let a = self
            .client
            .get(
                "read an authorization",
                &format!("/v2/payments/authorizations/{auth}"),
            )
            .await
            .map_err(|e| self.err(e))?;
        let order = PaymentView::read(&a)
            .map_err(|e| self.err(e))?
            .order_id
            .ok_or_else(|| self.refused(format!("authorization {auth} names no order")))?;
        let o = self.read_order(&order).await.map_err(|e| self.err(e))?;
        o.captures
            .first()
            .map(|c| c.id.clone())
            .ok_or_else(|| self.refused(format!("authorization {auth} was never captured")))
    }

    fn authorization_of(&self, tx: &Transaction) -> Result<String, Error> {
        tx.authorisation
            .clone()
            .filter(|a| is_paypal_id(a))
            .ok_or_else(|| self.refused(format!("{} has no PayPal authorization", tx.reference)))
    }

    async fn subscribe(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let e = ctx.echeance.as_ref().ok_or_else(|| {
            self.err(cfg(
                "intent",
                format!(
                    "transaction {} is recurring but decrire_echeance gave no schedule",
                    tx.reference
                ),
            ))
        })?;
        let id_of = |v: &Value, what: &'static str| {
            v.get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    self.err(PayPalError::Incomplete {
                        operation: "create a subscription",
                        missing: what,
                    })
                })
        };
        let product = self
            .client
            .post(
                "create a product",
                "/v1/catalogs/products",
                &subscription::product_body(tx),
                &subscription::request_id("product", &tx.reference),
            )
            .await
            .map_err(|e| self.err(e))?;
        let product_id = id_of(&product.body, "product id")?;
        let plan_body = subscription::plan_body(&product_id, tx, e).map_err(|e| self.err(e))?;
        let plan = self
            .client
            .post(
                "create a plan",
                "/v1/billing/plans",
                &plan_body,
                &subscription::request_id("plan", &tx.reference),
            )
            .await
            .map_err(|e| self.err(e))?;
        let plan_id = id_of(&plan.body, "plan id")?;
        let sub = self
            .client
            .post(
                "create a subscription",
                "/v1/billing/subscriptions",
                &subscription::subscription_body(
                    &plan_id,
                    tx,
                    ctx,
                    self.settings.experience.brand_name.as_deref(),
                ),
                &subscription::request_id("subscription", &tx.reference),
            )
            .await
            .map_err(|e| self.err(e))?;
        let url = order::payer_link(&sub.body).ok_or_else(|| {
            self.err(PayPalError::Incomplete {
                operation: "create a subscription",
                missing: "approve link",
            })
        })?;
        tracing::info!(instance = %self.info.id, reference = %tx.reference, subscription = ?sub.body.get("id"), "PayPal subscription ready for approval");
        Ok(PaymentRequest::Redirect { url })
    }

    /// The payer's return: `token` names the order (or `subscription_id` the
    /// subscription). The query proves nothing; what PayPal says of that order decides,
    /// and a PayPal that cannot be reached leaves the webhook to settle.
    async fn browser_return(&self, n: &Notification, ctx: &VerifyContext) -> Verified {
        let q: Vec<(String, String)> = url::form_urlencoded::parse(n.query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let reference = get("ref");
        let attempt = if let Some(sub) = get("subscription_id").filter(|s| is_paypal_id(s)) {
            self.on_subscription("BILLING.SUBSCRIPTION.ACTIVATED", &sub, ctx.now)
                .await
        } else if let Some(order) = get("token").filter(|s| is_paypal_id(s)) {
            self.settle_order(&order, &ctx.installation).await
        } else {
            Ok(verified(reference.clone(), Outcome::Nothing))
        };
        match attempt {
            Ok(mut v) => {
                if v.reference.is_none() {
                    v.reference = reference.clone();
                }
                if v.reference != reference && v.outcome != Outcome::Nothing {
                    tracing::warn!(instance = %self.info.id, returned = ?reference, paid = ?v.reference, "the payer came back with another transaction's PayPal payment");
                }
                v
            }
            Err(e) => {
                tracing::warn!(instance = %self.info.id, error = %e, "payer's return not settled here: the webhook will");
                verified(reference, Outcome::Nothing)
            }
        }
    }
}

#[async_trait]
impl Acquirer for PayPal {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        c.refund = RefundSupport::Partial;
        c.capture = self.settings.intent == Intent::Authorize;
        c.cancel = self.settings.intent == Intent::Authorize;
        c.recurring = true;
        c.currencies = amount::supported();
        c.min_minor = 1;
        // An order is created at PayPal: only when the payer chooses PayPal.
        c.request_on_choice = true;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        if tx.recurring {
            return self.subscribe(tx, ctx).await;
        }
        let req = order::build(tx, ctx, self.settings.intent, &self.settings.experience)
            .map_err(|e| self.err(e))?;
        let created = self
            .client
            .post(
                "create an order",
                "/v2/checkout/orders",
                &req.body,
                &req.request_id,
            )
            .await
            .map_err(|e| self.err(e))?;
        let url = order::payer_link(&created.body).ok_or_else(|| {
            self.err(PayPalError::Incomplete {
                operation: "create an order",
                missing: "payer-action link",
            })
        })?;
        tracing::info!(instance = %self.info.id, reference = %tx.reference, order = ?created.body.get("id"), replayed = created.status == 200, "PayPal order ready for approval");
        Ok(PaymentRequest::Redirect { url })
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        if n.channel == Channel::Browser {
            return Ok(self.browser_return(n, ctx).await);
        }
        let e = self
            .check(n, ctx.now.timestamp())
            .await
            .map_err(|e| self.err(e))?;
        let subject = match event::subject(&e) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(instance = %self.info.id, event = %e.id, error = %err, "event with an amount we cannot hold: acknowledged, ignored");
                Subject::Ignored
            }
        };
        let mut v = match subject {
            Subject::Order { order_id } if e.event_type == "CHECKOUT.PAYMENT-APPROVAL.REVERSED" => {
                match self.read_order(&order_id).await {
                    Ok(o) if o.captures.is_empty() && o.authorizations.is_empty() => {
                        let mut v = verified(o.custom_id.clone(), Outcome::Failed);
                        v.error_code = Some("APPROVAL_REVERSED".into());
                        v.error_message =
                            Some("PayPal reversed the payer's approval before capture".into());
                        v
                    }
                    Ok(_) | Err(PayPalError::Api { status: 404, .. }) => {
                        verified(None, Outcome::Nothing)
                    }
                    Err(err) => return Err(self.err(err)),
                }
            }
            Subject::Order { order_id } => self.settle_order(&order_id, &ctx.installation).await?,
            Subject::Capture { capture_id } => self.on_capture(&capture_id).await?,
            Subject::Refund {
                refund_id,
                capture_id,
                total_refunded,
            } => {
                self.on_refund(&refund_id, capture_id, total_refunded)
                    .await?
            }
            Subject::Reversal { capture_id } => {
                self.on_late_failure(
                    &capture_id,
                    "REVERSED".into(),
                    "PayPal reversed the payment (chargeback)".into(),
                )
                .await?
            }
            Subject::Dispute {
                dispute_id,
                capture_id: Some(capture_id),
                reason,
            } => {
                self.on_late_failure(
                    &capture_id,
                    format!("dispute:{}", reason.as_deref().unwrap_or("OTHER")),
                    format!("the payer opened dispute {dispute_id} at PayPal"),
                )
                .await?
            }
            Subject::Sale {
                sale_id,
                subscription_id,
            } => self.on_sale(&sale_id, &subscription_id, ctx.now).await?,
            Subject::Subscription { subscription_id } => {
                self.on_subscription(&e.event_type, &subscription_id, ctx.now)
                    .await?
            }
            _ => verified(None, Outcome::Nothing),
        };
        if v.event_id.is_none() {
            v.event_id = Some(e.id.clone());
        }
        let fetched = std::mem::take(&mut v.detail);
        v.detail = json!({ "event": e.id, "type": e.event_type, "fetched": fetched });
        Ok(v)
    }

    fn rejection_reply(&self, _error: &Error) -> Reply {
        Reply::text(400, "webhook rejected")
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let capture = self.capture_of(tx).await?;
        let body = json!({
            "amount": amount::money_json(amount).map_err(|e| self.err(e))?,
            "custom_id": tx.reference,
        });
        let request_id: String = format!("bank-refund-{key}").chars().take(108).collect();
        let r = self
            .client
            .post(
                "refund",
                &format!("/v2/payments/captures/{capture}/refund"),
                &body,
                &request_id,
            )
            .await
            .map_err(|e| self.err(e))?;
        let status = r.body.get("status").and_then(Value::as_str).unwrap_or("");
        if matches!(status, "FAILED" | "CANCELLED") {
            return Err(self
                .refused(format!("PayPal refused the refund ({status})"))
                .with_code(status.to_string()));
        }
        tracing::info!(instance = %self.info.id, reference = %tx.reference, refund = ?r.body.get("id"), status, "refund sent");
        Ok(OperationResult {
            provider_reference: r.body.get("id").and_then(Value::as_str).map(str::to_string),
            manual: false,
        })
    }

    async fn capture(
        &self,
        tx: &Transaction,
        amount: Money,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let auth = self.authorization_of(tx)?;
        let body = json!({
            "amount": amount::money_json(amount).map_err(|e| self.err(e))?,
            "final_capture": true,
            "custom_id": tx.reference,
        });
        let r = self
            .client
            .post(
                "capture an authorization",
                &format!("/v2/payments/authorizations/{auth}/capture"),
                &body,
                &format!("bank-capture-{auth}-{}", amount.minor()),
            )
            .await
            .map_err(|e| self.err(e))?;
        let c = PaymentView::read(&r.body).map_err(|e| self.err(e))?;
        if matches!(c.status.as_str(), "DECLINED" | "FAILED") {
            return Err(self.refused(format!("PayPal declined the capture ({})", c.status)));
        }
        Ok(OperationResult {
            provider_reference: Some(c.id),
            manual: false,
        })
    }

    async fn cancel(
        &self,
        tx: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let auth = self.authorization_of(tx)?;
        self.client
            .post(
                "void an authorization",
                &format!("/v2/payments/authorizations/{auth}/void"),
                &json!({}),
                &format!("bank-void-{auth}"),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: Some(auth),
            manual: false,
        })
    }

    async fn cancel_subscription(
        &self,
        first: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let sub = first
            .subscription_id
            .clone()
            .filter(|s| is_paypal_id(s))
            .ok_or_else(|| {
                self.refused(format!("{} has no PayPal subscription", first.reference))
            })?;
        match self
            .client
            .post(
                "cancel a subscription",
                &format!("/v1/billing/subscriptions/{sub}/cancel"),
                &json!({ "reason": format!("Cancelled by the merchant ({})", first.reference) }),
                &format!("bank-cancel-{sub}"),
            )
            .await
        {
            Ok(_) => {}
            // Already cancelled: what was asked holds.
            Err(e) if e.issue() == Some("SUBSCRIPTION_STATUS_INVALID") => {}
            Err(e) => return Err(self.err(e)),
        }
        Ok(OperationResult {
            provider_reference: Some(sub),
            manual: false,
        })
    }
}
