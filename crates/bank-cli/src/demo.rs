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
/// Our own buttons in a payment request (a hosted provider's form goes elsewhere).
fn own_forms(r: &PaymentRequest) -> Vec<bank::Form> {
    match r {
        PaymentRequest::Form(f) => vec![f.clone()],
        PaymentRequest::Choices { forms } => forms.clone(),
        PaymentRequest::Instructions {
            confirm: Some(f), ..
        } => vec![f.clone()],
        _ => Vec::new(),
    }
}

/// The choices of `instance`'s buttons for `tx`.
async fn buttons(engine: &Engine, tx: &Transaction, instance: &str) -> anyhow::Result<Vec<String>> {
    let choices = engine.payment_choices(&tx.reference).await?;
    let Some(page) = choices.iter().find(|c| c.instance.id == instance) else {
        return Ok(Vec::new());
    };
    Ok(own_forms(&page.request)
        .iter()
        .filter_map(|f| {
            f.fields
                .iter()
                .find(|(k, _)| k == "choice")
                .map(|(_, v)| v.clone())
        })
        .collect())
}

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
    if let PaymentRequest::Instructions {
        details, heading, ..
    } = &page.request
    {
        println!("    page: {heading}");
        for (k, v) in details {
            println!("      {k}: {}", v.replace('\n', ", "));
        }
    }
    let forms = own_forms(&page.request);
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
    // Every registered provider whose sandbox needs no server (offline means and the
    // simulation): they pay without a browser.
    for f in bank::channel::sandboxes() {
        let ctx = bank::channel::SandboxContext {
            instance: f.instance.to_string(),
            base_url: "http://127.0.0.1:8080".into(),
        };
        let sandbox = (f.start)(ctx).await?;
        if sandbox.hint().is_none() {
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

    // Each button of each instance, pressed on a transaction of its own.
    let mut walked = Vec::new();
    let instances: Vec<(String, bool)> = engine
        .registry()
        .all()
        .map(|a| (a.info().id.clone(), a.capabilities().zero_amount_only))
        .collect();
    for (n, (instance, zero)) in instances.iter().enumerate() {
        let amount = if *zero {
            "0".to_string()
        } else {
            format!("{}.50", 10 + n)
        };
        let probe = new_tx(&engine, &amount, &format!("payer{n}@example.org")).await?;
        for choice in buttons(&engine, &probe, instance).await? {
            let tx = new_tx(&engine, &amount, &format!("payer{n}@example.org")).await?;
            click(&engine, &tx, instance, &choice).await?;
            walked.push(tx);
        }
        engine.abandon(&probe.reference, "demo").await?;
    }
    // Staff: what waits for a cheque or a transfer is received; a part of the first
    // payment is refunded.
    for tx in &walked {
        let t = engine.transaction(&tx.reference).await?;
        let offline = t
            .mode
            .as_deref()
            .and_then(|m| engine.registry().get(m))
            .is_some_and(|a| a.capabilities().offline);
        if t.status == bank::Status::Attente && offline {
            engine
                .mark_received(&t.reference, None, "treasurer", "received")
                .await?;
            println!(
                "    staff: {} received ({})",
                t.reference,
                t.mode.unwrap_or_default()
            );
        }
    }
    if let Some(paid) = walked.iter().find(|t| !t.amount.is_zero()) {
        let t = engine.transaction(&paid.reference).await?;
        if t.status == bank::Status::Ok {
            engine
                .refund(
                    &t.reference,
                    Some(Money::parse("10", Currency::EUR)?),
                    "treasurer",
                )
                .await?;
            println!("    staff: refunded 10.00 EUR of {}", t.reference);
        }
    }

    println!("\n  delivering hooks from the outbox:");
    let report = engine.deliver_pending().await?;
    println!("    {report:?}");

    println!("\n  statuses and histories:");
    for tx in &walked {
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
