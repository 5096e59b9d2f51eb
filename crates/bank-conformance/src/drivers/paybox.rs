//! The Paybox driver: acts as payer and as Paybox through the local sandbox.

use async_trait::async_trait;
use bank_core::{Notification, Transaction};

use super::{Driver, PayerAction};
use crate::harness::Harness;

/// The Paybox driver (placeholder until the provider lands: no payer actions, so every
/// scenario reports not applicable).
#[derive(Debug, Default)]
pub struct PayboxDriver;

/// The Paybox driver.
pub fn driver() -> PayboxDriver {
    PayboxDriver
}

#[async_trait]
impl Driver for PayboxDriver {
    fn provider(&self) -> &'static str {
        "paybox"
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
        Err("the paybox provider is not built yet".into())
    }
}
