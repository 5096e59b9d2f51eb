//! The host's hooks, with SPIP Bank's pipeline names.
//!
//! Two kinds:
//! - **Event hooks** (`traiter_reglement`, `facturer`, …) tell the host that something
//!   happened. They are written to the outbox in the same database transaction as the
//!   change of status and delivered after commit, in order, at least once, each with a
//!   stable [`HookCall::idempotency_key`]. A host that records the keys it has handled
//!   sees every event exactly once, even across crashes and retries.
//! - **Query hooks** (`redirige_apres_retour`, `renseigner_facturation`, `decrire_echeance`,
//!   `preparer_echeance`) ask the host for something, inline.
//!
//! Every method has a default that does nothing: a host implements only what it needs.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::money::Money;
use crate::status::Status;
use crate::transaction::{Billing, NewTransaction, Transaction};

/// The event hooks, in the order they are delivered for one change.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookName {
    /// A payment was settled (`bank_traiter_reglement`).
    TraiterReglement,
    /// After settlement, before invoicing (`bank_pre_facturer_reglement`).
    PreFacturer,
    /// The settled payment can be invoiced (`bank_facturer_reglement`).
    Facturer,
    /// Tell the customer or staff (`trig_bank_notifier_reglement`).
    Notifier,
    /// A payment waits for an offline settlement (`trig_bank_reglement_en_attente`).
    ReglementEnAttente,
    /// A payment failed or was abandoned (`trig_bank_reglement_en_echec`).
    ReglementEnEchec,
    /// A paid transaction was reversed: SEPA rejected, chargeback. Not in SPIP Bank, which
    /// had no way to say it; a real transition deserves its own hook.
    TraiterImpaye,
    /// A refund, full or partial (`bank_traiter_remboursement`).
    TraiterRemboursement,
    /// First payment of a subscription received (`abos/activer_abonnement`).
    ActiverAbonnement,
    /// An instalment was paid (`abos/renouveler_abonnement`).
    RenouvelerAbonnement,
    /// An instalment failed or the subscription ended (`abos/resilier`).
    Resilier,
}

impl HookName {
    /// Every event hook.
    pub const ALL: [HookName; 11] = [
        HookName::TraiterReglement,
        HookName::PreFacturer,
        HookName::Facturer,
        HookName::Notifier,
        HookName::ReglementEnAttente,
        HookName::ReglementEnEchec,
        HookName::TraiterImpaye,
        HookName::TraiterRemboursement,
        HookName::ActiverAbonnement,
        HookName::RenouvelerAbonnement,
        HookName::Resilier,
    ];

    /// Stored name (the pipeline name).
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::TraiterReglement => "traiter_reglement",
            HookName::PreFacturer => "pre_facturer",
            HookName::Facturer => "facturer",
            HookName::Notifier => "notifier",
            HookName::ReglementEnAttente => "reglement_en_attente",
            HookName::ReglementEnEchec => "reglement_en_echec",
            HookName::TraiterImpaye => "traiter_impaye",
            HookName::TraiterRemboursement => "traiter_remboursement",
            HookName::ActiverAbonnement => "activer_abonnement",
            HookName::RenouvelerAbonnement => "renouveler_abonnement",
            HookName::Resilier => "resilier",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        HookName::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The hooks a change of status calls, in delivery order.
    pub fn for_transition(from: Status, to: Status, recurring: bool) -> Vec<HookName> {
        use HookName as H;
        match (from, to) {
            (_, Status::Ok) => {
                let mut v = vec![
                    H::TraiterReglement,
                    H::PreFacturer,
                    H::Facturer,
                    H::Notifier,
                ];
                if recurring {
                    v.push(H::ActiverAbonnement);
                }
                v
            }
            (_, Status::Attente) => {
                // SPIP calls activer_abonnement a first time when a deferred first payment
                // (SEPA) is registered; the host checks the status.
                let mut v = vec![H::ReglementEnAttente];
                if recurring {
                    v.push(H::ActiverAbonnement);
                }
                v
            }
            (Status::Ok, Status::Echec) => vec![H::TraiterImpaye],
            (_, Status::Echec | Status::Abandon) => vec![H::ReglementEnEchec],
            (_, Status::Rembourse) => vec![H::TraiterRemboursement],
            (_, Status::Commande) => vec![],
        }
    }
}

impl fmt::Display for HookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One delivery of an event hook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookCall {
    /// Which hook.
    pub hook: HookName,
    /// Stable across retries and restarts: `<reference>:v<version>:<hook>`.
    pub idempotency_key: String,
    /// The transaction as it was right after the change.
    pub transaction: Transaction,
    /// Details of the change (from, to, refunded amount, outcome).
    pub detail: serde_json::Value,
    /// 1 for the first delivery, then 2, 3…
    pub attempt: u32,
}

/// Which return page the payer would see by default.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnPage {
    /// Paid.
    Ok,
    /// Waiting for an offline payment.
    Attente,
    /// Failed or abandoned.
    Echec,
}

/// The schedule of a recurring payment (`decrire_echeance`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echeance {
    /// Amount of each instalment (may differ from the first payment).
    pub amount: Money,
    /// Period between instalments.
    pub interval: Interval,
    /// Number of instalments, if bounded.
    pub count: Option<u32>,
}

/// Period of a recurring payment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// The host's side of `bank`. Every method has a harmless default.
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Every event hook comes through here. The default calls the SPIP-named method of
    /// `call.hook`; a host that handles every event alike (HTTP callbacks, a recorder, a
    /// queue) implements this one instead.
    async fn event(&self, call: &HookCall) -> Result<(), Error> {
        match call.hook {
            HookName::TraiterReglement => self.traiter_reglement(call).await,
            HookName::PreFacturer => self.pre_facturer(call).await,
            HookName::Facturer => self.facturer(call).await,
            HookName::Notifier => self.notifier(call).await,
            HookName::ReglementEnAttente => self.reglement_en_attente(call).await,
            HookName::ReglementEnEchec => self.reglement_en_echec(call).await,
            HookName::TraiterImpaye => self.traiter_impaye(call).await,
            HookName::TraiterRemboursement => self.traiter_remboursement(call).await,
            HookName::ActiverAbonnement => self.activer_abonnement(call).await,
            HookName::RenouvelerAbonnement => self.renouveler_abonnement(call).await,
            HookName::Resilier => self.resilier(call).await,
        }
    }
    /// A payment was settled.
    async fn traiter_reglement(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// After settlement, before invoicing (create a customer account, say).
    async fn pre_facturer(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// The settled payment can be invoiced.
    async fn facturer(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// Tell the customer or staff of the settlement.
    async fn notifier(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// A payment waits for a cheque, a transfer or a SEPA debit.
    async fn reglement_en_attente(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// A payment failed or was abandoned.
    async fn reglement_en_echec(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// A paid transaction was reversed (SEPA rejected, chargeback).
    async fn traiter_impaye(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// A refund, full or partial.
    async fn traiter_remboursement(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// First payment of a subscription (called again when a deferred one is collected).
    async fn activer_abonnement(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// An instalment was paid: extend the subscription.
    async fn renouveler_abonnement(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }
    /// An instalment failed or the subscription ended.
    async fn resilier(&self, _call: &HookCall) -> Result<(), Error> {
        Ok(())
    }

    /// The URL the payer returns to; `None` keeps the default page.
    async fn redirige_apres_retour(&self, _tx: &Transaction, _page: ReturnPage) -> Option<String> {
        None
    }
    /// Billing data for DSP2; `None` keeps what the transaction has.
    async fn renseigner_facturation(&self, _tx: &Transaction) -> Option<Billing> {
        None
    }
    /// The schedule of a recurring payment; `None` means "not recurring".
    async fn decrire_echeance(&self, _tx: &Transaction) -> Option<Echeance> {
        None
    }
    /// The transaction of a new instalment of the subscription started by `first`. The
    /// default charges the first transaction's amount again with the same payer.
    async fn preparer_echeance(&self, first: &Transaction) -> Option<NewTransaction> {
        let mut t = NewTransaction::new(first.amount);
        t.amount_ht = first.amount_ht;
        t.id_auteur = first.id_auteur;
        t.auteur_id = first.auteur_id.clone();
        t.auteur = first.auteur.clone();
        t.champs = first.champs.clone();
        t.billing = first.billing.clone();
        t.parent_reference = Some(first.reference.clone());
        t.force = true;
        Some(t)
    }
}

/// The idempotency key of a hook of the change that brought `reference` to `version`:
/// `<reference>:v<version>:<hook>`. Stable across retries and restarts, and different for
/// a second settlement after a late failure (`ok → echec → ok`).
pub fn idempotency_key(key_prefix: &str, hook: HookName) -> String {
    format!("{key_prefix}:{hook}")
}

/// The prefix stored with an outbox row: `<reference>:v<version>`.
pub fn idempotency_prefix(reference: &str, version: i64) -> String {
    format!("{reference}:v{version}")
}

/// Calls the event hook `call.hook` on `hooks` ([`Hooks::event`]).
///
/// # Errors
/// What the hook returned.
pub async fn dispatch(hooks: &dyn Hooks, call: &HookCall) -> Result<(), Error> {
    hooks.event(call).await
}

/// Several hook implementations as one (HTTP callbacks and e-mail, say). Event hooks are
/// called on each in order and stop at the first error (the outbox retries the whole hook:
/// each member sees the same idempotency key again); for query hooks the first answer wins.
#[derive(Clone, Default)]
pub struct HookChain(pub Vec<std::sync::Arc<dyn Hooks>>);

impl fmt::Debug for HookChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookChain({} members)", self.0.len())
    }
}

#[async_trait]
impl Hooks for HookChain {
    async fn event(&self, call: &HookCall) -> Result<(), Error> {
        for h in &self.0 {
            h.event(call).await?;
        }
        Ok(())
    }

    async fn redirige_apres_retour(&self, tx: &Transaction, page: ReturnPage) -> Option<String> {
        for h in &self.0 {
            if let Some(u) = h.redirige_apres_retour(tx, page).await {
                return Some(u);
            }
        }
        None
    }

    async fn renseigner_facturation(&self, tx: &Transaction) -> Option<Billing> {
        for h in &self.0 {
            if let Some(b) = h.renseigner_facturation(tx).await {
                return Some(b);
            }
        }
        None
    }

    async fn decrire_echeance(&self, tx: &Transaction) -> Option<Echeance> {
        for h in &self.0 {
            if let Some(e) = h.decrire_echeance(tx).await {
                return Some(e);
            }
        }
        None
    }

    async fn preparer_echeance(&self, first: &Transaction) -> Option<NewTransaction> {
        match self.0.first() {
            Some(h) => h.preparer_echeance(first).await,
            None => NoHooks.preparer_echeance(first).await,
        }
    }
}

/// Hooks that do nothing (a host that only reads the store).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

#[async_trait]
impl Hooks for NoHooks {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for h in HookName::ALL {
            assert_eq!(HookName::parse(h.as_str()), Some(h));
        }
    }

    #[test]
    fn settlement_calls_the_spip_pipelines_in_order() {
        assert_eq!(
            HookName::for_transition(Status::Commande, Status::Ok, false),
            vec![
                HookName::TraiterReglement,
                HookName::PreFacturer,
                HookName::Facturer,
                HookName::Notifier
            ]
        );
        assert_eq!(
            HookName::for_transition(Status::Ok, Status::Echec, false),
            vec![HookName::TraiterImpaye]
        );
        assert_eq!(
            HookName::for_transition(Status::Commande, Status::Abandon, false),
            vec![HookName::ReglementEnEchec]
        );
    }
}
