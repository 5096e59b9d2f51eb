//! The notification path (the heart): verify, find, check the amount, commit, reply.

use serde::Serialize;
use serde_json::json;

use super::{Committed, Engine, Intent};
use crate::acquirer::{Channel, Notification, Outcome, Reply};
use crate::error::Error;
use crate::hooks::HookName;
use crate::money::Money;
use crate::status::{Event, Status};
use crate::store::{NewNotification, TxKey, Verdict};
use crate::transaction::{HistoryKind, Reference, Transaction};

/// What a notification did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// The status changed.
    Transitioned {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// A partial refund was recorded.
    PartiallyRefunded {
        /// Total refunded, minor units.
        total_minor: i64,
    },
    /// Verified, recorded, nothing changed (replay, stale, or nothing to do).
    NoOp {
        /// The status, unchanged.
        status: Status,
    },
    /// Verified, recorded, but the event is not allowed in this status.
    Forbidden {
        /// The status, unchanged.
        status: Status,
    },
    /// An exact duplicate of a stored provider event: nothing written.
    Duplicate,
    /// A second payment for a transaction already paid by other means: recorded, nothing
    /// changed; the money must be sent back.
    DoublePayment,
    /// Amount or currency differed from the transaction: recorded, nothing changed.
    AmountMismatch {
        /// The transaction's amount.
        expected: String,
        /// The notification's amount.
        got: String,
    },
    /// For another installation sharing the provider account: acknowledged, ignored.
    Foreign,
    /// Reference unknown here: acknowledged with a warning.
    Unknown,
    /// Failed verification: stored for review, nothing changed.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// The result of [`Engine::handle_notification`]: the effect, and the exact reply to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationResult {
    /// What happened.
    pub effect: Effect,
    /// The reply the provider expects.
    pub reply: Reply,
    /// The transaction's reference, when one was found.
    pub reference: Option<String>,
    /// Its status after the notification.
    pub status: Option<Status>,
}

impl NotificationResult {
    fn without_tx(effect: Effect, reply: Reply) -> Self {
        NotificationResult {
            effect,
            reply,
            reference: None,
            status: None,
        }
    }
}

impl Engine {
    /// Runs the notification path for a request addressed to `instance`:
    ///
    /// 1. verify (signature, postback, form token) before trusting any field; a rejected
    ///    notification is stored for review and changes nothing;
    /// 2. find the transaction: another installation's reference is acknowledged quietly,
    ///    an unknown one with a warning, never with a 5xx;
    /// 3. check amount and currency in minor units: a mismatch never marks a payment;
    /// 4. in one database transaction: store the raw notification, append history, apply the
    ///    transition with a compare-and-set, write hook deliveries to the outbox;
    /// 5. return the reply; hooks are delivered from the outbox after commit.
    ///
    /// # Errors
    /// [`Error::UnknownInstance`]; a provider error that is not a verification failure
    /// (PayPal's postback unreachable: the caller answers 5xx so that the provider retries);
    /// a store error.
    pub async fn handle_notification(
        &self,
        instance: &str,
        n: Notification,
    ) -> Result<NotificationResult, Error> {
        let acq = self
            .registry
            .get(instance)
            .ok_or_else(|| Error::UnknownInstance {
                instance: instance.to_string(),
            })?;
        let ctx = self.verify_context();
        let v = match acq.verify(&n, &ctx).await {
            Ok(v) => v,
            Err(e @ Error::Verification { .. }) => {
                tracing::warn!(instance, error = %e, "notification rejected");
                self.record_unverified(instance, true, &n, &e.to_string())
                    .await?;
                return Ok(NotificationResult::without_tx(
                    Effect::Rejected {
                        reason: e.to_string(),
                    },
                    acq.rejection_reply(&e),
                ));
            }
            Err(e) => return Err(e),
        };
        if n.channel == Channel::Browser && v.outcome == Outcome::Nothing {
            return self.browser_return(v).await;
        }
        self.settle_verified(instance, &n, v).await
    }

    /// A payer's browser coming back with nothing verified to say (an unsigned return, a
    /// signed one that only repeats what the server notification settles): it chooses the
    /// page to show from the stored status and writes nothing, so that whoever knows a
    /// reference cannot add lines to its history.
    async fn browser_return(
        &self,
        v: crate::acquirer::Verified,
    ) -> Result<NotificationResult, Error> {
        let found = match v.reference.as_deref() {
            Some(r) => match self.transaction(r).await {
                Ok(tx) => Some(tx),
                Err(Error::UnknownTransaction { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(match found {
            Some(tx) => self.result(Effect::NoOp { status: tx.status }, v.reply, &tx),
            None => NotificationResult::without_tx(Effect::Unknown, v.reply),
        })
    }

    /// A server notification addressed to an instance not configured here (a copy of
    /// another installation, an instance removed from the configuration): nothing can
    /// verify it, so it is kept as a request that did not verify, within the budget shared
    /// by every unknown instance. The caller acknowledges it so that the provider stops.
    ///
    /// # Errors
    /// A store error.
    pub async fn record_unknown_instance(
        &self,
        instance: &str,
        n: &Notification,
    ) -> Result<(), Error> {
        tracing::warn!(
            instance = %printable(instance),
            "notification for an instance not configured here: acknowledged"
        );
        self.record_unverified(instance, false, n, "instance not configured here")
            .await
    }

    /// Steps 2 to 5 of the notification path for an outcome the server obtained itself
    /// (a card terminal's answer over TCP, a provider API read back): `raw` is what is
    /// stored as evidence, `v` is trusted as verified. Everything else holds: foreign and
    /// unknown references, the amount check, the row lock, the outbox.
    ///
    /// # Errors
    /// [`Error::UnknownInstance`]; a store error.
    pub async fn settle_verified(
        &self,
        instance: &str,
        n: &Notification,
        v: crate::acquirer::Verified,
    ) -> Result<NotificationResult, Error> {
        self.settle(instance, n, v, None).await
    }

    /// [`Engine::settle_verified`], with the instalment's transaction already made when the
    /// merchant initiated the debit (`prepared`).
    pub(super) async fn settle(
        &self,
        instance: &str,
        n: &Notification,
        v: crate::acquirer::Verified,
        prepared: Option<Transaction>,
    ) -> Result<NotificationResult, Error> {
        let acq = self
            .registry
            .get(instance)
            .ok_or_else(|| Error::UnknownInstance {
                instance: instance.to_string(),
            })?;
        // One record is made per notification, whichever path it takes.
        let record = |verdict, reason: Option<String>, event_id: Option<String>| {
            to_record(instance, n, verdict, reason, event_id)
        };

        let foreign = v
            .installation
            .as_deref()
            .is_some_and(|i| i != self.installation)
            || v.reference
                .as_deref()
                .and_then(Reference::installation_of)
                .is_some_and(|i| i != self.installation);
        if foreign {
            tracing::info!(instance, reference = ?v.reference, "notification for another installation: acknowledged, ignored");
            self.store
                .record_notification(&record(Verdict::Foreign, None, v.event_id.clone()))
                .await?;
            return Ok(NotificationResult::without_tx(Effect::Foreign, v.reply));
        }
        let settles = matches!(
            v.outcome,
            Outcome::Paid
                | Outcome::Waiting
                | Outcome::InstalmentPaid
                | Outcome::SubscriptionPayment
        );
        if settles && v.amount.is_none() {
            // An acquirer that cannot say how much was paid must not settle anything.
            let reason = format!("{instance} verified a payment without its amount");
            tracing::error!(instance, reference = ?v.reference, "{reason}: rejected");
            let e = Error::verification(instance, reason.clone());
            self.store
                // Verified, so kept for good (not prunable like rejected requests).
                .record_notification(&record(Verdict::Mismatch, Some(reason.clone()), None))
                .await?;
            return Ok(NotificationResult::without_tx(
                Effect::Rejected { reason },
                acq.rejection_reply(&e),
            ));
        }
        // A reference without the shape of ours cannot be in the store (and a NUL byte in
        // it would make PostgreSQL refuse the lookup): unknown, acknowledged.
        let reference = v
            .reference
            .clone()
            .filter(|r| Reference::installation_of(r).is_some());
        let Some(reference) = reference else {
            self.store
                .record_notification(&record(
                    Verdict::Unknown,
                    v.reference.as_deref().map(printable),
                    v.event_id.as_deref().map(printable),
                ))
                .await?;
            return Ok(NotificationResult::without_tx(Effect::Unknown, v.reply));
        };

        let mut intent = Intent {
            instance: Some(instance.to_string()),
            notification: Some(record(Verdict::Accepted, None, v.event_id.clone())),
            origin: Some(HistoryKind::Notification),
            detail: json!({
                "channel": n.channel,
                "outcome": v.outcome,
                "amount_minor": v.amount.map(Money::minor),
                "currency": v.amount.map(|m| m.currency().code()),
                "authorisation": v.authorisation,
                "error_code": v.error_code,
                "error_message": v.error_message,
                "provider": v.detail,
            }),
            authorisation: v.authorisation.clone(),
            subscription_id: v.subscription_id.clone(),
            error: Some((v.error_code.clone(), v.error_message.clone())),
            // A browser posting our form again writes nothing when it changes nothing,
            // decided under the row lock without a read before it.
            quiet_if_unchanged: n.channel == Channel::Browser,
            ..Intent::default()
        };
        match &v.outcome {
            Outcome::Paid => intent.event = Some(Event::Pay),
            Outcome::Waiting => intent.event = Some(Event::Wait),
            Outcome::Failed => intent.event = Some(Event::Fail),
            Outcome::Cancelled => intent.event = Some(Event::Abandon),
            Outcome::LateFailure => intent.event = Some(Event::LateFailure),
            Outcome::Refunded { total } => intent.refund_total = Some(*total),
            Outcome::RefundedAmount { amount } => intent.refund_amount = Some(*amount),
            Outcome::SubscriptionPayment => {
                // The first payment while the first transaction is unsettled, decided
                // under its row lock (two payments at once cannot both take it); an
                // instalment otherwise.
                let as_instalment = intent.clone();
                intent.event = Some(Event::Pay);
                intent.check_amount = v.amount;
                intent.first_payment_only = true;
                let (committed, tx) = self
                    .commit(TxKey::Reference(reference.clone()), &intent)
                    .await?;
                return match (committed, tx) {
                    (Committed::NotFound, _) => {
                        self.unknown(instance, &record, &v.reference, &v.event_id, v.reply)
                            .await
                    }
                    (Committed::AlreadySettled, Some(first)) => {
                        self.instalment(first, as_instalment, true, v.amount, v.reply, prepared)
                            .await
                    }
                    (committed, tx) => self.finish(committed, tx, &reference, v.reply).await,
                };
            }
            Outcome::InstalmentPaid | Outcome::InstalmentFailed => {
                let paid = v.outcome == Outcome::InstalmentPaid;
                return match self.store.transaction_by_reference(&reference).await? {
                    Some(first) => {
                        self.instalment(first, intent, paid, v.amount, v.reply, prepared)
                            .await
                    }
                    None => {
                        self.unknown(instance, &record, &v.reference, &v.event_id, v.reply)
                            .await
                    }
                };
            }
            Outcome::SubscriptionEnded => intent.extra_hooks = vec![HookName::Resilier],
            Outcome::Nothing => {}
        }
        if matches!(v.outcome, Outcome::Paid | Outcome::Waiting) {
            intent.check_amount = v.amount;
            intent.amount_chosen_by_payer = v.amount_chosen_by_payer;
        }
        let (committed, tx) = self
            .commit(TxKey::Reference(reference.clone()), &intent)
            .await?;
        if committed == Committed::NotFound {
            return self
                .unknown(instance, &record, &v.reference, &v.event_id, v.reply)
                .await;
        }
        self.finish(committed, tx, &reference, v.reply).await
    }

    async fn unknown(
        &self,
        instance: &str,
        record: &(dyn Fn(Verdict, Option<String>, Option<String>) -> NewNotification + Sync),
        reference: &Option<String>,
        event_id: &Option<String>,
        reply: Reply,
    ) -> Result<NotificationResult, Error> {
        tracing::warn!(instance, reference = ?reference, "notification for an unknown reference: acknowledged");
        self.store
            .record_notification(&record(
                Verdict::Unknown,
                reference.as_deref().map(printable),
                event_id.as_deref().map(printable),
            ))
            .await?;
        Ok(NotificationResult::without_tx(Effect::Unknown, reply))
    }

    /// Turns a commit into the notification's result, logging what matters.
    async fn finish(
        &self,
        committed: Committed,
        tx: Option<Transaction>,
        reference: &str,
        reply: Reply,
    ) -> Result<NotificationResult, Error> {
        let tx = match tx {
            Some(tx) => tx,
            None => self.transaction(reference).await?,
        };
        if let Committed::Mismatch { expected, got } = &committed {
            tracing::warn!(reference = %tx.reference, %expected, %got, "amount mismatch: nothing marked");
        }
        if committed == Committed::DoublePayment {
            tracing::error!(reference = %tx.reference, paid_by = ?tx.mode, "second payment for a settled transaction: send it back");
        }
        Ok(self.result(effect_of(&committed, &tx), reply, &tx))
    }

    /// An instalment of a subscription: `preparer_echeance` creates its transaction, which
    /// is then settled like any other; `renouveler_abonnement` or `resilier` follows.
    async fn instalment(
        &self,
        first: Transaction,
        mut intent: Intent,
        paid: bool,
        amount: Option<Money>,
        reply: Reply,
        prepared: Option<Transaction>,
    ) -> Result<NotificationResult, Error> {
        let child = match prepared {
            Some(child) => child,
            None => self.prepare_instalment(&first).await?,
        };
        intent.check_amount = amount;
        if paid {
            intent.event = Some(Event::Pay);
            let mut hooks = HookName::for_transition(Status::Commande, Status::Ok, false);
            hooks.push(HookName::RenouvelerAbonnement);
            intent.replace_hooks = Some(hooks);
        } else {
            intent.event = Some(Event::Fail);
            intent.replace_hooks = Some(vec![HookName::ReglementEnEchec, HookName::Resilier]);
        }
        let (committed, tx) = self.commit(TxKey::Id(child.id), &intent).await?;
        if committed == Committed::Duplicate {
            // The same provider event was already processed: drop the extra instalment.
            let drop = Intent {
                event: Some(Event::Abandon),
                detail: json!({ "reason": "duplicate instalment notification" }),
                replace_hooks: Some(vec![]),
                ..Intent::default()
            };
            self.commit(TxKey::Id(child.id), &drop).await?;
            return Ok(self.result(Effect::Duplicate, reply, &first));
        }
        self.finish(committed, tx, &child.reference, reply).await
    }

    /// Asks the host for the instalment's transaction (`preparer_echeance`) and stores it.
    pub(super) async fn prepare_instalment(
        &self,
        first: &Transaction,
    ) -> Result<Transaction, Error> {
        let Some(new) = self.hooks.preparer_echeance(first).await else {
            // Nothing is stored: the provider's retry gives the host another chance.
            tracing::error!(reference = %first.reference, "preparer_echeance returned nothing: instalment not recorded, provider will retry");
            return Err(Error::hook(
                "preparer_echeance",
                format!(
                    "returned no transaction for the subscription of {}",
                    first.reference
                ),
            ));
        };
        self.inserer_transaction(new).await
    }

    fn result(&self, effect: Effect, reply: Reply, tx: &Transaction) -> NotificationResult {
        NotificationResult {
            effect,
            reply,
            reference: Some(tx.reference.clone()),
            status: Some(tx.status),
        }
    }
}

pub(super) fn effect_of(c: &Committed, tx: &Transaction) -> Effect {
    match c {
        Committed::Mismatch { expected, got } => Effect::AmountMismatch {
            expected: expected.to_string(),
            got: got.to_string(),
        },
        Committed::NotFound => Effect::Unknown,
        Committed::Transitioned { from, to } => Effect::Transitioned {
            from: *from,
            to: *to,
        },
        Committed::PartialRefund { total } => Effect::PartiallyRefunded {
            total_minor: *total,
        },
        // Staff refund steps never come from a notification.
        Committed::NoOp
        | Committed::Reserved
        | Committed::RefundRefused { .. }
        | Committed::AlreadySettled => Effect::NoOp { status: tx.status },
        Committed::Forbidden => Effect::Forbidden { status: tx.status },
        Committed::Duplicate => Effect::Duplicate,
        Committed::DoublePayment => Effect::DoublePayment,
    }
}

/// Headers that carry credentials of whoever sent the request (a browser's cookies) are
/// not evidence of a payment and must not sit in an append-only table.
const UNSTORED_HEADERS: [&str; 3] = ["cookie", "authorization", "proxy-authorization"];

/// The stored form of a notification: credentials stripped, verdict attached.
fn to_record(
    instance: &str,
    n: &Notification,
    verdict: Verdict,
    reason: Option<String>,
    event_id: Option<String>,
) -> NewNotification {
    NewNotification {
        instance: instance.to_string(),
        // A browser's post is our own small form: kept within the sizes of unverified
        // requests, since anyone holding a page's form can pad it.
        raw: if n.channel == Channel::Browser {
            super::unverified::capped(n).0
        } else {
            without_credentials(n)
        },
        verdict,
        reason,
        event_id,
    }
}

pub(super) fn without_credentials(n: &Notification) -> Notification {
    let mut stored = n.clone();
    stored
        .headers
        .retain(|(k, _)| !UNSTORED_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)));
    stored
}

/// `s` with control characters escaped, at most 200 characters: for text that came from
/// outside and goes into a column or a log line.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .take(200)
        .collect()
}
