//! The `payzen-sepa` provider: the signed form, the IPN and what each message means, REST
//! operations.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bank_core::config::Options;
use bank_core::{
    Acquirer, Capabilities, Channel, Currency, Error, Form, HttpMethod, InstanceInfo, Mode, Money,
    Notification, OperationContext, OperationResult, Outcome, ParamKind, Parameter, PaymentContext,
    PaymentRequest, ProviderDescription, RefundSupport, Reply, Transaction, Verified,
    VerifyContext,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::error::PayzenError;
use crate::form::{self, OrderForm, PageAction, Schedule, ShopForm};
use crate::platform;
use crate::response::Response;
use crate::rest::RestClient;
use crate::signature::Algorithm;

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: crate::PROVIDER,
        caption: "PayZen / Systempay (card, SEPA Direct Debit)",
        parameters: vec![
            Parameter::text("site_id", "The shop id (vads_site_id, 8 digits)"),
            Parameter::text("key_test", "The TEST key (back office: Settings > Shop > Keys)").secret(),
            Parameter::text("key_production", "The PRODUCTION key (needed in live mode)").optional().secret(),
            Parameter::text("signature_algorithm", "The shop's signature algorithm: hmac_sha256, or sha1 for legacy shops")
                .kind(ParamKind::Choice(&["hmac_sha256", "sha1"]))
                .default_value("hmac_sha256"),
            Parameter::text("platform", "Whose platform: payzen, systempay, sogecommerce, scellius, clicandpay, monetico_retail, lyra, osb, epaync…")
                .kind(ParamKind::Choice(platform::NAMES))
                .default_value("payzen"),
            Parameter::text("means", "card, sdd (SEPA Direct Debit) or card_sdd")
                .kind(ParamKind::Choice(&["card", "sdd", "card_sdd"]))
                .default_value("card"),
            Parameter::text("payment_cards", "vads_payment_cards as is (overrides means; empty: every means of the shop)").optional(),
            Parameter::text("capture_delay", "Days before capture (empty: the shop's setting)").kind(ParamKind::Integer).optional(),
            Parameter::text("manual_validation", "Each payment waits for the merchant's validation").kind(ParamKind::Bool).default_value("false"),
            Parameter::text("language", "The payment page's language (vads_language)").default_value("fr"),
            Parameter::text("rest_password_test", "REST API password, TEST (refunds, cancellations, subscriptions)").optional().secret(),
            Parameter::text("rest_password_production", "REST API password, PRODUCTION").optional().secret(),
            Parameter::text("form_url", "The payment form's URL (default: the platform's)").kind(ParamKind::Url).optional(),
            Parameter::text("rest_url", "The REST API's base URL, ending in /api-payment/ (default: the platform's)").kind(ParamKind::Url).optional(),
        ],
    }
}

pub(crate) fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let id = info.id.clone();
    Ok(Arc::new(
        Payzen::new(info, options).map_err(|e| e.into_core(&id))?,
    ))
}

fn cfg(option: &'static str, reason: impl Into<String>) -> PayzenError {
    PayzenError::Config {
        option,
        reason: reason.into(),
    }
}

/// A configured PayZen shop.
pub struct Payzen {
    info: InstanceInfo,
    site_id: String,
    key: SecretString,
    algorithm: Algorithm,
    payment_cards: String,
    sdd_only: bool,
    capture_delay: Option<u16>,
    manual_validation: bool,
    language: String,
    form_url: String,
    rest: Option<RestClient>,
}

impl fmt::Debug for Payzen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payzen")
            .field("info", &self.info)
            .field("site_id", &self.site_id)
            .field("algorithm", &self.algorithm)
            .field("form_url", &self.form_url)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

/// The statuses of a payment that went through.
const SUCCESS: &[&str] = &["AUTHORISED", "CAPTURED", "ACCEPTED", "PARTIALLY_AUTHORISED"];
/// The statuses of a payment still on its way.
const PENDING: &[&str] = &[
    "AUTHORISED_TO_VALIDATE",
    "WAITING_AUTHORISATION",
    "WAITING_AUTHORISATION_TO_VALIDATE",
    "INITIAL",
    "UNDER_VERIFICATION",
    "PRE_AUTHORISED",
    "WAITING_FOR_PAYMENT",
    "SUSPENDED",
    "PENDING",
];
/// The statuses of a payment that failed.
const FAILED: &[&str] = &[
    "REFUSED",
    "EXPIRED",
    "CAPTURE_FAILED",
    "CANCELLED",
    "NOT_CREATED",
];

impl Payzen {
    /// An instance from its options.
    ///
    /// # Errors
    /// [`PayzenError::Config`] naming the option.
    pub fn new(info: InstanceInfo, options: &Options) -> Result<Self, PayzenError> {
        let live = info.mode == Mode::Live;
        let site_id = options
            .get("site_id")
            .unwrap_or_default()
            .trim()
            .to_string();
        if site_id.len() != 8 || !site_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(cfg("site_id", "8 digits, as the back office shows it"));
        }
        let key_name = if live { "key_production" } else { "key_test" };
        let key = options
            .secret(key_name)
            .map_err(|_| cfg(key_name, "missing: the key of this mode signs every form"))?;
        if key.expose_secret().trim().is_empty() {
            return Err(cfg(key_name, "empty"));
        }
        let algorithm = match options.get("signature_algorithm").unwrap_or("hmac_sha256") {
            "hmac_sha256" => Algorithm::HmacSha256,
            "sha1" => Algorithm::Sha1,
            other => {
                return Err(cfg(
                    "signature_algorithm",
                    format!("{other:?}: hmac_sha256 or sha1"),
                ))
            }
        };
        let platform_name = options.get("platform").unwrap_or("payzen");
        let platform = platform::by_name(platform_name).ok_or_else(|| {
            cfg(
                "platform",
                format!("{platform_name:?}: one of {}", platform::NAMES.join(", ")),
            )
        })?;
        let means = options.get("means").unwrap_or("card");
        let default_cards = match means {
            "card" => "CB;VISA;MASTERCARD",
            "sdd" => "SDD",
            "card_sdd" => "CB;VISA;MASTERCARD;SDD",
            other => return Err(cfg("means", format!("{other:?}: card, sdd or card_sdd"))),
        };
        let payment_cards = options
            .get("payment_cards")
            .map(str::trim)
            .unwrap_or(default_cards)
            .to_string();
        if payment_cards.len() > 127
            || !payment_cards
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b';' || b == b'_' || b == b'-')
        {
            return Err(cfg(
                "payment_cards",
                "means separated by ';' (CB;VISA;SDD), 127 characters at most",
            ));
        }
        let capture_delay = match options
            .get("capture_delay")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(d) => Some(
                d.parse::<u16>()
                    .ok()
                    .filter(|d| *d <= 365)
                    .ok_or_else(|| cfg("capture_delay", "days, 0 to 365"))?,
            ),
        };
        let manual_validation = options
            .boolean("manual_validation", false)
            .map_err(|e| cfg("manual_validation", e.to_string()))?;
        let language = options
            .get("language")
            .unwrap_or("fr")
            .trim()
            .to_lowercase();
        if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(cfg("language", "two letters (ISO 639-1)"));
        }
        let url = |name: &'static str, default: &str| -> Result<String, PayzenError> {
            let u = options.get(name).unwrap_or(default).to_string();
            let parsed = url::Url::parse(&u).map_err(|e| cfg(name, e.to_string()))?;
            if live && (parsed.scheme() != "https" || bank_core::outbound::is_local_host(&parsed)) {
                return Err(cfg(name, "a live instance talks to PayZen over https"));
            }
            Ok(u)
        };
        let form_url = url("form_url", platform.form_url)?;
        let rest_url = url("rest_url", platform.rest_url)?;
        let password_name = if live {
            "rest_password_production"
        } else {
            "rest_password_test"
        };
        let rest = match options.secret(password_name) {
            Ok(p) if !p.expose_secret().is_empty() => {
                Some(RestClient::new(&rest_url, &site_id, p)?)
            }
            _ => None,
        };
        Ok(Payzen {
            info,
            site_id,
            key,
            algorithm,
            sdd_only: payment_cards == "SDD",
            payment_cards,
            capture_delay,
            manual_validation,
            language,
            form_url,
            rest,
        })
    }

    fn ctx_mode(&self) -> &'static str {
        if self.info.mode == Mode::Live {
            "PRODUCTION"
        } else {
            "TEST"
        }
    }

    fn err(&self, e: PayzenError) -> Error {
        e.into_core(&self.info.id)
    }

    /// The next `vads_trans_id` of the shop for `now`'s UTC day, from the store's counters:
    /// `000000`, `000001`… up to `899999` (numbers from 9 are the back office's).
    ///
    /// # Errors
    /// [`PayzenError::Unavailable`] without counters, [`PayzenError::TransIdsExhausted`].
    pub async fn next_trans_id(
        &self,
        counters: Option<&Arc<dyn bank_core::Counters>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, PayzenError> {
        let counters = counters.ok_or_else(|| PayzenError::Unavailable {
            operation: "a payment form",
            reason: "vads_trans_id comes from the store's counters: build forms through an Engine"
                .into(),
        })?;
        let day = now.format("%Y%m%d").to_string();
        let n = counters
            .next_counter(&format!("payzen:{}:{day}", self.site_id))
            .await
            .map_err(|e| PayzenError::Unavailable {
                operation: "a payment form",
                reason: format!("the store's counter: {e}"),
            })?;
        if !(1..=900_000).contains(&n) {
            return Err(PayzenError::TransIdsExhausted {
                site_id: self.site_id.clone(),
                day,
            });
        }
        Ok(format!("{:06}", n - 1))
    }

    /// The signed form of `tx` with transaction id `trans_id`.
    ///
    /// # Errors
    /// [`PayzenError::Config`] for a recurring transaction without a schedule.
    pub fn form(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
        trans_id: &str,
    ) -> Result<Form, PayzenError> {
        let action = match (tx.recurring, ctx.echeance.as_ref()) {
            (false, _) => PageAction::Payment,
            (true, Some(e)) => {
                PageAction::RegisterPaySubscribe(Schedule::of(&tx.reference, e, ctx.now, true))
            }
            (true, None) => {
                return Err(cfg(
                    "means",
                    format!(
                        "transaction {} is recurring but decrire_echeance gave no schedule",
                        tx.reference
                    ),
                ))
            }
        };
        let key = self.key.expose_secret();
        let shop = ShopForm {
            site_id: &self.site_id,
            ctx_mode: self.ctx_mode(),
            key,
            algorithm: self.algorithm,
            contrib: concat!("bank/", env!("CARGO_PKG_VERSION")),
            language: &self.language,
            payment_cards: &self.payment_cards,
            capture_delay: self.capture_delay,
            manual_validation: self.manual_validation,
        };
        let order = OrderForm {
            amount: tx.amount,
            reference: &tx.reference,
            installation: &ctx.installation,
            trans_id,
            trans_date: ctx.now,
            billing: ctx.billing.as_ref(),
            return_url: &ctx.urls.return_url,
            check_url: &ctx.urls.notify_url,
            action: &action,
        };
        Ok(Form {
            action: self.form_url.clone(),
            method: HttpMethod::Post,
            fields: form::fields(&shop, &order),
            submit_label: if self.sdd_only {
                "Pay by SEPA Direct Debit".into()
            } else {
                "Pay with PayZen".into()
            },
            auto_submit: false,
        })
    }

    /// Checks a response against this instance (signature first).
    ///
    /// # Errors
    /// As [`Response::verify`].
    pub fn check(&self, r: &Response) -> Result<(), PayzenError> {
        r.verify(
            self.algorithm,
            self.ctx_mode(),
            self.key.expose_secret(),
            &self.site_id,
        )
    }

    /// What a checked IPN means.
    ///
    /// # Errors
    /// [`PayzenError::Amount`] for an amount that cannot be read.
    pub fn decode(&self, r: &Response) -> Result<Verified, PayzenError> {
        let status = r.get("vads_trans_status").unwrap_or_default();
        let src = r.non_empty("vads_url_check_src").unwrap_or("PAY");
        let sdd = r.get("vads_card_brand") == Some("SDD");
        let credit = r.get("vads_operation_type") == Some("CREDIT");
        let uuid = r.non_empty("vads_trans_uuid");
        let amount = match r.non_empty("vads_amount") {
            Some(_) => Some(r.money("vads_amount", "vads_currency")?),
            None => None,
        };
        let recurring = src == "REC";
        let reference = if recurring {
            r.non_empty("vads_subscription")
                .or(r.non_empty("vads_order_id"))
        } else {
            r.non_empty("vads_order_id")
        };
        let mut v = Verified::new(reference.map(str::to_string), Outcome::Nothing);
        v.installation = r.non_empty("vads_order_info").map(str::to_string);
        v.reply = acknowledgement();
        v.authorisation = uuid.map(str::to_string);
        v.subscription_id = r.non_empty("vads_identifier").map(str::to_string);
        // A credit (a refund) is one event whatever its later statuses: the id the engine
        // also records when the refund is made through the API (`refund_event_id`).
        v.event_id = Some(if credit {
            format!("{}:CREDIT", uuid.unwrap_or("-"))
        } else {
            format!("{}:DEBIT:{status}", uuid.unwrap_or("-"))
        });
        v.detail = json!({
            "trans_status": status, "url_check_src": src, "operation_type": r.get("vads_operation_type"),
            "trans_id": r.get("vads_trans_id"), "trans_date": r.get("vads_trans_date"),
            "result": r.get("vads_result"), "auth_result": r.get("vads_auth_result"),
            "auth_number": r.get("vads_auth_number"), "card_brand": r.get("vads_card_brand"),
            "identifier": r.get("vads_identifier"), "identifier_status": r.get("vads_identifier_status"),
            "presentation_date": r.get("vads_presentation_date"), "occurrence_type": r.get("vads_occurrence_type"),
            "subscription": r.get("vads_subscription"), "recurrence_number": r.get("vads_recurrence_number"),
            "sequence_number": r.get("vads_sequence_number"),
        });
        let fail = |v: &mut Verified, outcome: Outcome| {
            v.outcome = outcome;
            v.error_code = Some(
                r.non_empty("vads_auth_result")
                    .or(r.non_empty("vads_result"))
                    .unwrap_or(status)
                    .to_string(),
            );
            v.error_message = Some(format!(
                "PayZen: {}",
                status.to_lowercase().replace('_', " ")
            ));
        };
        let success = SUCCESS.contains(&status);
        let failed = FAILED.contains(&status);
        if credit {
            // A refund made through the API or the back office: its own transaction.
            if success {
                if let Some(a) = amount {
                    v.outcome = Outcome::RefundedAmount { amount: a };
                }
            }
            v.authorisation = None;
            v.amount = None;
            return Ok(v);
        }
        v.amount = amount;
        if recurring {
            if success {
                v.outcome = Outcome::InstalmentPaid;
            } else if failed {
                fail(&mut v, Outcome::InstalmentFailed);
                v.amount = None;
            } else {
                v.amount = None;
            }
            return Ok(v);
        }
        // A failure reported after the payment (a synchronisation, the back office, a
        // returned SEPA debit) undoes it; one reported by the payment itself fails it.
        let late = matches!(src, "BATCH" | "BATCH_AUTO" | "MERCH_BO" | "BO");
        match status {
            "CAPTURED" => v.outcome = Outcome::Paid,
            // A SEPA debit authorised is a mandate and a pre-notification, not money: it
            // waits until it is presented and captured.
            s if sdd && SUCCESS.contains(&s) => fail(&mut v, Outcome::Waiting),
            s if SUCCESS.contains(&s) => v.outcome = Outcome::Paid,
            s if PENDING.contains(&s) => fail(&mut v, Outcome::Waiting),
            s if FAILED.contains(&s) => {
                fail(
                    &mut v,
                    if late {
                        Outcome::LateFailure
                    } else {
                        Outcome::Failed
                    },
                );
                v.amount = None;
            }
            "ABANDONED" => {
                v.outcome = Outcome::Cancelled;
                v.amount = None;
            }
            _ => v.amount = None,
        }
        if v.outcome == Outcome::Waiting {
            // Not an error: the reason it waits.
            v.error_code = None;
            v.error_message = Some(format!(
                "PayZen: {}",
                status.to_lowercase().replace('_', " ")
            ));
        }
        Ok(v)
    }

    fn rest(&self, operation: &'static str) -> Result<&RestClient, Error> {
        self.rest.as_ref().ok_or_else(|| {
            self.err(PayzenError::Unavailable {
                operation,
                reason: format!(
                    "no REST password for this mode (option {})",
                    if self.info.mode == Mode::Live {
                        "rest_password_production"
                    } else {
                        "rest_password_test"
                    }
                ),
            })
        })
    }

    fn uuid<'a>(&self, tx: &'a Transaction, operation: &'static str) -> Result<&'a str, Error> {
        tx.authorisation
            .as_deref()
            .filter(|u| u.len() == 32 && u.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                self.err(PayzenError::Unavailable {
                    operation,
                    reason: format!("{} has no PayZen transaction uuid", tx.reference),
                })
            })
    }
}

/// What PayZen gets for every IPN: 200 and a short text (it only looks at the status).
pub fn acknowledgement() -> Reply {
    Reply::ok_text("OK")
}

#[async_trait]
impl Acquirer for Payzen {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        c.recurring = true;
        // Drawn when the payer chooses PayZen, not on every view of the page: each form
        // takes a transaction id of the day.
        c.request_on_choice = true;
        if self.rest.is_some() {
            c.refund = RefundSupport::Partial;
            c.capture = self.manual_validation;
            c.cancel = true;
        }
        c.currencies = if self.sdd_only {
            vec![Currency::EUR]
        } else {
            ["EUR", "USD", "GBP", "CHF", "CAD", "XPF"]
                .iter()
                .filter_map(|c| Currency::from_code(c).ok())
                .collect()
        };
        c.min_minor = 1;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let trans_id = self
            .next_trans_id(ctx.counters.as_ref(), ctx.now)
            .await
            .map_err(|e| self.err(e))?;
        let form = self.form(tx, ctx, &trans_id).map_err(|e| self.err(e))?;
        Ok(PaymentRequest::Form(form))
    }

    async fn verify(&self, n: &Notification, _ctx: &VerifyContext) -> Result<Verified, Error> {
        let raw: &[u8] = if n.method == HttpMethod::Get {
            n.query.as_bytes()
        } else {
            &n.body
        };
        let r = Response::parse(raw).map_err(|e| self.err(e))?;
        if n.channel == Channel::Browser {
            // The return only chooses the page; the IPN settles. A signed return is still
            // checked, so that a forged one is stored for review.
            let reference = r
                .non_empty("vads_order_id")
                .or(r.non_empty("ref"))
                .map(str::to_string);
            if r.get("signature").is_some() {
                self.check(&r).map_err(|e| self.err(e))?;
            }
            let mut v = Verified::new(reference, Outcome::Nothing);
            v.reply = acknowledgement();
            return Ok(v);
        }
        self.check(&r).map_err(|e| self.err(e))?;
        self.decode(&r).map_err(|e| self.err(e))
    }

    fn rejection_reply(&self, _error: &Error) -> Reply {
        Reply::text(400, "KO")
    }

    fn refund_event_id(&self, provider_reference: &str) -> Option<String> {
        Some(format!("{provider_reference}:CREDIT"))
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let client = self.rest("refund")?;
        let uuid = self.uuid(tx, "refund")?;
        let a = client
            .cancel_or_refund(uuid, amount, "AUTO", key)
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: a.str("uuid").map(str::to_string),
            manual: false,
        })
    }

    async fn capture(
        &self,
        tx: &Transaction,
        _amount: Money,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let client = self.rest("capture")?;
        let uuid = self.uuid(tx, "capture")?;
        let a = client
            .validate(uuid, &tx.reference)
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: a.str("uuid").map(str::to_string),
            manual: false,
        })
    }

    async fn cancel(
        &self,
        tx: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let client = self.rest("cancel")?;
        let uuid = self.uuid(tx, "cancel")?;
        let a = client
            .cancel_or_refund(uuid, tx.amount, "CANCELLATION_ONLY", &tx.reference)
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: a.str("uuid").map(str::to_string),
            manual: false,
        })
    }

    async fn cancel_subscription(
        &self,
        first: &Transaction,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let client = self.rest("cancel_subscription")?;
        let token = first.subscription_id.as_deref().ok_or_else(|| {
            self.err(PayzenError::Unavailable {
                operation: "cancel_subscription",
                reason: format!("{} has no registered card or mandate", first.reference),
            })
        })?;
        client
            .cancel_subscription(&first.reference, token)
            .await
            .map_err(|e| self.err(e))?;
        Ok(OperationResult {
            provider_reference: Some(first.reference.clone()),
            manual: false,
        })
    }
}
