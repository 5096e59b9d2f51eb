//! # bank-server
//!
//! The HTTP face of `bank`: an axum [`Router`] a Rust host mounts in its own app, and the
//! same router that `bank serve` runs standalone.
//!
//! | route | what |
//! |---|---|
//! | `GET /pay/{reference}` | the payment page: enabled instances in configured order |
//! | `POST /bank/{instance}/action` | our own forms (offline buttons, simulation) |
//! | `GET, POST /bank/{instance}/retour` | the payer's browser coming back from a provider |
//! | `POST /bank/{instance}/choose` | the payer chose an instance whose request calls the provider (Stripe) |
//! | `GET, POST /bank/{instance}/notify` | server-to-server notifications (IPN, webhooks) |
//! | `GET /bank/retour/{ok,attente,echec}` | return pages |
//! | `/api/…` | JSON API (bearer token), described at `/api/openapi.json` |
//! | `/admin/…` | staff: login, transactions, history, actions (CSRF-protected) |
//! | `GET /health`, `GET /metrics` | health and Prometheus metrics |
//!
//! Every route has a body limit and a timeout, every handler reads raw bytes and parses
//! them itself, so no client input reaches a 500: bad input gets a 4xx that says why.
//! Notification endpoints follow DESIGN.md: unknown references and instances are
//! acknowledged (a provider retrying forever helps nobody), and only a failure of our own
//! (store unreachable) answers 503 so that the provider tries again.

#![forbid(unsafe_code)]

mod admin;
mod api;
mod auth;
pub mod callbacks;
mod edge;
pub mod email;
mod error;
mod metrics;
mod notify;
mod pages;
mod service;
mod settings;
pub mod terminal;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bank_core::Engine;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::generation_counter as session_generation_counter;
pub use bank_core::{TerminalPort, TerminalRefusal};
pub use callbacks::CallbackHooks;
pub use email::EmailHooks;
pub use error::ServerError;
pub use service::{Background, Service};
pub use settings::{AdminUser, ApiToken, ServerSettings};

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Server settings (tokens, admin users, limits).
    pub settings: Arc<ServerSettings>,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Counter card terminals, when the binary has them.
    pub terminals: Option<Arc<dyn TerminalPort>>,
    /// Sign-in failures by address and user.
    throttle: Arc<auth::Throttle>,
    /// One Argon2 hash at a time.
    hashing: Arc<tokio::sync::Semaphore>,
    /// The hash checked for unknown user names, made at the first such attempt.
    stand_in: Arc<std::sync::OnceLock<AdminUser>>,
}

/// Builds the router over `engine` with `settings`.
pub fn router(engine: Arc<Engine>, settings: ServerSettings) -> Router {
    router_with(engine, settings, None)
}

/// The same, with counter card terminals behind `/api/terminal/…`.
pub fn router_with(
    engine: Arc<Engine>,
    settings: ServerSettings,
    terminals: Option<Arc<dyn TerminalPort>>,
) -> Router {
    let body_limit = settings.body_limit_bytes;
    let timeout = Duration::from_secs(settings.request_timeout_seconds);
    let body_timeout = Duration::from_secs(settings.body_timeout_seconds);
    let instances = engine
        .registry()
        .all()
        .map(|a| a.info().id.clone())
        .collect();
    let state = AppState {
        engine,
        settings: Arc::new(settings),
        metrics: Arc::new(metrics::Metrics::new(instances)),
        terminals,
        throttle: Arc::default(),
        hashing: Arc::new(tokio::sync::Semaphore::new(1)),
        stand_in: Arc::default(),
    };
    let header = axum::http::HeaderName::from_static("x-request-id");
    // A charge waits for the card: the terminal routes get the terminal's deadline.
    let terminal_timeout = Duration::from_secs(state.settings.terminal_timeout_seconds);
    let terminal_routes = Router::new()
        .route("/api/terminal/{instance}/charge", post(terminal::charge))
        .route("/api/terminal/{instance}/resolve", post(terminal::resolve))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(edge::run_to_completion))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            terminal_timeout,
        ));
    Router::new()
        .route("/", get(pages::home))
        .route("/pay/{reference}", get(pages::payment_page))
        .route("/bank/retour/{page}", get(pages::return_page))
        .route("/bank/{instance}/action", post(notify::action))
        .route("/bank/{instance}/choose", post(pages::choose))
        .route("/bank/{instance}/retour", get(notify::browser_return).post(notify::browser_return))
        .route("/bank/{instance}/cancel", get(notify::browser_return).post(notify::browser_return))
        .route("/bank/{instance}/notify", get(notify::server_notification).post(notify::server_notification))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/transactions", post(api::create).get(api::list))
        .route("/api/transactions/{reference}", get(api::show))
        .route("/admin", get(admin::list))
        .route("/admin/login", get(admin::login_page).post(admin::login))
        .route("/admin/logout", post(admin::logout))
        .route("/admin/tx/{reference}", get(admin::detail))
        .route("/admin/tx/{reference}/{action}", post(admin::action))
        .route("/admin/notification/{id}", get(admin::notification))
        .route("/health", get(metrics::health))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
        .layer(axum::middleware::from_fn(edge::run_to_completion))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(terminal_routes)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::middleware::from_fn(edge::refuse_control_characters))
        .layer(axum::middleware::from_fn(edge::security_headers))
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}

/// How connections are held: slow or idle clients, how many at once, how long a shutdown
/// waits. [`ConnectionLimits::from`] reads them from [`ServerSettings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's head must arrive within this long of its first byte, or of the previous
    /// response on a kept-alive connection: a client that trickles headers or sits idle is
    /// disconnected.
    pub header_timeout: Duration,
    /// Most connections open at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// After the shutdown signal, requests in flight get this long; then every remaining
    /// connection is closed.
    pub shutdown_grace: Duration,
}

impl From<&ServerSettings> for ConnectionLimits {
    fn from(s: &ServerSettings) -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(s.header_timeout_seconds),
            max_connections: s.max_connections,
            shutdown_grace: Duration::from_secs(s.shutdown_grace_seconds),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits::from(&ServerSettings::default())
    }
}

/// Serves `router` on `listener` with the default [`ConnectionLimits`] until `shutdown`
/// resolves.
///
/// # Errors
/// None in practice: accept errors (too many open files) are logged and retried.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ConnectionLimits::default(), shutdown).await
}

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` resolves, holding each
/// connection to `limits`: a header-read timeout that also closes idle kept-alive
/// connections, a cap on open connections, and a deadline after the shutdown signal past
/// which the remaining connections are closed. Each request carries the peer's address as
/// [`axum::extract::ConnectInfo`].
///
/// # Errors
/// None in practice: accept errors (too many open files) are logged and retried.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), req)
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let open = connections.len();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(open, grace = ?limits.shutdown_grace, "shutdown: closing connections still open");
        }
    }
    connections.shutdown().await;
    Ok(())
}
