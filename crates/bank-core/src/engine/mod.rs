//! The engine: creates transactions, offers payment choices, runs the notification path,
//! delivers hooks from the outbox, and carries out staff actions.
//!
//! Every change of a transaction goes through `Engine::commit`, which plans it with the
//! transition table of [`crate::status`] against the row locked by [`Store::apply`] and
//! writes it in the same database transaction.

mod manual;
mod notify;
mod outbox;
mod plan;
mod recurring;
mod unverified;

pub use unverified::{MAX_BODY, MAX_HEADERS, MAX_HEADER_VALUE, MAX_QUERY, UNKNOWN_BUCKET};

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use tokio::sync::Notify;

pub use notify::{Effect, NotificationResult};
pub use outbox::DeliveryReport;

use crate::acquirer::{InstanceInfo, InstanceUrls, PaymentContext, PaymentRequest};
use crate::clock::{Clock, SystemClock};
use crate::config::{EngineSettings, Installation};
use crate::error::Error;
use crate::hooks::{HookName, Hooks};
use crate::money::Money;
use crate::registry::Registry;
use crate::signer::FormSigner;
use crate::status::{Event, Status};
use crate::store::{Applied, NewNotification, Store, TxKey};
use crate::transaction::{HistoryKind, NewTransaction, Reference, Transaction};

/// One way to pay a transaction, for the payment page.
#[derive(Debug, Clone)]
pub struct PaymentChoice {
    /// The instance.
    pub instance: InstanceInfo,
    /// What to show.
    pub request: PaymentRequest,
}

/// The engine. Cheap to share behind an `Arc`.
pub struct Engine {
    store: Arc<dyn Store>,
    registry: Registry,
    hooks: Arc<dyn Hooks>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    /// The store's counters as acquirers see them (made once, not per notification).
    counters: Arc<dyn crate::acquirer::Counters>,
    installation: String,
    base_url: String,
    signer: FormSigner,
    wake: Arc<Notify>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("installation", &self.installation)
            .field("store", &self.store)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// What a change should do, before it is planned against the current row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Intent {
    /// The status event, or `None` to only record (or refund in part).
    pub event: Option<Event>,
    /// Instance involved.
    pub instance: Option<String>,
    /// Raw notification to store with the change.
    pub notification: Option<NewNotification>,
    /// Kind of the history line when nothing transitions (Notification, Manual…).
    pub origin: Option<HistoryKind>,
    /// Details for history and hooks (an object).
    pub detail: serde_json::Value,
    /// Provider authorisation number to set on success.
    pub authorisation: Option<String>,
    /// Provider subscription token.
    pub subscription_id: Option<String>,
    /// Provider error code and message (failures).
    pub error: Option<(Option<String>, Option<String>)>,
    /// The amount the provider says was paid: must equal the transaction's.
    pub check_amount: Option<Money>,
    /// The payer chose the amount: `check_amount` must be at least the transaction's, in
    /// its currency, and a payment sets the transaction's amount to it.
    pub amount_chosen_by_payer: bool,
    /// A refund notified by the provider: the refunded total so far. Equal to the amount:
    /// `rembourse`.
    pub refund_total: Option<Money>,
    /// A refund notified by the provider as its own amount (PayPal's IPN): added to what
    /// was refunded under the row lock, then handled as `refund_total`. The notification's
    /// event id (the refund's) keeps a repeated notice from adding twice.
    pub refund_amount: Option<Money>,
    /// A subscription's payment tried on its first transaction: when that is settled
    /// already (as read under the row lock), nothing is written and the caller makes an
    /// instalment of it instead.
    pub first_payment_only: bool,
    /// A step of a refund made by staff through the acquirer.
    pub staff_refund: Option<StaffRefund>,
    /// Extra hooks (subscription ones) when the change applies.
    pub extra_hooks: Vec<HookName>,
    /// Replace the transition's usual hooks (instalments call renouveler, not activer).
    pub replace_hooks: Option<Vec<HookName>>,
    /// Write nothing when the table changes nothing: a payer's browser posting one of our
    /// forms again (a double click, a replay of the public page's form) must not add rows.
    pub quiet_if_unchanged: bool,
}

/// A refund made by staff goes in three steps so that two staff members clicking at once
/// never refund twice: the amount is reserved under the row lock before the provider is
/// called, then confirmed (hooks) or released (provider error).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StaffRefund {
    /// Add this amount to the refunded total if it fits in what is refundable.
    Reserve(Money),
    /// The provider refunded this amount: `rembourse` if all is refunded, hooks.
    Confirm(Money),
    /// The provider refused: give the reservation back.
    Release(Money),
}

/// What a committed change did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Committed {
    /// The status changed.
    Transitioned { from: Status, to: Status },
    /// Refunded in part; status unchanged.
    PartialRefund { total: i64 },
    /// Recorded; nothing changed (replay or stale).
    NoOp,
    /// Recorded; the event was not allowed in this status.
    Forbidden,
    /// Recorded; amount or currency did not match the transaction.
    Mismatch { expected: Money, got: Money },
    /// A refund reservation was made.
    Reserved,
    /// A payment for a transaction already paid by other means: recorded, nothing changed.
    DoublePayment,
    /// A refund reservation did not fit: nothing changed.
    RefundRefused { refundable: Money },
    /// A duplicate of a stored provider event: nothing written.
    Duplicate,
    /// No such transaction: nothing written.
    NotFound,
    /// A first payment only, and the transaction is settled already: nothing written.
    AlreadySettled,
}

impl Engine {
    /// Opens the engine: migrates the store and checks that the database belongs to this
    /// installation (a copied production database refuses to act elsewhere).
    ///
    /// # Errors
    /// [`Error::InstallationMismatch`] or a store error.
    pub async fn open(
        store: Arc<dyn Store>,
        registry: impl Into<Registry>,
        hooks: Arc<dyn Hooks>,
        installation: &Installation,
        settings: EngineSettings,
    ) -> Result<Self, Error> {
        let registry = registry.into();
        store.migrate().await?;
        let owner = store.claim_installation(&installation.id).await?;
        if owner != installation.id {
            return Err(Error::InstallationMismatch {
                stored: owner,
                configured: installation.id.clone(),
            });
        }
        let engine = Engine {
            counters: Arc::new(StoreCounters(store.clone())),
            store,
            registry,
            hooks,
            clock: Arc::new(SystemClock),
            settings,
            installation: installation.id.clone(),
            base_url: installation.base_url.clone(),
            signer: FormSigner::new(installation.secret.clone()),
            wake: Arc::new(Notify::new()),
        };
        Ok(engine)
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What an acquirer's operation receives: the time and the store's counters (for a
    /// host or a test calling an acquirer itself).
    pub fn operation_context(&self) -> crate::acquirer::OperationContext {
        crate::acquirer::OperationContext {
            now: self.clock.now(),
            counters: Some(self.counters.clone()),
        }
    }

    /// What an acquirer's verification receives.
    pub fn verify_context(&self) -> crate::acquirer::VerifyContext {
        crate::acquirer::VerifyContext {
            installation: self.installation.clone(),
            now: self.clock.now(),
            signer: self.signer.clone(),
            counters: Some(self.counters.clone()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The configured instances.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The installation id.
    pub fn installation(&self) -> &str {
        &self.installation
    }

    /// The signer of our own forms.
    pub fn signer(&self) -> &FormSigner {
        &self.signer
    }

    /// Now, from the engine's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The host hooks.
    pub fn hooks(&self) -> &Arc<dyn Hooks> {
        &self.hooks
    }

    /// SPIP's `inserer_transaction`: creates a transaction, or recycles an identical one
    /// still `commande` created within the recycle window unless `force` is set.
    ///
    /// # Errors
    /// [`Error::InvalidTransaction`] or a store error.
    pub async fn inserer_transaction(&self, new: NewTransaction) -> Result<Transaction, Error> {
        new.validate()?;
        let now = self.clock.now();
        let since =
            (!new.force).then(|| now - Duration::minutes(self.settings.recycle_window_minutes));
        let reference = Reference::generate(&self.installation);
        let (tx, recycled) = self
            .store
            .insert_transaction(&new, &reference, now, since)
            .await?;
        tracing::info!(reference = %tx.reference, amount = %tx.amount, recycled, "transaction ready");
        Ok(tx)
    }

    /// The transaction with this reference.
    ///
    /// # Errors
    /// [`Error::UnknownTransaction`] or a store error.
    pub async fn transaction(&self, reference: &str) -> Result<Transaction, Error> {
        // Every reference of ours has one shape: anything else (a NUL byte, a megabyte of
        // path) is unknown without asking the store, which may refuse such text.
        if Reference::installation_of(reference).is_none() {
            return Err(Error::UnknownTransaction {
                reference: reference.escape_debug().take(64).collect(),
            });
        }
        self.store
            .transaction_by_reference(reference)
            .await?
            .ok_or_else(|| Error::UnknownTransaction {
                reference: reference.to_string(),
            })
    }

    /// The public base URL of the service (`installation.base_url`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The context an acquirer needs to build a payment request for `tx`.
    pub async fn payment_context(&self, tx: &Transaction, instance: &str) -> PaymentContext {
        let billing = match self.hooks.renseigner_facturation(tx).await {
            Some(b) => Some(b),
            None => tx.billing.clone(),
        };
        let echeance = if tx.recurring {
            self.hooks.decrire_echeance(tx).await
        } else {
            None
        };
        PaymentContext {
            installation: self.installation.clone(),
            urls: InstanceUrls::standard(&self.base_url, instance, &tx.reference),
            now: self.clock.now(),
            billing,
            echeance,
            signer: self.signer.clone(),
            counters: Some(self.counters.clone()),
        }
    }

    /// The ways to pay `reference`, in configured order: enabled instances that accept its
    /// amount and currency (only `gratuit`-like ones for a zero amount, each provider's
    /// range otherwise), and recurring ones for a subscription. An instance whose request
    /// fails is left out with a warning. An instance whose request calls the provider
    /// ([`Capabilities::request_on_choice`](crate::Capabilities)) is offered as a signed
    /// button posting to its `choose` endpoint; [`Engine::chosen_request`] builds it then.
    ///
    /// # Errors
    /// [`Error::UnknownTransaction`], or [`Error::NotAllowed`] when the transaction can no
    /// longer be paid.
    pub async fn payment_choices(&self, reference: &str) -> Result<Vec<PaymentChoice>, Error> {
        let tx = self.payable(reference).await?;
        let mut out = Vec::new();
        for acq in self.registry.enabled() {
            if !offers(acq.as_ref(), &tx) {
                continue;
            }
            let ctx = self.payment_context(&tx, &acq.info().id).await;
            let request = if acq.capabilities().request_on_choice {
                Ok(PaymentRequest::Form(self.choice_form(
                    &ctx,
                    acq.info(),
                    &tx,
                )))
            } else {
                acq.payment_request(&tx, &ctx).await
            };
            match request {
                Ok(request) => out.push(PaymentChoice {
                    instance: acq.info().clone(),
                    request,
                }),
                Err(e) => {
                    tracing::warn!(instance = %acq.info().id, error = %e, "payment request failed")
                }
            }
        }
        Ok(out)
    }

    /// The payment request of `instance` for `reference`, built now because the payer
    /// pressed its button (the form of [`Engine::payment_choices`], whose `token` binds
    /// instance and reference). The instance must still be offered for the transaction.
    ///
    /// # Errors
    /// [`Error::Verification`] for a bad token, [`Error::UnknownInstance`] for an instance
    /// not offered here, [`Error::NotAllowed`] when the transaction can no longer be paid,
    /// [`Error::AmountNotAllowed`] when the instance does not take its amount, or the
    /// provider's error.
    pub async fn chosen_request(
        &self,
        instance: &str,
        reference: &str,
        token: &str,
    ) -> Result<PaymentRequest, Error> {
        if !self.signer.verify(&["choose", instance, reference], token) {
            return Err(Error::verification(instance, "bad choice token"));
        }
        let acq = self
            .registry
            .enabled()
            .find(|a| a.info().id == instance)
            .cloned()
            .ok_or_else(|| Error::UnknownInstance {
                instance: instance.to_string(),
            })?;
        let tx = self.payable(reference).await?;
        if !offers(acq.as_ref(), &tx) {
            return Err(Error::AmountNotAllowed {
                action: "payment",
                reference: tx.reference,
                reason: format!("{instance} does not take {}", tx.amount),
            });
        }
        let ctx = self.payment_context(&tx, instance).await;
        acq.payment_request(&tx, &ctx).await
    }

    fn choice_form(
        &self,
        ctx: &PaymentContext,
        info: &InstanceInfo,
        tx: &Transaction,
    ) -> crate::acquirer::Form {
        let token = self.signer.sign(&["choose", &info.id, &tx.reference]);
        crate::acquirer::Form {
            action: ctx.urls.choose_url.clone(),
            method: crate::acquirer::HttpMethod::Post,
            fields: vec![
                ("ref".into(), tx.reference.clone()),
                ("token".into(), token),
            ],
            submit_label: format!("Pay with {}", info.caption),
            auto_submit: false,
        }
    }

    /// The transaction, if a payer may still pay it.
    async fn payable(&self, reference: &str) -> Result<Transaction, Error> {
        let tx = self.transaction(reference).await?;
        if !matches!(
            tx.status,
            Status::Commande | Status::Echec | Status::Abandon
        ) {
            return Err(Error::NotAllowed {
                action: "payment",
                reference: tx.reference,
                status: tx.status,
            });
        }
        Ok(tx)
    }

    /// Plans `intent` against the transaction `key` as it is under the row lock, and
    /// writes it in one database transaction.
    pub(crate) async fn commit(
        &self,
        key: TxKey,
        intent: &Intent,
    ) -> Result<(Committed, Option<Transaction>), Error> {
        let now = self.clock.now();
        let mut committed = Committed::NotFound;
        let applied = {
            let mut planner = |tx: &Transaction| {
                let (change, c) = plan::plan(tx, intent, now);
                committed = c;
                change
            };
            self.store.apply(key, now, &mut planner).await?
        };
        match applied {
            Applied::Done { transaction, .. } => {
                if matches!(
                    committed,
                    Committed::Transitioned { .. } | Committed::PartialRefund { .. }
                ) {
                    self.wake.notify_one();
                }
                Ok((committed, Some(*transaction)))
            }
            Applied::Duplicate => Ok((Committed::Duplicate, None)),
            Applied::NotFound => Ok((Committed::NotFound, None)),
        }
    }
}

/// The store's counters, and nothing else of it, for acquirers.
struct StoreCounters(Arc<dyn Store>);

#[async_trait::async_trait]
impl crate::acquirer::Counters for StoreCounters {
    async fn next_counter(&self, name: &str) -> Result<i64, Error> {
        self.0.next_counter(name).await
    }
}

/// True when `acq` takes the transaction: its amount, currency and range, and recurring
/// payments for a subscription.
fn offers(acq: &dyn crate::acquirer::Acquirer, tx: &Transaction) -> bool {
    let caps = acq.capabilities();
    caps.accepts(tx.amount) && (!tx.recurring || caps.recurring)
}

/// The history detail: the intent's details plus `extra`.
pub(super) fn detail_with(intent: &Intent, extra: serde_json::Value) -> serde_json::Value {
    let mut d = match &intent.detail {
        serde_json::Value::Object(m) => m.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("detail".into(), other.clone());
            m
        }
    };
    if let serde_json::Value::Object(e) = extra {
        d.extend(e);
    }
    serde_json::Value::Object(d)
}
