//! The PayPal buttons driver: acts as payer and as PayPal through the local sandbox.
//!
//! The acquirer builds the button; the sandbox takes it as PayPal would, the driver pays
//! it as a test buyer, and hands the engine the IPN the sandbox sent, byte for byte (the
//! acquirer posts it back to the sandbox, which verifies it).

use std::sync::OnceLock;

use async_trait::async_trait;
use bank_core::{Channel, HttpMethod, Notification, PaymentRequest, Transaction};

use bank_conformance::{Driver, Harness, PayerAction};

use crate::sandbox::{Buyer, Message, Sandbox, SandboxConfig, SandboxHandle};

static SANDBOX: OnceLock<SandboxHandle> = OnceLock::new();

/// The sandbox shared by every scenario of this process; it keeps IPNs for the driver.
pub fn sandbox() -> &'static SandboxHandle {
    SANDBOX.get_or_init(|| {
        Sandbox::start(SandboxConfig {
            deliver: false,
            ..SandboxConfig::default()
        })
        .expect("the PayPal buttons sandbox starts on 127.0.0.1")
    })
}

/// The driver.
#[derive(Debug, Default)]
pub struct PayPalIpnDriver {
    extra_options: Vec<(&'static str, String)>,
}

/// The driver.
pub fn driver() -> PayPalIpnDriver {
    PayPalIpnDriver::default()
}

impl PayPalIpnDriver {
    /// The driver of an instance with `options` besides the sandbox's (a Donate button).
    pub fn with_options(options: &[(&'static str, &str)]) -> Self {
        PayPalIpnDriver {
            extra_options: options.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    /// The button the acquirer under test builds for `tx`, taken by the sandbox: the
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

    /// `m` as the listener receives it.
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
impl Driver for PayPalIpnDriver {
    fn provider(&self) -> &'static str {
        crate::PROVIDER
    }

    fn options(&self) -> Vec<(&'static str, String)> {
        sandbox()
            .instance_options()
            .into_iter()
            .filter_map(|(k, v)| {
                let k: &'static str = match k.as_str() {
                    "business" => "business",
                    "receiver_id" => "receiver_id",
                    "form_url" => "form_url",
                    "verify_url" => "verify_url",
                    _ => return None,
                };
                Some((k, v))
            })
            .chain(self.extra_options.iter().cloned())
            .collect()
    }

    fn actions(&self) -> Vec<PayerAction> {
        // PayPal sends nothing when a payer cancels: no Abandon. A refusal is an eCheck
        // that fails, the one failure WPS reports by IPN.
        vec![PayerAction::Pay, PayerAction::Refuse, PayerAction::Wait]
    }

    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let id = Self::checkout(h, tx).await?;
        let buyer = match action {
            PayerAction::Pay => Buyer::Pays,
            PayerAction::Wait => Buyer::Echeck,
            PayerAction::Refuse => Buyer::EcheckFails,
            PayerAction::Abandon => {
                return Err("PayPal sends nothing for a cancelled checkout".into())
            }
        };
        sandbox().pay(&id, buyer)?;
        let m = sandbox()
            .last_message(&tx.reference)
            .ok_or_else(|| format!("no IPN about {}", tx.reference))?;
        Ok(Self::delivered(&m, h))
    }

    async fn late_failure(
        &self,
        h: &Harness,
        tx: &Transaction,
    ) -> Result<Option<Notification>, String> {
        let txn = tx
            .authorisation
            .clone()
            .ok_or("a paid transaction has its txn_id as authorisation")?;
        let m = sandbox().reverse(&txn)?;
        Ok(Some(Self::delivered(&m, h)))
    }
}

bank_conformance::inventory::submit! {
    bank_conformance::DriverFactory {
        provider: crate::PROVIDER,
        order: 9,
        driver: || Box::new(driver()),
    }
}
