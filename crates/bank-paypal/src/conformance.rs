//! The PayPal driver: acts as payer and as PayPal through the local sandbox.
//!
//! Each notification is one the sandbox would deliver, never forged here: the driver asks
//! the acquirer for the transaction's order (so the order carries exactly what the
//! acquirer sets), approves it on the sandbox as a test buyer, and takes the signed
//! `CHECKOUT.ORDER.APPROVED` event; verifying it makes the acquirer capture the order.

use std::sync::OnceLock;

use async_trait::async_trait;
use bank_core::{Channel, HttpMethod, Notification, PaymentRequest, Transaction};

use bank_conformance::{Driver, Harness, PayerAction};

use crate::sandbox::{Buyer, Sandbox, SandboxConfig, SandboxHandle};

static SANDBOX: OnceLock<SandboxHandle> = OnceLock::new();

/// The sandbox shared by every PayPal scenario of this process, started on first use on
/// its own thread. Webhooks are not delivered: the driver hands them to the engine.
pub fn sandbox() -> &'static SandboxHandle {
    SANDBOX.get_or_init(|| {
        Sandbox::start(SandboxConfig::default()).expect("the PayPal sandbox starts on 127.0.0.1")
    })
}

/// The PayPal driver.
#[derive(Debug, Default)]
pub struct PayPalDriver;

/// The PayPal driver.
pub fn driver() -> PayPalDriver {
    PayPalDriver
}

impl PayPalDriver {
    /// The order the acquirer under test opens for `tx` (the `token` of its payer link).
    ///
    /// # Errors
    /// What went wrong, in words.
    pub async fn order(h: &Harness, tx: &Transaction) -> Result<String, String> {
        let ctx = h.engine.payment_context(tx, &h.instance).await;
        let acq = h
            .engine
            .registry()
            .get(&h.instance)
            .ok_or("instance missing")?;
        match acq
            .payment_request(tx, &ctx)
            .await
            .map_err(|e| e.to_string())?
        {
            PaymentRequest::Redirect { url } => url::Url::parse(&url)
                .map_err(|e| e.to_string())?
                .query_pairs()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| format!("no order token in {url}")),
            other => Err(format!("expected a redirect, got {other:?}")),
        }
    }

    /// The last event of `kind` about `needle`, signed as a delivery at the engine's time.
    ///
    /// # Errors
    /// No such event.
    pub fn signed(h: &Harness, kind: &str, needle: &str) -> Result<Notification, String> {
        let sb = sandbox();
        let event = sb
            .events_about(kind, needle)
            .pop()
            .ok_or_else(|| format!("the sandbox emitted no {kind} about {needle}"))?;
        let id = event["id"].as_str().ok_or("event without id")?;
        let now = h.engine.now();
        let (headers, body) = sb.signed(id, now).ok_or("event vanished from the log")?;
        let mut n = Notification::new(Channel::Server, HttpMethod::Post, now);
        n.headers = headers;
        n.body = body;
        Ok(n)
    }
}

#[async_trait]
impl Driver for PayPalDriver {
    fn provider(&self) -> &'static str {
        crate::PROVIDER
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        sandbox()
            .instance_options()
            .into_iter()
            .filter_map(|(k, v)| {
                let k: &'static str = match k.as_str() {
                    "client_id" => "client_id",
                    "client_secret" => "client_secret",
                    "webhook_id" => "webhook_id",
                    "merchant_id" => "merchant_id",
                    "api_base" => "api_base",
                    "webhook_trust_pem" => "webhook_trust_pem",
                    "webhook_cert_origins" => "webhook_cert_origins",
                    _ => return None,
                };
                Some((k, v))
            })
            .chain([("max_network_retries", "0".to_string())])
            .collect()
    }

    fn actions(&self) -> Vec<PayerAction> {
        // PayPal says nothing when a payer cancels at its page: no Abandon.
        vec![PayerAction::Pay, PayerAction::Refuse, PayerAction::Wait]
    }

    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let order = Self::order(h, tx).await?;
        let buyer = match action {
            PayerAction::Pay => Buyer::Pays,
            PayerAction::Refuse => Buyer::Declined,
            PayerAction::Wait => Buyer::Pending,
            PayerAction::Abandon => {
                return Err("PayPal sends nothing for a cancelled approval".into())
            }
        };
        sandbox().approve(&order, buyer).map_err(|e| e.message)?;
        Self::signed(h, "CHECKOUT.ORDER.APPROVED", &order)
    }

    async fn late_failure(
        &self,
        h: &Harness,
        tx: &Transaction,
    ) -> Result<Option<Notification>, String> {
        let capture = tx
            .authorisation
            .clone()
            .ok_or("a paid PayPal transaction has its capture as authorisation")?;
        sandbox().dispute(&capture).map_err(|e| e.message)?;
        Self::signed(h, "CUSTOMER.DISPUTE.CREATED", &capture).map(Some)
    }

    /// The headers are kept; the amount in the body is changed (an attacker raising or
    /// lowering what was paid), or the last byte when there is no amount.
    fn tamper(&self, n: &Notification) -> Notification {
        let mut t = n.clone();
        let body = String::from_utf8_lossy(&n.body).to_string();
        let altered = body.replacen("\"value\":\"", "\"value\":\"9", 1);
        if altered != body {
            t.body = altered.into_bytes();
        } else if let Some(b) = t.body.last_mut() {
            *b = if *b == b'}' { b' ' } else { b'}' };
        }
        t
    }
}

bank_conformance::inventory::submit! {
    bank_conformance::DriverFactory {
        provider: crate::PROVIDER,
        order: 8,
        driver: || Box::new(driver()),
    }
}
