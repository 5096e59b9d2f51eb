//! Subscriptions driven from our side: debiting an instalment from a registered card
//! (providers where the merchant initiates each debit) and ending a subscription.
//!
//! Providers that debit on their own schedule (Stripe) notify each instalment instead; that
//! path is [`Engine::handle_notification`] with [`Outcome::InstalmentPaid`].

use std::sync::Arc;

use serde_json::json;

use super::{Engine, Intent};
use crate::acquirer::{Acquirer, Channel, HttpMethod, Notification, Outcome};
use crate::error::Error;
use crate::hooks::HookName;
use crate::status::Status;
use crate::store::TxKey;
use crate::transaction::{HistoryKind, Transaction};

use super::notify::NotificationResult;

impl Engine {
    /// Debits the next instalment of the subscription whose first transaction is
    /// `first_reference`: `preparer_echeance` makes the instalment's transaction, the
    /// acquirer debits the registered card with the instalment's reference as its key, and
    /// the answer goes through the notification path (amount check, row lock, outbox):
    /// `renouveler_abonnement` on success, `reglement_en_echec` and `resilier` on refusal.
    ///
    /// When the provider's answer is unknown (network failure after sending), the
    /// instalment stays in `commande` and the error says so: staff checks at the provider
    /// before debiting again.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] unless the first transaction is a paid recurring one with a
    /// registered token; [`Error::Unsupported`]; the hook's or provider's error.
    pub async fn charge_instalment(
        &self,
        first_reference: &str,
    ) -> Result<NotificationResult, Error> {
        let first = self.transaction(first_reference).await?;
        let (instance, acq) = self.subscription_acquirer(&first, "charge_instalment")?;
        let instalment = self.prepare_instalment(&first).await?;
        let key = instalment.reference.clone();
        let mut v = acq
            .charge_instalment(&first, &instalment, &key, &self.operation_context())
            .await?;
        if !matches!(
            v.outcome,
            Outcome::InstalmentPaid | Outcome::InstalmentFailed
        ) {
            return Err(Error::provider(
                instance,
                crate::error::ProviderFailure::OutcomeUnknown,
                format!(
                    "charge_instalment answered {:?}, not an instalment outcome",
                    v.outcome
                ),
            ));
        }
        // The path finds the subscription by its first reference and settles `instalment`.
        v.reference = Some(first.reference.clone());
        let mut evidence = Notification::new(Channel::Server, HttpMethod::Post, self.clock.now());
        evidence.body = serde_json::to_vec(&v.detail).unwrap_or_default();
        self.settle(&instance, &evidence, v, Some(instalment)).await
    }

    /// Ends the subscription whose first transaction is `reference` at the provider, then
    /// records it and calls `resilier`.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] unless it is a recurring transaction with a registered token;
    /// [`Error::Unsupported`]; the provider's error (nothing recorded).
    pub async fn cancel_subscription(
        &self,
        reference: &str,
        staff: &str,
    ) -> Result<Transaction, Error> {
        let first = self.transaction(reference).await?;
        let (instance, acq) = self.subscription_acquirer(&first, "cancel_subscription")?;
        let done = acq
            .cancel_subscription(&first, &self.operation_context())
            .await?;
        let intent = Intent {
            instance: Some(instance),
            origin: Some(HistoryKind::Manual),
            detail: json!({
                "action": "cancel_subscription",
                "staff": staff,
                "provider_reference": done.provider_reference,
            }),
            extra_hooks: vec![HookName::Resilier],
            ..Intent::default()
        };
        let (_, after) = self.commit(TxKey::Id(first.id), &intent).await?;
        after.ok_or(Error::UnknownTransaction {
            reference: first.reference,
        })
    }

    fn subscription_acquirer(
        &self,
        first: &Transaction,
        action: &'static str,
    ) -> Result<(String, Arc<dyn Acquirer>), Error> {
        let usable = first.recurring
            && first.subscription_id.is_some()
            && matches!(first.status, Status::Ok | Status::Attente);
        if !usable {
            return Err(Error::NotAllowed {
                action,
                reference: first.reference.clone(),
                status: first.status,
            });
        }
        let instance = first.mode.clone().ok_or_else(|| Error::UnknownInstance {
            instance: "<none>".into(),
        })?;
        let acq = self
            .registry
            .get(&instance)
            .ok_or_else(|| Error::UnknownInstance {
                instance: instance.clone(),
            })?;
        if !acq.capabilities().recurring {
            return Err(Error::Unsupported {
                instance,
                operation: action,
            });
        }
        Ok((instance, acq))
    }
}
