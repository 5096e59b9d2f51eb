//! The Stripe driver: acts as payer and as Stripe through the local sandbox.

use async_trait::async_trait;
use bank_core::{Notification, Transaction};

use super::{Driver, PayerAction};
use crate::harness::Harness;

/// The Stripe driver (placeholder until the provider lands: no payer actions, so every
/// scenario reports not applicable).
#[derive(Debug, Default)]
pub struct StripeDriver;

/// The Stripe driver.
pub fn driver() -> StripeDriver {
    StripeDriver
}

#[async_trait]
impl Driver for StripeDriver {
    fn provider(&self) -> &'static str {
        "stripe"
    }
    fn options(&self) -> Vec<(&'static str, String)> {
        vec![]
    }
    fn actions(&self) -> Vec<PayerAction> {
        vec![]
    }
    async fn notification(
        &self,
        _h: &Harness,
        _tx: &Transaction,
        _action: PayerAction,
    ) -> Result<Notification, String> {
        Err("the stripe provider is not built yet".into())
    }
}
