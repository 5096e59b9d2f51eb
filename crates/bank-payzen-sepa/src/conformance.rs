//! The PayZen driver: acts as payer and as PayZen through the local sandbox.
//!
//! The acquirer builds the form (its transaction id drawn from the harness's store); the
//! sandbox takes it as PayZen would, the driver pays with a test card or IBAN, and hands
//! the engine the signed IPN the sandbox made.

use std::sync::OnceLock;

use async_trait::async_trait;
use bank_core::{Channel, HttpMethod, Notification, PaymentRequest, Transaction};

use bank_conformance::{Driver, Harness, PayerAction};

use crate::sandbox::{Message, Sandbox, SandboxConfig, SandboxHandle, TestMeans};

static SANDBOX: OnceLock<SandboxHandle> = OnceLock::new();

/// The sandbox shared by every scenario of this process; it keeps IPNs for the driver.
pub fn sandbox() -> &'static SandboxHandle {
    SANDBOX.get_or_init(|| {
        Sandbox::start(SandboxConfig {
            deliver: false,
            ..SandboxConfig::default()
        })
        .expect("the PayZen sandbox starts on 127.0.0.1")
    })
}

/// The driver.
#[derive(Debug, Default)]
pub struct PayzenDriver {
    extra_options: Vec<(&'static str, String)>,
}

/// The driver.
pub fn driver() -> PayzenDriver {
    PayzenDriver::default()
}

impl PayzenDriver {
    /// The driver of an instance with `options` besides the sandbox's.
    pub fn with_options(options: &[(&'static str, &str)]) -> Self {
        PayzenDriver {
            extra_options: options.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    /// The form the acquirer under test builds for `tx`, taken by the sandbox: the
    /// checkout id.
    ///
    /// # Errors
    /// What went wrong, in words.
    pub async fn checkout(h: &Harness, tx: &Transaction) -> Result<String, String> {
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
            PaymentRequest::Form(f) => sandbox().submit(&f.fields),
            other => Err(format!("expected a form, got {other:?}")),
        }
    }

    /// `m` as the IPN endpoint receives it.
    pub fn delivered(m: &Message, h: &Harness) -> Notification {
        let mut n = Notification::new(Channel::Server, HttpMethod::Post, h.engine.now());
        n.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        n.body = m.body.clone();
        n
    }
}

#[async_trait]
impl Driver for PayzenDriver {
    fn provider(&self) -> &'static str {
        crate::PROVIDER
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        // A shop of its own for each harness: each has a store of its own, so its own
        // counters, as two sites sharing one shop must not (docs/providers/payzen-sepa.md).
        static SHOPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SHOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sandbox()
            .shop_options(&format!("{:08}", 20_000_000 + n), "card_sdd")
            .into_iter()
            .filter_map(|(k, v)| {
                let k: &'static str = match k.as_str() {
                    "site_id" => "site_id",
                    "key_test" => "key_test",
                    "signature_algorithm" => "signature_algorithm",
                    "means" => "means",
                    "rest_password_test" => "rest_password_test",
                    "form_url" => "form_url",
                    "rest_url" => "rest_url",
                    _ => return None,
                };
                Some((k, v))
            })
            .filter(|(k, _)| !self.extra_options.iter().any(|(e, _)| e == k))
            .chain(self.extra_options.iter().cloned())
            .collect()
    }

    fn actions(&self) -> Vec<PayerAction> {
        // Wait: a SEPA debit, authorised but not yet collected.
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
        let id = Self::checkout(h, tx).await?;
        let m = match action {
            PayerAction::Pay => sandbox().pay(&id, TestMeans::CardApproved)?,
            PayerAction::Refuse => sandbox().pay(&id, TestMeans::CardRefused)?,
            PayerAction::Wait => sandbox().pay(&id, TestMeans::SepaCollected)?,
            PayerAction::Abandon => sandbox().abandon(&id)?,
        };
        Ok(Self::delivered(&m, h))
    }

    async fn late_failure(
        &self,
        h: &Harness,
        tx: &Transaction,
    ) -> Result<Option<Notification>, String> {
        let uuid = tx
            .authorisation
            .clone()
            .ok_or("a paid transaction has its vads_trans_uuid as authorisation")?;
        let m = sandbox().capture_fails(&uuid)?;
        Ok(Some(Self::delivered(&m, h)))
    }
}

bank_conformance::inventory::submit! {
    bank_conformance::DriverFactory {
        provider: crate::PROVIDER,
        order: 10,
        driver: || Box::new(driver()),
    }
}
