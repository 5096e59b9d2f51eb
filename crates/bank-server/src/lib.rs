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
pub mod email;
mod error;
mod metrics;
mod notify;
mod pages;
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

pub use callbacks::CallbackHooks;
pub use email::EmailHooks;
pub use error::ServerError;
pub use settings::{AdminUser, ServerSettings};
pub use terminal::{TerminalPort, TerminalRefusal};

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
    let state = AppState {
        engine,
        settings: Arc::new(settings),
        metrics: Arc::new(metrics::Metrics::new()),
        terminals,
    };
    let header = axum::http::HeaderName::from_static("x-request-id");
    // A charge waits for the card: the terminal routes get the terminal's deadline.
    let terminal_timeout = Duration::from_secs(state.settings.terminal_timeout_seconds);
    let terminal_routes = Router::new()
        .route("/api/terminal/{instance}/charge", post(terminal::charge))
        .route("/api/terminal/{instance}/resolve", post(terminal::resolve))
        .with_state(state.clone())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            terminal_timeout,
        ));
    Router::new()
        .route("/", get(pages::home))
        .route("/pay/{reference}", get(pages::payment_page))
        .route("/bank/retour/{page}", get(pages::return_page))
        .route("/bank/{instance}/action", post(notify::action))
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
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(terminal_routes)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(RequestBodyLimitLayer::new(body_limit))
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

/// Serves `router` on `listener` until `shutdown` resolves, finishing in-flight requests.
///
/// # Errors
/// The I/O error of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
