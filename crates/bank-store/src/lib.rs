//! # bank-store
//!
//! The transaction store of `bank`: SQLite (the embedded default, one file in WAL mode) and
//! PostgreSQL (several application servers sharing one database). Both implement
//! [`bank_core::Store`] from **one body of code and SQL** (the private `imp` module), so their behaviour
//! cannot drift; only the dialect of the migrations, the way a write transaction starts
//! (`BEGIN IMMEDIATE` on SQLite) and the outbox claim (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) differ.
//!
//! ```no_run
//! # async fn f() -> Result<(), bank_store::StoreError> {
//! let store = bank_store::open("sqlite://bank.db").await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod error;
mod imp;
mod postgres;
mod sqlite;

use std::sync::Arc;

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens the store named by `url`: `sqlite://path` (created if missing), `sqlite::memory:`,
/// or `postgres://…`. The schema is not migrated here; [`bank_core::Engine::open`] does it.
///
/// # Errors
/// [`StoreError::UnsupportedUrl`] or [`StoreError::Connect`].
pub async fn open(url: &str) -> Result<Arc<dyn bank_core::Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl {
            url: error::redact_url(url),
        })
    }
}
