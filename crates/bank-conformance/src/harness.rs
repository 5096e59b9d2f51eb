//! A fresh engine, store and recording hooks for one scenario.

use std::sync::Arc;

use bank_core::config::{Config, ProcessEnv};
use bank_core::testing::RecordingHooks;
use bank_core::{
    Currency, Engine, ManualClock, Money, NewTransaction, Notification, NotificationResult,
    Transaction,
};

use crate::drivers::Driver;

/// The installation id of conformance runs.
pub const INSTALLATION: &str = "conf";

/// One engine on a fresh SQLite file, with one instance of the driver's provider.
pub struct Harness {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The hooks, recording.
    pub hooks: Arc<RecordingHooks>,
    /// The instance id under test.
    pub instance: String,
    /// The engine's clock, moved by hand.
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("instance", &self.instance)
            .finish()
    }
}

impl Harness {
    /// Builds the harness for `driver`.
    ///
    /// # Errors
    /// A description of what failed to start.
    pub async fn new(driver: &dyn Driver) -> Result<Self, String> {
        // Make sure every provider crate is linked and registered.
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut text = format!(
            "[installation]\nid = \"{INSTALLATION}\"\nsecret = \"conformance-secret-0123456789\"\n\n[[instance]]\nid = \"{p}-test\"\nprovider = \"{p}\"\nmode = \"test\"\n[instance.options]\n",
            p = driver.provider()
        );
        for (k, v) in driver.options() {
            text.push_str(&format!("{k} = {}\n", toml_string(&v)));
        }
        let config =
            Config::parse(&text, "<conformance>", &ProcessEnv).map_err(|e| e.to_string())?;
        let registry =
            bank_core::Registry::from_config(&config, &ProcessEnv).map_err(|e| e.to_string())?;
        let url = format!("sqlite://{}", dir.path().join("bank.db").display());
        let store = bank_store::open(&url).await.map_err(|e| e.to_string())?;
        let hooks = Arc::new(RecordingHooks::new());
        let engine = Engine::open(
            store,
            registry,
            hooks.clone(),
            &config.installation,
            config.engine.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let engine = engine.with_clock(clock.clone());
        Ok(Harness {
            clock,
            engine: Arc::new(engine),
            hooks,
            instance: format!("{}-test", driver.provider()),
            _dir: dir,
        })
    }

    /// A new transaction of `minor` cents (EUR).
    ///
    /// # Errors
    /// The engine's error, as text.
    pub async fn transaction(&self, minor: i64) -> Result<Transaction, String> {
        let mut t = NewTransaction::new(
            Money::from_minor(minor, Currency::EUR).map_err(|e| e.to_string())?,
        );
        t.force = true;
        self.engine
            .inserer_transaction(t)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a notification to the instance under test.
    ///
    /// # Errors
    /// The engine's error, as text.
    pub async fn notify(&self, n: Notification) -> Result<NotificationResult, String> {
        self.engine
            .handle_notification(&self.instance, n)
            .await
            .map_err(|e| e.to_string())
    }

    /// Delivers pending hooks.
    ///
    /// # Errors
    /// The engine's error, as text.
    pub async fn deliver(&self) -> Result<(), String> {
        self.engine
            .deliver_pending()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The transaction as stored now.
    ///
    /// # Errors
    /// The engine's error, as text.
    pub async fn reload(&self, tx: &Transaction) -> Result<Transaction, String> {
        self.engine
            .transaction(&tx.reference)
            .await
            .map_err(|e| e.to_string())
    }
}

fn toml_string(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
