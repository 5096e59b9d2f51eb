//! SQLite: the embedded default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::{redact_url, StoreError};

/// The SQLite store: one file, WAL journal, writes in `BEGIN IMMEDIATE` transactions so a
/// read-then-write never fails to upgrade its lock. `synchronous=FULL`: a notification
/// answered 200 survives a power cut (the provider will not send it again).
///
/// Writers of this process queue on an async mutex before they open a write transaction:
/// SQLite admits one writer at a time anyway, and a fair queue in the process replaces the
/// busy handler's sleep-and-retry (which lets a waiting writer sleep through many commits
/// and made p99 latency under load a hundred times p50). Another process writing to the
/// same file still waits on `busy_timeout`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (and creates) the database at `url` (`sqlite://bank.db`, `sqlite::memory:`).
    ///
    /// # Errors
    /// [`StoreError::Connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let memory = url.contains(":memory:");
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(connect)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        if !memory {
            create_owner_only(opts.get_filename()).map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source: sqlx::Error::Io(source),
            })?;
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection.
            .max_connections(if memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(opts)
            .await
            .map_err(connect)?;
        Ok(SqliteStore {
            pool,
            writer: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Waits for this process's turn to write.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// The pool, for benchmarks and tests.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Creates the database file readable by its owner only, before SQLite does it with the
/// process umask (0644 on most systems): it holds billing data and raw notifications. SQLite
/// gives its `-wal` and `-shm` files the permissions of the database file.
fn create_owner_only(path: &std::path::Path) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

crate::imp::store_impl!(
    SqliteStore,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    row_lock = "",
    claim_lock = "",
    migrator = sqlx::migrate!("./migrations/sqlite")
);
