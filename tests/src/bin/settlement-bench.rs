//! The settlement benchmark: N settlements through the real notification path (verify with
//! a trivial provider, compare-and-set, event, outbox) beside a baseline of N plain
//! single-row UPDATE commits on the same database, in the same run. Reports settlements per
//! second and the ratio to the baseline, on SQLite and (with `BANK_TEST_POSTGRES_URL`)
//! PostgreSQL, with one client and with 8 concurrent clients.
//!
//! `cargo xtask bench [N]` (default 3000).

use std::sync::Arc;
use std::time::Instant;

use bank_core::{EngineSettings, NoHooks};
use bank_e2e::{engine_with, own_post, Backend, TestStore};

const CLIENTS: usize = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    println!("| store | clients | `SELECT 1` round trips/s | baseline UPDATE commits/s | settlements/s | ratio to baseline |");
    println!("|---|---|---|---|---|---|");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for clients in [1, CLIENTS] {
            let Some(ts) = TestStore::new(backend).await else {
                continue;
            };
            let ts = Arc::new(ts);
            let (trip, base, settle) = measure(ts.clone(), n, clients).await;
            println!(
                "| {backend:?} | {clients} | {trip:.0} | {base:.0} | {settle:.0} | {:.2} |",
                settle / base
            );
            if let Ok(ts) = Arc::try_unwrap(ts) {
                ts.cleanup().await;
            }
        }
    }
}

async fn measure(ts: Arc<TestStore>, n: usize, clients: usize) -> (f64, f64, f64) {
    // The cost of one statement round trip through the driver, for reading the others.
    let start = Instant::now();
    let t = ts.clone();
    run_clients(n, clients, move |_| {
        let ts = t.clone();
        async move {
            ts.raw_count("SELECT CAST(1 AS BIGINT)").await;
        }
    })
    .await;
    let trip = n as f64 / start.elapsed().as_secs_f64();

    // Baseline: the same number of single-row UPDATE commits on a table of the same size.
    ts.raw_execute("CREATE TABLE bench_baseline (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk.iter().map(|i| format!("({i}, 0)")).collect();
        ts.raw_execute(&format!(
            "INSERT INTO bench_baseline (id, v) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
    }
    let start = Instant::now();
    let t = ts.clone();
    run_clients(n, clients, move |i| {
        let ts = t.clone();
        async move {
            ts.raw_execute(&format!(
                "UPDATE bench_baseline SET v = v + 1 WHERE id = {i}"
            ))
            .await
            .unwrap();
        }
    })
    .await;
    let baseline = n as f64 / start.elapsed().as_secs_f64();

    let clock = Arc::new(bank_core::ManualClock::new(chrono::Utc::now()));
    let engine = Arc::new(
        engine_with(
            ts.store.clone(),
            Arc::new(NoHooks),
            EngineSettings::default(),
            clock,
        )
        .await,
    );
    let mut posts = Vec::with_capacity(n);
    for _ in 0..n {
        let mut t = bank_core::NewTransaction::new(
            bank_core::Money::from_minor(1990, bank_core::Currency::EUR).unwrap(),
        );
        t.force = true;
        let tx = engine.inserer_transaction(t).await.unwrap();
        posts.push(own_post(&engine, "simu", &tx, "ok").await);
    }
    let posts = Arc::new(posts);
    let p = posts.clone();
    let start = Instant::now();
    let e = engine.clone();
    run_clients(n, clients, move |i| {
        let engine = e.clone();
        let posts = p.clone();
        async move {
            let r = engine
                .handle_notification("simu", posts[i].clone())
                .await
                .unwrap();
            assert!(matches!(r.effect, bank_core::Effect::Transitioned { .. }));
        }
    })
    .await;
    let settle = n as f64 / start.elapsed().as_secs_f64();
    (trip, baseline, settle)
}

/// Runs `job(i)` for i in 0..n on `clients` concurrent workers.
async fn run_clients<F, Fut>(n: usize, clients: usize, job: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let next = next.clone();
        let job = job.clone();
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                job(i).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}
