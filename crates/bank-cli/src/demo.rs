//! `bank demo`: every offline provider, end to end, on an embedded SQLite file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bank::config::ProcessEnv;
use bank::{
    async_trait, Config, Currency, Engine, HookCall, Hooks, Money, NewTransaction, Notification,
    PaymentRequest, Registry, Transaction,
};

/// The installation and store of a demo configuration; instances follow.
pub(crate) fn demo_header(secret: &str, base_url: &str, store_url: &str) -> String {
    format!(
        r#"
[installation]
id = "demo"
secret = "{secret}"
base_url = "{base_url}"

[store]
url = "{store_url}"
"#
    )
}

/// One `[[instance]]` table with `options`, values as TOML strings.
pub(crate) fn instance_toml(
    id: &str,
    provider: &str,
    order: i32,
    options: &[(String, String)],
) -> String {
    let mut t = format!(
        "\n[[instance]]\nid = \"{id}\"\nprovider = \"{provider}\"\norder = {order}\nmode = \"test\"\n[instance.options]\n"
    );
    for (k, v) in options {
        t.push_str(&format!(
            "{k} = {}\n",
            serde_json::to_string(v).unwrap_or_default()
        ));
    }
    t
}

/// A host that prints each hook it receives.
struct PrintingHost;

#[async_trait]
impl Hooks for PrintingHost {
    async fn traiter_reglement(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("traiter_reglement", c);
        Ok(())
    }
    async fn facturer(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("facturer", c);
        Ok(())
    }
    async fn notifier(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("notifier", c);
        Ok(())
    }
    async fn reglement_en_attente(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("reglement_en_attente", c);
        Ok(())
    }
    async fn reglement_en_echec(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("reglement_en_echec", c);
        Ok(())
    }
    async fn traiter_remboursement(&self, c: &HookCall) -> Result<(), bank::Error> {
        say("traiter_remboursement", c);
        Ok(())
    }
}

fn say(hook: &str, c: &HookCall) {
    println!(
        "      hook {hook:<22} {}  key {}",
        c.transaction.reference, c.idempotency_key
    );
}

/// Clicks the button `choice` of the payment page of `tx` for `instance`, as a browser would.
async fn click(
    engine: &Engine,
    tx: &Transaction,
    instance: &str,
    choice: &str,
) -> anyhow::Result<()> {
    let choices = engine.payment_choices(&tx.reference).await?;
    let page = choices
        .iter()
        .find(|c| c.instance.id == instance)
        .with_context(|| format!("{instance} is not offered for {}", tx.reference))?;
    let forms = match &page.request {
        PaymentRequest::Form(f) => vec![f.clone()],
        PaymentRequest::Choices { forms } => forms.clone(),
        PaymentRequest::Instructions {
            confirm: Some(f),
            details,
            heading,
        } => {
            println!("    page: {heading}");
            for (k, v) in details {
                println!("      {k}: {}", v.replace('\n', ", "));
            }
            vec![f.clone()]
        }
        other => anyhow::bail!("unexpected request {other:?}"),
    };
    let form = forms
        .iter()
        .find(|f| f.fields.iter().any(|(k, v)| k == "choice" && v == choice))
        .context("no such button")?;
    let fields: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = engine
        .handle_notification(instance, Notification::form_post(&fields, engine.now()))
        .await?;
    println!("    {instance}: {choice:<8} -> {:?}", r.effect);
    Ok(())
}

async fn new_tx(engine: &Engine, amount: &str, who: &str) -> anyhow::Result<Transaction> {
    let mut t = NewTransaction::new(Money::parse(amount, Currency::EUR)?);
    t.auteur = Some(who.into());
    t.force = true;
    let tx = engine.inserer_transaction(t).await?;
    println!("\n  {} {} for {who}", tx.reference, tx.amount);
    Ok(tx)
}

/// The providers the walk-through uses: they pay without a browser.
const OFFLINE: [&str; 4] = ["simu", "cheque", "virement", "gratuit"];

pub(crate) async fn run(data_dir: &Path) -> anyhow::Result<()> {
    crate::serve::create_private_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let db = data_dir.join("demo.db");
    let url = format!("sqlite://{}", db.display());
    let mut text = demo_header(
        "demo-secret-not-for-production",
        "http://127.0.0.1:8080",
        &url,
    );
    // The offline means this walk-through pays with, configured by their own sandboxes.
    for f in bank::channel::sandboxes() {
        if OFFLINE.contains(&f.provider) {
            let ctx = bank::channel::SandboxContext {
                instance: f.instance.to_string(),
                base_url: "http://127.0.0.1:8080".into(),
            };
            let sandbox = (f.start)(ctx).await?;
            text += &instance_toml(f.instance, f.provider, f.order, &sandbox.instance_options());
        }
    }
    let config = Config::parse(&text, "<demo>", &ProcessEnv)?;
    let registry = Registry::from_config(&config, &ProcessEnv)?;
    let store = bank::store_backends::open(&url).await?;
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            Arc::new(PrintingHost),
            &config.installation,
            config.engine.clone(),
        )
        .await?,
    );
    println!(
        "bank demo on {}  (providers: {})",
        db.display(),
        bank::registry::factories()
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let a = new_tx(&engine, "25,00", "alice@example.org").await?;
    click(&engine, &a, "simu", "ok").await?;
    let b = new_tx(&engine, "12.50", "bob@example.org").await?;
    click(&engine, &b, "simu", "echec").await?;
    click(&engine, &b, "simu", "ok").await?;
    let c = new_tx(&engine, "40", "carla@example.org").await?;
    click(&engine, &c, "cheque", "attente").await?;
    engine
        .mark_received(&c.reference, None, "treasurer", "cheque no. 1234567")
        .await?;
    println!("    staff: cheque received");
    engine
        .refund(
            &c.reference,
            Some(Money::parse("10", Currency::EUR)?),
            "treasurer",
        )
        .await?;
    println!("    staff: refunded 10.00 EUR");
    let d = new_tx(&engine, "100.00", "dan@example.org").await?;
    click(&engine, &d, "virement", "attente").await?;
    engine
        .mark_received(
            &d.reference,
            None,
            "treasurer",
            "transfer seen on the statement",
        )
        .await?;
    println!("    staff: transfer received");
    let e = new_tx(&engine, "0", "eve@example.org").await?;
    click(&engine, &e, "gratuit", "ok").await?;
    let f = new_tx(&engine, "8.00", "fred@example.org").await?;
    click(&engine, &f, "simu", "abandon").await?;

    println!("\n  delivering hooks from the outbox:");
    let report = engine.deliver_pending().await?;
    println!("    {report:?}");

    println!("\n  statuses and histories:");
    for tx in [&a, &b, &c, &d, &e, &f] {
        let t = engine.transaction(&tx.reference).await?;
        println!(
            "\n  {}  {:<9} {:>12}  mode {:<8} refunded {}",
            t.reference,
            t.status,
            t.amount.to_string(),
            t.mode.as_deref().unwrap_or("-"),
            t.refunded
        );
        for h in engine.store().history(t.id).await? {
            let arrow = match (h.from, h.to) {
                (Some(f), Some(to)) if f != to => format!("{f} -> {to}"),
                (_, Some(to)) => to.to_string(),
                _ => String::new(),
            };
            println!(
                "      {}  {:<15} {:<20} {}",
                h.at.format("%H:%M:%S%.3f"),
                h.kind.as_str(),
                arrow,
                h.instance.unwrap_or_default()
            );
        }
    }
    Ok(())
}
