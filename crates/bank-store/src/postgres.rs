//! PostgreSQL: for several application servers sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::{redact_url, StoreError};

/// The PostgreSQL store. The outbox is claimed with `FOR UPDATE SKIP LOCKED`, so several
/// servers deliver hooks side by side without taking the same delivery.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// PostgreSQL takes row locks itself: writers never queue in the process.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Connects to `url` (`postgres://user@host/db`).
    ///
    /// # Errors
    /// [`StoreError::Connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_in_schema(url, None).await
    }

    /// Connects with `schema` first in the search path, creating it if missing (one
    /// database for several installations, and isolated test runs).
    ///
    /// # Errors
    /// [`StoreError::Connect`].
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let mut opts: PgConnectOptions = url.parse().map_err(connect)?;
        if let Some(schema) = schema {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await
                .map_err(connect)?;
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))
                .execute(&pool)
                .await
                .map_err(connect)?;
            pool.close().await;
            opts = opts.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(opts)
            .await
            .map_err(connect)?;
        Ok(PgStore { pool })
    }

    /// The pool, for benchmarks and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

crate::imp::store_impl!(
    PgStore,
    sqlx::Postgres,
    begin = "BEGIN",
    row_lock = " FOR UPDATE",
    claim_lock = " FOR UPDATE SKIP LOCKED",
    migrator = sqlx::migrate!("./migrations/postgres")
);
