//! Staff actions: mark an offline payment received, refund, abandon.

use chrono::Duration;
use serde_json::json;

use super::{Committed, Engine, Intent, StaffRefund};
use crate::acquirer::RefundSupport;
use crate::error::Error;
use crate::money::Money;
use crate::status::{Event, Status};
use crate::store::TxKey;
use crate::transaction::{HistoryKind, Transaction};

impl Engine {
    fn manual_intent(
        &self,
        event: Event,
        instance: Option<String>,
        staff: &str,
        what: &str,
        extra: serde_json::Value,
    ) -> Intent {
        Intent {
            event: Some(event),
            instance,
            origin: Some(HistoryKind::Manual),
            detail: json!({ "action": what, "staff": staff, "detail": extra }),
            ..Intent::default()
        }
    }

    async fn manual_commit(
        &self,
        tx: Transaction,
        intent: Intent,
        action: &'static str,
    ) -> Result<Transaction, Error> {
        let (committed, after) = self.commit(TxKey::Id(tx.id), &intent).await?;
        let after = after.ok_or_else(|| Error::UnknownTransaction {
            reference: tx.reference.clone(),
        })?;
        match committed {
            Committed::Forbidden => Err(Error::NotAllowed {
                action,
                reference: after.reference,
                status: after.status,
            }),
            _ => Ok(after),
        }
    }

    /// Marks an offline payment (cheque, transfer) received. `instance` is the offline
    /// instance that received it; it defaults to the transaction's `mode`. Marking an
    /// already paid transaction again changes nothing.
    ///
    /// # Errors
    /// [`Error::UnknownTransaction`], [`Error::UnknownInstance`], [`Error::Unsupported`]
    /// for a non-offline instance, [`Error::NotAllowed`] (refunded transaction).
    pub async fn mark_received(
        &self,
        reference: &str,
        instance: Option<&str>,
        staff: &str,
        note: &str,
    ) -> Result<Transaction, Error> {
        let tx = self.transaction(reference).await?;
        let id = instance
            .map(str::to_string)
            .or_else(|| tx.mode.clone())
            .ok_or_else(|| Error::UnknownInstance {
                instance: "<none: the transaction has no mode>".into(),
            })?;
        let acq = self
            .registry
            .get(&id)
            .ok_or_else(|| Error::UnknownInstance {
                instance: id.clone(),
            })?;
        if !acq.capabilities().offline {
            return Err(Error::Unsupported {
                instance: id,
                operation: "mark received",
            });
        }
        match tx.status {
            // Marking twice what this instance already received changes nothing.
            Status::Ok if tx.mode.as_deref() == Some(id.as_str()) => return Ok(tx),
            Status::Ok | Status::Rembourse => {
                // Paid already by other means: the cheque or transfer is a second payment,
                // to be sent back, not recorded as this one.
                tracing::warn!(reference = %tx.reference, instance = %id, paid_by = ?tx.mode, "received a second payment for a settled transaction");
                return Err(Error::NotAllowed {
                    action: "mark received",
                    reference: tx.reference,
                    status: tx.status,
                });
            }
            _ => {}
        }
        let intent = self.manual_intent(
            Event::Pay,
            Some(id),
            staff,
            "mark_received",
            json!({ "note": note }),
        );
        self.manual_commit(tx, intent, "mark received").await
    }

    /// Refunds `amount` (the whole refundable amount when `None`) through the acquirer that
    /// took the payment, then records it: `rembourse` when fully refunded, a partial refund
    /// otherwise. The provider is called before the record; if recording then fails the
    /// error says so and the provider's id is in the log.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] unless `ok`; [`Error::AmountNotAllowed`]; [`Error::Unsupported`];
    /// the provider's error.
    pub async fn refund(
        &self,
        reference: &str,
        amount: Option<Money>,
        staff: &str,
    ) -> Result<Transaction, Error> {
        let tx = self.transaction(reference).await?;
        if tx.status != Status::Ok {
            return Err(Error::NotAllowed {
                action: "refund",
                reference: tx.reference,
                status: tx.status,
            });
        }
        let mode = tx.mode.clone().ok_or_else(|| Error::UnknownInstance {
            instance: "<none>".into(),
        })?;
        let acq = self
            .registry
            .get(&mode)
            .ok_or_else(|| Error::UnknownInstance {
                instance: mode.clone(),
            })?;
        let refundable = tx.refundable();
        let amount = amount.unwrap_or(refundable);
        let refuse = |reason: String| Error::AmountNotAllowed {
            action: "refund",
            reference: tx.reference.clone(),
            reason,
        };
        if amount.currency() != tx.amount.currency() {
            return Err(refuse(format!(
                "currency {} differs from {}",
                amount.currency(),
                tx.amount.currency()
            )));
        }
        if amount.is_zero() || amount.minor() > refundable.minor() {
            return Err(refuse(format!(
                "{amount} is not between 0 and the refundable {refundable}"
            )));
        }
        match acq.capabilities().refund {
            RefundSupport::None => {
                return Err(Error::Unsupported {
                    instance: mode,
                    operation: "refund",
                })
            }
            RefundSupport::Full if amount != tx.amount => {
                return Err(refuse(format!("{mode} refunds only the whole amount")))
            }
            _ => {}
        }
        // Reserve under the row lock first: a concurrent refund now sees less to refund.
        let mut reserve = self.manual_intent(
            Event::Refund,
            Some(mode.clone()),
            staff,
            "refund",
            json!({ "amount_minor": amount.minor() }),
        );
        reserve.event = None;
        reserve.staff_refund = Some(StaffRefund::Reserve(amount));
        let (reserved, after) = self.commit(TxKey::Id(tx.id), &reserve).await?;
        match reserved {
            Committed::Reserved => {}
            Committed::RefundRefused { refundable } => {
                return Err(refuse(format!(
                    "{amount} is more than the refundable {refundable} (refunds under way count)"
                )));
            }
            _ => {
                let now = self.transaction(&tx.reference).await?;
                return Err(Error::NotAllowed {
                    action: "refund",
                    reference: now.reference,
                    status: now.status,
                });
            }
        }
        // Stable for this refund: the version written by the reservation is unique to it.
        let key = format!(
            "{}:refund:v{}",
            tx.reference,
            after.as_ref().map_or(0, |t| t.version)
        );
        match acq
            .refund(&tx, amount, &key, &self.operation_context())
            .await
        {
            Ok(op) => {
                tracing::info!(reference = %tx.reference, %amount, provider_reference = ?op.provider_reference, manual = op.manual, "refunded");
                let detail = json!({ "amount_minor": amount.minor(), "provider_reference": op.provider_reference, "manual": op.manual, "key": key });
                let event_id = op
                    .provider_reference
                    .as_deref()
                    .and_then(|r| acq.refund_event_id(r));
                let mut confirm = self.manual_intent(
                    Event::Refund,
                    Some(mode.clone()),
                    staff,
                    "refund",
                    detail.clone(),
                );
                confirm.event = None;
                confirm.staff_refund = Some(StaffRefund::Confirm(amount));
                if let Some(event_id) = event_id {
                    // Recorded under the id the provider's notice of this refund will bear,
                    // so that the notice is a duplicate, not a second refund.
                    let mut evidence = crate::acquirer::Notification::new(
                        crate::acquirer::Channel::Server,
                        crate::acquirer::HttpMethod::Post,
                        self.clock.now(),
                    );
                    evidence.body = serde_json::to_vec(&detail).unwrap_or_default();
                    confirm.notification = Some(crate::store::NewNotification {
                        instance: mode,
                        raw: evidence,
                        verdict: crate::store::Verdict::Accepted,
                        reason: Some(format!("refund by {staff} through the provider's API")),
                        event_id: Some(event_id),
                    });
                    let (committed, after) = self.commit(TxKey::Id(tx.id), &confirm).await?;
                    if committed == Committed::Duplicate {
                        // The provider's notice came first and recorded the refund: only
                        // the reservation is left to release.
                        tracing::info!(reference = %tx.reference, "refund already recorded from the provider's notice");
                        let mut release = reserve.clone();
                        release.staff_refund = Some(StaffRefund::Release(amount));
                        release.detail = json!({ "action": "refund", "staff": staff, "recorded_by": "provider notice" });
                        self.commit(TxKey::Id(tx.id), &release).await?;
                        return self.transaction(&tx.reference).await;
                    }
                    return after.ok_or_else(|| Error::UnknownTransaction {
                        reference: tx.reference.clone(),
                    });
                }
                self.manual_commit(tx, confirm, "refund").await
            }
            // Nothing happened at the provider (a refusal, or nothing sent): release.
            Err(
                e @ (Error::Provider { .. }
                | Error::Unsupported { .. }
                | Error::AmountNotAllowed { .. }),
            ) if !matches!(&e, Error::Provider { failure, .. } if !failure.nothing_happened()) => {
                tracing::warn!(reference = %tx.reference, %amount, error = %e, "refund refused by the provider: reservation released");
                let mut release = reserve.clone();
                release.staff_refund = Some(StaffRefund::Release(amount));
                release.detail =
                    json!({ "action": "refund", "staff": staff, "error": e.to_string() });
                self.commit(TxKey::Id(tx.id), &release).await?;
                Err(e)
            }
            Err(e) => {
                // The money may have left: keep the amount pending for a person to check.
                tracing::error!(reference = %tx.reference, %amount, key = %key, error = %e, "refund outcome unknown: left pending");
                Err(Error::RefundOutcomeUnknown {
                    reference: tx.reference.clone(),
                    amount: amount.to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Settles the refunds left pending (outcome unknown, or a crash during the call) after
    /// a person checked at the provider: `refunded` true records them as refunded (hooks,
    /// `rembourse` when all is refunded), false releases them.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when nothing is pending.
    pub async fn resolve_pending_refund(
        &self,
        reference: &str,
        refunded: bool,
        staff: &str,
    ) -> Result<Transaction, Error> {
        let tx = self.transaction(reference).await?;
        let pending = tx.refund_pending;
        if pending.is_zero() {
            return Err(Error::NotAllowed {
                action: "resolve pending refund",
                reference: tx.reference,
                status: tx.status,
            });
        }
        let what = if refunded {
            "refund_confirmed_by_staff"
        } else {
            "refund_released_by_staff"
        };
        let mut intent = self.manual_intent(
            Event::Refund,
            tx.mode.clone(),
            staff,
            what,
            json!({ "amount_minor": pending.minor() }),
        );
        intent.event = None;
        intent.staff_refund = Some(if refunded {
            StaffRefund::Confirm(pending)
        } else {
            StaffRefund::Release(pending)
        });
        self.manual_commit(tx, intent, "resolve pending refund")
            .await
    }

    /// Abandons a transaction (`commande`, `attente` or `echec`).
    ///
    /// # Errors
    /// [`Error::NotAllowed`] for a paid or refunded transaction.
    pub async fn abandon(&self, reference: &str, staff: &str) -> Result<Transaction, Error> {
        let tx = self.transaction(reference).await?;
        let intent = self.manual_intent(Event::Abandon, None, staff, "abandon", json!(null));
        self.manual_commit(tx, intent, "abandon").await
    }

    /// Abandons the `commande` transactions older than the configured age; returns how many.
    ///
    /// # Errors
    /// A store error.
    pub async fn abandon_stale(&self) -> Result<u64, Error> {
        let before = self.clock.now() - Duration::hours(self.settings.abandon_after_hours);
        let mut n = 0;
        loop {
            let batch = self.store.stale_commande(before, 200).await?;
            if batch.is_empty() {
                break;
            }
            let mut progressed = false;
            for tx in batch {
                let intent = self.manual_intent(
                    Event::Abandon,
                    None,
                    "system",
                    "abandon_stale",
                    json!(null),
                );
                let (c, _) = self.commit(TxKey::Id(tx.id), &intent).await?;
                if matches!(c, Committed::Transitioned { .. }) {
                    n += 1;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(n)
    }
}
