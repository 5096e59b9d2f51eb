//! The `stripe` provider: one instance per Stripe account and mode.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bank_core::{
    async_trait, Acquirer, Capabilities, Channel, Error, InstanceInfo, Mode, Money, Notification,
    OperationResult, Options, Outcome, ParamKind, Parameter, PaymentContext, PaymentRequest,
    ProviderDescription, RefundSupport, Reply, Transaction, Verified, VerifyContext,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::checkout::{self, META_REFERENCE};
use crate::client::{Client, RetryPolicy, API_BASE, API_VERSION};
use crate::error::StripeError;
use crate::event::{self, Event};
use crate::form::FormBody;
use crate::signature::{WebhookSecrets, DEFAULT_TOLERANCE};
use crate::{amount, PROVIDER};

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Card payment (Stripe)",
        parameters: vec![
            Parameter::text("secret_key", "Secret API key (sk_test_… or sk_live_…, or a restricted rk_… key)").secret(),
            Parameter::text(
                "webhook_secrets",
                "Webhook signing secrets (whsec_…), separated by spaces or commas during a rotation",
            )
            .secret(),
            Parameter::text("api_base", "API base URL")
                .kind(ParamKind::Url)
                .default_value(API_BASE),
            Parameter::text("api_version", "Pinned Stripe API version").default_value(API_VERSION),
            Parameter::text("tolerance_seconds", "Largest age of a webhook signature, seconds (0: no check)")
                .kind(ParamKind::Integer)
                .default_value("300"),
            Parameter::text(
                "confirm_events",
                "Read each event's object back from the API before acting on it",
            )
            .kind(ParamKind::Bool)
            .default_value("false"),
            Parameter::text("max_network_retries", "Retries of a failed API call (same idempotency key)")
                .kind(ParamKind::Integer)
                .default_value("2"),
            Parameter::text(
                "webhook_api_timeout_seconds",
                "Longest time the API calls made while handling one webhook may take together, seconds (then Stripe is answered 5xx and redelivers)",
            )
            .kind(ParamKind::Integer)
            .default_value("10"),
        ],
    }
}

pub(crate) fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let id = info.id.clone();
    Ok(Arc::new(
        Stripe::new(info, options).map_err(|e| e.into_core(&id))?,
    ))
}

/// Checked settings of one instance.
#[derive(Clone)]
pub struct Settings {
    /// The secret API key.
    pub secret_key: SecretString,
    /// The webhook signing secrets.
    pub webhook_secrets: WebhookSecrets,
    /// API base URL.
    pub api_base: String,
    /// Pinned API version.
    pub api_version: String,
    /// Largest signature age, seconds (0: no check).
    pub tolerance_seconds: i64,
    /// Read objects back before acting.
    pub confirm_events: bool,
    /// Retry policy of API calls.
    pub retry: RetryPolicy,
    /// Overall deadline of the API calls made while handling one webhook (confirmation,
    /// look-up of the payment of a dispute or refund), retries included.
    pub webhook_api_timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("secret_key", &"[REDACTED]")
            .field("webhook_secrets", &self.webhook_secrets)
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("confirm_events", &self.confirm_events)
            .field("retry", &self.retry)
            .field("webhook_api_timeout", &self.webhook_api_timeout)
            .finish()
    }
}

/// Default of `webhook_api_timeout_seconds`: well under the time Stripe waits for a
/// webhook's answer, so that a slow API makes us answer 5xx (and Stripe redeliver) rather
/// than leave Stripe to time out.
pub const DEFAULT_WEBHOOK_API_TIMEOUT: u64 = 10;

fn cfg(option: &'static str, reason: impl Into<String>) -> StripeError {
    StripeError::Config {
        option,
        reason: reason.into(),
    }
}

impl Settings {
    /// Reads and checks the options of an instance in `mode`.
    ///
    /// A live key in a test instance, or a test key in a live instance, is refused: a
    /// development copy must never act on the production account's money, and production
    /// must never take test payments for real orders.
    ///
    /// # Errors
    /// [`StripeError::Config`] naming the option.
    pub fn from_options(options: &Options, mode: Mode) -> Result<Self, StripeError> {
        let secret_key = options
            .secret("secret_key")
            .map_err(|_| cfg("secret_key", "missing"))?;
        let key = secret_key.expose_secret();
        let live_key = key.starts_with("sk_live_") || key.starts_with("rk_live_");
        let test_key = key.starts_with("sk_test_") || key.starts_with("rk_test_");
        match mode {
            Mode::Test if live_key => {
                return Err(cfg(
                    "secret_key",
                    "a live key (sk_live_…) in a test instance: use the test key (sk_test_…), or set mode = \"live\"",
                ))
            }
            Mode::Live if !live_key => {
                return Err(cfg(
                    "secret_key",
                    "a live instance needs a live key (sk_live_… or rk_live_…)",
                ))
            }
            Mode::Test if !test_key => {
                return Err(cfg(
                    "secret_key",
                    "not a Stripe secret key (expected sk_test_… or rk_test_…)",
                ))
            }
            _ => {}
        }
        let raw = options
            .secret("webhook_secrets")
            .map_err(|_| cfg("webhook_secrets", "missing"))?;
        let webhook_secrets = WebhookSecrets::parse(raw.expose_secret())?;
        if raw
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|s| !s.is_empty() && !s.starts_with("whsec_"))
        {
            return Err(cfg(
                "webhook_secrets",
                "each webhook signing secret starts with whsec_ (the endpoint's secret, not an API key)",
            ));
        }
        let api_base = options.get("api_base").unwrap_or(API_BASE).to_string();
        let parsed = url::Url::parse(&api_base).map_err(|e| cfg("api_base", e.to_string()))?;
        if mode == Mode::Live && parsed.scheme() != "https" {
            return Err(cfg(
                "api_base",
                "a live instance talks to Stripe over https only",
            ));
        }
        if mode == Mode::Live && bank_core::outbound::is_local_host(&parsed) {
            return Err(cfg(
                "api_base",
                "a live instance talks to Stripe, not to a server on this machine (the sandbox is for test instances)",
            ));
        }
        let int = |name: &'static str, default: i64| {
            options
                .integer(name, default)
                .map_err(|e| cfg(name, e.to_string()))
        };
        let tolerance_seconds = int("tolerance_seconds", DEFAULT_TOLERANCE)?;
        if mode == Mode::Live && tolerance_seconds <= 0 {
            return Err(cfg(
                "tolerance_seconds",
                "a live instance checks the age of webhook signatures (0 would accept a captured webhook replayed at any time); Stripe's libraries use 300",
            ));
        }
        let retries = int("max_network_retries", 2)?;
        if !(0..=10).contains(&retries) {
            return Err(cfg("max_network_retries", "between 0 and 10"));
        }
        let webhook_api_timeout = int(
            "webhook_api_timeout_seconds",
            DEFAULT_WEBHOOK_API_TIMEOUT as i64,
        )?;
        if !(1..=60).contains(&webhook_api_timeout) {
            return Err(cfg(
                "webhook_api_timeout_seconds",
                "between 1 and 60 (Stripe stops waiting for a webhook's answer long before a minute)",
            ));
        }
        Ok(Settings {
            secret_key,
            webhook_secrets,
            api_base,
            api_version: options
                .get("api_version")
                .unwrap_or(API_VERSION)
                .to_string(),
            tolerance_seconds,
            confirm_events: options
                .boolean("confirm_events", false)
                .map_err(|e| cfg("confirm_events", e.to_string()))?,
            retry: RetryPolicy {
                max_retries: retries as u32,
                ..RetryPolicy::default()
            },
            webhook_api_timeout: Duration::from_secs(webhook_api_timeout as u64),
        })
    }
}

/// A Stripe instance.
pub struct Stripe {
    info: InstanceInfo,
    settings: Settings,
    client: Client,
}

impl fmt::Debug for Stripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripe")
            .field("info", &self.info)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The reply Stripe gets for every authentic event.
pub fn acknowledgement() -> Reply {
    Reply {
        status: 200,
        content_type: "application/json".into(),
        body: r#"{"received":true}"#.into(),
    }
}

impl Stripe {
    /// An instance from its options.
    ///
    /// # Errors
    /// [`StripeError::Config`].
    pub fn new(info: InstanceInfo, options: &Options) -> Result<Self, StripeError> {
        let settings = Settings::from_options(options, info.mode)?;
        Stripe::with_settings(info, settings)
    }

    /// An instance from checked settings (tests change the retry policy here).
    ///
    /// # Errors
    /// [`StripeError::Config`] when the HTTP client cannot be built.
    pub fn with_settings(info: InstanceInfo, settings: Settings) -> Result<Self, StripeError> {
        let client = Client::new(
            &settings.api_base,
            settings.secret_key.clone(),
            &settings.api_version,
            settings.retry,
        )?;
        Ok(Stripe {
            info,
            settings,
            client,
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

    fn err(&self, e: StripeError) -> Error {
        e.into_core(&self.info.id)
    }

    /// Checks a webhook delivery and decodes it, without the API look-ups of
    /// [`Acquirer::verify`] (no dispute reference resolution, no confirmation). Used by
    /// `verify`, by `bank verify` on captured webhooks, by benchmarks and fuzzing.
    ///
    /// # Errors
    /// [`StripeError`] verification variants.
    pub fn check(&self, n: &Notification, now: i64) -> Result<Event, StripeError> {
        let header = n
            .header("stripe-signature")
            .ok_or(StripeError::MissingSignature)?;
        self.settings.webhook_secrets.verify(
            header,
            &n.body,
            now,
            self.settings.tolerance_seconds,
        )?;
        Event::parse(&n.body)
    }

    /// `call` bounded by `deadline`: past it, [`StripeError::Deadline`] (the call is
    /// dropped, its connection closed).
    async fn within<T>(
        &self,
        deadline: tokio::time::Instant,
        operation: &'static str,
        call: impl Future<Output = Result<T, StripeError>>,
    ) -> Result<T, StripeError> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(r) => r,
            Err(_) => {
                let seconds = self.settings.webhook_api_timeout.as_secs();
                tracing::warn!(instance = %self.info.id, operation, seconds, "Stripe API too slow while handling a webhook: answering 5xx so that Stripe redelivers");
                Err(StripeError::Deadline { operation, seconds })
            }
        }
    }

    /// Replaces the event's object by the one Stripe holds now.
    async fn confirm(&self, e: &mut Event, deadline: tokio::time::Instant) -> Result<(), Error> {
        let Some(id) = e.object_id().map(str::to_string) else {
            return Ok(());
        };
        let collection = match e.object_kind() {
            Some("checkout.session") => "checkout/sessions",
            Some("payment_intent") => "payment_intents",
            Some("charge") => "charges",
            Some("dispute") => "disputes",
            Some("invoice") => "invoices",
            Some("subscription") => "subscriptions",
            _ => return Ok(()),
        };
        let path = format!("/v1/{collection}/{id}");
        match self
            .within(
                deadline,
                "confirm event",
                self.client.get("confirm event", &path),
            )
            .await
        {
            Ok(fresh) => {
                e.data.object = fresh;
                Ok(())
            }
            Err(StripeError::Api { status: 404, .. }) => Err(Error::verification(
                &self.info.id,
                format!(
                    "event {} names {id}, which this Stripe account does not have",
                    e.id
                ),
            )),
            Err(other) => Err(self.err(other)),
        }
    }

    /// Reference and installation from a PaymentIntent's metadata.
    async fn lookup(
        &self,
        pi: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let path = format!("/v1/payment_intents/{pi}");
        match self
            .within(
                deadline,
                "find the payment",
                self.client.get("find the payment", &path),
            )
            .await
        {
            Ok(v) => Ok(event::from_metadata(v.get("metadata"))),
            Err(StripeError::Api { status: 404, .. }) => Ok((None, None)),
            Err(e) => Err(self.err(e)),
        }
    }

    /// What paid invoice `id`: the invoice is read with its payments, which Stripe returns
    /// only when asked (`expand[]=payments`) since the 2025 "basil" versions.
    async fn invoice_payment(&self, id: &str) -> Result<Option<(&'static str, String)>, Error> {
        let inv = self
            .client
            .get(
                "find the payment",
                &format!("/v1/invoices/{id}?expand%5B0%5D=payments"),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(event::invoice_payment(&inv))
    }

    /// The object to refund for a transaction's authorisation, as the refund parameter
    /// naming it (`payment_intent` or `charge`).
    async fn payment_intent_of(&self, tx: &Transaction) -> Result<(&'static str, String), Error> {
        let refusal = |message: String| {
            Error::provider(
                self.info.id.clone(),
                bank_core::ProviderFailure::Refused,
                message,
            )
        };
        let auth = tx
            .authorisation
            .clone()
            .ok_or_else(|| refusal(format!("{} has no Stripe payment to refund", tx.reference)))?;
        let found = if auth.starts_with("pi_") {
            Some(("payment_intent", auth.clone()))
        } else if auth.starts_with("ch_") {
            Some(("charge", auth.clone()))
        } else if auth.starts_with("in_") {
            self.invoice_payment(&auth).await?
        } else if auth.starts_with("cs_") {
            let cs = self
                .client
                .get("find the payment", &format!("/v1/checkout/sessions/{auth}"))
                .await
                .map_err(|e| self.err(e))?;
            match (
                event::id_of(cs.get("payment_intent")),
                event::id_of(cs.get("invoice")),
            ) {
                (Some(pi), _) => Some(("payment_intent", pi)),
                // A subscription's session: paid through its first invoice.
                (None, Some(inv)) => self.invoice_payment(&inv).await?,
                (None, None) => None,
            }
        } else {
            None
        };
        found.ok_or_else(|| refusal(format!("no Stripe payment found for {auth}")))
    }
}

#[async_trait]
impl Acquirer for Stripe {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        c.refund = RefundSupport::Partial;
        c.recurring = true;
        c.currencies = amount::supported();
        // Stripe's lowest minimum charge (0.50 in EUR and USD, 50 in JPY) and the eight
        // digits of `unit_amount`; a currency with a higher minimum gets Stripe's error.
        c.min_minor = 50;
        c.max_minor = 99_999_999;
        // A Checkout Session is created at Stripe: only when the payer chooses Stripe.
        c.request_on_choice = true;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let req = checkout::build(tx, ctx, &self.info.id).map_err(|e| self.err(e))?;
        let session = self
            .client
            .post(
                "create a Checkout Session",
                "/v1/checkout/sessions",
                &req.body,
                &req.idempotency_key,
            )
            .await
            .map_err(|e| self.err(e))?;
        let url = session.get("url").and_then(Value::as_str).ok_or_else(|| {
            Error::provider(
                self.info.id.clone(),
                bank_core::ProviderFailure::OutcomeUnknown,
                "the Checkout Session has no url",
            )
        })?;
        tracing::info!(instance = %self.info.id, reference = %tx.reference, session = ?session.get("id"), "Checkout Session ready");
        Ok(PaymentRequest::Redirect {
            url: url.to_string(),
        })
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        if n.channel == Channel::Browser {
            // The payer's return is not signed: the page follows the stored status and the
            // webhook decides.
            let mut v = Verified::new(
                n.field("ref").or_else(|| {
                    url::form_urlencoded::parse(n.query.as_bytes())
                        .find(|(k, _)| k == "ref")
                        .map(|(_, v)| v.into_owned())
                }),
                Outcome::Nothing,
            );
            v.reply = acknowledgement();
            return Ok(v);
        }
        let mut e = self
            .check(n, ctx.now.timestamp())
            .map_err(|e| self.err(e))?;
        let mut v = Verified::new(None, Outcome::Nothing);
        v.reply = acknowledgement();
        v.event_id = Some(e.id.clone());
        v.detail = json!({
            "event": e.id,
            "type": e.kind,
            "object": e.object_id(),
            "livemode": e.livemode,
        });
        let live = self.info.mode == Mode::Live;
        if e.livemode != live {
            // Authentic but of the other mode (test events on a live endpoint): never
            // settles anything, never makes Stripe retry.
            tracing::warn!(instance = %self.info.id, event = %e.id, livemode = e.livemode, "event of the other mode: acknowledged, ignored");
            return Ok(v);
        }
        // Every API call below shares one deadline: Stripe waits only so long for our
        // answer, and a 5xx before it makes Stripe redeliver (the event id deduplicates).
        let deadline = tokio::time::Instant::now() + self.settings.webhook_api_timeout;
        if self.settings.confirm_events {
            self.confirm(&mut e, deadline).await?;
        }
        let d = match event::decode(&e) {
            Ok(d) => d,
            Err(err) => {
                tracing::warn!(instance = %self.info.id, event = %e.id, error = %err, "event with an amount we cannot hold: acknowledged, ignored");
                return Ok(v);
            }
        };
        let (mut reference, mut installation) = (d.reference, d.installation);
        if let (None, Some(pi)) = (&reference, &d.lookup_payment_intent) {
            (reference, installation) = self.lookup(pi, deadline).await?;
        }
        if let Some(i) = &installation {
            if *i != ctx.installation {
                tracing::info!(instance = %self.info.id, event = %e.id, installation = %i, "event of another installation sharing the account");
            }
        }
        v.reference = reference;
        v.installation = installation;
        v.outcome = d.outcome;
        v.amount = d.amount;
        v.authorisation = d.authorisation;
        v.subscription_id = d.subscription_id;
        v.error_code = d.error_code;
        v.error_message = d.error_message;
        Ok(v)
    }

    fn rejection_reply(&self, error: &Error) -> Reply {
        let _ = error;
        Reply::text(400, "webhook rejected")
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<OperationResult, Error> {
        let (field, id) = self.payment_intent_of(tx).await?;
        let mut b = FormBody::new();
        b.push(field, id.as_str());
        b.push(
            "amount",
            amount::to_stripe(amount)
                .map_err(|e| self.err(e))?
                .to_string(),
        );
        b.push(format!("metadata[{META_REFERENCE}]"), tx.reference.as_str());
        let refund = self
            .client
            .post("refund", "/v1/refunds", &b, key)
            .await
            .map_err(|e| self.err(e))?;
        let status = refund.get("status").and_then(Value::as_str);
        if matches!(status, Some("failed" | "canceled")) {
            let mut e = Error::provider(
                self.info.id.clone(),
                bank_core::ProviderFailure::Refused,
                format!("Stripe refused the refund ({})", status.unwrap_or("")),
            );
            if let Some(reason) = refund.get("failure_reason").and_then(Value::as_str) {
                e = e.with_code(reason);
            }
            return Err(e);
        }
        tracing::info!(instance = %self.info.id, reference = %tx.reference, refund = ?refund.get("id"), status = ?status, "refund sent");
        Ok(OperationResult {
            provider_reference: event::id_of(refund.get("id")),
            manual: false,
        })
    }

    async fn cancel_subscription(
        &self,
        first: &Transaction,
        _ctx: &bank_core::OperationContext,
    ) -> Result<OperationResult, Error> {
        let sub = first.subscription_id.clone().ok_or_else(|| {
            Error::provider(
                self.info.id.clone(),
                bank_core::ProviderFailure::Refused,
                format!("{} has no Stripe subscription", first.reference),
            )
        })?;
        let done = self
            .client
            .delete(
                "cancel the subscription",
                &format!("/v1/subscriptions/{sub}"),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: event::id_of(done.get("id")),
            manual: false,
        })
    }
}
