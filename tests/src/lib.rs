//! Helpers for the end-to-end tests: a fresh store per test on each backend, and the
//! `backend_test!` macro that runs one test body once per backend (ripgrep's `rgtest!`).
//!
//! PostgreSQL tests read `BANK_TEST_POSTGRES_URL`; without it they print that they were
//! skipped and pass.

pub mod served;

use std::sync::Arc;

use bank_core::config::{Config, ProcessEnv};
use bank_core::testing::RecordingHooks;
use bank_core::{
    Currency, Engine, EngineSettings, Hooks, ManualClock, Money, NewTransaction, Store, Transaction,
};

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "BANK_TEST_POSTGRES_URL";

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema on the PostgreSQL server of `BANK_TEST_POSTGRES_URL`.
    Postgres,
}

/// Where a test's store lives; dropping it removes the SQLite file (PostgreSQL schemas are
/// dropped by [`TestStore::cleanup`]).
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The URL to open it again (another process).
    pub url: String,
    /// The PostgreSQL schema, if any.
    pub schema: Option<String>,
    /// Raw SQLite pool (for checks outside the Store trait).
    pub sqlite: Option<bank_store::SqliteStore>,
    /// Raw PostgreSQL pool.
    pub pg: Option<bank_store::PgStore>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh, migrated store, or `None` (with a message) when PostgreSQL is not configured.
    pub async fn new(backend: Backend) -> Option<TestStore> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bank.db").display());
                let s = bank_store::SqliteStore::connect(&url)
                    .await
                    .expect("sqlite");
                s.migrate().await.expect("migrate");
                Some(TestStore {
                    store: Arc::new(s.clone()),
                    url,
                    schema: None,
                    sqlite: Some(s),
                    pg: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var(PG_ENV) else {
                    bank_core::testing::skip_suite(
                        "PostgreSQL",
                        &format!("set {PG_ENV}=postgres://postgres@127.0.0.1:5432/test to run"),
                    );
                    return None;
                };
                let schema = format!("bank_t_{}", rand::random::<u64>());
                let s = bank_store::PgStore::connect_in_schema(&url, Some(&schema))
                    .await
                    .expect("postgres");
                s.migrate().await.expect("migrate");
                Some(TestStore {
                    store: Arc::new(s.clone()),
                    url,
                    schema: Some(schema),
                    sqlite: None,
                    pg: Some(s),
                    _dir: None,
                })
            }
        }
    }

    /// Opens the same store again (as another process would).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        match &self.schema {
            Some(schema) => Arc::new(
                bank_store::PgStore::connect_in_schema(&self.url, Some(schema))
                    .await
                    .expect("postgres"),
            ),
            None => Arc::new(
                bank_store::SqliteStore::connect(&self.url)
                    .await
                    .expect("sqlite"),
            ),
        }
    }

    /// Drops the PostgreSQL schema.
    pub async fn cleanup(self) {
        if let (Some(pg), Some(schema)) = (&self.pg, &self.schema) {
            let _ = sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(pg.pool())
                .await;
            pg.pool().close().await;
        }
    }

    /// Runs a raw statement (to prove the database itself enforces a rule).
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, String> {
        if let Some(s) = &self.sqlite {
            sqlx::query(sql)
                .execute(s.pool())
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        } else if let Some(p) = &self.pg {
            sqlx::query(sql)
                .execute(p.pool())
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        } else {
            unreachable!()
        }
    }

    /// Counts rows of a query returning one BIGINT.
    pub async fn raw_count(&self, sql: &str) -> i64 {
        if let Some(s) = &self.sqlite {
            sqlx::query_scalar(sql)
                .fetch_one(s.pool())
                .await
                .expect("count")
        } else if let Some(p) = &self.pg {
            sqlx::query_scalar(sql)
                .fetch_one(p.pool())
                .await
                .expect("count")
        } else {
            unreachable!()
        }
    }
}

/// The configuration of the tests: installation `test` and one instance of each offline
/// provider and the simulation.
pub fn config() -> Config {
    let text = r#"
[installation]
id = "test"
secret = "test-secret-0123456789abcdef"
base_url = "http://127.0.0.1:8080"

[[instance]]
id = "simu"
provider = "simu"
order = 1

[[instance]]
id = "cheque"
provider = "cheque"
order = 2
[instance.options]
payee = "Association"
address = "1 rue de la Paix, Paris"

[[instance]]
id = "virement"
provider = "virement"
order = 3
[instance.options]
holder = "Association"
iban = "FR76 3000 6000 0112 3456 7890 189"
bic = "BNPAFRPP"

[[instance]]
id = "gratuit"
provider = "gratuit"
order = 4
"#;
    Config::parse(text, "<tests>", &ProcessEnv).expect("test configuration")
}

/// An engine on `store` with the test configuration, `hooks`, `settings` and a manual clock.
pub async fn engine_with(
    store: Arc<dyn Store>,
    hooks: Arc<dyn Hooks>,
    settings: EngineSettings,
    clock: Arc<ManualClock>,
) -> Engine {
    let config = config();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).expect("registry");
    Engine::open(store, registry, hooks, &config.installation, settings)
        .await
        .expect("engine")
        .with_clock(clock)
}

/// A test setup: store, recording hooks, clock, engine.
#[derive(Debug)]
pub struct Setup {
    /// The store.
    pub ts: TestStore,
    /// Recording hooks.
    pub hooks: Arc<RecordingHooks>,
    /// The clock.
    pub clock: Arc<ManualClock>,
    /// The engine.
    pub engine: Arc<Engine>,
}

impl Setup {
    /// A fresh setup on `backend`, or `None` when skipped.
    pub async fn new(backend: Backend) -> Option<Setup> {
        Self::with_settings(backend, EngineSettings::default()).await
    }

    /// The same with engine settings.
    pub async fn with_settings(backend: Backend, settings: EngineSettings) -> Option<Setup> {
        let ts = TestStore::new(backend).await?;
        let hooks = Arc::new(RecordingHooks::new());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let engine =
            Arc::new(engine_with(ts.store.clone(), hooks.clone(), settings, clock.clone()).await);
        Some(Setup {
            ts,
            hooks,
            clock,
            engine,
        })
    }

    /// A new transaction of `minor` cents.
    pub async fn tx(&self, minor: i64) -> Transaction {
        let mut t = NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap());
        t.force = true;
        self.engine.inserer_transaction(t).await.expect("insert")
    }

    /// The notification the simulation's `choice` button posts for `tx`.
    pub async fn simu_post(&self, tx: &Transaction, choice: &str) -> bank_core::Notification {
        own_post(&self.engine, "simu", tx, choice).await
    }
}

/// The notification an own-form button `choice` of `instance` posts for `tx`.
pub async fn own_post(
    engine: &Engine,
    instance: &str,
    tx: &Transaction,
    choice: &str,
) -> bank_core::Notification {
    let ctx = engine.payment_context(tx, instance).await;
    let form = bank_core::own_form::build(&ctx, instance, tx, choice, "");
    let fields: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    bank_core::Notification::form_post(&fields, engine.now())
}

/// Runs a test body once per backend: `backend_test!(name, |b: Backend| async move { … })`
/// gives `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::Backend::Postgres).await
            }
        }
    };
}
