//! # bank-simu
//!
//! A development simulation: the payer picks the result (paid, refused, abandoned,
//! waiting) and the transaction goes through the real engine path, hooks included.
//! It refuses to start in live mode, so a test configuration copied to production cannot
//! mark anything paid.

#![forbid(unsafe_code)]

use std::sync::Arc;

use bank_core::{
    async_trait, own_form, Acquirer, Capabilities, Error, InstanceInfo, Mode, Notification,
    OperationResult, Options, Outcome, PaymentContext, PaymentRequest, ProviderDescription,
    RefundSupport, Transaction, Verified, VerifyContext,
};

/// Provider name in configuration.
pub const PROVIDER: &str = "simu";

/// A simulation instance.
#[derive(Debug)]
pub struct Simu {
    info: InstanceInfo,
}

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Simulation (development only)",
        parameters: vec![],
    }
}

fn build(info: InstanceInfo, _options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    if info.mode == Mode::Live {
        return Err(Error::SimulationInLive { instance: info.id });
    }
    Ok(Arc::new(Simu { info }))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: PROVIDER,
        instance: "simu",
        order: 1,
        start: |_| bank_core::StaticSandbox::ready(&[]),
    }
}

const CHOICES: [(&str, &str); 4] = [
    ("ok", "Simulate a successful payment"),
    ("echec", "Simulate a refused payment"),
    ("abandon", "Simulate an abandoned payment"),
    ("attente", "Simulate a payment waiting for collection"),
];

#[async_trait]
impl Acquirer for Simu {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.simulation = true;
        c.refund = RefundSupport::Partial;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        Ok(PaymentRequest::Choices {
            forms: CHOICES
                .iter()
                .map(|(choice, label)| own_form::build(ctx, &self.info.id, tx, choice, label))
                .collect(),
        })
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        let post = own_form::verify(n, ctx, &self.info.id)?;
        let outcome = match post.choice.as_str() {
            "ok" => Outcome::Paid,
            "echec" => Outcome::Failed,
            "abandon" => Outcome::Cancelled,
            "attente" => Outcome::Waiting,
            other => {
                return Err(Error::verification(
                    &self.info.id,
                    format!("unknown choice {other:?}"),
                ))
            }
        };
        let mut v = Verified::new(Some(post.reference.clone()), outcome.clone());
        v.amount = Some(post.amount);
        match outcome {
            Outcome::Paid => {
                v.authorisation = Some(format!(
                    "SIMU-{}",
                    &post.reference[post.reference.len().saturating_sub(6)..]
                ))
            }
            Outcome::Failed => {
                v.error_code = Some("simu-refused".into());
                v.error_message = Some("refused by the simulation".into());
            }
            _ => {}
        }
        Ok(v)
    }

    async fn refund(
        &self,
        _tx: &Transaction,
        _amount: bank_core::Money,
        _key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<OperationResult, Error> {
        Ok(OperationResult {
            provider_reference: Some("SIMU-REFUND".into()),
            manual: false,
        })
    }
}

/// How the conformance suite drives this provider: the payer posts our own signed form.
#[cfg(feature = "conformance")]
mod conformance {
    use bank_conformance::{OwnFormDriver, PayerAction};

    bank_conformance::inventory::submit! {
        bank_conformance::DriverFactory {
            provider: super::PROVIDER,
            order: 1,
            driver: || Box::new(OwnFormDriver::new(
                super::PROVIDER,
                vec![],
                vec![(PayerAction::Pay, "ok"), (PayerAction::Refuse, "echec"), (PayerAction::Abandon, "abandon"), (PayerAction::Wait, "attente")],
            )),
        }
    }
}
