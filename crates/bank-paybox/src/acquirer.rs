//! The `paybox` provider: the hosted page, the signed IPN, and Paybox Direct operations.
//!
//! ```toml
//! [[instance]]
//! id = "paybox"
//! provider = "paybox"
//! mode = "live"
//! [instance.options]
//! site = "1999888"
//! rang = "32"
//! identifiant = "107904482"
//! hmac_key = { env = "PAYBOX_HMAC_KEY" }   # hex, from the back office
//! cle = { env = "PAYBOX_CLE" }             # Paybox Direct: confirms paid IPNs, refunds
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bank_core::{
    async_trait, Acquirer, Capabilities, Channel, Currency, Error, Form, HttpMethod, InstanceInfo,
    Mode, Money, Notification, OperationContext, OperationResult, Options, Outcome, PaymentContext,
    PaymentRequest, ProviderDescription, RefundSupport, Transaction, Verified, VerifyContext,
};
use serde_json::json;

use crate::codes::{self, Verdict};
use crate::direct::{DirectAnswer, DirectClient, DirectRequest, Operation};
use crate::error::PayboxError;
use crate::form::{self, BillingXml, FormRequest};
use crate::response::{self, Answer};
use crate::settings::{self, Settings};
use crate::time;

/// Provider name in configuration.
pub const PROVIDER: &str = "paybox";

/// How many question numbers a Direct operation tries when Paybox refuses the number.
pub const QUESTION_ATTEMPTS: u32 = 5;

/// Largest `NUMQUESTION` Paybox accepts.
const MAX_NUMQUESTION: i64 = 2_147_483_647;

/// How long the choice between the main and the backup hosted page is kept.
const HOST_CHOICE_TTL: Duration = Duration::from_secs(60);

/// The store counter giving Direct question numbers: Paybox wants `NUMQUESTION` unique
/// per site and day (paybox.md §7.1), whatever the rank, so every rank of a site shares it.
pub fn question_counter(site: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    format!("paybox:{site}:{}", time::paris_day(now))
}

/// Checks Paybox Direct's answer to the inquiry confirming a paid IPN: when it states the
/// amount, it is the IPN's.
///
/// # Errors
/// [`PayboxError::Verification`] on a different or unreadable amount.
pub fn check_inquiry(answer: &DirectAnswer, amount_minor: i64) -> Result<(), PayboxError> {
    let Some(m) = answer
        .get("MONTANT")
        .map(str::trim)
        .filter(|m| !m.is_empty())
    else {
        return Ok(());
    };
    let stated: Option<i64> = (m.len() <= 12 && m.bytes().all(|b| b.is_ascii_digit()))
        .then(|| m.parse().ok())
        .flatten();
    match stated {
        Some(s) if s == amount_minor => Ok(()),
        _ => Err(PayboxError::verification(format!(
            "Paybox Direct states an amount of {m:?} for this transaction, the IPN {amount_minor}"
        ))),
    }
}

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Card payment (Paybox)",
        parameters: settings::parameters(),
    }
}

fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let id = info.id.clone();
    Ok(Arc::new(
        Paybox::new(info, options).map_err(|e| e.into_core(&id))?,
    ))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

/// One Paybox contract (site and rank).
pub struct Paybox {
    info: InstanceInfo,
    settings: Settings,
    direct: DirectClient,
    probe: reqwest::Client,
    host_choice: Mutex<Option<(Instant, usize)>>,
}

impl std::fmt::Debug for Paybox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paybox")
            .field("info", &self.info)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The Paybox numbers of a paid transaction, kept in `authorisation` as
/// `NUMTRANS/NUMAPPEL` (the `S` and `T` variables of the IPN).
pub fn paybox_numbers(tx: &Transaction) -> Result<(String, String), PayboxError> {
    let missing = |why: &str| PayboxError::MissingData {
        reference: tx.reference.clone(),
        reason: why.to_string(),
    };
    let auth = tx
        .authorisation
        .as_deref()
        .ok_or_else(|| missing("no Paybox transaction number recorded"))?;
    let (trans, appel) = auth
        .split_once('/')
        .ok_or_else(|| missing("authorisation is not NUMTRANS/NUMAPPEL"))?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(trans) || !digits(appel) {
        return Err(missing("authorisation is not NUMTRANS/NUMAPPEL"));
    }
    Ok((trans.to_string(), appel.to_string()))
}

/// A registered card, kept in `subscription_id` as `REFABONNE|handle|YYMM`.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// `REFABONNE`: the reference of the subscription's first transaction.
    pub refabonne: String,
    /// The card handle Paybox returned in `U`.
    pub handle: String,
    /// Card expiry, `YYMM`.
    pub expiry: String,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("refabonne", &self.refabonne)
            .field("handle", &"[card handle]")
            .field("expiry", &self.expiry)
            .finish()
    }
}

impl Subscriber {
    /// The stored form.
    pub fn encode(&self) -> String {
        format!("{}|{}|{}", self.refabonne, self.handle, self.expiry)
    }

    /// Reads the stored form (the handle may contain anything but a line break).
    pub fn decode(s: &str) -> Option<Self> {
        let (refabonne, rest) = s.split_once('|')?;
        let (handle, expiry) = rest.rsplit_once('|')?;
        let ok = !refabonne.is_empty()
            && !handle.is_empty()
            && expiry.len() == 4
            && expiry.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Subscriber {
            refabonne: refabonne.into(),
            handle: handle.into(),
            expiry: expiry.into(),
        })
    }

    /// `DATEVAL` for Direct Plus: `MMYY`.
    pub fn dateval(&self) -> String {
        format!("{}{}", &self.expiry[2..], &self.expiry[..2])
    }
}

impl Paybox {
    /// Builds an instance: options checked, keys decoded once.
    ///
    /// # Errors
    /// [`PayboxError::Config`] naming the option.
    pub fn new(info: InstanceInfo, options: &Options) -> Result<Self, PayboxError> {
        let settings = Settings::from_options(info.mode, options)?;
        if info.mode == Mode::Live && settings.cle.is_some() && !settings.confirm_ipn {
            tracing::warn!(instance = %info.id, "Paybox with `confirm_ipn = false`: a payment made on another merchant's Paybox account cannot be told apart from one on ours (all accounts share one signing key)");
        }
        if info.mode == Mode::Live && settings.cle.is_none() {
            if settings.check_ipn_source {
                tracing::warn!(instance = %info.id, "Paybox without `cle`: a paid IPN is only checked against the source addresses in `ipn_sources`; set `cle` so that each one is confirmed through Paybox Direct");
            } else {
                tracing::warn!(instance = %info.id, "Paybox without `cle`: a payment made on another merchant's Paybox account cannot be told apart from one on ours (all accounts share one signing key); set `cle` (see docs/providers/paybox.md)");
            }
        }
        let direct = DirectClient::new(settings.direct_urls.clone())?;
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| PayboxError::Config {
                option: "url",
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Paybox {
            info,
            settings,
            direct,
            probe,
            host_choice: Mutex::new(None),
        })
    }

    /// The checked settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The form fields for `tx` (what [`Acquirer::payment_request`] posts), `PBX_HMAC`
    /// last.
    ///
    /// # Errors
    /// [`PayboxError::Request`] when no e-mail is known for `PBX_PORTEUR`.
    pub fn form_fields(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<Vec<(String, String)>, PayboxError> {
        let porteur = self.porteur(tx, ctx)?;
        let time = time::pbx_time(ctx.now);
        let archivage = form::archivage_for(&tx.reference);
        let recurring = self.settings.subscriptions && tx.recurring;
        let billing = ctx.billing.as_ref().map(BillingXml::from_billing);
        let request = FormRequest {
            total_minor: tx.amount.minor(),
            currency: tx.amount.currency().numeric(),
            cmd: &tx.reference,
            porteur,
            retour: if recurring {
                form::RETOUR_SUBSCRIPTION
            } else {
                form::RETOUR
            },
            time: &time,
            archivage: Some(&archivage),
            effectue: Some(&ctx.urls.return_url),
            refuse: Some(&ctx.urls.return_url),
            annule: Some(&ctx.urls.cancel_url),
            attente: Some(&ctx.urls.return_url),
            deferred_days: self.settings.deferred_days,
            authorisation_only: self.settings.authorisation_only,
            repondre_a: Some(&ctx.urls.notify_url),
            refabonne: recurring.then_some(tx.reference.as_str()),
            // DSP2 asks for both as soon as the payer's details are known.
            cart_quantity: billing.as_ref().map(|_| 1),
            billing: billing.filter(|b| !b.is_empty()),
        };
        Ok(form::signed_fields(
            &self.settings.site,
            &self.settings.rang,
            &self.settings.identifiant,
            &self.settings.hmac,
            &request,
        ))
    }

    fn porteur<'a>(
        &'a self,
        tx: &'a Transaction,
        ctx: &'a PaymentContext,
    ) -> Result<&'a str, PayboxError> {
        let email = |s: &'a Option<String>| s.as_deref().map(str::trim).filter(|e| e.contains('@'));
        ctx.billing
            .as_ref()
            .and_then(|b| email(&b.email))
            .or_else(|| email(&tx.auteur))
            .or(self.settings.default_email.as_deref())
            .ok_or_else(|| PayboxError::Request {
                reason: "Paybox requires the payer's e-mail (PBX_PORTEUR): none in the transaction or its billing data, and no `default_email` option".into(),
            })
    }

    /// The hosted page to post to: the main host, or the backup when the main one does
    /// not answer its `load.html` health check (Paybox's recommendation; the choice is
    /// kept a minute).
    async fn system_url(&self) -> &str {
        let urls = &self.settings.system_urls;
        if urls.len() < 2 {
            return &urls[0];
        }
        if let Some((at, i)) = *self.host_choice.lock().expect("lock") {
            if at.elapsed() < HOST_CHOICE_TTL {
                return &urls[i];
            }
        }
        let mut chosen = 0;
        for (i, u) in urls.iter().enumerate() {
            if self.host_is_up(u).await {
                chosen = i;
                break;
            }
        }
        if chosen != 0 {
            tracing::warn!(instance = %self.info.id, url = %urls[chosen], "Paybox main host down: using the backup");
        }
        *self.host_choice.lock().expect("lock") = Some((Instant::now(), chosen));
        &urls[chosen]
    }

    async fn host_is_up(&self, page_url: &str) -> bool {
        let Ok(mut u) = url::Url::parse(page_url) else {
            return false;
        };
        u.set_path("/load.html");
        u.set_query(None);
        match self.probe.get(u).send().await {
            Ok(r) if r.status().is_success() => r
                .text()
                .await
                .map(|body| load_page_says_ok(&body))
                .unwrap_or(false),
            _ => false,
        }
    }

    /// Builds a Direct question with a fresh `NUMQUESTION` and sends it. A question
    /// refused for its number (`00005`: already used today, e.g. after a database was
    /// restored) was not processed, so it is asked again with the next number, at most
    /// [`QUESTION_ATTEMPTS`] times in all.
    async fn question(
        &self,
        ctx: &OperationContext,
        operation: Operation,
        fill: impl Fn(&mut DirectRequest),
    ) -> Result<DirectAnswer, PayboxError> {
        let cle = self
            .settings
            .cle
            .clone()
            .ok_or_else(|| PayboxError::DirectUnavailable {
                reason: "the `cle` option (Paybox Direct key) is not set".into(),
            })?;
        let counters = ctx.counters.clone().ok_or_else(|| PayboxError::DirectUnavailable {
            reason: "this instance runs without the engine's counters (question numbers come from the store): use it through an Engine".into(),
        })?;
        let now = ctx.now;
        let mut attempt = 1;
        loop {
            let counter = question_counter(&self.settings.site, now);
            let numquestion = counters.next_counter(&counter).await.map_err(|e| {
                PayboxError::DirectUnavailable {
                    reason: format!("no question number: {e}"),
                }
            })?;
            if !(1..=MAX_NUMQUESTION).contains(&numquestion) {
                return Err(PayboxError::DirectUnavailable {
                    reason: format!("question number {numquestion} out of Paybox's range"),
                });
            }
            let mut req = DirectRequest {
                operation,
                site: self.settings.site.clone(),
                rang: self.settings.rang.clone(),
                cle: cle.clone(),
                numquestion,
                montant: None,
                devise: None,
                reference: None,
                numtrans: None,
                numappel: None,
                dateq: time::dateq(now),
                activite: None,
                refabonne: None,
                porteur: None,
                dateval: None,
            };
            fill(&mut req);
            tracing::info!(instance = %self.info.id, operation = operation.name(), numquestion, reference = ?req.reference, "Paybox Direct question");
            match self.direct.send(&req).await {
                Err(PayboxError::Refused { code, .. })
                    if code == "00005" && attempt < QUESTION_ATTEMPTS =>
                {
                    tracing::warn!(instance = %self.info.id, numquestion, "question number refused by Paybox: asking again with the next one");
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(instance = %self.info.id, operation = operation.name(), numquestion, error = %e, "Paybox Direct failed");
                    return Err(e);
                }
                Ok(a) => return Ok(a),
            }
        }
    }

    /// Operation on the payment `tx` (capture, cancel, refund, inquiry).
    async fn on_payment(
        &self,
        ctx: &OperationContext,
        operation: Operation,
        tx: &Transaction,
        amount: Option<Money>,
    ) -> Result<DirectAnswer, PayboxError> {
        let (numtrans, numappel) = paybox_numbers(tx)?;
        self.question(ctx, operation, |r| {
            r.montant = amount.map(Money::minor);
            r.devise = amount.map(|a| a.currency().numeric());
            r.reference = Some(tx.reference.clone());
            r.numtrans = Some(numtrans.clone());
            r.numappel = Some(numappel.clone());
        })
        .await
    }

    /// Asks Paybox Direct about the payment `tx` (TYPE 00017): the raw answer.
    ///
    /// # Errors
    /// As the other Direct operations.
    pub async fn inquire(
        &self,
        tx: &Transaction,
        ctx: &OperationContext,
    ) -> Result<DirectAnswer, Error> {
        self.on_payment(ctx, Operation::Inquiry, tx, None)
            .await
            .map_err(|e| e.into_core(&self.info.id))
    }

    fn has_direct(&self) -> bool {
        self.settings.cle.is_some()
    }

    /// Confirms a paid IPN on OUR contract. Every Paybox account signs with the same key
    /// and nothing signed names the site or rank, so a payment made on another merchant's
    /// account (with our reference, amount and IPN URL) verifies like one of ours. Paybox
    /// Direct's inquiry asks under our site, rank and key: only our transactions are known.
    ///
    /// # Errors
    /// [`Error::Verification`] when Paybox does not know the transaction on our contract
    /// or states another amount; a provider error (answered 5xx, so Paybox sends the IPN
    /// again) when Paybox Direct cannot answer.
    async fn confirm_on_our_contract(
        &self,
        ctx: &OperationContext,
        a: &Answer,
        amount: Money,
    ) -> Result<(), Error> {
        let id = &self.info.id;
        if a.numero_transaction.is_empty() || a.numero_appel.is_empty() {
            return Err(PayboxError::verification(
                "paid IPN without its Paybox numbers (S, T): it cannot be confirmed",
            )
            .into_core(id));
        }
        let asked = self
            .question(ctx, Operation::Inquiry, |r| {
                r.montant = Some(amount.minor());
                r.devise = Some(amount.currency().numeric());
                r.reference = Some(a.reference.clone());
                r.numtrans = Some(a.numero_transaction.clone());
                r.numappel = Some(a.numero_appel.clone());
            })
            .await;
        match asked {
            Ok(answer) => check_inquiry(&answer, amount.minor()).map_err(|e| e.into_core(id)),
            Err(PayboxError::Refused { code, message, .. })
                if codes::direct_unknown_transaction(&code) || code == "00011" =>
            {
                tracing::warn!(instance = %id, reference = %a.reference, numtrans = %a.numero_transaction, code, "signed IPN for a transaction unknown on our contract: rejected");
                Err(PayboxError::verification(format!(
                    "genuinely signed IPN, but Paybox Direct does not know transaction {}/{} for {} on our site {} rank {} ({code}: {message}): paid on another account?",
                    a.numero_transaction, a.numero_appel, amount, self.settings.site, self.settings.rang
                ))
                .into_core(id))
            }
            Err(e) => {
                tracing::error!(instance = %id, reference = %a.reference, error = %e, "paid IPN not confirmed by Paybox Direct: not processed, Paybox will send it again");
                // Not processed: Paybox sends the IPN again.
                Err(Error::provider(
                    id.clone(),
                    bank_core::ProviderFailure::Unavailable,
                    format!("paid IPN not confirmed by Paybox Direct: {e}"),
                ))
            }
        }
    }

    /// Without Paybox Direct, the next best proof: the IPN comes from one of Paybox's
    /// addresses (`check_ipn_source`), as the server determined the sender
    /// ([`Notification::peer`]: behind a proxy, `[server] trusted_proxies`). An unknown
    /// sender is refused.
    fn check_source(&self, n: &Notification) -> Result<(), PayboxError> {
        if self.has_direct() || !self.settings.check_ipn_source {
            return Ok(());
        }
        match n.peer {
            None => Err(PayboxError::verification(
                "IPN source unknown: the server could not tell where it came from",
            )),
            Some(ip) if self.settings.ipn_sources.contains(&ip) => Ok(()),
            Some(ip) => Err(PayboxError::verification(format!(
                "IPN from {ip}, not one of Paybox's addresses (`ipn_sources`)"
            ))),
        }
    }

    fn verified_from(&self, a: &Answer, amount: Money) -> Result<Verified, PayboxError> {
        let (verdict, meaning) = codes::system(&a.erreur);
        let outcome = match verdict {
            Verdict::Paid => Outcome::Paid,
            Verdict::Pending => Outcome::Waiting,
            Verdict::Cancelled => Outcome::Cancelled,
            Verdict::Failed => Outcome::Failed,
        };
        if outcome == Outcome::Paid && a.code_autorisation.trim().is_empty() {
            return Err(PayboxError::verification(
                "result 00000 without an authorisation number",
            ));
        }
        let mut v = Verified::new(Some(a.reference.clone()), outcome.clone());
        v.amount = Some(amount);
        if matches!(outcome, Outcome::Paid | Outcome::Waiting) {
            if !a.numero_transaction.is_empty() && !a.numero_appel.is_empty() {
                v.authorisation = Some(format!("{}/{}", a.numero_transaction, a.numero_appel));
            }
            if outcome == Outcome::Paid {
                if let Some((handle, expiry)) = a.card() {
                    match expiry {
                        Some(expiry) => {
                            v.subscription_id = Some(
                                Subscriber {
                                    refabonne: a.reference.clone(),
                                    handle,
                                    expiry,
                                }
                                .encode(),
                            )
                        }
                        None => {
                            tracing::warn!(instance = %self.info.id, reference = %a.reference, "card handle without expiry: subscription not recorded")
                        }
                    }
                }
            }
        } else {
            v.error_code = Some(a.erreur.clone());
            v.error_message = Some(meaning.clone());
        }
        v.detail = json!({
            "erreur": a.erreur,
            "meaning": meaning,
            "code_autorisation": a.code_autorisation,
            "numero_appel": a.numero_appel,
            "numero_transaction": a.numero_transaction,
            "date_transaction": a.date_transaction,
            "heure_transaction": a.heure_transaction,
            "card_registered": a.abonnement.is_some(),
        });
        Ok(v)
    }
}

/// True when Paybox's `load.html` says the host is up (`<div id="server_status">OK</div>`).
pub fn load_page_says_ok(body: &str) -> bool {
    body.find("server_status")
        .map(|i| &body[i..])
        .and_then(|rest| rest.find('>').map(|j| &rest[j + 1..]))
        .is_some_and(|text| text.trim_start().starts_with("OK"))
}

/// The raw variables of a notification: the query of a GET, the body of a POST
/// (`PBX_RUF1=POST`) unless the query carries the signature.
fn raw_variables(n: &Notification) -> Result<&str, PayboxError> {
    if n.method == HttpMethod::Post && !n.body.is_empty() && !n.query.contains("signature=") {
        std::str::from_utf8(&n.body)
            .map_err(|_| PayboxError::verification("body is not UTF-8 (Paybox URL-encodes it)"))
    } else {
        Ok(n.query.as_str())
    }
}

#[async_trait]
impl Acquirer for Paybox {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        let direct = self.has_direct();
        c.refund = if direct {
            RefundSupport::Partial
        } else {
            RefundSupport::None
        };
        c.capture =
            direct && (self.settings.authorisation_only || self.settings.deferred_days.is_some());
        c.cancel = direct;
        c.recurring = direct && self.settings.subscriptions;
        // Paybox's documentation gives EUR; PBX_TOTAL has 3 to 10 digits.
        c.currencies = vec![Currency::EUR];
        c.min_minor = 1;
        c.max_minor = 9_999_999_999;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let fields = self
            .form_fields(tx, ctx)
            .map_err(|e| e.into_core(&self.info.id))?;
        Ok(PaymentRequest::Form(Form {
            action: self.system_url().await.to_string(),
            method: HttpMethod::Post,
            fields,
            submit_label: "Pay by card".into(),
            auto_submit: true,
        }))
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        let id = &self.info.id;
        let raw = raw_variables(n).map_err(|e| e.into_core(id))?;
        match n.channel {
            Channel::Server => {
                let a = response::verify(&self.settings.public_key, raw)
                    .map_err(|e| e.into_core(id))?;
                let minor = a.amount_minor().map_err(|e| e.into_core(id))?;
                let amount = Money::from_minor(minor, Currency::EUR)?;
                let mut v = self
                    .verified_from(&a, amount)
                    .map_err(|e| e.into_core(id))?;
                if v.outcome == Outcome::Paid {
                    self.check_source(n).map_err(|e| e.into_core(id))?;
                    if self.has_direct() && self.settings.confirm_ipn {
                        if let Some(counters) = &ctx.counters {
                            let op = OperationContext {
                                now: ctx.now,
                                counters: Some(counters.clone()),
                            };
                            self.confirm_on_our_contract(&op, &a, amount).await?;
                        } else if let Some(d) = v.detail.as_object_mut() {
                            // Outside an engine (`bank verify` on a capture): the signature
                            // is checked; the inquiry needs the store's question numbers.
                            // The engine always passes them, so no settlement skips it.
                            d.insert(
                                "confirmed_by_direct".into(),
                                json!("not checked: no engine (offline verification)"),
                            );
                        }
                    }
                }
                tracing::info!(instance = %id, reference = %a.reference, erreur = %a.erreur, "Paybox IPN verified");
                Ok(v)
            }
            Channel::Browser => {
                // Only the IPN settles; a signed return is still checked, so that a forged
                // one is stored for review instead of being shown as genuine.
                if !raw.contains("signature=") {
                    return Ok(Verified::new(None, Outcome::Nothing));
                }
                let a = response::verify(&self.settings.public_key, raw)
                    .map_err(|e| e.into_core(id))?;
                let mut v = Verified::new(Some(a.reference.clone()), Outcome::Nothing);
                v.detail = json!({ "erreur": a.erreur, "meaning": codes::system(&a.erreur).1 });
                Ok(v)
            }
        }
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        // Paybox Direct has no idempotency key and a refund question is never sent twice
        // (see `direct`); the engine's key identifies it in the logs.
        tracing::info!(instance = %self.info.id, reference = %tx.reference, %amount, key, "Paybox refund");
        let a = self
            .on_payment(ctx, Operation::Refund, tx, Some(amount))
            .await
            .map_err(|e| e.into_core(&self.info.id))?;
        Ok(OperationResult {
            provider_reference: a.get("NUMTRANS").map(str::to_string),
            manual: false,
        })
    }

    async fn capture(
        &self,
        tx: &Transaction,
        amount: Money,
        ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let a = self
            .on_payment(ctx, Operation::Capture, tx, Some(amount))
            .await
            .map_err(|e| e.into_core(&self.info.id))?;
        Ok(OperationResult {
            provider_reference: a.get("NUMTRANS").map(str::to_string),
            manual: false,
        })
    }

    async fn cancel(
        &self,
        tx: &Transaction,
        ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let a = self
            .on_payment(ctx, Operation::Cancel, tx, Some(tx.amount))
            .await
            .map_err(|e| e.into_core(&self.info.id))?;
        Ok(OperationResult {
            provider_reference: a.get("NUMTRANS").map(str::to_string),
            manual: false,
        })
    }

    async fn charge_instalment(
        &self,
        first: &Transaction,
        instalment: &Transaction,
        key: &str,
        ctx: &OperationContext,
    ) -> Result<Verified, Error> {
        let id = &self.info.id;
        let sub = first
            .subscription_id
            .as_deref()
            .and_then(Subscriber::decode)
            .ok_or_else(|| {
                PayboxError::MissingData {
                    reference: first.reference.clone(),
                    reason: "no registered card (REFABONNE|handle|YYMM) in subscription_id".into(),
                }
                .into_core(id)
            })?;
        tracing::info!(instance = %id, first = %first.reference, instalment = %instalment.reference, key, "Paybox Direct Plus debit");
        let amount = instalment.amount;
        let asked = self
            .question(ctx, Operation::SubscriberDebit, |r| {
                r.montant = Some(amount.minor());
                r.devise = Some(amount.currency().numeric());
                r.reference = Some(instalment.reference.clone());
                r.activite = Some("027");
                r.refabonne = Some(sub.refabonne.clone());
                r.porteur = Some(sub.handle.clone());
                r.dateval = Some(sub.dateval());
            })
            .await;
        let mut v = Verified::new(Some(first.reference.clone()), Outcome::InstalmentPaid);
        v.amount = Some(amount);
        match asked {
            Ok(a) => {
                let trans = a.get("NUMTRANS").unwrap_or_default().to_string();
                let appel = a.get("NUMAPPEL").unwrap_or_default().to_string();
                if !trans.is_empty() && !appel.is_empty() {
                    v.authorisation = Some(format!("{trans}/{appel}"));
                    v.event_id = Some(format!("direct:{trans}/{appel}"));
                }
                // PORTEUR is the card handle: a debit credential, never kept in history.
                let fields: Vec<&(String, String)> =
                    a.fields.iter().filter(|(k, _)| k != "PORTEUR").collect();
                v.detail = json!({ "direct": fields, "instalment": instalment.reference });
                Ok(v)
            }
            Err(PayboxError::Refused { code, message, .. })
                if codes::definite_card_refusal(&code) =>
            {
                v.outcome = Outcome::InstalmentFailed;
                v.error_code = Some(code.clone());
                v.error_message = Some(message.clone());
                v.detail =
                    json!({ "code": code, "message": message, "instalment": instalment.reference });
                Ok(v)
            }
            Err(PayboxError::Refused { code, message, .. }) => {
                // Paybox or the bank could not answer, or our request was wrong: nothing
                // about the card. The instalment stays to be debited again.
                tracing::warn!(instance = %id, instalment = %instalment.reference, code, message, "Paybox Direct Plus debit not done: to try again");
                Err(Error::provider(
                    id.clone(),
                    bank_core::ProviderFailure::Unavailable,
                    format!("instalment not debited, to try again ({code}): {message}"),
                )
                .with_code(code.clone()))
            }
            Err(e) => Err(e.into_core(id)),
        }
    }

    async fn cancel_subscription(
        &self,
        first: &Transaction,
        ctx: &OperationContext,
    ) -> Result<OperationResult, Error> {
        let id = &self.info.id;
        let sub = first
            .subscription_id
            .as_deref()
            .and_then(Subscriber::decode)
            .ok_or_else(|| {
                PayboxError::MissingData {
                    reference: first.reference.clone(),
                    reason: "no registered card in subscription_id".into(),
                }
                .into_core(id)
            })?;
        match self
            .question(ctx, Operation::DeleteSubscriber, |r| {
                r.refabonne = Some(sub.refabonne.clone());
            })
            .await
        {
            Ok(a) => Ok(OperationResult {
                provider_reference: a.get("REFABONNE").map(str::to_string),
                manual: false,
            }),
            // Unknown subscriber: already deleted, which is what was asked.
            Err(PayboxError::Refused { code, .. }) if code == "00017" => Ok(OperationResult {
                provider_reference: Some(sub.refabonne),
                manual: false,
            }),
            Err(e) => Err(e.into_core(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_round_trip() {
        let s = Subscriber {
            refabonne: "shop-abc".into(),
            handle: "SLD|Lrc+/".into(),
            expiry: "2912".into(),
        };
        assert_eq!(Subscriber::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.dateval(), "1229");
        assert!(Subscriber::decode("a|b|12").is_none());
        assert!(Subscriber::decode("a|b").is_none());
        assert!(!format!("{s:?}").contains("SLD"));
    }

    #[test]
    fn an_inquiry_stating_another_amount_is_refused() {
        let answer = |f: &[(&str, &str)]| DirectAnswer {
            fields: f
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        assert!(check_inquiry(&answer(&[("MONTANT", "0000004200")]), 4200).is_ok());
        assert!(check_inquiry(&answer(&[("CODEREPONSE", "00000")]), 4200).is_ok());
        for bad in ["0000000100", "42.00", "-4200", "x"] {
            assert!(
                matches!(
                    check_inquiry(&answer(&[("MONTANT", bad)]), 4200),
                    Err(PayboxError::Verification { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn question_counter_is_per_site_and_paris_day() {
        // 23:30 UTC on 30 April is 1 May in Paris (summer time).
        let now = chrono::DateTime::parse_from_rfc3339("2024-04-30T23:30:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(question_counter("1999888", now), "paybox:1999888:20240501");
    }

    #[test]
    fn load_page() {
        assert!(load_page_says_ok(
            r#"<html><div id="server_status" style="text-align:center;">OK</div></html>"#
        ));
        assert!(!load_page_says_ok(r#"<div id="server_status">KO</div>"#));
        assert!(!load_page_says_ok("OK"));
    }
}
