//! The transaction, what creates it, and its append-only history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::money::Money;
use crate::status::Status;

/// Free extra fields of a transaction (SPIP's `champs`), kept in a stable order.
pub type Champs = BTreeMap<String, serde_json::Value>;

/// Billing data of the payer, for 3-D Secure v2 / DSP2 (`renseigner_facturation`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Street address, first line.
    pub address1: Option<String>,
    /// Street address, second line.
    pub address2: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// City.
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2 country code ("FR").
    pub country: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// The options of `inserer_transaction`: everything a host gives to create a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTransaction {
    /// Amount to pay (`montant`).
    pub amount: Money,
    /// Amount excluding tax (`montant_ht`).
    pub amount_ht: Option<Money>,
    /// Numeric id of the payer in the host (`id_auteur`).
    pub id_auteur: Option<i64>,
    /// Other id of the payer (`auteur_id`).
    pub auteur_id: Option<String>,
    /// Name or e-mail of the payer (`auteur`).
    pub auteur: Option<String>,
    /// Referrer or tracking tag (`parrain`).
    pub parrain: Option<String>,
    /// Tracking number (`tracking_id`).
    pub tracking_id: Option<i64>,
    /// Free extra fields (`champs`).
    pub champs: Champs,
    /// Billing data known at creation (DSP2); `renseigner_facturation` may complete it.
    pub billing: Option<Billing>,
    /// A recurring payment (first payment of a subscription).
    pub recurring: bool,
    /// For an instalment of a subscription: the reference of the first transaction.
    pub parent_reference: Option<String>,
    /// `false` (the default) recycles an identical transaction still `commande`; `true`
    /// always creates a new one.
    pub force: bool,
}

impl NewTransaction {
    /// A transaction of `amount` with every option left empty.
    pub fn new(amount: Money) -> Self {
        NewTransaction {
            amount,
            amount_ht: None,
            id_auteur: None,
            auteur_id: None,
            auteur: None,
            parrain: None,
            tracking_id: None,
            champs: Champs::new(),
            billing: None,
            recurring: false,
            parent_reference: None,
            force: false,
        }
    }

    /// Checks the options against each other.
    ///
    /// # Errors
    /// [`Error::InvalidTransaction`] when the amount excluding tax exceeds the amount or
    /// is in another currency.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(ht) = self.amount_ht {
            if ht.currency() != self.amount.currency() {
                return Err(Error::InvalidTransaction {
                    field: "montant_ht",
                    reason: "currency differs from the amount's".into(),
                });
            }
            if ht.minor() > self.amount.minor() {
                return Err(Error::InvalidTransaction {
                    field: "montant_ht",
                    reason: "amount excluding tax exceeds the amount".into(),
                });
            }
        }
        Ok(())
    }

    /// A stable digest of the options that make two creations "identical" for recycling.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canonical = self.clone();
        canonical.force = false;
        // serde_json writes struct fields in declaration order and BTreeMap keys sorted,
        // so the same options always give the same bytes.
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}

/// A payment transaction as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Internal id (never shown to payers: it is guessable).
    pub id: i64,
    /// Public reference: the installation id, a dash, and random characters.
    pub reference: String,
    /// Current status.
    pub status: Status,
    /// Incremented by every change; changes are compare-and-set on it, and hook
    /// idempotency keys include it.
    pub version: i64,
    /// Amount to pay.
    pub amount: Money,
    /// Amount excluding tax.
    pub amount_ht: Option<Money>,
    /// Amount refunded so far, confirmed by the provider (zero until a refund).
    pub refunded: Money,
    /// Amount of refunds asked of the provider and not yet confirmed or released. Counted
    /// against what is refundable, so two staff members cannot refund the same money.
    pub refund_pending: Money,
    /// Numeric id of the payer in the host.
    pub id_auteur: Option<i64>,
    /// Other id of the payer.
    pub auteur_id: Option<String>,
    /// Name or e-mail of the payer.
    pub auteur: Option<String>,
    /// Referrer or tracking tag.
    pub parrain: Option<String>,
    /// Tracking number.
    pub tracking_id: Option<i64>,
    /// Free extra fields.
    pub champs: Champs,
    /// Billing data (DSP2).
    pub billing: Option<Billing>,
    /// First payment of a subscription.
    pub recurring: bool,
    /// For an instalment, the reference of the subscription's first transaction.
    pub parent_reference: Option<String>,
    /// The acquirer instance that took (or is taking) the payment (SPIP's `mode`).
    pub mode: Option<String>,
    /// The provider's authorisation or transaction number (SPIP's `autorisation_id`).
    pub authorisation: Option<String>,
    /// The provider's subscription or card token, for recurring payments.
    pub subscription_id: Option<String>,
    /// Provider error code of the last failure.
    pub error_code: Option<String>,
    /// Human-readable message of the last failure.
    pub error_message: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
}

impl Transaction {
    /// The amount still refundable: paid, less refunded, less refunds under way.
    pub fn refundable(&self) -> Money {
        let left = self.amount.minor() - self.refunded.minor() - self.refund_pending.minor();
        Money::from_minor(left.max(0), self.amount.currency())
            .unwrap_or_else(|_| Money::zero(self.amount.currency()))
    }
}

/// Generates and checks public references: `<installation>-<16 random base32 characters>`.
///
/// The installation prefix lets a notification meant for another installation sharing a
/// provider account (a development copy) be told apart from an unknown reference of ours.
#[derive(Debug, Clone, Copy)]
pub struct Reference;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl Reference {
    /// A fresh reference for `installation` (80 random bits: not guessable).
    pub fn generate(installation: &str) -> String {
        let mut rng = rand::thread_rng();
        let token: String = (0..16)
            .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
            .collect();
        format!("{installation}-{token}")
    }

    /// The installation part of a reference, if it has the shape of ours.
    pub fn installation_of(reference: &str) -> Option<&str> {
        let (inst, token) = reference.split_once('-')?;
        (is_valid_installation_id(inst)
            && token.len() == 16
            && token.bytes().all(|b| ALPHABET.contains(&b)))
        .then_some(inst)
    }
}

/// An installation id is 1 to 16 lower-case ASCII letters or digits (it prefixes references
/// that travel through every provider, so it uses the characters all of them accept).
pub fn is_valid_installation_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// What kind of entry a history line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// The transaction was created.
    Created,
    /// A verified notification arrived (the raw request is linked).
    Notification,
    /// The status changed.
    Transition,
    /// A verified notification changed nothing (replay, stale or forbidden transition).
    Ignored,
    /// A verified notification's amount or currency did not match: nothing changed.
    AmountMismatch,
    /// A partial refund (the status stays `ok`).
    PartialRefund,
    /// A staff action (mark received, refund, abandon).
    Manual,
    /// A second payment arrived for a transaction already paid by other means (another
    /// instance, another authorisation): nothing changed, the money must be sent back.
    DoublePayment,
}

impl HistoryKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Created => "created",
            HistoryKind::Notification => "notification",
            HistoryKind::Transition => "transition",
            HistoryKind::Ignored => "ignored",
            HistoryKind::AmountMismatch => "amount_mismatch",
            HistoryKind::PartialRefund => "partial_refund",
            HistoryKind::Manual => "manual",
            HistoryKind::DoublePayment => "double_payment",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            HistoryKind::Created,
            HistoryKind::Notification,
            HistoryKind::Transition,
            HistoryKind::Ignored,
            HistoryKind::AmountMismatch,
            HistoryKind::PartialRefund,
            HistoryKind::Manual,
            HistoryKind::DoublePayment,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One line of a transaction's append-only history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Entry id (increasing).
    pub id: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// What it records.
    pub kind: HistoryKind,
    /// Status before, for transitions.
    pub from: Option<Status>,
    /// Status after, for transitions.
    pub to: Option<Status>,
    /// The acquirer instance involved, if any.
    pub instance: Option<String>,
    /// The raw notification stored for this entry, if any.
    pub notification_id: Option<i64>,
    /// Structured details (outcome, amounts, staff user, reason).
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn references_carry_their_installation() {
        let r = Reference::generate("shop1");
        assert_eq!(Reference::installation_of(&r), Some("shop1"));
        assert_ne!(r, Reference::generate("shop1"));
        assert_eq!(Reference::installation_of("488"), None);
        assert_eq!(Reference::installation_of("shop1-short"), None);
        assert!(!is_valid_installation_id("Shop-1"));
        assert!(!is_valid_installation_id(""));
    }

    #[test]
    fn fingerprint_ignores_force_only() {
        let a = NewTransaction::new(Money::from_minor(1000, Currency::EUR).unwrap());
        let mut b = a.clone();
        b.force = true;
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.id_auteur = Some(3);
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn amount_ht_cannot_exceed_amount() {
        let mut t = NewTransaction::new(Money::from_minor(1000, Currency::EUR).unwrap());
        t.amount_ht = Some(Money::from_minor(1001, Currency::EUR).unwrap());
        assert!(t.validate().is_err());
    }
}
