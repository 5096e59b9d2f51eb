//! `bank request` and `bank verify`: what an instance sends, and what it makes of a captured
//! notification, without a database.

use std::path::PathBuf;

use anyhow::Context;
use bank::{
    Billing, Channel, Currency, Form, FormSigner, HttpMethod, InstanceUrls, Money, Notification,
    PaymentContext, PaymentRequest, Reference, Status, Transaction, VerifyContext,
};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{json, Value};

use crate::common::{load, Failure};

/// Arguments of `bank request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The instance id.
    #[arg(long)]
    instance: String,
    /// The amount, a decimal string ("12.34").
    #[arg(long)]
    amount: String,
    /// ISO 4217 currency.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// The transaction reference (default: a new one).
    #[arg(long)]
    reference: Option<String>,
    /// The payer's e-mail.
    #[arg(long)]
    email: Option<String>,
    /// The time to build the request at (RFC 3339), for reproducible output.
    #[arg(long)]
    now: Option<String>,
    /// What the store's counters hand out next: providers that number each request from
    /// them (a transaction id of the day) need it, since a dry run has no store.
    #[arg(long)]
    counter: Option<i64>,
    /// Print JSON (the default and only format for now).
    #[arg(long)]
    json: bool,
}

/// Counters for a dry run: `start`, `start + 1`… whatever the name.
struct DryRunCounters(std::sync::atomic::AtomicI64);

#[async_trait::async_trait]
impl bank::Counters for DryRunCounters {
    async fn next_counter(&self, _name: &str) -> Result<i64, bank::Error> {
        Ok(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}

/// Arguments of `bank verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The instance id.
    #[arg(long)]
    instance: String,
    /// HTTP method of the captured request.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Raw query string (without `?`).
    #[arg(long, default_value = "")]
    query: String,
    /// File holding the raw body.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// A header, `Name: value`; repeat for several.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Browser return rather than server notification.
    #[arg(long)]
    browser: bool,
    /// The time to verify at (RFC 3339): signature tolerances use it.
    #[arg(long)]
    now: Option<String>,
    /// Print JSON (the default and only format for now).
    #[arg(long)]
    json: bool,
}

fn parse_now(now: Option<&str>) -> Result<DateTime<Utc>, Failure> {
    match now {
        Some(n) => DateTime::parse_from_rfc3339(n)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| Failure::Config(format!("--now {n:?}: {e}"))),
        None => Ok(Utc::now()),
    }
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Array(p.iter().map(|(k, v)| json!([k, v])).collect())
}

fn form_json(kind: &str, f: &Form) -> Value {
    json!({ "kind": kind, "action": f.action, "method": f.method.as_str(), "fields": pairs(&f.fields), "submit_label": f.submit_label, "auto_submit": f.auto_submit })
}

/// The JSON shape of a payment request: `kind`, then what the kind needs.
pub(crate) fn request_json(r: &PaymentRequest) -> Value {
    match r {
        PaymentRequest::Form(f) => form_json("form", f),
        PaymentRequest::Redirect { url } => {
            json!({ "kind": "redirect", "action": url, "method": "GET", "fields": [] })
        }
        PaymentRequest::Html { html } => json!({ "kind": "html", "html": html }),
        PaymentRequest::Instructions {
            heading,
            details,
            confirm,
        } => json!({
            "kind": "instructions", "heading": heading, "details": pairs(details),
            "confirm": confirm.as_ref().map(|f| form_json("form", f)),
        }),
        PaymentRequest::Choices { forms } => {
            json!({ "kind": "choices", "forms": forms.iter().map(|f| form_json("form", f)).collect::<Vec<_>>() })
        }
        PaymentRequest::Terminal { instance } => {
            json!({ "kind": "terminal", "instance": instance })
        }
    }
}

pub(crate) async fn request(a: RequestArgs) -> Result<(), Failure> {
    let _ = a.json;
    let (cfg, registry) = load(&a.config)?;
    let acq = registry
        .get(&a.instance)
        .ok_or_else(|| Failure::Config(format!("unknown instance {:?}", a.instance)))?;
    let currency = Currency::from_code(&a.currency)?;
    let amount = Money::parse(&a.amount, currency)?;
    let now = parse_now(a.now.as_deref())?;
    let reference = a
        .reference
        .unwrap_or_else(|| Reference::generate(&cfg.installation.id));
    let billing = a.email.map(|e| Billing {
        email: Some(e),
        ..Billing::default()
    });
    let tx = Transaction {
        id: 0,
        reference: reference.clone(),
        status: Status::Commande,
        version: 0,
        amount,
        amount_ht: None,
        refunded: Money::zero(currency),
        refund_pending: Money::zero(currency),
        id_auteur: None,
        auteur_id: None,
        auteur: billing.as_ref().and_then(|b| b.email.clone()),
        parrain: None,
        tracking_id: None,
        champs: Default::default(),
        billing: billing.clone(),
        recurring: false,
        parent_reference: None,
        mode: None,
        authorisation: None,
        subscription_id: None,
        error_code: None,
        error_message: None,
        created_at: now,
        updated_at: now,
        paid_at: None,
    };
    let ctx = PaymentContext {
        installation: cfg.installation.id.clone(),
        urls: InstanceUrls::standard(&cfg.installation.base_url, &a.instance, &reference),
        now,
        billing,
        echeance: None,
        signer: FormSigner::new(cfg.installation.secret.clone()),
        counters: a.counter.map(|start| {
            std::sync::Arc::new(DryRunCounters(start.into())) as std::sync::Arc<dyn bank::Counters>
        }),
    };
    let r = acq
        .payment_request(&tx, &ctx)
        .await
        .map_err(|e| Failure::Run(e.into()))?;
    let mut out = request_json(&r);
    out["reference"] = json!(reference);
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

pub(crate) async fn verify(a: VerifyArgs) -> Result<(), Failure> {
    let _ = a.json;
    let (cfg, registry) = load(&a.config)?;
    let acq = registry
        .get(&a.instance)
        .ok_or_else(|| Failure::Config(format!("unknown instance {:?}", a.instance)))?;
    let now = parse_now(a.now.as_deref())?;
    let method = match a.method.to_ascii_uppercase().as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        other => return Err(Failure::Config(format!("--method {other:?}: GET or POST"))),
    };
    let mut n = Notification::new(
        if a.browser {
            Channel::Browser
        } else {
            Channel::Server
        },
        method,
        now,
    );
    n.query = a.query;
    if let Some(f) = &a.body_file {
        n.body = std::fs::read(f)
            .with_context(|| format!("reading {}", f.display()))
            .map_err(|e| Failure::Config(format!("{e:#}")))?;
    }
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Failure::Config(format!("--header {h:?}: expected 'Name: value'")))?;
        n.headers
            .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let ctx = VerifyContext {
        installation: cfg.installation.id.clone(),
        now,
        signer: FormSigner::new(cfg.installation.secret.clone()),
        // No store: a provider that would number questions to confirm says it did not.
        counters: None,
    };
    match acq.verify(&n, &ctx).await {
        Ok(v) => {
            let outcome = serde_json::to_value(&v.outcome)
                .ok()
                .and_then(|o| o.get("outcome").cloned())
                .unwrap_or(Value::Null);
            let out = json!({
                "verified": true,
                "reference": v.reference,
                "outcome": outcome,
                "amount_minor": v.amount.map(Money::minor),
                "currency": v.amount.map(|m| m.currency().code()),
                "authorisation": v.authorisation,
                "error_code": v.error_code,
                "error": v.error_message,
                "reply": { "status": v.reply.status, "body": v.reply.body },
                "detail": v.detail,
            });
            // What the provider check could not do offline (Paybox's Direct inquiry) is
            // said at the top, not only in the detail.
            let mut out = out;
            if let Some(c) = v.detail.get("confirmed_by_direct") {
                out["confirmed_by_direct"] = c.clone();
            }
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            Ok(())
        }
        Err(e @ bank::Error::Verification { .. }) => {
            let out = json!({ "verified": false, "reference": null, "outcome": null, "amount_minor": null, "currency": null, "authorisation": null, "error": e.to_string() });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            Err(Failure::Silent)
        }
        Err(e) => Err(Failure::Run(e.into())),
    }
}
