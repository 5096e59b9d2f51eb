//! What several commands share: loading a configuration, exit-code classes.

use std::path::Path;

use bank::config::ProcessEnv;
use bank::{Config, Registry};

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or invalid configuration: exit 2.
    Config(String),
    /// A failure while running: exit 1.
    Run(anyhow::Error),
    /// Already reported on stdout (a rejected notification): exit 1.
    Silent,
    /// Already reported, with this exit code (`bank terminal pay`).
    Code(u8),
}

impl From<bank::Error> for Failure {
    fn from(e: bank::Error) -> Self {
        match e {
            bank::Error::Config { .. }
            | bank::Error::ConfigRead { .. }
            | bank::Error::UnknownProvider { .. }
            | bank::Error::UnknownInstance { .. }
            | bank::Error::SimulationInLive { .. }
            | bank::Error::InvalidAmount { .. }
            | bank::Error::UnknownCurrency { .. } => Failure::Config(e.to_string()),
            other => Failure::Run(other.into()),
        }
    }
}

/// Reads a configuration file and builds its instances.
pub(crate) fn load(path: &Path) -> Result<(Config, Registry), Failure> {
    let cfg = Config::from_file(path)?;
    let registry = Registry::from_config(&cfg, &ProcessEnv)?;
    Ok((cfg, registry))
}

/// `bank providers`.
pub(crate) fn providers() {
    for f in bank::registry::factories() {
        let d = (f.describe)();
        println!("{} — {}", d.name, d.caption);
        for p in &d.parameters {
            let mut flags = Vec::new();
            if p.required {
                flags.push("required".to_string());
            }
            if p.secret {
                flags.push("secret".to_string());
            }
            if let Some(def) = p.default {
                flags.push(format!("default {def:?}"));
            }
            println!(
                "    {:<16} {:?}  {}  [{}]",
                p.name,
                p.kind,
                p.caption,
                flags.join(", ")
            );
        }
    }
}

/// `bank config check`.
pub(crate) fn check(path: &Path) -> Result<(), Failure> {
    let (cfg, registry) = load(path)?;
    bank_server::ServerSettings::from_config(&cfg, &ProcessEnv)?;
    bank_server::CallbackHooks::from_config(&cfg, &ProcessEnv)?;
    bank_server::EmailHooks::from_config(&cfg, &ProcessEnv)?;
    for a in registry.all() {
        let i = a.info();
        println!(
            "ok  {:<20} {:<12} {:<5} order {}",
            i.id,
            i.provider,
            i.mode.as_str(),
            i.order
        );
    }
    println!(
        "{}: {} instance(s), installation {:?}: valid",
        path.display(),
        cfg.instances.len(),
        cfg.installation.id
    );
    Ok(())
}

/// `bank migrate`.
pub(crate) async fn migrate(path: &Path) -> Result<(), Failure> {
    let (cfg, _) = load(path)?;
    let store = bank::store_backends::open(&cfg.store_url)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    store.migrate().await.map_err(|e| Failure::Run(e.into()))?;
    println!("migrated {}", bank::config::redact_url(&cfg.store_url));
    Ok(())
}

async fn open_store(cfg: &Config) -> Result<std::sync::Arc<dyn bank::Store>, Failure> {
    let store = bank::store_backends::open(&cfg.store_url)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    store.migrate().await.map_err(|e| Failure::Run(e.into()))?;
    Ok(store)
}

/// `bank admin revoke-sessions`: bumps the session generation of each user, which every
/// server reads on each staff request.
pub(crate) async fn revoke_sessions(path: &Path, user: Option<&str>) -> Result<(), Failure> {
    let (cfg, _) = load(path)?;
    let settings = bank_server::ServerSettings::from_config(&cfg, &ProcessEnv)?;
    let users: Vec<String> = match user {
        Some(u) if settings.admins.iter().any(|a| a.name == u) => vec![u.to_string()],
        Some(u) => {
            return Err(Failure::Config(format!(
                "no admin user {u:?} in {}",
                path.display()
            )))
        }
        None => settings.admins.iter().map(|a| a.name.clone()).collect(),
    };
    let store = open_store(&cfg).await?;
    for u in &users {
        store
            .next_counter(&bank_server::session_generation_counter(u))
            .await
            .map_err(|e| Failure::Run(e.into()))?;
        println!("sessions of {u} revoked");
    }
    Ok(())
}

/// `bank notifications prune`.
pub(crate) async fn prune(path: &Path, older_than_days: u32) -> Result<(), Failure> {
    let (cfg, _) = load(path)?;
    let store = open_store(&cfg).await?;
    let before = chrono::Utc::now() - chrono::Duration::days(i64::from(older_than_days));
    let (notifications, tallies) = store
        .prune_unverified(before)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    println!(
        "pruned {notifications} rejected request(s) and {tallies} hourly tally row(s) older than {older_than_days} day(s)"
    );
    Ok(())
}
