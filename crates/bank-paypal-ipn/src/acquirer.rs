//! The `paypal-ipn` provider: one instance per PayPal account (buttons) and mode.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bank_core::{
    async_trait, Acquirer, Capabilities, Channel, Error, InstanceInfo, Mode, Money, Notification,
    OperationContext, OperationResult, Options, Outcome, ParamKind, Parameter, PaymentContext,
    PaymentRequest, ProviderDescription, RefundSupport, Reply, Transaction, Verified,
    VerifyContext,
};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::button::{self, ButtonSettings, Ewp, Kind};
use crate::error::IpnError;
use crate::ipn::Ipn;
use crate::PROVIDER;

/// Where live buttons post.
pub const LIVE_FORM_URL: &str = "https://www.paypal.com/cgi-bin/webscr";
/// Where sandbox buttons post.
pub const SANDBOX_FORM_URL: &str = "https://www.sandbox.paypal.com/cgi-bin/webscr";
/// Where live IPNs are posted back.
pub const LIVE_VERIFY_URL: &str = "https://ipnpb.paypal.com/cgi-bin/webscr";
/// Where sandbox IPNs are posted back.
pub const SANDBOX_VERIFY_URL: &str = "https://ipnpb.sandbox.paypal.com/cgi-bin/webscr";

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "PayPal (buttons)",
        parameters: vec![
            Parameter::text("business", "The PayPal account's primary e-mail (the button's business, the IPN's receiver_email)")
                .kind(ParamKind::Email),
            Parameter::text("receiver_id", "The account's merchant id (13 characters), checked on every IPN when given").optional(),
            Parameter::text("button", "buy_now (Buy Now) or donate (Donate); recurring transactions get a Subscribe button")
                .kind(ParamKind::Choice(&["buy_now", "donate"]))
                .default_value("buy_now"),
            Parameter::text("donation_amount", "Donate buttons: fixed (the transaction's amount) or payer (the donor types it at PayPal; the transaction's amount is the least accepted)")
                .kind(ParamKind::Choice(&["fixed", "payer"]))
                .default_value("fixed"),
            Parameter::text("item_name", "What the payer sees at PayPal (default: Payment <reference>)").optional(),
            Parameter::text("form_url", "Where buttons post (default: PayPal's, by mode)").kind(ParamKind::Url).optional(),
            Parameter::text("verify_url", "Where IPNs are posted back (default: PayPal's ipnpb host, by mode)").kind(ParamKind::Url).optional(),
            Parameter::text("ewp_cert_id", "Encrypted buttons: the id PayPal gave your uploaded certificate").optional(),
            Parameter::text("ewp_merchant_cert", "Encrypted buttons: your certificate (PEM)").kind(ParamKind::Multiline).optional(),
            Parameter::text("ewp_merchant_key", "Encrypted buttons: your private key (PEM)").kind(ParamKind::Multiline).optional().secret(),
            Parameter::text("ewp_paypal_cert", "Encrypted buttons: PayPal's certificate for the mode (PEM)").kind(ParamKind::Multiline).optional(),
            Parameter::text("rest_client_id", "Refunds through the REST API: the app's client id").optional(),
            Parameter::text("rest_client_secret", "Refunds through the REST API: the app's secret").optional().secret(),
            Parameter::text("rest_api_base", "REST API base URL (default: PayPal's, by mode)").kind(ParamKind::Url).optional(),
        ],
    }
}

pub(crate) fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let id = info.id.clone();
    Ok(Arc::new(
        PayPalIpn::new(info, options).map_err(|e| e.into_core(&id))?,
    ))
}

fn cfg(option: &'static str, reason: impl Into<String>) -> IpnError {
    IpnError::Config {
        option,
        reason: reason.into(),
    }
}

/// A `paypal-ipn` instance.
pub struct PayPalIpn {
    info: InstanceInfo,
    button: ButtonSettings,
    receiver_id: Option<String>,
    form_url: String,
    verify_url: String,
    ewp: Option<Ewp>,
    rest: Option<bank_paypal::Client>,
    http: reqwest::Client,
}

impl fmt::Debug for PayPalIpn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPalIpn")
            .field("info", &self.info)
            .field("business", &self.button.business)
            .field("receiver_id", &self.receiver_id)
            .field("form_url", &self.form_url)
            .field("verify_url", &self.verify_url)
            .field("ewp", &self.ewp)
            .field("rest", &self.rest)
            .finish()
    }
}

impl PayPalIpn {
    /// An instance from its options.
    ///
    /// # Errors
    /// [`IpnError::Config`] naming the option.
    pub fn new(info: InstanceInfo, options: &Options) -> Result<Self, IpnError> {
        let live = info.mode == Mode::Live;
        let business = options
            .get("business")
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| cfg("business", "missing"))?
            .to_string();
        let kind = match (
            options.get("button").unwrap_or("buy_now"),
            options.get("donation_amount").unwrap_or("fixed"),
        ) {
            ("buy_now", "fixed") => Kind::BuyNow,
            ("donate", "fixed") => Kind::Donate,
            ("donate", "payer") => Kind::DonatePayerAmount,
            ("buy_now", "payer") => {
                return Err(cfg(
                    "donation_amount",
                    "a payer-chosen amount needs button = \"donate\"",
                ))
            }
            (_, "fixed" | "payer") => {
                return Err(cfg(
                    "button",
                    format!(
                        "{:?}: buy_now or donate",
                        options.get("button").unwrap_or("")
                    ),
                ))
            }
            (_, other) => return Err(cfg("donation_amount", format!("{other:?}: fixed or payer"))),
        };
        let url = |name: &'static str, default: &str| -> Result<String, IpnError> {
            let u = options.get(name).unwrap_or(default).to_string();
            let parsed = url::Url::parse(&u).map_err(|e| cfg(name, e.to_string()))?;
            if live && (parsed.scheme() != "https" || bank_core::outbound::is_local_host(&parsed)) {
                return Err(cfg(name, "a live instance talks to PayPal over https"));
            }
            Ok(u)
        };
        let form_url = url(
            "form_url",
            if live {
                LIVE_FORM_URL
            } else {
                SANDBOX_FORM_URL
            },
        )?;
        let verify_url = url(
            "verify_url",
            if live {
                LIVE_VERIFY_URL
            } else {
                SANDBOX_VERIFY_URL
            },
        )?;
        let ewp_parts = (
            options.get("ewp_cert_id"),
            options.get("ewp_merchant_cert"),
            options.secret("ewp_merchant_key").ok(),
            options.get("ewp_paypal_cert"),
        );
        let ewp = match ewp_parts {
            (None, None, None, None) => None,
            (Some(id), Some(cert), Some(key), Some(paypal)) => {
                Some(Ewp::new(id, cert, key.expose_secret(), paypal)?)
            }
            _ => {
                return Err(cfg(
                    "ewp_cert_id",
                    "encrypted buttons need ewp_cert_id, ewp_merchant_cert, ewp_merchant_key and ewp_paypal_cert together",
                ))
            }
        };
        let rest = match (
            options.get("rest_client_id"),
            options.secret("rest_client_secret").ok(),
        ) {
            (None, None) => None,
            (Some(id), Some(secret)) => {
                let base = url(
                    "rest_api_base",
                    if live {
                        bank_paypal::LIVE_BASE
                    } else {
                        bank_paypal::SANDBOX_BASE
                    },
                )?;
                Some(
                    bank_paypal::Client::new(&base, id, secret, bank_core::RetryPolicy::default())
                        .map_err(|e| cfg("rest_api_base", e.to_string()))?,
                )
            }
            _ => {
                return Err(cfg(
                    "rest_client_id",
                    "rest_client_id and rest_client_secret go together",
                ))
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "bank-paypal-ipn/",
                env!("CARGO_PKG_VERSION"),
                " IPN listener"
            ))
            .build()
            .map_err(|e| cfg("verify_url", e.to_string()))?;
        Ok(PayPalIpn {
            info,
            button: ButtonSettings {
                business,
                kind,
                item_name: options.get("item_name").map(str::to_string),
            },
            receiver_id: options.get("receiver_id").map(str::to_string),
            form_url,
            verify_url,
            ewp,
            rest,
            http,
        })
    }

    fn err(&self, e: IpnError) -> Error {
        e.into_core(&self.info.id)
    }

    /// Posts the IPN back: `cmd=_notify-validate&` and the exact raw body. Only a 200
    /// whose body is exactly `VERIFIED` (whitespace trimmed) is genuine.
    ///
    /// # Errors
    /// [`IpnError::Invalid`] for `INVALID`; [`IpnError::Postback`] for anything else.
    pub async fn postback(&self, raw: &[u8]) -> Result<(), IpnError> {
        let mut body = b"cmd=_notify-validate&".to_vec();
        body.extend_from_slice(raw);
        let fail = |reason: String| IpnError::Postback { reason };
        let resp = self
            .http
            .post(&self.verify_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| fail(format!("network: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| fail(e.to_string()))?;
        match (status.as_u16(), text.trim()) {
            (200, "VERIFIED") => Ok(()),
            (200, "INVALID") => Err(IpnError::Invalid {
                answer: "INVALID".into(),
            }),
            (s, t) => Err(fail(format!(
                "HTTP {s}: {:?}",
                t.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// What a verified IPN says, after the checks of the mode and the receiver.
    ///
    /// # Errors
    /// [`IpnError::Mode`], [`IpnError::Receiver`], [`IpnError::Amount`].
    pub fn decode(&self, ipn: &Ipn) -> Result<Verified, IpnError> {
        let test = ipn.get("test_ipn") == Some("1");
        let live = self.info.mode == Mode::Live;
        if test == live {
            return Err(IpnError::Mode {
                got: if test { "test" } else { "live" },
                mode: self.info.mode.as_str(),
            });
        }
        self.check_receiver(ipn)?;
        let status = ipn.get("payment_status").unwrap_or("");
        let txn_type = ipn.get("txn_type").unwrap_or("");
        let txn_id = ipn.get("txn_id");
        let amount = match (ipn.get("mc_gross"), ipn.get("mc_currency")) {
            (Some(g), Some(c)) => Some(read_amount(g, c)?),
            _ => None,
        };
        let mut v = Verified::new(ipn.get("invoice").map(str::to_string), Outcome::Nothing);
        v.installation = ipn.get("custom").map(str::to_string);
        v.reply = acknowledgement();
        v.amount = amount;
        v.authorisation = txn_id.map(str::to_string);
        v.subscription_id = ipn
            .get("subscr_id")
            .or(ipn.get("recurring_payment_id"))
            .map(str::to_string);
        v.event_id = Some(match txn_id {
            Some(t) => format!("{t}:{status}"),
            None => format!(
                "{txn_type}:{}:{}",
                v.subscription_id.as_deref().unwrap_or(""),
                ipn.get("ipn_track_id").unwrap_or("")
            ),
        });
        v.detail = json!({
            "txn_type": txn_type, "payment_status": status, "txn_id": txn_id,
            "parent_txn_id": ipn.get("parent_txn_id"), "pending_reason": ipn.get("pending_reason"),
            "reason_code": ipn.get("reason_code"), "ipn_track_id": ipn.get("ipn_track_id"),
            "charset": ipn.charset,
        });
        let reason = ipn.get("reason_code").or(ipn.get("pending_reason"));
        let fail = |v: &mut Verified, outcome: Outcome, what: &str| {
            v.outcome = outcome;
            v.error_code = Some(reason.unwrap_or(status).to_string());
            v.error_message = Some(format!("PayPal: {what}"));
        };
        match txn_type {
            "subscr_payment" | "recurring_payment" => match status {
                "Completed" => v.outcome = Outcome::SubscriptionPayment,
                "Failed" | "Denied" => fail(
                    &mut v,
                    Outcome::InstalmentFailed,
                    "subscription payment failed",
                ),
                _ => {}
            },
            "subscr_failed" | "recurring_payment_failed" => {
                v.amount = None;
                fail(
                    &mut v,
                    Outcome::InstalmentFailed,
                    "subscription payment failed",
                );
            }
            "subscr_cancel"
            | "subscr_eot"
            | "recurring_payment_profile_cancel"
            | "recurring_payment_expired"
            | "recurring_payment_suspended"
            | "recurring_payment_suspended_due_to_max_failed_payment" => {
                v.amount = None;
                v.outcome = Outcome::SubscriptionEnded;
            }
            "subscr_signup" | "subscr_modify" | "recurring_payment_profile_created" => {
                v.amount = None
            }
            _ => match status {
                "Completed" => {
                    v.outcome = Outcome::Paid;
                    v.amount_chosen_by_payer = self.button.kind == Kind::DonatePayerAmount;
                }
                "Pending" => {
                    fail(&mut v, Outcome::Waiting, "payment pending");
                    v.amount_chosen_by_payer = self.button.kind == Kind::DonatePayerAmount;
                }
                "Denied" | "Failed" | "Expired" | "Voided" => fail(
                    &mut v,
                    Outcome::Failed,
                    &format!("payment {}", status.to_lowercase()),
                ),
                "Refunded" => {
                    // A new transaction of its own; one refund among possibly several.
                    v.authorisation = ipn.get("parent_txn_id").map(str::to_string);
                    v.event_id = txn_id.map(|t| format!("{t}:Refunded"));
                    if let Some(amount) = amount {
                        v.outcome = Outcome::RefundedAmount { amount };
                    }
                    v.amount = None;
                }
                "Reversed" => {
                    v.authorisation = ipn.get("parent_txn_id").map(str::to_string);
                    v.amount = None;
                    fail(&mut v, Outcome::LateFailure, "payment reversed");
                }
                "Canceled_Reversal" => {
                    // The reversal was cancelled: the money is back.
                    v.authorisation = ipn.get("parent_txn_id").map(str::to_string);
                    v.outcome = Outcome::Paid;
                }
                _ => v.amount = None,
            },
        }
        Ok(v)
    }

    fn check_receiver(&self, ipn: &Ipn) -> Result<(), IpnError> {
        let ours = &self.button.business;
        let refuse = |field: &'static str, got: &str| IpnError::Receiver {
            field,
            got: got.chars().take(80).collect(),
        };
        let email = ipn.get("receiver_email");
        let id = ipn.get("receiver_id");
        match (email, id, &self.receiver_id) {
            (_, Some(got), Some(want)) if got != want => return Err(refuse("receiver_id", got)),
            (Some(got), _, _)
                if !got.eq_ignore_ascii_case(ours) && Some(got) != self.receiver_id.as_deref() =>
            {
                return Err(refuse("receiver_email", got))
            }
            (None, None, _) => return Err(refuse("receiver_email", "")),
            _ => {}
        }
        if let Some(b) = ipn.get("business") {
            if !b.eq_ignore_ascii_case(ours) && Some(b) != self.receiver_id.as_deref() {
                return Err(refuse("business", b));
            }
        }
        Ok(())
    }
}

/// `mc_gross` (negative on refunds and reversals) as our money.
fn read_amount(gross: &str, currency: &str) -> Result<Money, IpnError> {
    let digits = gross.strip_prefix('-').unwrap_or(gross);
    bank_paypal::amount::from_value(digits, currency).map_err(|_| IpnError::Amount {
        amount: gross.chars().take(40).collect(),
        currency: currency.chars().take(8).collect(),
        reason: "not an exact amount of that currency",
    })
}

/// What PayPal gets for every IPN: 200, empty body.
pub fn acknowledgement() -> Reply {
    Reply::ok_text("")
}

#[async_trait]
impl Acquirer for PayPalIpn {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        // With REST credentials refunds go through the API, else staff refunds at PayPal
        // and records it (a `Refunded` IPN follows either way).
        c.refund = RefundSupport::Partial;
        c.recurring = true;
        c.currencies = bank_paypal::amount::supported();
        c.min_minor = 1;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let form = button::form(tx, ctx, &self.button, &self.form_url, self.ewp.as_ref())
            .map_err(|e| self.err(e))?;
        Ok(PaymentRequest::Form(form))
    }

    async fn verify(&self, n: &Notification, _ctx: &VerifyContext) -> Result<Verified, Error> {
        if n.channel == Channel::Browser {
            // The payer's return proves nothing: the IPN settles.
            let reference = url::form_urlencoded::parse(n.query.as_bytes())
                .find(|(k, _)| k == "ref")
                .map(|(_, v)| v.into_owned());
            let mut v = Verified::new(reference, Outcome::Nothing);
            v.reply = acknowledgement();
            return Ok(v);
        }
        // Parsed first only to refuse what PayPal never sends without asking it; the
        // postback carries the raw bytes, never a re-encoding.
        let ipn = Ipn::parse(&n.body).map_err(|e| self.err(e))?;
        self.postback(&n.body).await.map_err(|e| self.err(e))?;
        self.decode(&ipn).map_err(|e| self.err(e))
    }

    fn refund_event_id(&self, provider_reference: &str) -> Option<String> {
        // A refund made through Payments v2 is notified by a `Refunded` IPN whose
        // `txn_id` is the refund's id.
        Some(format!("{provider_reference}:Refunded"))
    }

    fn rejection_reply(&self, _error: &Error) -> Reply {
        // PayPal only looks at the status: a 200 stops its re-sends of a message that will
        // never verify; it is stored for review.
        acknowledgement()
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        _ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let Some(client) = &self.rest else {
            return Ok(OperationResult {
                provider_reference: None,
                manual: true,
            });
        };
        let txn = tx
            .authorisation
            .clone()
            .filter(|a| bank_paypal::event::is_paypal_id(a))
            .ok_or_else(|| {
                Error::provider(
                    self.info.id.clone(),
                    bank_core::ProviderFailure::Refused,
                    format!("{} has no PayPal transaction", tx.reference),
                )
            })?;
        let body = json!({ "amount": bank_paypal::amount::money_json(amount).map_err(|e| e.into_core(&self.info.id))? });
        let request_id: String = format!("bank-refund-{key}").chars().take(108).collect();
        let r = client
            .post(
                "refund",
                &format!("/v2/payments/captures/{txn}/refund"),
                &body,
                &request_id,
            )
            .await
            .map_err(|e| e.into_core(&self.info.id))?;
        Ok(OperationResult {
            provider_reference: r
                .body
                .get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            manual: false,
        })
    }
}
