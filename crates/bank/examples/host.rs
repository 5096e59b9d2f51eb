//! A host using the facade: implement the hooks you need, open the engine, create a
//! transaction, show its payment choices. The README quotes this file.
//!
//! `cargo run -p bank --features full --example host -- bank.example.toml`

use std::{sync::Arc, time::Duration};

use bank::{
    async_trait, Config, Currency, Engine, HookCall, Hooks, Money, NewTransaction, Registry,
};

struct Shop;

#[async_trait]
impl Hooks for Shop {
    async fn traiter_reglement(&self, call: &HookCall) -> Result<(), bank::Error> {
        // Record call.idempotency_key with the order: a retried delivery is then a no-op.
        println!(
            "order {} paid, key {}",
            call.transaction.reference, call.idempotency_key
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bank.example.toml".into());
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
    for choice in engine.payment_choices(&tx.reference).await? {
        println!("{}: {:?}", choice.instance.caption, choice.request);
    }
    Ok(())
}
