//! The one implementation of [`bank_core::Store`], instantiated for SQLite and PostgreSQL
//! by [`store_impl!`]. The SQL is written once with `$n` placeholders, which both accept.

use bank_core::store::{channel_from_str, method_from_str, NewNotification};
use bank_core::transaction::Billing;
use bank_core::{Channel, Currency, HistoryKind, Money, Notification, Status};
use chrono::{DateTime, TimeZone, Utc};

use crate::error::StoreError;

pub(crate) const TX_COLUMNS: &str = "id, reference, status, version, amount_minor, currency, amount_ht_minor, \
    refunded_minor, refund_pending_minor, id_auteur, auteur_id, auteur, parrain, tracking_id, champs, billing, recurring, \
    parent_reference, mode, authorisation, subscription_id, error_code, error_message, created_ms, \
    updated_ms, paid_ms";

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(column: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or(StoreError::Corrupt {
            column,
            reason: format!("{v} is not a time"),
        })
}

pub(crate) fn corrupt(column: &'static str) -> impl Fn(bank_core::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    }
}

/// The values of a transaction row, read in a backend-neutral way.
pub(crate) struct TxRow {
    pub id: i64,
    pub reference: String,
    pub status: String,
    pub version: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub amount_ht_minor: Option<i64>,
    pub refunded_minor: i64,
    pub refund_pending_minor: i64,
    pub id_auteur: Option<i64>,
    pub auteur_id: Option<String>,
    pub auteur: Option<String>,
    pub parrain: Option<String>,
    pub tracking_id: Option<i64>,
    pub champs: String,
    pub billing: Option<String>,
    pub recurring: bool,
    pub parent_reference: Option<String>,
    pub mode: Option<String>,
    pub authorisation: Option<String>,
    pub subscription_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub paid_ms: Option<i64>,
}

impl TxRow {
    pub(crate) fn into_transaction(self) -> Result<bank_core::Transaction, StoreError> {
        let currency = Currency::from_code(&self.currency).map_err(corrupt("currency"))?;
        let money = |column, m| Money::from_minor(m, currency).map_err(corrupt(column));
        let champs = serde_json::from_str(&self.champs).map_err(|e| StoreError::Corrupt {
            column: "champs",
            reason: e.to_string(),
        })?;
        let billing: Option<Billing> = match self.billing {
            Some(b) => Some(serde_json::from_str(&b).map_err(|e| StoreError::Corrupt {
                column: "billing",
                reason: e.to_string(),
            })?),
            None => None,
        };
        Ok(bank_core::Transaction {
            id: self.id,
            reference: self.reference,
            status: self.status.parse::<Status>().map_err(corrupt("status"))?,
            version: self.version,
            amount: money("amount_minor", self.amount_minor)?,
            amount_ht: self
                .amount_ht_minor
                .map(|m| money("amount_ht_minor", m))
                .transpose()?,
            refunded: money("refunded_minor", self.refunded_minor)?,
            refund_pending: money("refund_pending_minor", self.refund_pending_minor)?,
            id_auteur: self.id_auteur,
            auteur_id: self.auteur_id,
            auteur: self.auteur,
            parrain: self.parrain,
            tracking_id: self.tracking_id,
            champs,
            billing,
            recurring: self.recurring,
            parent_reference: self.parent_reference,
            mode: self.mode,
            authorisation: self.authorisation,
            subscription_id: self.subscription_id,
            error_code: self.error_code,
            error_message: self.error_message,
            created_at: from_ms("created_ms", self.created_ms)?,
            updated_at: from_ms("updated_ms", self.updated_ms)?,
            paid_at: self.paid_ms.map(|v| from_ms("paid_ms", v)).transpose()?,
        })
    }
}

pub(crate) fn headers_json(n: &Notification) -> String {
    serde_json::to_string(&n.headers).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn notification_from_parts(
    channel: &str,
    method: &str,
    headers: &str,
    query: String,
    body: Vec<u8>,
    received_ms: i64,
) -> Result<Notification, StoreError> {
    let channel: Channel = channel_from_str(channel);
    Ok(Notification {
        channel,
        method: method_from_str(method),
        headers: serde_json::from_str(headers).map_err(|e| StoreError::Corrupt {
            column: "headers",
            reason: e.to_string(),
        })?,
        query,
        body,
        received_at: from_ms("received_ms", received_ms)?,
        // Not stored: a replay says where it came from, not where the original did.
        peer: None,
    })
}

pub(crate) fn history_kind(s: &str) -> Result<HistoryKind, StoreError> {
    HistoryKind::parse(s).ok_or(StoreError::Corrupt {
        column: "kind",
        reason: format!("unknown history kind {s:?}"),
    })
}

pub(crate) fn opt_status(
    column: &'static str,
    s: Option<String>,
) -> Result<Option<Status>, StoreError> {
    s.map(|s| s.parse::<Status>().map_err(corrupt(column)))
        .transpose()
}

pub(crate) fn notification_event_id(n: &NewNotification) -> Option<&str> {
    n.event_id.as_deref()
}

macro_rules! store_impl {
    ($store:ty, $db:ty, begin = $begin:expr, row_lock = $row_lock:expr, claim_lock = $lock:expr, migrator = $migrator:expr) => {
        mod store_impl {
            use super::*;
            use async_trait::async_trait;
            use bank_core::store::{
                Applied, Change, ListFilter, NewNotification, OutboxItem, OutboxStats, Page, Planner, StoredNotification, TxKey,
                Verdict,
            };
            use bank_core::{HistoryEntry, HookName, NewTransaction, Transaction};
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};

            use crate::error::StoreError;
            use crate::imp::{self, ms, TxRow, TX_COLUMNS};

            type Db = $db;
            type DbRow = <Db as sqlx::Database>::Row;

            fn tx_row(r: &DbRow) -> Result<Transaction, StoreError> {
                let g = StoreError::query("read transaction");
                TxRow {
                    id: r.try_get("id").map_err(&g)?,
                    reference: r.try_get("reference").map_err(&g)?,
                    status: r.try_get("status").map_err(&g)?,
                    version: r.try_get("version").map_err(&g)?,
                    amount_minor: r.try_get("amount_minor").map_err(&g)?,
                    currency: r.try_get("currency").map_err(&g)?,
                    amount_ht_minor: r.try_get("amount_ht_minor").map_err(&g)?,
                    refunded_minor: r.try_get("refunded_minor").map_err(&g)?,
                    refund_pending_minor: r.try_get("refund_pending_minor").map_err(&g)?,
                    id_auteur: r.try_get("id_auteur").map_err(&g)?,
                    auteur_id: r.try_get("auteur_id").map_err(&g)?,
                    auteur: r.try_get("auteur").map_err(&g)?,
                    parrain: r.try_get("parrain").map_err(&g)?,
                    tracking_id: r.try_get("tracking_id").map_err(&g)?,
                    champs: r.try_get("champs").map_err(&g)?,
                    billing: r.try_get("billing").map_err(&g)?,
                    recurring: r.try_get("recurring").map_err(&g)?,
                    parent_reference: r.try_get("parent_reference").map_err(&g)?,
                    mode: r.try_get("mode").map_err(&g)?,
                    authorisation: r.try_get("authorisation").map_err(&g)?,
                    subscription_id: r.try_get("subscription_id").map_err(&g)?,
                    error_code: r.try_get("error_code").map_err(&g)?,
                    error_message: r.try_get("error_message").map_err(&g)?,
                    created_ms: r.try_get("created_ms").map_err(&g)?,
                    updated_ms: r.try_get("updated_ms").map_err(&g)?,
                    paid_ms: r.try_get("paid_ms").map_err(&g)?,
                }
                .into_transaction()
            }

            async fn insert_notification<'c, E>(
                exec: E,
                n: &NewNotification,
                transaction_id: Option<i64>,
            ) -> Result<Option<i64>, StoreError>
            where
                E: sqlx::Executor<'c, Database = Db>,
            {
                let row = sqlx::query(
                    "INSERT INTO bank_notifications (instance, transaction_id, channel, method, headers, query, body, \
                     received_ms, verdict, reason, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (instance, event_id) DO NOTHING RETURNING id",
                )
                .bind(&n.instance)
                .bind(transaction_id)
                .bind(n.raw.channel.as_str())
                .bind(n.raw.method.as_str())
                .bind(imp::headers_json(&n.raw))
                .bind(&n.raw.query)
                .bind(&n.raw.body)
                .bind(ms(n.raw.received_at))
                .bind(n.verdict.as_str())
                .bind(&n.reason)
                .bind(imp::notification_event_id(n))
                .fetch_optional(exec)
                .await
                .map_err(StoreError::query("store notification"))?;
                row.map(|r| r.try_get::<i64, _>("id")).transpose().map_err(StoreError::query("store notification"))
            }

            async fn insert_history<'c, E>(
                exec: E,
                transaction_id: i64,
                now: DateTime<Utc>,
                h: &bank_core::store::NewHistory,
                notification_id: Option<i64>,
            ) -> Result<(), StoreError>
            where
                E: sqlx::Executor<'c, Database = Db>,
            {
                sqlx::query(
                    "INSERT INTO bank_history (transaction_id, at_ms, kind, from_status, to_status, instance, \
                     notification_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(transaction_id)
                .bind(ms(now))
                .bind(h.kind.as_str())
                .bind(h.from.map(|s| s.as_str()))
                .bind(h.to.map(|s| s.as_str()))
                .bind(&h.instance)
                .bind(notification_id)
                .bind(h.detail.to_string())
                .execute(exec)
                .await
                .map_err(StoreError::query("append history"))?;
                Ok(())
            }

            impl $store {
                async fn begin(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
                    self.pool.begin_with($begin).await.map_err(StoreError::query("begin"))
                }
            }

            #[async_trait]
            impl bank_core::Store for $store {
                async fn migrate(&self) -> Result<(), bank_core::Error> {
                    $migrator.run(&self.pool).await.map_err(StoreError::from)?;
                    Ok(())
                }

                async fn claim_installation(&self, id: &str) -> Result<String, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    sqlx::query("INSERT INTO bank_meta (key, value) VALUES ('installation_id', $1) ON CONFLICT (key) DO NOTHING")
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(StoreError::query("claim installation"))?;
                    let owner: String = sqlx::query_scalar("SELECT value FROM bank_meta WHERE key = 'installation_id'")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(StoreError::query("read installation"))?;
                    Ok(owner)
                }

                async fn insert_transaction(
                    &self,
                    new: &NewTransaction,
                    reference: &str,
                    now: DateTime<Utc>,
                    recycle_since: Option<DateTime<Utc>>,
                ) -> Result<(Transaction, bool), bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let fingerprint = new.fingerprint();
                    let mut db = self.begin().await?;
                    if let Some(since) = recycle_since {
                        let found = sqlx::query(&format!(
                            "SELECT {TX_COLUMNS} FROM bank_transactions WHERE fingerprint = $1 AND status = 'commande' \
                             AND created_ms >= $2 ORDER BY id DESC LIMIT 1"
                        ))
                        .bind(&fingerprint)
                        .bind(ms(since))
                        .fetch_optional(&mut *db)
                        .await
                        .map_err(StoreError::query("find recyclable transaction"))?;
                        if let Some(row) = found {
                            let tx = tx_row(&row)?;
                            db.commit().await.map_err(StoreError::query("commit"))?;
                            return Ok((tx, true));
                        }
                    }
                    let champs = serde_json::to_string(&new.champs).unwrap_or_else(|_| "{}".into());
                    let billing = new.billing.as_ref().and_then(|b| serde_json::to_string(b).ok());
                    let row = sqlx::query(&format!(
                        "INSERT INTO bank_transactions (reference, status, version, amount_minor, currency, amount_ht_minor, \
                         refunded_minor, id_auteur, auteur_id, auteur, parrain, tracking_id, champs, billing, recurring, \
                         parent_reference, fingerprint, created_ms, updated_ms) \
                         VALUES ($1, 'commande', 0, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
                         RETURNING {TX_COLUMNS}"
                    ))
                    .bind(reference)
                    .bind(new.amount.minor())
                    .bind(new.amount.currency().code())
                    .bind(new.amount_ht.map(|m| m.minor()))
                    .bind(new.id_auteur)
                    .bind(&new.auteur_id)
                    .bind(&new.auteur)
                    .bind(&new.parrain)
                    .bind(new.tracking_id)
                    .bind(champs)
                    .bind(billing)
                    .bind(new.recurring)
                    .bind(&new.parent_reference)
                    .bind(&fingerprint)
                    .bind(ms(now))
                    .fetch_one(&mut *db)
                    .await
                    .map_err(StoreError::query("insert transaction"))?;
                    let tx = tx_row(&row)?;
                    let created = bank_core::store::NewHistory {
                        kind: bank_core::HistoryKind::Created,
                        from: None,
                        to: Some(bank_core::Status::Commande),
                        instance: None,
                        detail: serde_json::json!({ "amount_minor": new.amount.minor(), "currency": new.amount.currency().code() }),
                    };
                    insert_history(&mut *db, tx.id, now, &created, None).await?;
                    db.commit().await.map_err(StoreError::query("commit"))?;
                    Ok((tx, false))
                }

                async fn transaction_by_reference(&self, reference: &str) -> Result<Option<Transaction>, bank_core::Error> {
                    let row = sqlx::query(&format!("SELECT {TX_COLUMNS} FROM bank_transactions WHERE reference = $1"))
                        .bind(reference)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(StoreError::query("find transaction"))?;
                    Ok(row.as_ref().map(tx_row).transpose()?)
                }

                async fn transaction_by_id(&self, id: i64) -> Result<Option<Transaction>, bank_core::Error> {
                    let row = sqlx::query(&format!("SELECT {TX_COLUMNS} FROM bank_transactions WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(StoreError::query("find transaction"))?;
                    Ok(row.as_ref().map(tx_row).transpose()?)
                }

                async fn list_transactions(
                    &self,
                    filter: &ListFilter,
                    before: Option<i64>,
                    limit: u32,
                ) -> Result<Page<Transaction>, bank_core::Error> {
                    let limit = limit.clamp(1, 1000);
                    let mut q = QueryBuilder::<Db>::new(format!("SELECT {TX_COLUMNS} FROM bank_transactions WHERE 1 = 1"));
                    if let Some(s) = filter.status {
                        q.push(" AND status = ").push_bind(s.as_str());
                    }
                    if let Some(m) = &filter.mode {
                        q.push(" AND mode = ").push_bind(m.clone());
                    }
                    if let Some(a) = &filter.authorisation {
                        q.push(" AND authorisation = ").push_bind(a.clone());
                    }
                    if let Some(r) = &filter.reference {
                        q.push(" AND reference = ").push_bind(r.clone());
                    }
                    if let Some(b) = before {
                        q.push(" AND id < ").push_bind(b);
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit) + 1);
                    let rows = q
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::query("list transactions"))?;
                    let mut items = rows.iter().map(tx_row).collect::<Result<Vec<_>, _>>()?;
                    let next = if items.len() > limit as usize {
                        items.truncate(limit as usize);
                        items.last().map(|t| t.id)
                    } else {
                        None
                    };
                    Ok(Page { items, next })
                }

                async fn stale_commande(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Transaction>, bank_core::Error> {
                    let rows = sqlx::query(&format!(
                        "SELECT {TX_COLUMNS} FROM bank_transactions WHERE status = 'commande' AND created_ms < $1 \
                         ORDER BY created_ms LIMIT $2"
                    ))
                    .bind(ms(before))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("list stale transactions"))?;
                    Ok(rows.iter().map(tx_row).collect::<Result<Vec<_>, _>>()?)
                }

                async fn history(&self, transaction_id: i64) -> Result<Vec<HistoryEntry>, bank_core::Error> {
                    let rows = sqlx::query(
                        "SELECT id, at_ms, kind, from_status, to_status, instance, notification_id, detail \
                         FROM bank_history WHERE transaction_id = $1 ORDER BY id",
                    )
                    .bind(transaction_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("read history"))?;
                    let g = StoreError::query("read history");
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        let kind: String = r.try_get("kind").map_err(&g)?;
                        let detail: String = r.try_get("detail").map_err(&g)?;
                        out.push(HistoryEntry {
                            id: r.try_get("id").map_err(&g)?,
                            at: imp::from_ms("at_ms", r.try_get("at_ms").map_err(&g)?)?,
                            kind: imp::history_kind(&kind)?,
                            from: imp::opt_status("from_status", r.try_get("from_status").map_err(&g)?)?,
                            to: imp::opt_status("to_status", r.try_get("to_status").map_err(&g)?)?,
                            instance: r.try_get("instance").map_err(&g)?,
                            notification_id: r.try_get("notification_id").map_err(&g)?,
                            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                        });
                    }
                    Ok(out)
                }

                async fn record_notification(&self, n: &NewNotification) -> Result<Option<i64>, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    Ok(insert_notification(&self.pool, n, None).await?)
                }

                async fn notification(&self, id: i64) -> Result<Option<StoredNotification>, bank_core::Error> {
                    let row = sqlx::query(
                        "SELECT id, instance, transaction_id, channel, method, headers, query, body, received_ms, verdict, reason \
                         FROM bank_notifications WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::query("read notification"))?;
                    let Some(r) = row else { return Ok(None) };
                    let g = StoreError::query("read notification");
                    let channel: String = r.try_get("channel").map_err(&g)?;
                    let method: String = r.try_get("method").map_err(&g)?;
                    let headers: String = r.try_get("headers").map_err(&g)?;
                    let verdict: String = r.try_get("verdict").map_err(&g)?;
                    Ok(Some(StoredNotification {
                        id: r.try_get("id").map_err(&g)?,
                        instance: r.try_get("instance").map_err(&g)?,
                        transaction_id: r.try_get("transaction_id").map_err(&g)?,
                        raw: imp::notification_from_parts(
                            &channel,
                            &method,
                            &headers,
                            r.try_get("query").map_err(&g)?,
                            r.try_get("body").map_err(&g)?,
                            r.try_get("received_ms").map_err(&g)?,
                        )?,
                        verdict: Verdict::parse(&verdict).ok_or(StoreError::Corrupt {
                            column: "verdict",
                            reason: verdict.clone(),
                        })?,
                        reason: r.try_get("reason").map_err(&g)?,
                    }))
                }

                async fn apply(&self, key: TxKey, now: DateTime<Utc>, planner: Planner<'_>) -> Result<Applied, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let mut db = self.begin().await?;
                    let (column, id_value, ref_value) = match &key {
                        TxKey::Id(id) => ("id", Some(*id), None),
                        TxKey::Reference(r) => ("reference", None, Some(r.clone())),
                    };
                    let select = format!("SELECT {TX_COLUMNS} FROM bank_transactions WHERE {column} = $1{}", $row_lock);
                    let q = sqlx::query(&select);
                    let q = match (id_value, ref_value) {
                        (Some(id), _) => q.bind(id),
                        (_, Some(r)) => q.bind(r),
                        _ => unreachable!(),
                    };
                    let Some(row) = q.fetch_optional(&mut *db).await.map_err(StoreError::query("lock transaction"))? else {
                        db.rollback().await.map_err(StoreError::query("rollback"))?;
                        return Ok(Applied::NotFound);
                    };
                    let before = tx_row(&row)?;
                    let change: Change = planner(&before);
                    let notification_id = match &change.notification {
                        Some(n) => match insert_notification(&mut *db, n, Some(before.id)).await? {
                            Some(id) => Some(id),
                            None => {
                                db.rollback().await.map_err(StoreError::query("rollback"))?;
                                return Ok(Applied::Duplicate);
                            }
                        },
                        None => None,
                    };
                    let tx = if change.patch.is_empty() && change.hooks.is_empty() {
                        before
                    } else {
                        let p = &change.patch;
                        let row = sqlx::query(&format!(
                            "UPDATE bank_transactions SET version = version + 1, updated_ms = $1, \
                             status = COALESCE($2, status), mode = COALESCE($3, mode), \
                             authorisation = COALESCE($4, authorisation), subscription_id = COALESCE($5, subscription_id), \
                             error_code = CASE WHEN $6 THEN NULL ELSE COALESCE($7, error_code) END, \
                             error_message = CASE WHEN $6 THEN NULL ELSE COALESCE($8, error_message) END, \
                             refunded_minor = COALESCE($9, refunded_minor), paid_ms = COALESCE($10, paid_ms), \
                             refund_pending_minor = COALESCE($13, refund_pending_minor), \
                             amount_minor = COALESCE($14, amount_minor) \
                             WHERE id = $11 AND version = $12 RETURNING {TX_COLUMNS}"
                        ))
                        .bind(ms(now))
                        .bind(p.status.map(|s| s.as_str()))
                        .bind(&p.mode)
                        .bind(&p.authorisation)
                        .bind(&p.subscription_id)
                        .bind(p.clear_error)
                        .bind(&p.error_code)
                        .bind(&p.error_message)
                        .bind(p.refunded_minor)
                        .bind(p.paid_at.map(ms))
                        .bind(before.id)
                        .bind(before.version)
                        .bind(p.refund_pending_minor)
                        .bind(p.amount_minor)
                        .fetch_optional(&mut *db)
                        .await
                        .map_err(StoreError::query("update transaction"))?;
                        // The row is locked: the version cannot have moved. Checked anyway.
                        let Some(row) = row else {
                            db.rollback().await.map_err(StoreError::query("rollback"))?;
                            return Err(StoreError::Corrupt { column: "version", reason: "changed under the row lock".into() }.into());
                        };
                        tx_row(&row)?
                    };
                    if let Some(h) = &change.history {
                        insert_history(&mut *db, tx.id, now, h, notification_id).await?;
                    }
                    if !change.hooks.is_empty() {
                        let snapshot = serde_json::to_string(&tx).map_err(|e| StoreError::Corrupt {
                            column: "snapshot",
                            reason: e.to_string(),
                        })?;
                        let names: Vec<&str> = change.hooks.iter().map(|h| h.hook.as_str()).collect();
                        // One detail per change: the hooks of one change share it.
                        let detail = change.hooks[0].detail.to_string();
                        sqlx::query(
                            "INSERT INTO bank_outbox (transaction_id, hooks, key_prefix, snapshot, detail, due_ms) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(tx.id)
                        .bind(names.join(","))
                        .bind(bank_core::hooks::idempotency_prefix(&tx.reference, tx.version))
                        .bind(&snapshot)
                        .bind(detail)
                        .bind(ms(now))
                        .execute(&mut *db)
                        .await
                        .map_err(StoreError::query("write outbox"))?;
                    }
                    db.commit().await.map_err(StoreError::query("commit"))?;
                    Ok(Applied::Done {
                        transaction: Box::new(tx),
                        notification_id,
                    })
                }

                async fn claim_hooks(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<OutboxItem>, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let mut db = self.begin().await?;
                    let rows = sqlx::query(&format!(
                        "UPDATE bank_outbox SET locked_until_ms = $2, attempts = attempts + 1, claim_token = $4 WHERE id IN ( \
                           SELECT o.id FROM bank_outbox o \
                           WHERE o.delivered_ms IS NULL AND NOT o.dead AND o.due_ms <= $1 \
                             AND (o.locked_until_ms IS NULL OR o.locked_until_ms <= $1) \
                             AND NOT EXISTS (SELECT 1 FROM bank_outbox e WHERE e.transaction_id = o.transaction_id \
                                             AND e.id < o.id AND e.delivered_ms IS NULL) \
                           ORDER BY o.id LIMIT $3{} ) \
                         RETURNING id, transaction_id, hooks, next_hook, key_prefix, snapshot, detail, attempts, claim_token",
                        $lock
                    ))
                    .bind(ms(now))
                    .bind(ms(lease_until))
                    .bind(i64::from(limit))
                    .bind(rand::random::<i64>())
                    .fetch_all(&mut *db)
                    .await
                    .map_err(StoreError::query("claim hooks"))?;
                    db.commit().await.map_err(StoreError::query("commit"))?;
                    let g = StoreError::query("read outbox");
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        let hooks: String = r.try_get("hooks").map_err(&g)?;
                        let next: i32 = r.try_get("next_hook").map_err(&g)?;
                        let snapshot: String = r.try_get("snapshot").map_err(&g)?;
                        let detail: String = r.try_get("detail").map_err(&g)?;
                        let attempts: i32 = r.try_get("attempts").map_err(&g)?;
                        out.push(OutboxItem {
                            id: r.try_get("id").map_err(&g)?,
                            transaction_id: r.try_get("transaction_id").map_err(&g)?,
                            hooks: hooks
                                .split(',')
                                .map(|h| HookName::parse(h).ok_or(StoreError::Corrupt { column: "hooks", reason: h.to_string() }))
                                .collect::<Result<_, _>>()?,
                            next: usize::try_from(next).unwrap_or(0),
                            key_prefix: r.try_get("key_prefix").map_err(&g)?,
                            snapshot: serde_json::from_str(&snapshot)
                                .map_err(|e| StoreError::Corrupt { column: "snapshot", reason: e.to_string() })?,
                            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                            attempt: u32::try_from(attempts).unwrap_or(1),
                            claim_token: r.try_get("claim_token").map_err(&g)?,
                        });
                    }
                    // RETURNING order is not guaranteed: deliver oldest first.
                    out.sort_by_key(|i| i.id);
                    Ok(out)
                }

                async fn hook_delivered(
                    &self,
                    item: &OutboxItem,
                    index: usize,
                    lease_until: DateTime<Utc>,
                ) -> Result<bool, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    // The next hook of the row is attempted at once, in the same claim: attempt 1.
                    let r = sqlx::query(
                        "UPDATE bank_outbox SET next_hook = $1, attempts = 1, last_error = NULL, \
                         locked_until_ms = $2 \
                         WHERE id = $3 AND claim_token = $4 AND delivered_ms IS NULL",
                    )
                    .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
                    .bind(ms(lease_until))
                    .bind(item.id)
                    .bind(item.claim_token)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::query("mark hook delivered"))?;
                    Ok(r.rows_affected() == 1)
                }

                async fn rows_delivered(&self, items: &[&OutboxItem], now: DateTime<Utc>) -> Result<u64, bank_core::Error> {
                    if items.is_empty() {
                        return Ok(0);
                    }
                    let _turn = self.write_turn().await;
                    // Ids and tokens come from the database as integers: no injection here.
                    let pairs: Vec<String> = items
                        .iter()
                        .map(|i| format!("(id = {} AND claim_token = {})", i.id, i.claim_token))
                        .collect();
                    let r = sqlx::query(&format!(
                        "UPDATE bank_outbox SET delivered_ms = $1, locked_until_ms = NULL, last_error = NULL \
                         WHERE delivered_ms IS NULL AND ({})",
                        pairs.join(" OR ")
                    ))
                    .bind(ms(now))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::query("mark rows delivered"))?;
                    Ok(r.rows_affected())
                }

                async fn hook_failed(
                    &self,
                    item: &OutboxItem,
                    index: usize,
                    error: &str,
                    retry_at: Option<DateTime<Utc>>,
                ) -> Result<bool, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    // A hook reached without a write since the claim counts its first attempt.
                    let r = sqlx::query(
                        "UPDATE bank_outbox SET locked_until_ms = NULL, last_error = $1, \
                         due_ms = COALESCE($2, due_ms), dead = ($2 IS NULL), \
                         attempts = CASE WHEN next_hook = $5 THEN attempts ELSE 1 END, next_hook = $5 \
                         WHERE id = $3 AND claim_token = $4 AND delivered_ms IS NULL",
                    )
                    .bind(error)
                    .bind(retry_at.map(ms))
                    .bind(item.id)
                    .bind(item.claim_token)
                    .bind(i32::try_from(index).unwrap_or(i32::MAX))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::query("mark hook failed"))?;
                    Ok(r.rows_affected() == 1)
                }

                async fn renew_claim(&self, item: &OutboxItem, lease_until: DateTime<Utc>) -> Result<bool, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let r = sqlx::query(
                        "UPDATE bank_outbox SET locked_until_ms = $1 WHERE id = $2 AND claim_token = $3 AND delivered_ms IS NULL",
                    )
                    .bind(ms(lease_until))
                    .bind(item.id)
                    .bind(item.claim_token)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::query("renew claim"))?;
                    Ok(r.rows_affected() == 1)
                }

                async fn requeue_dead(&self, now: DateTime<Utc>) -> Result<u64, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let r = sqlx::query(
                        "UPDATE bank_outbox SET dead = FALSE, attempts = 0, due_ms = $1, locked_until_ms = NULL WHERE dead",
                    )
                    .bind(ms(now))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::query("requeue dead hooks"))?;
                    Ok(r.rows_affected())
                }

                async fn counts(&self) -> Result<Vec<(bank_core::Status, Option<String>, i64)>, bank_core::Error> {
                    let rows = sqlx::query("SELECT status, mode, COUNT(*) AS n FROM bank_transactions GROUP BY status, mode")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::query("count transactions"))?;
                    let g = StoreError::query("count transactions");
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        let status: String = r.try_get("status").map_err(&g)?;
                        out.push((
                            status.parse().map_err(imp::corrupt("status"))?,
                            r.try_get("mode").map_err(&g)?,
                            r.try_get("n").map_err(&g)?,
                        ));
                    }
                    Ok(out)
                }

                async fn outbox_stats(&self) -> Result<OutboxStats, bank_core::Error> {
                    let pending: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM bank_outbox WHERE delivered_ms IS NULL AND NOT dead",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::query("count outbox"))?;
                    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bank_outbox WHERE dead")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(StoreError::query("count outbox"))?;
                    Ok(OutboxStats { pending, dead })
                }

                async fn next_counter(&self, name: &str) -> Result<i64, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    // One statement: the row lock of the upsert serialises concurrent callers.
                    let value: i64 = sqlx::query_scalar(
                        "INSERT INTO bank_counters (name, value) VALUES ($1, 1) \
                         ON CONFLICT (name) DO UPDATE SET value = bank_counters.value + 1 \
                         RETURNING value",
                    )
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::query("next counter"))?;
                    Ok(value)
                }

                async fn counter(&self, name: &str) -> Result<i64, bank_core::Error> {
                    let value: Option<i64> =
                        sqlx::query_scalar("SELECT value FROM bank_counters WHERE name = $1")
                            .bind(name)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(StoreError::query("read counter"))?;
                    Ok(value.unwrap_or(0))
                }

                async fn tally_unverified(
                    &self,
                    bucket: &str,
                    window: DateTime<Utc>,
                    bytes: i64,
                    digest: &str,
                ) -> Result<i64, bank_core::Error> {
                    let _turn = self.write_turn().await;
                    let value: i64 = sqlx::query_scalar(
                        "INSERT INTO bank_unverified (bucket, window_ms, requests, bytes, last_digest) \
                         VALUES ($1, $2, 1, $3, $4) \
                         ON CONFLICT (bucket, window_ms) DO UPDATE SET \
                         requests = bank_unverified.requests + 1, \
                         bytes = bank_unverified.bytes + $3, last_digest = $4 \
                         RETURNING requests",
                    )
                    .bind(bucket)
                    .bind(window.timestamp_millis())
                    .bind(bytes)
                    .bind(digest)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::query("tally unverified request"))?;
                    Ok(value)
                }

                async fn prune_unverified(&self, before: DateTime<Utc>) -> Result<(u64, u64), bank_core::Error> {
                    let cutoff = before.timestamp_millis();
                    // In batches, each its own write: payments go on between them.
                    let mut notifications = 0;
                    loop {
                        let _turn = self.write_turn().await;
                        let n = sqlx::query(
                            "DELETE FROM bank_notifications WHERE id IN (SELECT id FROM bank_notifications \
                             WHERE verdict = 'rejected' AND received_ms < $1 LIMIT 1000)",
                        )
                        .bind(cutoff)
                        .execute(&self.pool)
                        .await
                        .map_err(StoreError::query("prune rejected notifications"))?
                        .rows_affected();
                        notifications += n;
                        if n == 0 {
                            break;
                        }
                    }
                    let _turn = self.write_turn().await;
                    let tallies = sqlx::query("DELETE FROM bank_unverified WHERE window_ms < $1")
                        .bind(cutoff)
                        .execute(&self.pool)
                        .await
                        .map_err(StoreError::query("prune unverified tallies"))?
                        .rows_affected();
                    Ok((notifications, tallies))
                }
            }
        }
    };
}

pub(crate) use store_impl;
