//! The composition root: the whole service from a configuration, the same for `bank serve`
//! and for a Rust host that mounts it in its own application.
//!
//! [`Service::build`] takes the configuration, its registry and store (the facade's
//! `bank::service` opens both) and the host's own hooks, and assembles: the engine; the
//! hooks of the configuration (signed callbacks, e-mail tickets) after the host's; the
//! terminals that providers registered ([`bank_core::channel::terminal_ports`]); the
//! router. [`Service::spawn_background`] starts what runs beside requests (the outbox
//! worker, the daily summary); [`Service::run`] does both and serves until shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bank_core::config::Env;
use bank_core::{Config, Engine, Error, HookChain, Hooks, NoHooks, Registry, Store};

use crate::{router_with, CallbackHooks, ConnectionLimits, EmailHooks, ServerSettings};

/// The assembled service.
#[derive(Debug)]
pub struct Service {
    engine: Arc<Engine>,
    router: Router,
    settings: ServerSettings,
    email: Option<EmailHooks>,
    terminals: Vec<String>,
}

/// What runs beside the requests; [`Background::stop`] ends it and waits.
#[derive(Debug)]
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stops the outbox worker (after its current delivery) and the daily summary.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

impl Service {
    /// Assembles the service of `config` over `registry` and `store`. `host` hooks come
    /// first, then the configuration's callbacks and e-mail. `settings` defaults to the
    /// configuration's `[server]` and `[admin]`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key; a store error from opening the engine.
    pub async fn build(
        config: &Config,
        registry: Registry,
        store: Arc<dyn Store>,
        env: &dyn Env,
        host: Option<Arc<dyn Hooks>>,
        settings: Option<ServerSettings>,
    ) -> Result<Service, Error> {
        let settings = match settings {
            Some(s) => s,
            None => ServerSettings::from_config(config, env)?,
        };
        let mut hooks: Vec<Arc<dyn Hooks>> = host.into_iter().collect();
        if let Some(cb) = CallbackHooks::from_config(config, env)? {
            hooks.push(Arc::new(cb));
        }
        let email = EmailHooks::from_config(config, env)?;
        if let Some(m) = &email {
            hooks.push(Arc::new(m.clone()));
        }
        let hooks: Arc<dyn Hooks> = match hooks.len() {
            0 => Arc::new(NoHooks),
            1 => hooks.remove(0),
            _ => Arc::new(HookChain(hooks)),
        };
        let engine = Arc::new(
            Engine::open(
                store,
                registry,
                hooks,
                &config.installation,
                config.engine.clone(),
            )
            .await?,
        );
        let terminals = bank_core::channel::terminal_ports(&engine, config, env)?;
        let terminal_ids = terminals
            .as_ref()
            .map(|t| t.instances())
            .unwrap_or_default();
        let router = router_with(engine.clone(), settings.clone(), terminals);
        Ok(Service {
            engine,
            router,
            settings,
            email,
            terminals: terminal_ids,
        })
    }

    /// The engine, for the host's own calls (`inserer_transaction`, staff actions).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The router: payment pages, notifications, API, admin. A host nests or merges it
    /// into its own axum application.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The settings in force.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// The counter terminal instances reachable through `/api/terminal/…`.
    pub fn terminals(&self) -> &[String] {
        &self.terminals
    }

    /// Starts the outbox worker (hook deliveries, retries) and, with e-mail configured, the
    /// daily summary sent just after each midnight (UTC). A host that mounts
    /// [`Service::router`] itself calls this once.
    pub fn spawn_background(&self) -> Background {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(self.engine.clone().run_outbox_worker(
            Duration::from_secs(5),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
        if let Some(mail) = self.email.clone() {
            tasks.push(tokio::spawn(daily_summaries(
                self.engine.clone(),
                mail,
                stop_rx,
            )));
        }
        Background { stop, tasks }
    }

    /// Serves on `listener` with the configured connection limits until `shutdown`
    /// resolves, with the background tasks running; then stops them.
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let background = self.spawn_background();
        let limits = ConnectionLimits::from(&self.settings);
        let served = crate::serve_with(listener, self.router, limits, shutdown).await;
        background.stop().await;
        served
    }
}

/// Sends yesterday's summary just after each midnight (UTC) until told to stop.
async fn daily_summaries(
    engine: Arc<Engine>,
    mail: EmailHooks,
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
