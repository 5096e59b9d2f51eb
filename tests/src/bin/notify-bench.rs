//! The HTTP notification benchmark: signed notifications posted by `wrk` to a `bank serve`
//! child process, at several concurrencies, on SQLite and (with `BANK_TEST_POSTGRES_URL`)
//! PostgreSQL; beside the raw database ceiling measured in the same run with the same client
//! count (a plain SQLite UPDATE loop; `pgbench -N`). Reports notifications per second, p50
//! and p99 latency, the ratio to the ceiling, and the server's peak RSS; then p50/p99 at half
//! the peak rate.
//!
//! `cargo xtask bench notify [--seconds S] [--levels 1,16,64]` builds the release `bank`
//! binary and runs this with `--bank-bin`. Needs `wrk` (Debian package) and, for the
//! PostgreSQL ceiling, `pgbench`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank_e2e::served::{signed_payments, Prepared, ServerChild};
use bank_e2e::{Backend, TestStore, PG_ENV};

/// Each request must settle a fresh transaction: this many are signed per run, enough for
/// the fastest rate seen here (about 3,000/s) over the run's seconds, with margin.
const PER_SECOND_BUDGET: usize = 4000;

const WRK_SCRIPT: &str = r#"
-- Each connection posts bodies from the file, each body once (thread-strided).
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  nthreads = tonumber(args[2])
  pause = tonumber(args[3])
  idx = tid
  used = 0
end
function request()
  local b = bodies[(idx % #bodies) + 1]
  idx = idx + nthreads
  used = used + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, b)
end
function delay()
  return pause
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("used") end
  io.write(string.format("BODIES_USED %d\n", total))
end
"#;

struct Args {
    bank_bin: PathBuf,
    seconds: u64,
    levels: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        bank_bin: PathBuf::new(),
        seconds: 5,
        levels: vec![1, 16, 64],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--bank-bin" => a.bank_bin = PathBuf::from(v),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--levels" => {
                a.levels = v
                    .split(',')
                    .map(|l| l.parse().expect("--levels 1,16,64"))
                    .collect()
            }
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(
        a.bank_bin.is_file(),
        "--bank-bin must name the release `bank` binary (cargo xtask bench notify builds it)"
    );
    a
}

#[derive(Debug, Default, Clone, Copy)]
struct Load {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is not installed (apt-get install wrk)"
    );
    println!("| store | clients | notifications/s | p50 ms | p99 ms | ceiling/s | ratio | server peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut half_rate = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var(PG_ENV).is_err() {
            println!("| PostgreSQL | skipped: set {PG_ENV} | | | | | | |");
            continue;
        }
        let Some(p) = Prepared::new(backend, "").await else {
            continue;
        };
        let engine = p.engine().await;
        let mut files = Vec::new();
        // One file per level, and one for the half-rate run.
        for i in 0..=a.levels.len() {
            let n = PER_SECOND_BUDGET * a.seconds as usize;
            let payments = signed_payments(&engine, n).await;
            let path = p.dir().join(format!("bodies-{i}.txt"));
            let mut text = Vec::with_capacity(n * 200);
            for (_, body) in &payments {
                text.extend_from_slice(body);
                text.push(b'\n');
            }
            std::fs::write(&path, text).expect("bodies");
            files.push((path, n));
        }
        let script = p.dir().join("post.lua");
        std::fs::write(&script, WRK_SCRIPT).expect("script");

        let mut server = ServerChild::start(&a.bank_bin, &p).await;
        let url = format!("{}/bank/simu/action", server.base_url);
        let mut peak = Load::default();
        let mut rows = Vec::new();
        for (i, &clients) in a.levels.iter().enumerate() {
            let (file, n) = &files[i];
            let load = wrk(&script, &url, file, *n, clients, a.seconds, 0);
            if load.rate > peak.rate {
                peak = load;
            }
            rows.push((clients, load));
        }
        // Latency at half the peak rate, from 16 connections that each wait between
        // requests (a site's traffic, not a queue kept full).
        let (file, n) = files.last().expect("half-rate bodies");
        let clients = 16;
        let target = peak.rate / 2.0;
        let pause_ms = ((clients as f64 * 1000.0 / target) as u64).max(1);
        let half = wrk(&script, &url, file, *n, clients, a.seconds, pause_ms);
        let rss = server.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
        server.stop();
        drop(engine);
        p.ts.cleanup().await;

        for (clients, load) in rows {
            let ceiling = ceiling(backend, clients, a.seconds).await;
            println!(
                "| {} | {clients} | {:.0} | {:.2} | {:.2} | {ceiling:.0} | {:.2} | {rss:.1} |{}",
                name(backend),
                load.rate,
                load.p50_ms,
                load.p99_ms,
                load.rate / ceiling,
                if load.errors > 0 {
                    format!(" {} errors", load.errors)
                } else {
                    String::new()
                }
            );
        }
        half_rate.push((backend, clients, target, half));
    }
    println!();
    println!("| store | clients | target rate/s (half the peak) | achieved/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (backend, clients, target, load) in half_rate {
        println!(
            "| {} | {clients} | {target:.0} | {:.0} | {:.2} | {:.2} |",
            name(backend),
            load.rate,
            load.p50_ms,
            load.p99_ms
        );
    }
}

fn name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// One wrk run; panics if the bodies ran out (a reused body would be a cheap replay).
fn wrk(
    script: &Path,
    url: &str,
    bodies: &Path,
    n: usize,
    clients: usize,
    seconds: u64,
    pause_ms: u64,
) -> Load {
    let threads = clients.min(2);
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &clients.to_string()])
        .args([
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "10s",
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .arg("--")
        .arg(bodies)
        .arg(threads.to_string())
        .arg(pause_ms.to_string())
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let used: usize = field(&text, "BODIES_USED").unwrap_or(0.0) as usize;
    assert!(
        used <= n,
        "wrk sent {used} requests for {n} signed bodies: raise PER_SECOND_BUDGET"
    );
    let latency = |pct: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(pct).map(|v| parse_ms(v.trim())))
            .unwrap_or(f64::NAN)
    };
    Load {
        rate: field(&text, "Requests/sec:").unwrap_or(0.0),
        p50_ms: latency("50%"),
        p99_ms: latency("99%"),
        errors: field(&text, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64
            + field(&text, "Socket errors:").map_or(0, |_| 1),
    }
}

fn field(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.trim_end_matches(',').parse().ok())
}

fn parse_ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let num: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => num / 1000.0,
        "ms" => num,
        "s" => num * 1000.0,
        "m" => num * 60_000.0,
        _ => f64::NAN,
    }
}

/// The database's own ceiling with `clients` clients for `seconds`: committed single-row
/// UPDATEs per second.
async fn ceiling(backend: Backend, clients: usize, seconds: u64) -> f64 {
    match backend {
        Backend::Sqlite => sqlite_updates(clients, seconds).await,
        Backend::Postgres => pgbench(clients, seconds).await,
    }
}

async fn sqlite_updates(clients: usize, seconds: u64) -> f64 {
    let ts = Arc::new(TestStore::new(Backend::Sqlite).await.expect("sqlite"));
    ts.raw_execute("CREATE TABLE ceiling (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await
        .expect("create");
    ts.raw_execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) \
         INSERT INTO ceiling SELECT i, 0 FROM n",
    )
    .await
    .expect("fill");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for c in 0..clients {
        let (ts, done) = (ts.clone(), done.clone());
        set.spawn(async move {
            let mut i = c as u64;
            while Instant::now() < deadline {
                ts.raw_execute(&format!(
                    "UPDATE ceiling SET v = v + 1 WHERE id = {}",
                    (i * 7919) % 100_000
                ))
                .await
                .expect("update");
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i += clients as u64;
            }
        });
    }
    while set.join_next().await.is_some() {}
    done.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn pgbench(clients: usize, seconds: u64) -> f64 {
    let url = std::env::var(PG_ENV).expect("PostgreSQL URL");
    let db = "bank_pgbench";
    let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(db)
        .fetch_optional(&admin)
        .await
        .expect("query");
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .expect("create database");
    }
    admin.close().await;
    let db_url = match url.rfind('/') {
        Some(i) if !url[..i].ends_with('/') => format!("{}/{db}", &url[..i]),
        _ => format!("{url}/{db}"),
    };
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "1"])
        .arg(&db_url)
        .output()
        .expect("pgbench runs");
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = Command::new("pgbench")
        .args(["-n", "-N", "-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &seconds.to_string()])
        .arg(&db_url)
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench: {text}");
    field(&text, "tps =").expect("pgbench prints tps")
}
