//! `bank serve`: argument parsing around the facade's composition root
//! ([`bank::service`]). With no configuration it runs the demo: every compiled provider on
//! its local sandbox, in test mode, on an embedded SQLite file.

use std::path::Path;

use anyhow::Context;
use bank::config::ProcessEnv;
use bank::server::{AdminUser, ApiToken, ServerSettings};
use bank::Config;
use secrecy::SecretString;

use crate::common::Failure;
use crate::demo::{demo_header, instance_toml};

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

/// The demo: every registered provider's sandbox started, its test instance configured.
struct Demo {
    config: Config,
    settings: ServerSettings,
    password: String,
    token: String,
    sandboxes: Vec<(String, Box<dyn bank::channel::Sandbox>)>,
}

async fn demo(data_dir: &Path, listen: &str) -> Result<Demo, Failure> {
    create_private_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))
        .map_err(Failure::Run)?;
    let store = format!("sqlite://{}", data_dir.join("bank.db").display());
    let secret = demo_secret(data_dir).map_err(Failure::Run)?;
    let base_url = format!("http://{listen}");
    let mut text = demo_header(&secret, &base_url, &store);
    let mut sandboxes = Vec::new();
    for f in bank::channel::sandboxes() {
        let ctx = bank::channel::SandboxContext {
            instance: f.instance.to_string(),
            base_url: base_url.clone(),
        };
        let sandbox = (f.start)(ctx).await?;
        text += &instance_toml(f.instance, f.provider, f.order, &sandbox.instance_options());
        sandboxes.push((f.provider.to_string(), sandbox));
    }
    let config = Config::parse(&text, "<demo>", &ProcessEnv)?;
    let password = random_hex(8);
    let token = random_hex(16);
    let settings = ServerSettings {
        listen: listen.to_string(),
        api_tokens: vec![ApiToken::new("demo", SecretString::from(token.clone()))],
        admins: vec![
            AdminUser::with_password("admin", &SecretString::from(password.clone()))
                .map_err(|e| Failure::Run(anyhow::anyhow!(e)))?,
        ],
        ..ServerSettings::default()
    };
    Ok(Demo {
        config,
        settings,
        password,
        token,
        sandboxes,
    })
}

pub(crate) async fn run(
    config: Option<&Path>,
    data_dir: &Path,
    listen: Option<String>,
) -> Result<(), Failure> {
    let (cfg, mut settings, demo) = match config {
        Some(path) => {
            let cfg = Config::from_file(path)?;
            let settings = ServerSettings::from_config(&cfg, &ProcessEnv)?;
            (cfg, settings, None)
        }
        None => {
            let at = listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
            let d = demo(data_dir, &at).await?;
            (d.config.clone(), d.settings.clone(), Some(d))
        }
    };
    if let Some(l) = listen {
        settings.listen = l;
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))
        .map_err(Failure::Run)?;
    let service = bank::service(&cfg, &ProcessEnv, None, Some(settings)).await?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| Failure::Run(e.into()))?
    );
    println!(
        "bank is serving on {url}  (store {})",
        bank::config::redact_url(&cfg.store_url)
    );
    if let Some(d) = &demo {
        let token = &d.token;
        println!(
            "  admin:     {url}/admin   user admin   password {}",
            d.password
        );
        println!("  API token: {token}");
        println!("  try:       curl -s -H 'Authorization: Bearer {token}' -d '{{\"amount\":\"12.50\"}}' {url}/api/transactions");
        println!("             then open {url}/pay/<reference> and pay with the simulation");
        for id in service.terminals() {
            println!("  terminal:  curl -s -H 'Authorization: Bearer {token}' -d '{{\"reference\":\"<reference>\"}}' {url}/api/terminal/{id}/charge");
        }
        for (provider, sandbox) in &d.sandboxes {
            if let Some(hint) = sandbox.hint() {
                println!("  {:<10} {hint}", format!("{provider}:"));
            }
        }
    }
    service
        .run(listener, shutdown_signal())
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    drop(demo);
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
