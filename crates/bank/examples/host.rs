//! A host in 20 lines: implement the hooks you need, open the engine, create a transaction,
//! list its payment choices. The README quotes this file from its first `use` on;
//! `cargo test -p bank --features full` runs it (tests/examples.rs).
//!
//! `cargo run -p bank --features full --example host -- bank.example.toml`

use bank::{
    async_trait, Config, Currency, Engine, HookCall, Hooks, Money, NewTransaction, Registry,
};
use std::{sync::Arc, time::Duration};

struct Shop;

#[async_trait]
impl Hooks for Shop {
    async fn traiter_reglement(&self, call: &HookCall) -> Result<(), bank::Error> {
        println!(
            "order {} paid, key {}",
            call.transaction.reference, call.idempotency_key
        );
        Ok(())
    }
}

/// The payment choices of a new 19.90 EUR transaction under the configuration at `path`.
pub async fn run(path: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let config = Config::from_file(path.as_ref())?;
    let registry = Registry::from_config(&config, &bank::config::ProcessEnv)?;
    let store = bank::store_backends::open(&config.store_url).await?;
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            Arc::new(Shop),
            &config.installation,
            config.engine.clone(),
        )
        .await?,
    );
    tokio::spawn(
        engine
            .clone()
            .run_outbox_worker(Duration::from_secs(5), std::future::pending()),
    );
    let tx = engine
        .inserer_transaction(NewTransaction::new(Money::parse("19,90", Currency::EUR)?))
        .await?;
    let choices = engine.payment_choices(&tx.reference).await?;
    Ok(choices.into_iter().map(|c| c.instance.caption).collect())
}

#[allow(dead_code)] // run by `cargo run --example`; the test calls `run`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bank.example.toml".into());
    for caption in run(&path).await? {
        println!("{caption}");
    }
    Ok(())
}
