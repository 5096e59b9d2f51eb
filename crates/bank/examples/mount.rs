//! A Rust host that mounts the whole service (what `bank serve` runs: payment pages,
//! notifications, API, admin, terminals, hook delivery) under `/payments` of its own axum
//! application, beside its own routes and with its own hooks.
//!
//! `cargo run -p bank --features full,server --example mount -- bank.example.toml`

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use bank::{async_trait, Config, HookCall, Hooks};

struct Shop;

#[async_trait]
impl Hooks for Shop {
    async fn traiter_reglement(&self, call: &HookCall) -> Result<(), bank::Error> {
        println!("order {} paid", call.transaction.reference);
        Ok(())
    }
}

/// The host's application: its own home page, the payments service under `/payments`.
/// The returned handle stops the service's background work (hook deliveries).
pub async fn app(
    config: &Config,
) -> Result<(Router, bank::server::Background), Box<dyn std::error::Error>> {
    let service = bank::service(
        config,
        &bank::config::ProcessEnv,
        Some(Arc::new(Shop)),
        None,
    )
    .await?;
    let background = service.spawn_background();
    let app = Router::new()
        .route("/", get(|| async { "the shop" }))
        .nest("/payments", service.router());
    Ok((app, background))
}

#[allow(dead_code)] // run by `cargo run --example`; the test calls `app`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bank.example.toml".into());
    let config = Config::from_file(path.as_ref())?;
    let (app, background) = app(&config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("the shop on http://127.0.0.1:8080, payments under /payments");
    axum::serve(listener, app).await?;
    background.stop().await;
    Ok(())
}
