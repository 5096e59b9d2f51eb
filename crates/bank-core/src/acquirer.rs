//! The `Acquirer` trait: what every payment provider implements.
//!
//! An acquirer is one configured *instance* of a provider (two Stripe accounts are two
//! acquirers). It describes itself, declares its capabilities, builds the payment request
//! of a transaction, and verifies notifications into an [`Outcome`] plus the exact [`Reply`]
//! the provider expects. It never touches the store: the engine does, so the rules of the
//! notification path (verify, find, check amount, compare-and-set, outbox) hold for all.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hooks::Echeance;
use crate::money::{Currency, Money};
use crate::signer::FormSigner;
use crate::transaction::{Billing, Transaction};

/// Test or live: a test instance talks to the provider's test environment or sandbox.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Test environment or local sandbox.
    #[default]
    Test,
    /// Real money.
    Live,
}

impl Mode {
    /// "test" or "live".
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

/// How much of a payment an acquirer can refund.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundSupport {
    /// No refund.
    None,
    /// Only the whole amount.
    Full,
    /// Any part of the amount, several times.
    Partial,
}

/// What an acquirer can do. The engine, the payment page and the conformance suite read
/// these flags instead of probing for `Unsupported` errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The payer pays on the provider's hosted page (redirect or auto-submitted form).
    pub hosted_payment: bool,
    /// Offline means (cheque, transfer): the transaction waits in `attente` until staff
    /// marks it received.
    pub offline: bool,
    /// Only zero amounts (the `gratuit` provider).
    pub zero_amount_only: bool,
    /// A counter card terminal.
    pub terminal: bool,
    /// Server-to-server notifications (IPN, webhook).
    pub server_notifications: bool,
    /// Refunds.
    pub refund: RefundSupport,
    /// Capture of an authorisation.
    pub capture: bool,
    /// Cancellation of an authorisation.
    pub cancel: bool,
    /// Recurring payments (subscriptions).
    pub recurring: bool,
    /// A development simulation: refuses to run in live mode.
    pub simulation: bool,
    /// Accepted currencies.
    pub currencies: Vec<Currency>,
    /// Building the payment request calls the provider (Stripe creates a Checkout
    /// Session): the payment page shows a button and the request is built when the payer
    /// presses it ([`crate::Engine::chosen_request`]), never on a page view.
    #[serde(default)]
    pub request_on_choice: bool,
    /// Smallest amount taken, in minor units of the transaction's currency (Stripe refuses
    /// charges under its minimum; zero is for `zero_amount_only` providers).
    #[serde(default)]
    pub min_minor: i64,
    /// Largest amount taken, minor units (Paybox's `PBX_TOTAL` has 10 digits, Stripe's
    /// `unit_amount` 8). Providers without a limit of their own keep
    /// [`Capabilities::DEFAULT_MAX_MINOR`].
    #[serde(default = "default_max_minor")]
    pub max_minor: i64,
}

fn default_max_minor() -> i64 {
    Capabilities::DEFAULT_MAX_MINOR
}

impl Capabilities {
    /// Nothing but EUR; callers set what they support.
    pub fn new() -> Self {
        Capabilities {
            hosted_payment: false,
            offline: false,
            zero_amount_only: false,
            terminal: false,
            server_notifications: false,
            refund: RefundSupport::None,
            capture: false,
            cancel: false,
            recurring: false,
            simulation: false,
            currencies: vec![Currency::EUR],
            request_on_choice: false,
            min_minor: 0,
            max_minor: Self::DEFAULT_MAX_MINOR,
        }
    }

    /// The ceiling of a provider without a limit of its own: a billion units of a
    /// two-decimal currency. A larger amount is a typing mistake, not a payment.
    pub const DEFAULT_MAX_MINOR: i64 = 99_999_999_999;

    /// True when the acquirer can take a payment of `amount`: its currency, its range, and
    /// zero only for providers of zero amounts.
    pub fn accepts(&self, amount: Money) -> bool {
        self.currencies.contains(&amount.currency())
            && (amount.is_zero() == self.zero_amount_only)
            && (self.min_minor..=self.max_minor).contains(&amount.minor())
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::new()
    }
}

/// The type of a configuration parameter.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Free text on one line.
    Text,
    /// Free text on several lines (instructions, postal address).
    Multiline,
    /// An absolute URL.
    Url,
    /// An e-mail address.
    Email,
    /// `true` or `false`.
    Bool,
    /// An integer.
    Integer,
    /// Hexadecimal digits (keys).
    Hex,
    /// One of the listed values.
    Choice(&'static [&'static str]),
}

/// One configuration parameter of a provider, enough to generate a form or check a file.
#[derive(Clone, Debug, Serialize)]
pub struct Parameter {
    /// Key in the instance's `options` table.
    pub name: &'static str,
    /// Label for a form.
    pub caption: &'static str,
    /// Type.
    pub kind: ParamKind,
    /// Must be given (unless it has a default).
    pub required: bool,
    /// Secret: never printed; in live mode it must come from the environment or a file.
    pub secret: bool,
    /// Default value, as text.
    pub default: Option<&'static str>,
}

impl Parameter {
    /// A required, non-secret text parameter.
    pub const fn text(name: &'static str, caption: &'static str) -> Self {
        Parameter {
            name,
            caption,
            kind: ParamKind::Text,
            required: true,
            secret: false,
            default: None,
        }
    }

    /// The same parameter with another kind.
    pub const fn kind(mut self, kind: ParamKind) -> Self {
        self.kind = kind;
        self
    }

    /// The same parameter, optional.
    pub const fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// The same parameter, secret.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// The same parameter with a default (and so not required).
    pub const fn default_value(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self.required = false;
        self
    }
}

/// What a provider says of itself.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderDescription {
    /// Provider name as used in configuration (`cheque`, `stripe`).
    pub name: &'static str,
    /// Human caption.
    pub caption: &'static str,
    /// Configuration parameters.
    pub parameters: Vec<Parameter>,
}

/// HTTP method of a form or notification.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    Get,
    /// POST.
    Post,
}

impl HttpMethod {
    /// "GET" or "POST".
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// An HTML form: fields in emission order (some providers sign them in this order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    /// Where the form is sent.
    pub action: String,
    /// GET or POST.
    pub method: HttpMethod,
    /// Hidden fields, in order.
    pub fields: Vec<(String, String)>,
    /// Label of the submit button.
    pub submit_label: String,
    /// Submitted by script as soon as shown (hosted payment pages).
    pub auto_submit: bool,
}

/// What the payer's browser must be shown to pay with one acquirer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentRequest {
    /// Send the browser to this URL.
    Redirect {
        /// Target.
        url: String,
    },
    /// Show (and usually auto-submit) a form.
    Form(Form),
    /// An HTML block the provider supplied.
    Html {
        /// The markup.
        html: String,
    },
    /// Instructions (cheque payee and address, transfer IBAN and reference), with a form
    /// by which the payer says "I will pay this way".
    Instructions {
        /// Heading.
        heading: String,
        /// Label and value pairs, in order.
        details: Vec<(String, String)>,
        /// The confirmation form.
        confirm: Option<Form>,
    },
    /// Several buttons (the simulation's ok, echec, abandon).
    Choices {
        /// One form per choice.
        forms: Vec<Form>,
    },
    /// A counter terminal: the point of sale asks the server to charge it.
    Terminal {
        /// The instance to call.
        instance: String,
    },
}

/// Where a request comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The payer's browser coming back (unsigned for some providers: never enough to settle
    /// a payment on its own when the provider also notifies the server).
    Browser,
    /// Server to server (IPN, webhook).
    Server,
}

impl Channel {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Browser => "browser",
            Channel::Server => "server",
        }
    }
}

/// A notification exactly as received: nothing decoded, so signatures can be checked over
/// the raw bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Browser return or server notification.
    pub channel: Channel,
    /// HTTP method.
    pub method: HttpMethod,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Raw query string, without `?`.
    pub query: String,
    /// Raw body.
    pub body: Vec<u8>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The address it came from, as the HTTP layer determined it: the connection's peer,
    /// or behind a proxy listed in `[server] trusted_proxies`, the address that proxy
    /// forwarded. `None` when unknown (a stored notification replayed, `bank verify`).
    /// Providers that check where notifications come from read it here, never from
    /// headers a client could write.
    pub peer: Option<std::net::IpAddr>,
}

impl fmt::Debug for Notification {
    // Bodies can be large and headers can carry credentials: show sizes, not contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("channel", &self.channel)
            .field("method", &self.method)
            .field("headers", &self.headers.len())
            .field("query_len", &self.query.len())
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .finish()
    }
}

impl Notification {
    /// A notification with no headers, query or body.
    pub fn new(channel: Channel, method: HttpMethod, received_at: DateTime<Utc>) -> Self {
        Notification {
            channel,
            method,
            headers: Vec::new(),
            query: String::new(),
            body: Vec::new(),
            received_at,
            peer: None,
        }
    }

    /// A browser POST of form fields (what offline providers' buttons send).
    pub fn form_post(fields: &[(&str, &str)], received_at: DateTime<Utc>) -> Self {
        let mut n = Notification::new(Channel::Browser, HttpMethod::Post, received_at);
        n.body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
            .into_bytes();
        n.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        n
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded form fields: the body for a POST, the query for a GET.
    pub fn fields(&self) -> Vec<(String, String)> {
        let raw: &[u8] = match self.method {
            HttpMethod::Post => &self.body,
            HttpMethod::Get => self.query.as_bytes(),
        };
        url::form_urlencoded::parse(raw).into_owned().collect()
    }

    /// The first decoded field of this name.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The HTTP answer a provider expects to a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: String,
}

impl Reply {
    /// 200 with a plain-text body.
    pub fn ok_text(body: impl Into<String>) -> Self {
        Reply {
            status: 200,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into(),
        }
    }

    /// A plain-text reply with another status.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into(),
        }
    }
}

/// What a verified notification says happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Paid (or authorised).
    Paid,
    /// Accepted but not yet collected (offline means, SEPA).
    Waiting,
    /// Refused or failed.
    Failed,
    /// The payer cancelled.
    Cancelled,
    /// A payment already made was reversed (SEPA rejected, chargeback).
    LateFailure,
    /// The provider refunded this amount (in total, so far).
    Refunded {
        /// Total refunded so far.
        total: Money,
    },
    /// The provider refunded this amount, one refund among possibly several (PayPal's IPN
    /// reports each refund, not the total). The notification's `event_id` must name the
    /// refund, so that a repeated notice is not added twice.
    RefundedAmount {
        /// This refund's amount.
        amount: Money,
    },
    /// A payment of the subscription whose first transaction is `reference`, when the
    /// provider does not say whether it is the first (PayPal's `subscr_payment`): it pays
    /// the first transaction while that is not paid, and is an instalment after.
    SubscriptionPayment,
    /// An instalment of the subscription whose first transaction is `reference` was paid.
    InstalmentPaid,
    /// An instalment failed: the subscription should be ended (`resilier`).
    InstalmentFailed,
    /// The subscription was ended at the provider.
    SubscriptionEnded,
    /// Authentic, but nothing to do (an event type we do not act on).
    Nothing,
}

/// A notification whose authenticity the acquirer checked, decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    /// Our transaction reference, if the notification carries one.
    pub reference: Option<String>,
    /// The installation id carried in provider metadata, if any.
    pub installation: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The amount the provider says was paid, checked against the transaction.
    pub amount: Option<Money>,
    /// The payer chose the amount (a donation button without an amount): the transaction's
    /// amount is the least accepted, in its currency, and a payment settles it at the amount
    /// paid. Only an acquirer set up for it says so, never a field of the message.
    #[serde(default)]
    pub amount_chosen_by_payer: bool,
    /// Provider authorisation or transaction number.
    pub authorisation: Option<String>,
    /// Provider subscription or card token.
    pub subscription_id: Option<String>,
    /// Provider error code.
    pub error_code: Option<String>,
    /// Provider error message, in words.
    pub error_message: Option<String>,
    /// A unique id of this notification at the provider (a Stripe event id), used to drop
    /// exact duplicates.
    pub event_id: Option<String>,
    /// The exact reply the provider expects.
    pub reply: Reply,
    /// Decoded fields worth keeping in the history.
    pub detail: serde_json::Value,
}

impl Verified {
    /// A verified notification with `outcome` for `reference`, replying 200 with an empty body.
    pub fn new(reference: Option<String>, outcome: Outcome) -> Self {
        Verified {
            reference,
            installation: None,
            outcome,
            amount: None,
            amount_chosen_by_payer: false,
            authorisation: None,
            subscription_id: None,
            error_code: None,
            error_message: None,
            event_id: None,
            reply: Reply::ok_text(""),
            detail: serde_json::Value::Null,
        }
    }
}

/// URLs of an instance's endpoints for one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceUrls {
    /// Where the payer's browser comes back.
    pub return_url: String,
    /// Where the provider notifies the server.
    pub notify_url: String,
    /// Where the payer lands after cancelling.
    pub cancel_url: String,
    /// Where our own forms (offline buttons, simulation) post.
    pub action_url: String,
    /// Where the payer's choice of a [`Capabilities::request_on_choice`] instance posts.
    #[serde(default)]
    pub choose_url: String,
}

impl InstanceUrls {
    /// The standard layout under `base_url`: `/bank/<instance>/{retour,notify,cancel,action}`.
    pub fn standard(base_url: &str, instance: &str, reference: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let at = |what: &str| format!("{base}/bank/{instance}/{what}?ref={reference}");
        InstanceUrls {
            return_url: at("retour"),
            notify_url: format!("{base}/bank/{instance}/notify"),
            cancel_url: at("cancel"),
            action_url: format!("{base}/bank/{instance}/action"),
            choose_url: format!("{base}/bank/{instance}/choose"),
        }
    }
}

/// Everything an acquirer may need to build a payment request, besides the transaction.
#[derive(Clone)]
pub struct PaymentContext {
    /// This installation's id (carried in provider metadata).
    pub installation: String,
    /// Endpoint URLs.
    pub urls: InstanceUrls,
    /// Now (injected, so requests are reproducible).
    pub now: DateTime<Utc>,
    /// Billing data from the transaction and `renseigner_facturation`.
    pub billing: Option<Billing>,
    /// The schedule of a recurring payment, from `decrire_echeance`.
    pub echeance: Option<Echeance>,
    /// Signs our own forms (offline providers, simulation).
    pub signer: FormSigner,
    /// Named counters from the store (PayZen numbers each payment of the day); `None`
    /// outside an engine (`bank request`): a provider that needs them says so.
    pub counters: Option<std::sync::Arc<dyn Counters>>,
}

impl fmt::Debug for PaymentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentContext")
            .field("installation", &self.installation)
            .field("urls", &self.urls)
            .field("now", &self.now)
            .field("billing", &self.billing)
            .field("echeance", &self.echeance)
            .field("counters", &self.counters.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything an acquirer may need to verify a notification.
#[derive(Clone)]
pub struct VerifyContext {
    /// This installation's id.
    pub installation: String,
    /// Now (injected, for timestamp tolerance).
    pub now: DateTime<Utc>,
    /// Verifies our own forms.
    pub signer: FormSigner,
    /// Named counters (a provider that asks its API to confirm a notification may number
    /// its questions); `None` outside an engine (`bank verify`).
    pub counters: Option<std::sync::Arc<dyn Counters>>,
}

impl fmt::Debug for VerifyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyContext")
            .field("installation", &self.installation)
            .field("now", &self.now)
            .field("counters", &self.counters.is_some())
            .finish_non_exhaustive()
    }
}

/// What a provider operation (refund, capture, cancel) returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationResult {
    /// The provider's id of the operation, if any.
    pub provider_reference: Option<String>,
    /// True when nothing was sent to a provider: staff does it by hand (refund a cheque).
    pub manual: bool,
}

/// Identity of a configured instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Instance id (`stripe-E8E5`, `cheque`), used in URLs and stored as `mode`.
    pub id: String,
    /// Provider name.
    pub provider: String,
    /// Test or live.
    pub mode: Mode,
    /// Position on the payment page (lower first).
    pub order: i32,
    /// Label shown to payers.
    pub caption: String,
}

/// Named counters, each value handed out once across every server sharing the store
/// (Paybox Direct numbers each question, unique per site and day). All an acquirer may
/// take from the store: it never sees transactions, so "acquirers never write
/// transactions" holds by construction.
#[async_trait]
pub trait Counters: Send + Sync {
    /// The next value (1, 2, …) of the counter `name`.
    async fn next_counter(&self, name: &str) -> Result<i64, Error>;
}

/// What every operation on a payment (refund, capture, cancel, instalment, cancelling a
/// subscription) receives from the engine: the time, and counters.
#[derive(Clone)]
pub struct OperationContext {
    /// Now (injected: the engine's clock).
    pub now: DateTime<Utc>,
    /// Named counters from the store; `None` outside an engine (`bank request`, a test of
    /// the acquirer alone): an operation that needs them says so.
    pub counters: Option<std::sync::Arc<dyn Counters>>,
}

impl OperationContext {
    /// A context without counters, at `now`.
    pub fn standalone(now: DateTime<Utc>) -> Self {
        OperationContext {
            now,
            counters: None,
        }
    }
}

impl fmt::Debug for OperationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationContext")
            .field("now", &self.now)
            .field("counters", &self.counters.is_some())
            .finish()
    }
}

/// A payment provider instance. See the module documentation.
#[async_trait]
pub trait Acquirer: Send + Sync + fmt::Debug {
    /// Who this instance is.
    fn info(&self) -> &InstanceInfo;

    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// Builds what the payer's browser must be shown to pay `tx`.
    ///
    /// # Errors
    /// A provider error (API down, amount not accepted).
    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error>;

    /// Checks a notification's authenticity (signature, postback, form token) before
    /// trusting any field, and decodes it.
    ///
    /// A browser return that the provider does not sign, from a provider that also notifies
    /// the server, must not settle anything: return [`Outcome::Nothing`] (the page shown to
    /// the payer follows the stored status) and let the signed notification decide.
    ///
    /// # Errors
    /// [`Error::Verification`] for anything unauthentic or malformed: the engine stores it
    /// for review, changes nothing and answers [`Acquirer::rejection_reply`].
    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error>;

    /// The reply to a notification that failed verification.
    fn rejection_reply(&self, _error: &Error) -> Reply {
        Reply::text(400, "notification rejected")
    }

    /// Refunds `amount` of a paid transaction. `key` is stable for this refund: send it as
    /// the provider's idempotency key where there is one, so a retried request never
    /// refunds twice.
    ///
    /// Return [`Error::Provider`] with [`crate::ProviderFailure::Refused`] or
    /// [`crate::ProviderFailure::Unavailable`] only when the provider certainly did not
    /// refund; [`crate::ProviderFailure::OutcomeUnknown`] (and any other error) leaves the
    /// refund pending for staff to reconcile, because the money may have left.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default.
    async fn refund(
        &self,
        _tx: &Transaction,
        _amount: Money,
        _key: &str,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        Err(Error::Unsupported {
            instance: self.info().id.clone(),
            operation: "refund",
        })
    }

    /// The event id under which the provider will notify the refund that
    /// [`Acquirer::refund`] made and named `provider_reference` (PayPal's `Refunded` IPN,
    /// PayZen's credit), when its notices report each refund rather than the total: the
    /// engine records the refund under it, so the notice that follows is a duplicate, not
    /// a second refund. `None` (the default) when notices give the total refunded or never
    /// come.
    fn refund_event_id(&self, _provider_reference: &str) -> Option<String> {
        None
    }

    /// Captures an authorised payment.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default.
    async fn capture(
        &self,
        _tx: &Transaction,
        _amount: Money,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        Err(Error::Unsupported {
            instance: self.info().id.clone(),
            operation: "capture",
        })
    }

    /// Cancels an authorisation.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default.
    async fn cancel(
        &self,
        _tx: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        Err(Error::Unsupported {
            instance: self.info().id.clone(),
            operation: "cancel",
        })
    }
    /// Debits the next instalment of a subscription from the payer's registered card or
    /// mandate (`first.subscription_id`), for providers where the merchant initiates each
    /// debit (Paybox Direct Plus). `instalment` is the transaction `preparer_echeance` made;
    /// `key` is stable for it: send it as the provider's idempotency key or question number
    /// seed where there is one.
    ///
    /// Return a [`Verified`] whose outcome is [`Outcome::InstalmentPaid`] (with the amount)
    /// or [`Outcome::InstalmentFailed`] when the provider answered; an error when the
    /// outcome is unknown (the instalment stays in `commande` for staff to check).
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default.
    async fn charge_instalment(
        &self,
        _first: &Transaction,
        _instalment: &Transaction,
        _key: &str,
        _ctx: &OperationContext,
    ) -> Result<Verified, Error> {
        Err(Error::Unsupported {
            instance: self.info().id.clone(),
            operation: "charge_instalment",
        })
    }

    /// Ends a subscription at the provider (Stripe: cancel the subscription; Paybox: delete
    /// the subscriber). `first` is the subscription's first transaction.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default.
    async fn cancel_subscription(
        &self,
        _first: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        Err(Error::Unsupported {
            instance: self.info().id.clone(),
            operation: "cancel_subscription",
        })
    }
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    #[test]
    fn accepts_checks_currency_zero_and_range() {
        let mut c = Capabilities::new();
        c.min_minor = 50;
        c.max_minor = 99_999_999;
        let eur = |m| Money::from_minor(m, Currency::EUR).expect("money");
        assert!(c.accepts(eur(50)));
        assert!(c.accepts(eur(99_999_999)));
        assert!(!c.accepts(eur(49)), "under the provider's minimum");
        assert!(!c.accepts(eur(0)), "zero is for zero-amount providers");
        assert!(!c.accepts(eur(100_000_000)), "over the provider's maximum");
        assert!(!c.accepts(eur(9_223_372_036_854_775_807)));
        let jpy = Money::from_minor(1000, Currency::from_code("JPY").expect("JPY")).expect("money");
        assert!(!c.accepts(jpy), "currency not declared");
        assert!(
            !Capabilities::new().accepts(eur(Capabilities::DEFAULT_MAX_MINOR + 1)),
            "the default ceiling applies to providers without a limit"
        );
    }
}
