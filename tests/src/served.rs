//! `bank serve` as a child process on a prepared store, with notifications signed beforehand:
//! the HTTP benchmark (`cargo xtask bench notify`) and the kill-during-load test share it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank_core::config::ProcessEnv;
use bank_core::{Config, Currency, Engine, Money, NewTransaction, NoHooks, Transaction};

use crate::{own_post, Backend, TestStore};

/// The installation of the served tests.
pub const INSTALLATION: &str = "served";

/// A store and a configuration file for a `bank serve` child.
#[derive(Debug)]
pub struct Prepared {
    /// The migrated store (kept for inspection and cleanup).
    pub ts: TestStore,
    /// The store URL the child uses (PostgreSQL: the test schema as its search path).
    pub store_url: String,
    /// Where the child listens (`127.0.0.1:<free port>`).
    pub listen: String,
    /// The configuration file.
    pub config_path: PathBuf,
    dir: tempfile::TempDir,
}

impl Prepared {
    /// A fresh store on `backend` and a configuration with the simulation, `extra` TOML
    /// appended (callbacks…). `None` when the backend is not configured (PostgreSQL).
    pub async fn new(backend: Backend, extra: &str) -> Option<Prepared> {
        let ts = TestStore::new(backend).await?;
        let store_url = match &ts.schema {
            None => ts.url.clone(),
            Some(schema) => {
                let sep = if ts.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options=-c%20search_path%3D{schema}", ts.url)
            }
        };
        let listen = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("bank.toml");
        let text = format!(
            r#"[installation]
id = "{INSTALLATION}"
secret = "served-secret-0123456789abcdef"
base_url = "http://{listen}"

[store]
url = {store}

[server]
listen = "{listen}"

[[instance]]
id = "simu"
provider = "simu"
order = 1

{extra}
"#,
            store = serde_json::to_string(&store_url).expect("string"),
        );
        std::fs::write(&config_path, text).expect("write config");
        Some(Prepared {
            ts,
            store_url,
            listen,
            config_path,
            dir,
        })
    }

    /// The configuration, parsed.
    pub fn config(&self) -> Config {
        Config::from_file(&self.config_path).expect("configuration")
    }

    /// A scratch directory that lives as long as this.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An engine of this installation on the same store (no hooks), to create transactions
    /// and read results while or after the child runs.
    pub async fn engine(&self) -> Arc<Engine> {
        let config = self.config();
        let registry = bank::Registry::from_config(&config, &ProcessEnv).expect("registry");
        Arc::new(
            Engine::open(
                self.ts.store.clone(),
                registry,
                Arc::new(NoHooks),
                &config.installation,
                config.engine.clone(),
            )
            .await
            .expect("engine"),
        )
    }
}

/// `n` new transactions of 19.90 EUR and, for each, the body of the simulation's signed
/// "paid" form, ready to post to `/bank/simu/action`.
pub async fn signed_payments(engine: &Arc<Engine>, n: usize) -> Vec<(Transaction, Vec<u8>)> {
    let mut set = tokio::task::JoinSet::new();
    let workers = 4;
    for w in 0..workers {
        let engine = engine.clone();
        set.spawn(async move {
            let mut out = Vec::new();
            for _ in (w..n).step_by(workers) {
                let mut t =
                    NewTransaction::new(Money::from_minor(1990, Currency::EUR).expect("money"));
                t.force = true;
                let tx = engine.inserer_transaction(t).await.expect("insert");
                let body = own_post(&engine, "simu", &tx, "ok").await.body;
                out.push((tx, body));
            }
            out
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = set.join_next().await {
        all.extend(part.expect("worker"));
    }
    all
}

/// A running `bank serve --config …` child.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl ServerChild {
    /// Starts `bin serve --config` for `p` and waits (at most 30 s) until `/health` answers.
    ///
    /// # Panics
    /// When the child cannot start or never answers.
    pub async fn start(bin: &Path, p: &Prepared) -> ServerChild {
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&p.config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut me = ServerChild {
            child,
            base_url: format!("http://{}", p.listen),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/health", me.base_url)).send().await {
                if r.status().is_success() {
                    return me;
                }
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("bank serve exited early: {status}");
            }
            assert!(Instant::now() < deadline, "bank serve never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGKILL: the process dies mid-request, as in a power cut of the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (at most 30 s) for the graceful shutdown.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A loopback address with a port free right now.
pub fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}
