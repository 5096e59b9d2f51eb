//! A process dies after the commit and before hook delivery; a new process delivers the
//! pending hooks: none lost, none doubled. On SQLite and on PostgreSQL.
//!
//! The test runs its own binary again as the child (`crash_child`), which settles
//! transactions and then aborts inside the first hook call, as a crash would.

use std::process::Command;
use std::sync::Arc;

use bank_core::testing::RecordingHooks;
use bank_core::{async_trait, EngineSettings, HookCall, HookName, Hooks, ManualClock, Status};
use bank_e2e::{backend_test, engine_with, own_post, Backend, TestStore};

const CHILD_ENV: &str = "BANK_CRASH_CHILD_URL";
const SCHEMA_ENV: &str = "BANK_CRASH_CHILD_SCHEMA";
const SETTLED: usize = 25;

/// Hooks that kill the process at the first call: the commit happened, delivery did not.
struct Crash;

#[async_trait]
impl Hooks for Crash {
    async fn traiter_reglement(&self, _call: &HookCall) -> Result<(), bank_core::Error> {
        std::process::abort();
    }
}

fn settings() -> EngineSettings {
    EngineSettings {
        hook_lease_seconds: 30,
        ..EngineSettings::default()
    }
}

/// The child: only does something when started by the parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store: Arc<dyn bank_core::Store> = match std::env::var(SCHEMA_ENV) {
        Ok(schema) => Arc::new(
            bank_store::PgStore::connect_in_schema(&url, Some(&schema))
                .await
                .unwrap(),
        ),
        Err(_) => Arc::new(bank_store::SqliteStore::connect(&url).await.unwrap()),
    };
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = engine_with(store, Arc::new(Crash), settings(), clock).await;
    for _ in 0..SETTLED {
        let mut t = bank_core::NewTransaction::new(
            bank_core::Money::from_minor(500, bank_core::Currency::EUR).unwrap(),
        );
        t.force = true;
        let tx = engine.inserer_transaction(t).await.unwrap();
        let r = engine
            .handle_notification("simu", own_post(&engine, "simu", &tx, "ok").await)
            .await
            .unwrap();
        assert_eq!(r.status, Some(Status::Ok));
    }
    engine.deliver_pending().await.unwrap();
    unreachable!("the first hook aborts the process");
}

backend_test!(
    hooks_survive_a_crash_between_commit_and_delivery,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "crash::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &ts.url);
        if let Some(schema) = &ts.schema {
            child.env(SCHEMA_ENV, schema);
        }
        let status = child.status().expect("run the child");
        assert!(!status.success(), "the child must die in the hook");

        let pending = ts
            .raw_count("SELECT COUNT(*) FROM bank_outbox WHERE delivered_ms IS NULL")
            .await;
        assert_eq!(
            pending, SETTLED as i64,
            "the hooks of every settled transaction are pending (one outbox row each)"
        );

        // A new process, after the dead one's lease ran out.
        let hooks = Arc::new(RecordingHooks::new());
        let clock = Arc::new(ManualClock::new(
            chrono::Utc::now() + chrono::Duration::minutes(2),
        ));
        let engine = engine_with(ts.reopen().await, hooks.clone(), settings(), clock).await;
        engine.deliver_pending().await.unwrap();
        engine.deliver_pending().await.unwrap();
        assert_eq!(
            hooks.count(HookName::TraiterReglement),
            SETTLED,
            "none lost, none doubled"
        );
        assert_eq!(hooks.count(HookName::Notifier), SETTLED);
        let calls = hooks.calls();
        // The dead process had claimed the first hook of each transaction (one batch): those,
        // and only those, are second attempts.
        let second: Vec<_> = calls.iter().filter(|c| c.attempt > 1).collect();
        assert_eq!(second.len(), SETTLED);
        assert!(second
            .iter()
            .all(|c| c.hook == HookName::TraiterReglement && c.attempt == 2));
        let mut keys: Vec<_> = calls.iter().map(|c| c.idempotency_key.clone()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SETTLED * 4);
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_outbox WHERE delivered_ms IS NULL")
                .await,
            0
        );
        ts.cleanup().await;
    }
);
