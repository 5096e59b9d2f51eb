//! The service the HTTP server calls to charge a transaction on a terminal.
//!
//! A browser cannot open a raw TCP connection, so the point of sale asks the server:
//! [`TerminalService::charge`] runs the exchange with the terminal and settles its answer
//! through [`Engine::settle_verified`], the engine's normal path (amount check, row lock,
//! transition table, outbox), with a raw notification recording the exchange as evidence:
//! the frames sent and received, card number masked.
//!
//! | terminal says                 | transaction                                  |
//! |-------------------------------|----------------------------------------------|
//! | approved (`AE=10`, echo OK)   | `ok`, authorisation number; hooks            |
//! | declined (`AE=01`)            | `echec`, `AF` code and reason; hook          |
//! | unreachable (no connection)   | unchanged: nothing was sent; evidence kept   |
//! | anything else (time-out…)     | unchanged, evidence kept: **ask the cashier** |
//!
//! An unknown outcome is never retried automatically and never marked `echec`: the card
//! may have been charged. The cashier reads the terminal's receipt and the point of sale
//! records it with [`TerminalService::resolve`], through the same engine path.
//!
//! One exchange at a time per terminal: a second charge while one runs is refused with
//! [`CaisseApError::Busy`], and a transaction already being charged (on any terminal) with
//! [`CaisseApError::AlreadyCharging`]. Nothing is queued, so a double click cannot charge
//! twice.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};

use bank_core::config::{Config, Env};
use bank_core::{
    Channel, Effect, Engine, HttpMethod, Money, Notification, NotificationResult, Outcome, Status,
    Transaction, Verified,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::acquirer::{describe, settings_from_options, PROVIDER};
use crate::client::{Exchange, ExchangeOutcome, TerminalClient, TerminalConfig};
use crate::codec::escape;
use crate::error::CaisseApError;
use crate::protocol::{application_label, read_mode_label, Action, Request};

/// Header naming the terminal in the stored evidence.
pub const TERMINAL_HEADER: &str = "x-caisse-ap-terminal";
/// Header naming the staff member who resolved an unknown outcome.
pub const STAFF_HEADER: &str = "x-bank-staff";

/// The result of a charge, in a form a point of sale can show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChargeOutcome {
    /// Paid.
    Approved {
        /// Amount charged.
        amount: Money,
        /// Authorisation number (none for a cheque).
        authorisation: Option<String>,
        /// Card number, masked.
        card: Option<String>,
        /// Payment application in words (CB contact, cheque…).
        application: Option<String>,
    },
    /// Refused or cancelled on the terminal.
    Declined {
        /// Reason code (`AF`).
        code: Option<String>,
        /// Reason in words.
        reason: String,
    },
    /// The terminal could not be reached: nothing was charged.
    Unreachable {
        /// Why.
        reason: String,
    },
    /// Unknown: the card may have been charged. Ask the cashier, then
    /// [`TerminalService::resolve`].
    Unknown {
        /// Why.
        reason: String,
    },
}

impl ChargeOutcome {
    /// True only for an approval.
    pub fn is_approved(&self) -> bool {
        matches!(self, ChargeOutcome::Approved { .. })
    }
}

/// What [`TerminalService::charge`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChargeReport {
    /// The terminal instance.
    pub instance: String,
    /// The transaction.
    pub reference: String,
    /// What the terminal said.
    pub outcome: ChargeOutcome,
    /// For the cashier, in words.
    pub message: String,
    /// The transaction's status afterwards.
    pub status: Option<Status>,
    /// What the settlement did (a double payment or amount mismatch shows here).
    pub effect: Option<Effect>,
    /// The frame sent.
    pub sent: String,
    /// The answer received, card number masked, non-printable bytes as `\xNN`.
    pub received: String,
}

/// What the cashier read on the terminal after an unknown outcome. As JSON:
/// `{"word": "approved", "authorisation": "123456"}` or `{"word": "declined", "note": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "word", rename_all = "snake_case")]
pub enum CashierWord {
    /// The receipt says approved, with this authorisation number.
    Approved {
        /// The authorisation number on the receipt.
        authorisation: String,
    },
    /// The receipt says refused or cancelled, or nothing was printed.
    Declined {
        /// What the cashier noted.
        note: Option<String>,
    },
}

/// Charges transactions on the terminals of an engine. Cheap to share behind an `Arc`.
pub struct TerminalService {
    engine: Arc<Engine>,
    terminals: BTreeMap<String, TerminalClient>,
    in_flight: Arc<StdMutex<HashSet<String>>>,
}

impl fmt::Debug for TerminalService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalService")
            .field("terminals", &self.terminals.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Marks a transaction as being charged until dropped.
struct InFlight {
    set: Arc<StdMutex<HashSet<String>>>,
    reference: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.reference);
    }
}

fn payable(status: Status) -> bool {
    matches!(
        status,
        Status::Commande | Status::Attente | Status::Echec | Status::Abandon
    )
}

impl TerminalService {
    /// A service with no terminal yet ([`TerminalService::add_terminal`]).
    pub fn new(engine: Arc<Engine>) -> Self {
        TerminalService {
            engine,
            terminals: BTreeMap::new(),
            in_flight: Arc::default(),
        }
    }

    /// A service for every `caisse-ap-ip` instance of `config`, read as the registry reads
    /// it (environment overrides applied, options checked).
    ///
    /// # Errors
    /// [`CaisseApError::Engine`] with the configuration error.
    pub fn from_config(
        engine: Arc<Engine>,
        config: &Config,
        env: &dyn Env,
    ) -> Result<Self, CaisseApError> {
        let mut service = TerminalService::new(engine);
        let desc = describe();
        for ic in config.instances.iter().filter(|i| i.provider == PROVIDER) {
            let mut ic = ic.clone();
            Config::apply_option_overrides(&mut ic, &desc, env);
            ic.options.check(&desc, ic.mode)?;
            let (terminal, _) = settings_from_options(&ic.id, &ic.options)?;
            service.add_terminal(&ic.id, terminal)?;
        }
        Ok(service)
    }

    /// Adds (or replaces) the terminal link of `instance`.
    ///
    /// # Errors
    /// [`CaisseApError::InvalidSetting`].
    pub fn add_terminal(
        &mut self,
        instance: &str,
        config: TerminalConfig,
    ) -> Result<(), CaisseApError> {
        self.terminals
            .insert(instance.to_string(), TerminalClient::new(config)?);
        Ok(())
    }

    /// The terminal instances, in id order.
    pub fn instances(&self) -> impl Iterator<Item = &str> {
        self.terminals.keys().map(String::as_str)
    }

    /// The client of `instance`.
    pub fn terminal(&self, instance: &str) -> Option<&TerminalClient> {
        self.terminals.get(instance)
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    fn client(&self, instance: &str) -> Result<&TerminalClient, CaisseApError> {
        let not = || CaisseApError::NotATerminal {
            instance: instance.to_string(),
        };
        let acq = self.engine.registry().get(instance).ok_or_else(not)?;
        if acq.info().provider != PROVIDER {
            return Err(not());
        }
        self.terminals.get(instance).ok_or_else(not)
    }

    fn mark_in_flight(&self, reference: &str) -> Result<InFlight, CaisseApError> {
        let mut set = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(reference.to_string()) {
            return Err(CaisseApError::AlreadyCharging {
                reference: reference.to_string(),
            });
        }
        Ok(InFlight {
            set: self.in_flight.clone(),
            reference: reference.to_string(),
        })
    }

    async fn payable_tx(&self, reference: &str) -> Result<Transaction, CaisseApError> {
        let tx = self.engine.transaction(reference).await?;
        if !payable(tx.status) {
            return Err(CaisseApError::NotPayable {
                reference: tx.reference,
                status: tx.status,
            });
        }
        Ok(tx)
    }

    /// Charges the transaction `reference` on the terminal `instance` and settles the
    /// answer (see the module documentation). Waits for the cardholder: up to the
    /// instance's deadline (180 s by default).
    ///
    /// An `Ok` report is returned for every answer, approved or not; an error means
    /// nothing was sent to the terminal, except [`CaisseApError::NotRecorded`].
    ///
    /// # Errors
    /// [`CaisseApError::NotATerminal`], [`CaisseApError::NotPayable`] (already paid),
    /// [`CaisseApError::CurrencyNotAccepted`], [`CaisseApError::InvalidAmount`],
    /// [`CaisseApError::Busy`], [`CaisseApError::AlreadyCharging`], an engine error
    /// before sending; [`CaisseApError::NotRecorded`] when the terminal answered and the
    /// answer could not be stored (the message says what the terminal said).
    pub async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<ChargeReport, CaisseApError> {
        let client = self.client(instance)?;
        let tx = self.payable_tx(reference).await?;
        if let Some(acq) = self.engine.registry().get(instance) {
            if !acq
                .capabilities()
                .currencies
                .contains(&tx.amount.currency())
            {
                return Err(CaisseApError::CurrencyNotAccepted {
                    instance: instance.to_string(),
                    currency: tx.amount.currency().code().to_string(),
                });
            }
        }
        let request = Request::new(
            &client.config().header,
            tx.amount,
            Action::Debit,
            client.config().method,
        )?;
        let _flight = self.mark_in_flight(&tx.reference)?;
        let session = client.try_lock()?;
        // Read again under the lock: a charge that just ended may have paid it.
        let tx = self.payable_tx(reference).await?;
        self.record_start(instance, &tx, &request, client).await?;
        let exchange = session.exchange(&request).await;
        match self.settle(instance, &tx, &exchange).await {
            Ok(report) => Ok(report),
            Err(source) => {
                let said = describe_outcome(&exchange.outcome);
                tracing::error!(instance, reference = %tx.reference, terminal_said = %said, exchange = %exchange.evidence(), error = %source, "terminal answer NOT RECORDED: record it with resolve");
                Err(CaisseApError::NotRecorded {
                    reference: tx.reference.clone(),
                    terminal_said: said,
                    source: Box::new(source),
                })
            }
        }
    }

    /// Stores "exchange started" before anything is sent, so that a crash during the wait
    /// leaves a trace for staff.
    async fn record_start(
        &self,
        instance: &str,
        tx: &Transaction,
        request: &Request,
        client: &TerminalClient,
    ) -> Result<(), CaisseApError> {
        let sent = escape(&request.encode());
        let body = json!({
            "step": "started",
            "terminal": client.config().endpoint(),
            "sent": sent,
        });
        let raw = self.raw(Channel::Server, &client.config().endpoint(), None, &body);
        let mut v = Verified::new(Some(tx.reference.clone()), Outcome::Nothing);
        // The amount sent is what a later resolve may settle, and nothing else.
        v.detail = json!({
            "terminal": "exchange started",
            "sent": sent,
            "amount_minor": tx.amount.minor(),
            "currency": tx.amount.currency().code(),
        });
        self.engine.settle_verified(instance, &raw, v).await?;
        Ok(())
    }

    fn raw(
        &self,
        channel: Channel,
        terminal: &str,
        staff: Option<&str>,
        body: &serde_json::Value,
    ) -> Notification {
        let mut n = Notification::new(channel, HttpMethod::Post, self.engine.now());
        n.headers
            .push(("content-type".into(), "application/json".into()));
        n.headers.push((TERMINAL_HEADER.into(), terminal.into()));
        if let Some(s) = staff {
            n.headers.push((STAFF_HEADER.into(), s.into()));
        }
        n.body = body.to_string().into_bytes();
        n
    }

    async fn settle(
        &self,
        instance: &str,
        tx: &Transaction,
        exchange: &Exchange,
    ) -> Result<ChargeReport, bank_core::Error> {
        let raw = self.raw(
            Channel::Server,
            &exchange.terminal,
            None,
            &exchange.evidence(),
        );
        let mut v = Verified::new(Some(tx.reference.clone()), Outcome::Nothing);
        let outcome = match &exchange.outcome {
            ExchangeOutcome::Approved(a) => {
                v.outcome = Outcome::Paid;
                v.amount = Some(a.amount);
                v.authorisation = a.authorisation.clone();
                v.detail = json!({
                    "terminal": exchange.terminal,
                    "result": "approved",
                    "card": a.card,
                    "application": a.application,
                    "application_label": a.application_label(),
                    "read_mode": a.read_mode,
                    "read_mode_label": a.read_mode.as_deref().and_then(read_mode_label),
                    "aid": a.aid,
                    "contract": a.contract,
                    "version": a.version,
                });
                ChargeOutcome::Approved {
                    amount: a.amount,
                    authorisation: a.authorisation.clone(),
                    card: a.card.clone(),
                    application: a.application.as_deref().map(|c| {
                        application_label(c).map_or_else(|| c.to_string(), str::to_string)
                    }),
                }
            }
            ExchangeOutcome::Declined(d) => {
                v.outcome = Outcome::Failed;
                v.error_code = d.code.clone();
                v.error_message = Some(match &d.extra {
                    Some(x) => format!("{} ({x})", d.reason),
                    None => d.reason.clone(),
                });
                v.detail = json!({ "terminal": exchange.terminal, "result": "declined", "code": d.code, "reason": d.reason, "extra": d.extra });
                ChargeOutcome::Declined {
                    code: d.code.clone(),
                    reason: d.reason.clone(),
                }
            }
            ExchangeOutcome::Unreachable { reason } => {
                v.detail = json!({ "terminal": exchange.terminal, "result": "unreachable", "reason": reason });
                ChargeOutcome::Unreachable {
                    reason: reason.clone(),
                }
            }
            ExchangeOutcome::Unknown(cause) => {
                v.detail = json!({ "terminal": exchange.terminal, "result": "unknown", "cause": cause, "reason": cause.to_string() });
                ChargeOutcome::Unknown {
                    reason: cause.to_string(),
                }
            }
        };
        let res = self.engine.settle_verified(instance, &raw, v).await?;
        let message = cashier_message(&outcome, &res.effect);
        Ok(ChargeReport {
            instance: instance.to_string(),
            reference: tx.reference.clone(),
            outcome,
            message,
            status: res.status,
            effect: Some(res.effect),
            sent: escape(&exchange.sent),
            received: escape(&exchange.received),
        })
    }

    /// Records what the cashier read on the terminal after an unknown outcome (or a
    /// server crash during an exchange), through the same engine path as an answer:
    /// approved settles the transaction's amount with the authorisation number, declined
    /// marks it `echec`.
    ///
    /// # Errors
    /// [`CaisseApError::NotATerminal`], [`CaisseApError::AlreadyCharging`] while an
    /// exchange runs for it, [`CaisseApError::InvalidInput`] for an empty or over-long
    /// authorisation number, an engine error.
    pub async fn resolve(
        &self,
        instance: &str,
        reference: &str,
        word: CashierWord,
        staff: &str,
    ) -> Result<NotificationResult, CaisseApError> {
        let client = self.client(instance)?;
        let tx = self.engine.transaction(reference).await?;
        let _flight = self.mark_in_flight(&tx.reference)?;
        // Read again under the in-flight mark: nothing else can resolve it meanwhile.
        let tx = self.engine.transaction(&tx.reference).await?;
        let history = self.engine.store().history(tx.id).await?;
        let nothing = |reason: String| CaisseApError::NothingToResolve {
            instance: instance.to_string(),
            reference: tx.reference.clone(),
            reason,
        };
        let Some(open) = open_exchange(&history, instance) else {
            return Err(nothing(
                "no charge was sent to this terminal, or its outcome is known".into(),
            ));
        };
        if (open.minor, open.currency.as_str()) != (tx.amount.minor(), tx.amount.currency().code())
        {
            return Err(nothing(format!(
                "the exchange was for {} minor units of {}, the transaction is {}",
                open.minor, open.currency, tx.amount
            )));
        }
        // Started and not answered: another server may still be waiting for the terminal.
        let running_until = open.started_at
            + chrono::Duration::from_std(client.config().deadline).unwrap_or_default()
            + chrono::Duration::seconds(10);
        if !open.answered && self.engine.now() < running_until {
            return Err(nothing(format!(
                "an exchange started at {} may still be running: wait for its outcome, or until {}",
                open.started_at.to_rfc3339(),
                running_until.to_rfc3339()
            )));
        }
        if !payable(tx.status) {
            return Err(nothing(format!("its status is {}", tx.status)));
        }
        let mut v = Verified::new(Some(tx.reference.clone()), Outcome::Nothing);
        let body = match &word {
            CashierWord::Approved { authorisation } => {
                let auth = authorisation.trim();
                if auth.is_empty()
                    || auth.len() > 32
                    || !auth.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                {
                    return Err(CaisseApError::InvalidInput {
                        field: "authorisation",
                        reason: "1 to 32 printable characters, as on the receipt".into(),
                    });
                }
                v.outcome = Outcome::Paid;
                v.amount = Some(tx.amount);
                v.authorisation = Some(auth.to_string());
                v.detail = json!({ "result": "approved", "source": "cashier", "staff": staff });
                json!({ "step": "resolved", "word": "approved", "authorisation": auth, "amount_minor": tx.amount.minor(), "staff": staff })
            }
            CashierWord::Declined { note } => {
                v.outcome = Outcome::Failed;
                v.error_code = Some("cashier".into());
                v.error_message = Some(match note {
                    Some(n) => format!("declined, as read on the terminal by {staff}: {n}"),
                    None => format!("declined, as read on the terminal by {staff}"),
                });
                v.detail = json!({ "result": "declined", "source": "cashier", "staff": staff, "note": note });
                json!({ "step": "resolved", "word": "declined", "note": note, "staff": staff })
            }
        };
        let raw = self.raw(
            Channel::Browser,
            &client.config().endpoint(),
            Some(staff),
            &body,
        );
        tracing::info!(instance, reference = %tx.reference, staff, word = ?word, "terminal outcome resolved by the cashier");
        Ok(self.engine.settle_verified(instance, &raw, v).await?)
    }

    /// Refunds `amount` (all that is refundable when `None`) of a transaction paid on a
    /// terminal: a refund exchange (`CD=1`) on the terminal that took it, card presented.
    /// An unknown outcome leaves the refund pending
    /// ([`Engine::resolve_pending_refund`]).
    ///
    /// # Errors
    /// As [`Engine::refund`]; a busy terminal is a refusal (nothing sent).
    pub async fn refund(
        &self,
        reference: &str,
        amount: Option<Money>,
        staff: &str,
    ) -> Result<Transaction, CaisseApError> {
        Ok(self.engine.refund(reference, amount, staff).await?)
    }
}

/// The last exchange with a terminal whose outcome is still unknown.
struct OpenExchange {
    minor: i64,
    currency: String,
    started_at: chrono::DateTime<chrono::Utc>,
    /// The terminal's answer was "unknown" (rather than no answer recorded at all).
    answered: bool,
}

/// The last exchange with the terminal `instance` recorded in `history`, when its outcome
/// is still unknown: started and never answered (the server stopped during the wait, or
/// another server is waiting), or answered with an unknown outcome, and not resolved since.
/// `None` when there is nothing to resolve.
fn open_exchange(history: &[bank_core::HistoryEntry], instance: &str) -> Option<OpenExchange> {
    let mut open: Option<OpenExchange> = None;
    for h in history
        .iter()
        .filter(|h| h.instance.as_deref() == Some(instance))
    {
        let p = &h.detail["provider"];
        if p["terminal"] == "exchange started" {
            open = match (p["amount_minor"].as_i64(), p["currency"].as_str()) {
                (Some(minor), Some(currency)) => Some(OpenExchange {
                    minor,
                    currency: currency.to_string(),
                    started_at: h.at,
                    answered: false,
                }),
                // Recorded before amounts were: cannot be matched, so not resolvable here.
                _ => None,
            };
        } else if p["result"] == "unknown" {
            if let Some(o) = open.as_mut() {
                o.answered = true;
            }
        } else if p["result"].is_string() {
            // Approved, declined, unreachable, or resolved by a cashier.
            open = None;
        }
    }
    open
}

fn describe_outcome(o: &ExchangeOutcome) -> String {
    match o {
        ExchangeOutcome::Approved(a) => format!(
            "APPROVED {} authorisation {}",
            a.amount,
            a.authorisation.as_deref().unwrap_or("-")
        ),
        ExchangeOutcome::Declined(d) => format!("declined: {}", d.reason),
        ExchangeOutcome::Unreachable { reason } => format!("unreachable: {reason}"),
        ExchangeOutcome::Unknown(c) => format!("unknown: {c}"),
    }
}

/// The message for the cashier.
pub fn cashier_message(outcome: &ChargeOutcome, effect: &Effect) -> String {
    let mut m = match outcome {
        ChargeOutcome::Approved {
            amount,
            authorisation,
            card,
            application,
        } => {
            let mut s = format!("Approved: {amount}");
            if let Some(a) = authorisation {
                s.push_str(&format!(", authorisation {a}"));
            }
            if let Some(c) = card {
                s.push_str(&format!(", card {c}"));
            }
            if let Some(a) = application {
                s.push_str(&format!(" ({a})"));
            }
            s.push('.');
            s
        }
        ChargeOutcome::Declined { code, reason } => match code {
            Some(c) => format!("Declined: {reason} (code {c})."),
            None => format!("Declined: {reason}."),
        },
        ChargeOutcome::Unreachable { reason } => format!(
            "The terminal could not be reached ({reason}): nothing was charged. Check that it is on and that its cash register link (IP/Eth) is active, then try again."
        ),
        ChargeOutcome::Unknown { reason } => format!(
            "Unknown outcome ({reason}): the card may have been charged. Do not charge again: ask the cashier what the terminal printed, then record it as approved (with the authorisation number) or declined."
        ),
    };
    match effect {
        Effect::DoublePayment => m.push_str(
            " The transaction was already paid by other means: this payment must be refunded.",
        ),
        Effect::AmountMismatch { expected, got } => m.push_str(&format!(
            " The amount differs from the transaction ({got} instead of {expected}): nothing was marked paid."
        )),
        _ => {}
    }
    m
}
