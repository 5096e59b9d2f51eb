//! Drivers: how the suite acts as payer and provider for each provider.

use async_trait::async_trait;
use bank_core::{own_form, Notification, Transaction};

use crate::harness::Harness;

/// What a payer can do on a provider's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayerAction {
    /// Pay successfully.
    Pay,
    /// Have the payment refused.
    Refuse,
    /// Cancel on the provider's page.
    Abandon,
    /// Choose a deferred means (cheque, transfer, SEPA).
    Wait,
}

/// Acts as the payer and the provider for one provider.
#[async_trait]
pub trait Driver: Send + Sync {
    /// Provider name.
    fn provider(&self) -> &'static str;
    /// Instance options for the test configuration. Values are owned: a hosted provider's
    /// driver points them at the sandbox it started on an ephemeral loopback port.
    fn options(&self) -> Vec<(&'static str, String)>;
    /// What a payer can do with this provider.
    fn actions(&self) -> Vec<PayerAction>;
    /// The notification the provider (or the payer's browser) sends when the payer takes
    /// `action` on `tx`. `tx` may be made up: another installation's reference, an unknown
    /// one, a wrong amount.
    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String>;
    /// The notification the provider sends when a payment already made on `tx` is reversed
    /// (a chargeback, a rejected SEPA debit). `None` when the provider never reverses one.
    async fn late_failure(
        &self,
        _h: &Harness,
        _tx: &Transaction,
    ) -> Result<Option<Notification>, String> {
        Ok(None)
    }
    /// A copy of `n` altered in transit (signature no longer matches).
    fn tamper(&self, n: &Notification) -> Notification {
        let mut t = n.clone();
        match t.body.last_mut() {
            Some(b) => *b = if *b == b'0' { b'1' } else { b'0' },
            None => t.query.push('0'),
        }
        t
    }
}

/// A driver for providers whose payer posts a signed form to our own endpoint.
#[derive(Debug, Clone)]
pub struct OwnFormDriver {
    provider: &'static str,
    options: Vec<(&'static str, &'static str)>,
    choices: Vec<(PayerAction, &'static str)>,
}

#[async_trait]
impl Driver for OwnFormDriver {
    fn provider(&self) -> &'static str {
        self.provider
    }
    fn options(&self) -> Vec<(&'static str, String)> {
        self.options
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    }
    fn actions(&self) -> Vec<PayerAction> {
        self.choices.iter().map(|(a, _)| *a).collect()
    }
    async fn notification(
        &self,
        h: &Harness,
        tx: &Transaction,
        action: PayerAction,
    ) -> Result<Notification, String> {
        let choice = self
            .choices
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, c)| *c)
            .ok_or_else(|| format!("{} has no action {action:?}", self.provider))?;
        let ctx = h.engine.payment_context(tx, &h.instance).await;
        let form = own_form::build(&ctx, &h.instance, tx, choice, "");
        let fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(Notification::form_post(&fields, h.engine.now()))
    }
}

impl OwnFormDriver {
    /// A driver for `provider` with its test `options` and, for each payer action, the
    /// choice its form posts.
    pub fn new(
        provider: &'static str,
        options: Vec<(&'static str, &'static str)>,
        choices: Vec<(PayerAction, &'static str)>,
    ) -> Self {
        OwnFormDriver {
            provider,
            options,
            choices,
        }
    }
}
