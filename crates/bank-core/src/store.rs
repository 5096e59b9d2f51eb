//! The store contract. `bank-store` implements it for SQLite and PostgreSQL; the engine
//! only speaks to this trait.
//!
//! The one write that matters is [`Store::apply`]: in a single database transaction it
//! locks the transaction row (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on
//! PostgreSQL), lets the engine plan the change against the row as it is now, stores the
//! raw notification (dropping exact duplicates by provider event id), appends one history
//! line, changes the transaction with a compare-and-set on its version, and writes one
//! outbox row carrying the hooks to deliver. Either all of it happens or none.
//!
//! Planning under the row lock means concurrent notifications for one transaction queue
//! on the lock instead of failing a compare-and-set and retrying; the version check stays
//! as a second guard.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::acquirer::{Channel, HttpMethod, Notification};
use crate::error::Error;
use crate::hooks::HookName;
use crate::status::Status;
use crate::transaction::{HistoryEntry, HistoryKind, NewTransaction, Transaction};

/// How a stored notification was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Verified and linked to a transaction.
    Accepted,
    /// Failed verification: kept for review, changed nothing.
    Rejected,
    /// Verified, for another installation: acknowledged and ignored.
    Foreign,
    /// Verified, reference unknown here: acknowledged with a warning.
    Unknown,
    /// Verified, but amount or currency did not match the transaction.
    Mismatch,
}

impl Verdict {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
            Verdict::Foreign => "foreign",
            Verdict::Unknown => "unknown",
            Verdict::Mismatch => "mismatch",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Verdict::Accepted,
            Verdict::Rejected,
            Verdict::Foreign,
            Verdict::Unknown,
            Verdict::Mismatch,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A raw notification to store.
#[derive(Clone, Debug)]
pub struct NewNotification {
    /// The instance it was addressed to.
    pub instance: String,
    /// The raw request.
    pub raw: Notification,
    /// How it was judged.
    pub verdict: Verdict,
    /// Why (rejection reason, foreign installation…).
    pub reason: Option<String>,
    /// Provider event id, to drop exact duplicates.
    pub event_id: Option<String>,
}

/// A stored raw notification (for review and replay).
#[derive(Clone, Debug)]
pub struct StoredNotification {
    /// Id.
    pub id: i64,
    /// Instance.
    pub instance: String,
    /// The linked transaction, if any.
    pub transaction_id: Option<i64>,
    /// The raw request.
    pub raw: Notification,
    /// How it was judged.
    pub verdict: Verdict,
    /// Why.
    pub reason: Option<String>,
}

/// A history line to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHistory {
    /// Kind.
    pub kind: HistoryKind,
    /// Status before.
    pub from: Option<Status>,
    /// Status after.
    pub to: Option<Status>,
    /// Instance involved.
    pub instance: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
}

/// Fields of a transaction a change sets (`None` leaves a field as it is).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patch {
    /// New status.
    pub status: Option<Status>,
    /// Instance that took the payment.
    pub mode: Option<String>,
    /// Provider authorisation number.
    pub authorisation: Option<String>,
    /// Provider subscription or card token.
    pub subscription_id: Option<String>,
    /// Error code (set to `Some("")`… never: use `clear_error`).
    pub error_code: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Clear the error fields (on success).
    pub clear_error: bool,
    /// New refunded total, minor units.
    pub refunded_minor: Option<i64>,
    /// New total of refunds under way, minor units.
    pub refund_pending_minor: Option<i64>,
    /// Time of payment.
    pub paid_at: Option<DateTime<Utc>>,
    /// New amount, minor units, same currency: the amount a payer chose (a donation).
    pub amount_minor: Option<i64>,
}

impl Patch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Patch::default()
    }
}

/// A hook delivery to write to the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHook {
    /// Which hook.
    pub hook: HookName,
    /// Details of the change for the hook.
    pub detail: serde_json::Value,
}

/// One atomic change, planned by the engine against the locked row.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// The raw notification to store and link, if any.
    pub notification: Option<NewNotification>,
    /// What to change. An empty patch with no hooks writes no version bump.
    pub patch: Patch,
    /// The history line to append, if any.
    pub history: Option<NewHistory>,
    /// Hooks to deliver after commit, in order, from one outbox row. Their idempotency keys
    /// are `<reference>:v<new version>:<hook>`.
    pub hooks: Vec<NewHook>,
}

/// How [`Store::apply`] finds the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxKey {
    /// By internal id.
    Id(i64),
    /// By public reference.
    Reference(String),
}

/// The planner [`Store::apply`] calls with the locked row.
pub type Planner<'a> = &'a mut (dyn FnMut(&Transaction) -> Change + Send);

/// What [`Store::apply`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// Written; the transaction as it is now, and the stored notification's id.
    Done {
        /// The transaction after the change.
        transaction: Box<Transaction>,
        /// The stored notification, if any.
        notification_id: Option<i64>,
    },
    /// No transaction has this key: nothing written.
    NotFound,
    /// A notification with the same provider event id was already stored: nothing written.
    Duplicate,
}

/// A claimed outbox row: the hooks of one change, delivered in order from `next`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// The transaction.
    pub transaction_id: i64,
    /// The hooks of the change, in delivery order.
    pub hooks: Vec<HookName>,
    /// Index of the first hook not yet delivered.
    pub next: usize,
    /// `<reference>:v<version>`; a hook's key is this, `:` and its name.
    pub key_prefix: String,
    /// The transaction right after the change.
    pub snapshot: Transaction,
    /// Details of the change.
    pub detail: serde_json::Value,
    /// Attempt number of hook `next` (1 for the first).
    pub attempt: u32,
    /// Proves the claim: updates of the row by a worker whose lease ran out (and whose
    /// row another worker claimed since) are refused.
    pub claim_token: i64,
}

/// Filters of the transaction list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this instance (`mode`).
    pub mode: Option<String>,
    /// Only this authorisation number.
    pub authorisation: Option<String>,
    /// Only this reference.
    pub reference: Option<String>,
}

/// A page of results: newest first, `next` is the cursor for the following page.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Pass as `before` to get the next page; `None` at the end.
    pub next: Option<i64>,
}

/// Counts for health and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Outbox rows (changes) with hooks not yet delivered, not dead.
    pub pending: i64,
    /// Outbox rows that gave up.
    pub dead: i64,
}

/// The transaction store.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Creates or upgrades the schema.
    async fn migrate(&self) -> Result<(), Error>;

    /// Records `id` as the owner of this database if none is, and returns the owner.
    async fn claim_installation(&self, id: &str) -> Result<String, Error>;

    /// Creates a transaction, or returns an identical `commande` one created since
    /// `recycle_since` (`None`: always create). The bool is true when recycled.
    async fn insert_transaction(
        &self,
        new: &NewTransaction,
        reference: &str,
        now: DateTime<Utc>,
        recycle_since: Option<DateTime<Utc>>,
    ) -> Result<(Transaction, bool), Error>;

    /// The transaction with this reference.
    async fn transaction_by_reference(&self, reference: &str)
        -> Result<Option<Transaction>, Error>;

    /// The transaction with this id.
    async fn transaction_by_id(&self, id: i64) -> Result<Option<Transaction>, Error>;

    /// Transactions matching `filter`, newest first, with id below `before`.
    async fn list_transactions(
        &self,
        filter: &ListFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Transaction>, Error>;

    /// `commande` transactions created before `before`, oldest first.
    async fn stale_commande(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Transaction>, Error>;

    /// The history of a transaction, oldest first.
    async fn history(&self, transaction_id: i64) -> Result<Vec<HistoryEntry>, Error>;

    /// Stores a notification linked to no transaction (rejected, foreign, unknown).
    /// Returns `None` when it duplicates a stored event id.
    async fn record_notification(&self, n: &NewNotification) -> Result<Option<i64>, Error>;

    /// A stored notification.
    async fn notification(&self, id: i64) -> Result<Option<StoredNotification>, Error>;

    /// The atomic change (see the module documentation): locks the transaction `key`,
    /// calls `planner` with it, and writes what it returns.
    async fn apply(
        &self,
        key: TxKey,
        now: DateTime<Utc>,
        planner: Planner<'_>,
    ) -> Result<Applied, Error>;

    /// Claims up to `limit` due outbox rows until `lease_until`, respecting per-transaction
    /// order (a row waits for the earlier ones of its transaction).
    async fn claim_hooks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, Error>;

    /// Records that the hooks of a claimed row up to `index` were delivered and extends the
    /// lease to `lease_until` (the row itself is marked done by [`Store::rows_delivered`]).
    /// Returns false, writing nothing, when the claim was lost (lease expired and the row
    /// claimed again).
    async fn hook_delivered(
        &self,
        item: &OutboxItem,
        index: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, Error>;

    /// Marks claimed rows whose hooks were all delivered done, in one statement. Rows whose
    /// claim was lost are left alone. Returns how many were marked.
    async fn rows_delivered(&self, items: &[&OutboxItem], now: DateTime<Utc>)
        -> Result<u64, Error>;

    /// Marks hook `index` of a claimed row failed (the hooks before it were delivered):
    /// retried at `retry_at`, or dead when `None`. Returns false when the claim was lost.
    async fn hook_failed(
        &self,
        item: &OutboxItem,
        index: usize,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, Error>;

    /// Extends a claim before starting its row. Returns false when the claim was lost.
    async fn renew_claim(
        &self,
        item: &OutboxItem,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, Error>;

    /// Makes every dead row due again (after the host fixed its hook). Dead rows keep later
    /// rows of their transaction waiting, so order holds. Returns how many.
    async fn requeue_dead(&self, now: DateTime<Utc>) -> Result<u64, Error>;

    /// Outbox counts.
    async fn outbox_stats(&self) -> Result<OutboxStats, Error>;

    /// The next value (1, 2, …) of the counter `name`, committed before it is returned:
    /// concurrent callers, on one server or several, never get the same value.
    async fn next_counter(&self, name: &str) -> Result<i64, Error>;

    /// The current value of the counter `name` (0 before its first [`Store::next_counter`]):
    /// admin session generations are read on every staff request.
    async fn counter(&self, name: &str) -> Result<i64, Error>;

    /// How many transactions per status and instance (`mode`), for metrics.
    async fn counts(&self) -> Result<Vec<(Status, Option<String>, i64)>, Error>;

    /// Counts one request that did not verify in the tally of `bucket` (an instance, or
    /// `*` for unknown ones) for the hour starting at `window`: `bytes` more, `digest` as
    /// the last one. Returns the tally's request count, this one included, so that the
    /// caller stores the request itself only within its budget.
    async fn tally_unverified(
        &self,
        bucket: &str,
        window: DateTime<Utc>,
        bytes: i64,
        digest: &str,
    ) -> Result<i64, Error>;

    /// Deletes rejected notifications received before `before`, and unverified tallies of
    /// hours before it; nothing else can be deleted. Returns both counts.
    async fn prune_unverified(&self, before: DateTime<Utc>) -> Result<(u64, u64), Error>;
}

/// Raw notification parts as stored: method name, headers as JSON.
pub fn method_from_str(s: &str) -> HttpMethod {
    if s.eq_ignore_ascii_case("GET") {
        HttpMethod::Get
    } else {
        HttpMethod::Post
    }
}

/// Parses a stored channel name.
pub fn channel_from_str(s: &str) -> Channel {
    if s == "server" {
        Channel::Server
    } else {
        Channel::Browser
    }
}
