//! Killing `bank serve` (SIGKILL) while it settles payments under load loses no settled
//! payment and no hook: every notification it acknowledged is `ok` in the store after the
//! kill, the provider's retries settle the rest exactly once, and every hook of every
//! payment reaches the host's callback URL after the restart (at least once, with one
//! idempotency key per hook).
//!
//! Runs on SQLite, and on PostgreSQL when `BANK_TEST_POSTGRES_URL` is set.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bank::{HistoryKind, Status};
use bank_e2e::served::{signed_payments, Prepared, ServerChild};
use bank_e2e::Backend;

const PAYMENTS: usize = 300;
const KILL_AFTER: usize = 100;
const HOOKS: [&str; 4] = ["traiter_reglement", "pre_facturer", "facturer", "notifier"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    kill_during_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    kill_during_load(Backend::Postgres).await;
}

/// The host: records `(Idempotency-Key, Bank-Hook)` of every callback it receives.
async fn host() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let s = s.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                s.lock()
                    .unwrap()
                    .push((h("idempotency-key"), h("bank-hook")));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn kill_during_load(backend: Backend) {
    let (hook_url, received) = host().await;
    let extra = format!(
        "[engine]\nhook_lease_seconds = 5\nhook_retry_base_seconds = 1\nhook_timeout_seconds = 3\n\n\
         [callbacks]\nurls = [\"{hook_url}\"]\nsecrets = [\"kill-test-callback-secret-0123456789\"]\ntimeout_seconds = 2\n"
    );
    let Some(p) = Prepared::new(backend, &extra).await else {
        return;
    };
    let engine = p.engine().await;
    let payments = Arc::new(signed_payments(&engine, PAYMENTS).await);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bank"));
    let mut server = ServerChild::start(&bin, &p).await;
    let action = format!("{}/bank/simu/action", server.base_url);

    // Load: 8 payers post their signed forms; the server dies after KILL_AFTER answers.
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (payments, acked, next, client, action) = (
            payments.clone(),
            acked.clone(),
            next.clone(),
            client.clone(),
            action.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((tx, body)) = payments.get(i) else {
                    break;
                };
                let sent = client
                    .post(&action)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() < 400 => {
                        acked.lock().unwrap().insert(tx.reference.clone());
                    }
                    Ok(r) => panic!("{} answered {}", tx.reference, r.status()),
                    // The server is gone: the provider will retry later.
                    Err(_) => {}
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "the server settled too slowly");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    while workers.join_next().await.is_some() {}
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= KILL_AFTER && acked.len() < PAYMENTS,
        "{}",
        acked.len()
    );

    eprintln!(
        "{backend:?}: killed after {} of {PAYMENTS} payments were acknowledged",
        acked.len()
    );
    // Nothing acknowledged is lost.
    for r in &acked {
        let tx = engine.transaction(r).await.unwrap();
        assert_eq!(
            tx.status,
            Status::Ok,
            "{r} was acknowledged but is {}",
            tx.status
        );
    }

    // Restart; the provider retries every notification (those acknowledged too: a retry
    // after a lost answer), each settles at most once.
    let server = ServerChild::start(&bin, &p).await;
    let action = format!("{}/bank/simu/action", server.base_url);
    for (tx, body) in payments.iter() {
        let r = client
            .post(&action)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            r.status().as_u16() < 400,
            "{}: {}",
            tx.reference,
            r.status()
        );
    }

    // The outbox drains to the host.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stats = engine.store().outbox_stats().await.unwrap();
        assert_eq!(stats.dead, 0, "a hook was given up");
        if stats.pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} hook deliveries still pending",
            stats.pending
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut keys_by_hook: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (key, hook) in received.lock().unwrap().iter() {
        keys_by_hook
            .entry(hook.clone())
            .or_default()
            .insert(key.clone());
    }
    for (tx, _) in payments.iter() {
        let after = engine.transaction(&tx.reference).await.unwrap();
        assert_eq!(after.status, Status::Ok, "{}", tx.reference);
        let transitions = engine
            .store()
            .history(after.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|h| h.kind == HistoryKind::Transition)
            .count();
        assert_eq!(
            transitions, 1,
            "{} transitioned {transitions} times",
            tx.reference
        );
        for hook in HOOKS {
            let delivered = keys_by_hook
                .get(hook)
                .is_some_and(|keys| keys.iter().any(|k| k.starts_with(&tx.reference)));
            assert!(
                delivered,
                "{hook} of {} never reached the host",
                tx.reference
            );
        }
    }
    for hook in HOOKS {
        assert_eq!(
            keys_by_hook.get(hook).map_or(0, BTreeSet::len),
            PAYMENTS,
            "one idempotency key per payment for {hook}"
        );
    }
    drop(server);
    p.ts.cleanup().await;
}
