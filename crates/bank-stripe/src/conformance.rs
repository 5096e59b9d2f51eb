//! The Stripe driver: acts as payer and as Stripe through the local sandbox.
//!
//! Each notification is produced by the sandbox, never forged here: the driver asks the
//! acquirer for the transaction's Checkout Session (so the session carries exactly the
//! metadata the acquirer sets), pays it on the sandbox with a test card (or lets it
//! expire, or pays by SEPA debit), and takes the signed event the sandbox would deliver
//! from its event log, with the `Stripe-Signature` header signed at the engine's time.

use std::sync::OnceLock;

use crate::sandbox::{PayOutcome, Sandbox, SandboxConfig, SandboxHandle};
use async_trait::async_trait;
use bank_core::{Channel, HttpMethod, Notification, PaymentRequest, Transaction};

use bank_conformance::{Driver, Harness, PayerAction};

static SANDBOX: OnceLock<SandboxHandle> = OnceLock::new();

/// The sandbox shared by every Stripe scenario of this process, started on first use on
/// its own thread (it outlives each test's runtime). Webhooks are not delivered: the
/// driver hands them to the engine itself.
pub fn sandbox() -> &'static SandboxHandle {
    SANDBOX.get_or_init(|| {
        // Naming the crate keeps it linked, and with it its provider registration.
        Sandbox::start(SandboxConfig::default()).expect("the Stripe sandbox starts on 127.0.0.1")
    })
}

/// The Stripe driver.
#[derive(Debug, Default)]
pub struct StripeDriver {
    overrides: Vec<(&'static str, String)>,
}

/// The Stripe driver.
pub fn driver() -> StripeDriver {
    StripeDriver::default()
}

impl StripeDriver {
    /// The driver with some instance options replaced (`webhook_secrets` for a rotation,
    /// `tolerance_seconds`…).
    pub fn with_options(overrides: Vec<(&'static str, String)>) -> Self {
        StripeDriver { overrides }
    }

    /// The Checkout Session the acquirer under test opens for `tx`.
    async fn session(&self, h: &Harness, tx: &Transaction) -> Result<String, String> {
        let ctx = h.engine.payment_context(tx, &h.instance).await;
        self.session_in(h, tx, ctx).await
    }

    /// The Checkout Session the acquirer opens for `tx` with `ctx` (another installation's
    /// context: a production site sharing the Stripe account).
    pub async fn session_in(
        &self,
        h: &Harness,
        tx: &Transaction,
        ctx: bank_core::PaymentContext,
    ) -> Result<String, String> {
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
            PaymentRequest::Redirect { url } => url
                .rsplit('/')
                .next()
                .map(str::to_string)
                .ok_or_else(|| format!("no session in {url}")),
            other => Err(format!("expected a redirect, got {other:?}")),
        }
    }

    /// The last event of `kind` about `needle`, signed as the sandbox would deliver it
    /// at the engine's time.
    pub fn signed(h: &Harness, kind: &str, needle: &str) -> Result<Notification, String> {
        Self::signed_at(h, kind, needle, h.engine.now().timestamp())
    }

    /// The same, signed at `timestamp` (a stale or replayed delivery).
    pub fn signed_at(
        h: &Harness,
        kind: &str,
        needle: &str,
        timestamp: i64,
    ) -> Result<Notification, String> {
        let sb = sandbox();
        let event = sb
            .events_about(kind, needle)
            .pop()
            .ok_or_else(|| format!("the sandbox emitted no {kind} about {needle}"))?;
        let id = event["id"].as_str().ok_or("event without id")?;
        let now = h.engine.now();
        let (header, body) = sb
            .signed(id, timestamp)
            .ok_or("event vanished from the log")?;
        let mut n = Notification::new(Channel::Server, HttpMethod::Post, now);
        n.headers.push(("stripe-signature".into(), header));
        n.headers.push((
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        ));
        n.body = body;
        Ok(n)
    }

    /// Acts as the payer on session `cs` of `tx`, and returns the event Stripe sends.
    pub fn act(
        &self,
        h: &Harness,
        tx: &Transaction,
        cs: &str,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let sb = sandbox();
        let cs = cs.to_string();
        let fail = |e: crate::sandbox::ApiError| e.message;
        match action {
            PayerAction::Pay => match sb.pay(&cs, "4242 4242 4242 4242").map_err(fail)? {
                PayOutcome::Paid { .. } => Self::signed(h, "checkout.session.completed", &cs),
                other => Err(format!("4242… did not pay: {other:?}")),
            },
            PayerAction::Refuse => match sb.pay(&cs, "4000 0000 0000 0002").map_err(fail)? {
                PayOutcome::Declined { .. } => {
                    Self::signed(h, "payment_intent.payment_failed", &tx.reference)
                }
                other => Err(format!("4000…0002 was not declined: {other:?}")),
            },
            PayerAction::Abandon => {
                sb.expire(&cs).map_err(fail)?;
                Self::signed(h, "checkout.session.expired", &cs)
            }
            PayerAction::Wait => match sb.pay(&cs, "DE89370400440532013000").map_err(fail)? {
                PayOutcome::Processing { .. } => Self::signed(h, "checkout.session.completed", &cs),
                other => Err(format!("the SEPA debit did not wait: {other:?}")),
            },
        }
    }
}

#[async_trait]
impl Driver for StripeDriver {
    fn provider(&self) -> &'static str {
        "stripe"
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        sandbox()
            .instance_options()
            .into_iter()
            .filter_map(|(k, v)| {
                let k: &'static str = match k.as_str() {
                    "secret_key" => "secret_key",
                    "webhook_secrets" => "webhook_secrets",
                    "api_base" => "api_base",
                    _ => return None,
                };
                Some((k, v))
            })
            .chain([("max_network_retries", "0".to_string())])
            .filter(|(k, _)| !self.overrides.iter().any(|(o, _)| o == k))
            .chain(self.overrides.iter().cloned())
            .collect()
    }

    fn actions(&self) -> Vec<PayerAction> {
        vec![
            PayerAction::Pay,
            PayerAction::Refuse,
            PayerAction::Abandon,
            PayerAction::Wait,
        ]
    }

    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let cs = self.session(h, tx).await?;
        self.act(h, tx, &cs, action)
    }
    async fn late_failure(
        &self,
        h: &Harness,
        tx: &Transaction,
    ) -> Result<Option<Notification>, String> {
        let pi = tx
            .authorisation
            .clone()
            .ok_or("a paid Stripe transaction has its PaymentIntent as authorisation")?;
        sandbox().dispute(&pi).map_err(|e| e.message)?;
        Self::signed(h, "charge.dispute.created", &pi).map(Some)
    }

    /// The header is kept; the amount in the body is changed (an attacker raising or
    /// lowering what was paid), or the last byte when there is no amount.
    fn tamper(&self, n: &Notification) -> Notification {
        let mut t = n.clone();
        let body = String::from_utf8_lossy(&n.body).to_string();
        let altered = body.replacen("\"amount_total\": 1", "\"amount_total\": 9", 1);
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
        order: 6,
        driver: || Box::new(driver()),
    }
}
