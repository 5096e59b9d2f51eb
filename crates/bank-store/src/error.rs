//! The error type of `bank-store`.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Neither `sqlite:` nor `postgres://`.
    #[error("unsupported store URL {url} (use sqlite://path or postgres://…)")]
    UnsupportedUrl {
        /// The URL, password removed.
        url: String,
    },
    /// Could not connect.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("{operation} failed: {source}")]
    Query {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value could not be read back.
    #[error("corrupt value in column {column}: {reason}")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// Why.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn query(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError + Copy {
        move |source| StoreError::Query { operation, source }
    }

    /// True for errors a retry can solve (busy database, serialization failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(db),
                ..
            } => {
                let code = db.code().unwrap_or_default();
                // SQLite BUSY/LOCKED, PostgreSQL serialization failure and deadlock.
                matches!(code.as_ref(), "5" | "6" | "517" | "40001" | "40P01")
            }
            StoreError::Query {
                source: sqlx::Error::PoolTimedOut,
                ..
            } => true,
            _ => false,
        }
    }
}

impl From<StoreError> for bank_core::Error {
    fn from(e: StoreError) -> Self {
        bank_core::Error::Store {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

pub(crate) use bank_core::config::redact_url;
