//! The Paybox driver: acts as payer and as Paybox through the local sandbox.
//!
//! Each harness (one merchant installation, with its own store) gets its own sandbox, that
//! is its own Paybox account: Paybox wants Direct question numbers unique per site and
//! day, and every paid IPN is confirmed with a Direct inquiry, so installations sharing
//! one account would reuse each other's numbers. A sandbox runs on its own thread and
//! runtime, so it outlives the runtimes of `#[tokio::test]`s and serves the matrix binary
//! alike; the driver finds it again from the form's URL. For each payer
//! action the driver builds the instance's real form, has the sandbox's hosted page check
//! it (HMAC included) and take a test card, and returns the IPN the sandbox signed and
//! sent, byte for byte, as Paybox sends it (a GET with the signed query). Refunds go
//! through Paybox Direct against the same sandbox.

use std::sync::Mutex;

use crate::sandbox::{Sandbox, SandboxConfig, SandboxHandle, CARD_ACCEPTED, CARD_REFUSED};
use async_trait::async_trait;
use bank_core::{Channel, HttpMethod, Notification, PaymentRequest, Transaction};

use bank_conformance::{Driver, Harness, PayerAction};

/// The Paybox driver.
#[derive(Debug, Default)]
pub struct PayboxDriver;

/// The Paybox driver.
pub fn driver() -> PayboxDriver {
    PayboxDriver
}

static SANDBOXES: Mutex<Vec<SandboxHandle>> = Mutex::new(Vec::new());

/// A new Paybox sandbox (a new account), kept for the process's life.
///
/// # Errors
/// Why it could not start.
pub fn sandbox() -> Result<SandboxHandle, String> {
    let s = Sandbox::start(SandboxConfig::default()).map_err(|e| e.to_string())?;
    SANDBOXES.lock().expect("lock").push(s.clone());
    Ok(s)
}

/// The sandbox whose hosted page is `action`.
fn sandbox_at(action: &str) -> Result<SandboxHandle, String> {
    SANDBOXES
        .lock()
        .expect("lock")
        .iter()
        .find(|s| s.system_url() == action)
        .cloned()
        .ok_or_else(|| format!("no sandbox serves {action}"))
}

#[async_trait]
impl Driver for PayboxDriver {
    fn provider(&self) -> &'static str {
        "paybox"
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        let Ok(s) = sandbox() else {
            // The harness then fails on the missing options, naming them.
            return vec![];
        };
        let mut options: Vec<(&'static str, String)> = Vec::new();
        for (k, v) in s.instance_options() {
            let key: &'static str = match k.as_str() {
                "site" => "site",
                "rang" => "rang",
                "identifiant" => "identifiant",
                "hmac_key" => "hmac_key",
                "cle" => "cle",
                "public_key" => "public_key",
                "url" => "url",
                "direct_url" => "direct_url",
                "subscriptions" => "subscriptions",
                _ => continue,
            };
            options.push((key, v));
        }
        // The harness's transactions carry no e-mail, and Paybox requires one.
        options.push(("default_email", "payer@example.com".into()));
        options
    }

    fn actions(&self) -> Vec<PayerAction> {
        // Cancelling on Paybox's page sends no IPN: only the browser comes back, and a
        // browser return never settles anything.
        vec![PayerAction::Pay, PayerAction::Refuse]
    }

    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let card = match action {
            PayerAction::Pay => CARD_ACCEPTED,
            PayerAction::Refuse => CARD_REFUSED,
            other => return Err(format!("paybox has no payer action {other:?}")),
        };
        let acq = h
            .engine
            .registry()
            .get(&h.instance)
            .ok_or("instance missing")?;
        let mut ctx = h.engine.payment_context(tx, &h.instance).await;
        // The instance's own sandbox, found from its hosted page URL.
        let url = match acq.payment_request(tx, &ctx).await {
            Ok(PaymentRequest::Form(form)) => form.action,
            Ok(_) => return Err("paybox did not answer a form".into()),
            Err(e) => return Err(e.to_string()),
        };
        let s = sandbox_at(&url)?;
        // No HTTP server of ours runs here: the sandbox delivers the IPN to its own sink.
        ctx.urls.notify_url = s.ipn_sink_url();
        let PaymentRequest::Form(form) = acq
            .payment_request(tx, &ctx)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Err("paybox did not answer a form".into());
        };
        let visit = s.visit(&form, Some(card)).await?;
        let ipn = visit.ipn.ok_or("the sandbox sent no IPN")?;
        if ipn.delivery != Ok(200) {
            return Err(format!("IPN delivery: {:?}", ipn.delivery));
        }
        let mut n = Notification::new(Channel::Server, HttpMethod::Get, h.engine.now());
        n.query = ipn.query;
        Ok(n)
    }
}

bank_conformance::inventory::submit! {
    bank_conformance::DriverFactory {
        provider: crate::PROVIDER,
        order: 7,
        driver: || Box::new(driver()),
    }
}
