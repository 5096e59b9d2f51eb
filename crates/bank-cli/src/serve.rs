//! `bank serve`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bank::config::ProcessEnv;
use bank::{Config, Engine, HookChain, NoHooks, Registry};
use bank_server::{AdminUser, ServerSettings};
use secrecy::SecretString;

use crate::common::Failure;
use crate::demo::{demo_config, instance_toml};

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

/// The installation secret of the demo, kept in the data directory so that forms signed
/// before a restart still verify after it.
fn demo_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("installation.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        if s.trim().len() >= 32 {
            return Ok(s.trim().to_string());
        }
    }
    let secret = random_hex(32);
    // Owner-only from its creation: never a moment when others can read it.
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// Creates `dir` (and its parents) readable by its owner only: it holds the database and
/// the installation secret. An existing directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

pub(crate) async fn run(
    config: Option<&Path>,
    data_dir: &Path,
    listen: Option<String>,
) -> Result<(), Failure> {
    let _ = bank::compiled_providers();
    let mut emulators = Vec::new();
    let mut sandboxes = None;
    let (cfg, mut settings, demo) = match config {
        Some(path) => {
            let cfg = Config::from_file(path)?;
            let settings = ServerSettings::from_config(&cfg, &ProcessEnv)?;
            (cfg, settings, None)
        }
        None => {
            create_private_dir(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))
                .map_err(Failure::Run)?;
            let listen = listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
            let store = format!("sqlite://{}", data_dir.join("bank.db").display());
            let secret = demo_secret(data_dir).map_err(Failure::Run)?;
            // The demo's counter terminal: an emulator on loopback, for the life of the server.
            let emulator = bank::caisse_ap_ip::emulator::start(Default::default())
                .await
                .map_err(|e| Failure::Run(e.into()))?;
            let terminal_port = emulator.port();
            emulators.push(emulator);
            // The hosted providers' sandboxes, for the life of the server: Stripe sends its
            // webhooks to our notify endpoint; Paybox posts its IPN where the form says.
            let stripe =
                bank::stripe::sandbox::Sandbox::spawn(bank::stripe::sandbox::SandboxConfig {
                    webhook_url: Some(format!("http://{listen}/bank/stripe/notify")),
                    sepa_after: Some(Duration::from_secs(10)),
                    ..Default::default()
                })
                .map_err(|e| Failure::Run(e.into()))?;
            let paybox = bank::paybox::sandbox::Sandbox::start(Default::default())
                .map_err(|e| Failure::Run(e.into()))?;
            let mut paybox_options = paybox.instance_options();
            paybox_options.push(("default_email".into(), "payer@example.org".into()));
            let hosted = instance_toml("stripe", "stripe", 6, &stripe.instance_options())
                + &instance_toml("paybox", "paybox", 7, &paybox_options);
            sandboxes = Some((stripe, paybox));
            let cfg = Config::parse(
                &demo_config(
                    &secret,
                    &format!("http://{listen}"),
                    &store,
                    Some(terminal_port),
                    &hosted,
                ),
                "<demo>",
                &ProcessEnv,
            )?;
            let password = random_hex(8);
            let token = random_hex(16);
            let settings = ServerSettings {
                listen,
                api_tokens: vec![bank_server::ApiToken::new(
                    "demo",
                    SecretString::from(token.clone()),
                )],
                admins: vec![AdminUser::with_password(
                    "admin",
                    &SecretString::from(password.clone()),
                )
                .map_err(|e| Failure::Run(anyhow::anyhow!(e)))?],
                ..ServerSettings::default()
            };
            (cfg, settings, Some((password, token)))
        }
    };
    if let Some(l) = listen {
        settings.listen = l;
    }
    let registry = Registry::from_config(&cfg, &ProcessEnv)?;
    let mut hooks: Vec<Arc<dyn bank::Hooks>> = Vec::new();
    if let Some(cb) = bank_server::CallbackHooks::from_config(&cfg, &ProcessEnv)? {
        hooks.push(Arc::new(cb));
    }
    let email = bank_server::EmailHooks::from_config(&cfg, &ProcessEnv)?;
    if let Some(m) = &email {
        hooks.push(Arc::new(m.clone()));
    }
    let hooks: Arc<dyn bank::Hooks> = if hooks.is_empty() {
        Arc::new(NoHooks)
    } else {
        Arc::new(HookChain(hooks))
    };
    let store = bank::store_backends::open(&cfg.store_url)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            hooks,
            &cfg.installation,
            cfg.engine.clone(),
        )
        .await
        .map_err(|e| Failure::Run(e.into()))?,
    );
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))
        .map_err(Failure::Run)?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| Failure::Run(e.into()))?
    );
    println!(
        "bank is serving on {url}  (store {})",
        bank::config::redact_url(&cfg.store_url)
    );
    if let Some((password, token)) = &demo {
        println!("  admin:     {url}/admin   user admin   password {password}");
        println!("  API token: {token}");
        println!("  try:       curl -s -H 'Authorization: Bearer {token}' -d '{{\"amount\":\"12.50\"}}' {url}/api/transactions");
        println!("             then open {url}/pay/<reference> and pay with the simulation");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(engine.clone().run_outbox_worker(Duration::from_secs(5), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }));
    if let Some(mail) = email {
        tokio::spawn(daily_summaries(engine.clone(), mail, stop_rx.clone()));
    }
    let terminals =
        bank::caisse_ap_ip::TerminalService::from_config(engine.clone(), &cfg, &ProcessEnv)
            .map_err(|e| Failure::Config(e.to_string()))?;
    let terminal_ids: Vec<String> = terminals.instances().map(str::to_string).collect();
    let terminals: Option<Arc<dyn bank_server::TerminalPort>> =
        (!terminal_ids.is_empty()).then(|| {
            Arc::new(crate::terminal::Terminals(terminals)) as Arc<dyn bank_server::TerminalPort>
        });
    if let (Some((_, token)), Some(id)) = (&demo, terminal_ids.first()) {
        println!("  terminal:  {id} (an emulator on 127.0.0.1; amounts ending in 51 are refused)");
        println!("             curl -s -H 'Authorization: Bearer {token}' -d '{{\"reference\":\"<reference>\"}}' {url}/api/terminal/{id}/charge");
    }
    if demo.is_some() && sandboxes.is_some() {
        println!("  stripe:    a local Stripe sandbox; card 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined, 4000 0000 0000 3220 asks for 3-D Secure");
        println!("  paybox:    a local Paybox sandbox; card 1111 2222 3333 4444 pays, 4000 0000 0000 0002 is refused");
    }
    let limits = bank_server::ConnectionLimits::from(&settings);
    let router = bank_server::router_with(engine, settings, terminals);
    bank_server::serve_with(listener, router, limits, shutdown_signal())
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    for e in emulators {
        e.shutdown().await;
    }
    drop(sandboxes);
    println!("bank stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Sends yesterday's summary just after each midnight (UTC) until told to stop.
async fn daily_summaries(
    engine: Arc<Engine>,
    mail: bank_server::EmailHooks,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = chrono::Utc::now();
        let next = (now.date_naive() + chrono::Duration::days(1))
            .and_hms_opt(0, 5, 0)
            .unwrap_or_default()
            .and_utc();
        let wait = (next - now).to_std().unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(wait) => {}
        }
        let day = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
        match mail.send_daily_summary(&engine, day).await {
            Ok(n) => tracing::info!(%day, payments = n, "daily summary sent"),
            Err(e) => tracing::error!(%day, error = %e, "daily summary not sent"),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_secret_and_its_directory_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        super::create_private_dir(&data).unwrap();
        let secret = super::demo_secret(&data).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("installation.secret")), 0o600);
        assert_eq!(
            super::demo_secret(&data).unwrap(),
            secret,
            "kept across restarts"
        );
    }
}
