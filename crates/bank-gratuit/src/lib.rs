//! # bank-gratuit
//!
//! Zero-amount transactions (discounts, gifts): one validation button that takes the
//! transaction through the whole payment process, hooks included, like any provider.
//! Offered only for a zero amount; a post for any other amount is refused at
//! verification, and the engine checks the amount against the stored transaction again.

#![forbid(unsafe_code)]

use std::sync::Arc;

use bank_core::{
    async_trait, own_form, Acquirer, Capabilities, Error, InstanceInfo, Notification, Options,
    Outcome, PaymentContext, PaymentRequest, ProviderDescription, Transaction, Verified,
    VerifyContext,
};

/// Provider name in configuration.
pub const PROVIDER: &str = "gratuit";

/// A zero-amount instance.
#[derive(Debug)]
pub struct Gratuit {
    info: InstanceInfo,
}

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Free of charge",
        parameters: vec![],
    }
}

fn build(info: InstanceInfo, _options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    Ok(Arc::new(Gratuit { info }))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: PROVIDER,
        instance: "gratuit",
        order: 4,
        start: |_| bank_core::StaticSandbox::ready(&[]),
    }
}

#[async_trait]
impl Acquirer for Gratuit {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.zero_amount_only = true;
        // Any currency: zero is zero.
        c.currencies = ["EUR", "USD", "GBP", "CHF", "JPY", "CAD"]
            .iter()
            .filter_map(|c| bank_core::Currency::from_code(c).ok())
            .collect();
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        if !tx.amount.is_zero() {
            return Err(Error::AmountNotAllowed {
                action: "payment",
                reference: tx.reference.clone(),
                reason: format!("{} only takes zero amounts, not {}", PROVIDER, tx.amount),
            });
        }
        Ok(PaymentRequest::Form(own_form::build(
            ctx,
            &self.info.id,
            tx,
            "ok",
            "Confirm",
        )))
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        let post = own_form::verify(n, ctx, &self.info.id)?;
        if post.choice != "ok" {
            return Err(Error::verification(
                &self.info.id,
                format!("unexpected choice {:?}", post.choice),
            ));
        }
        if !post.amount.is_zero() {
            return Err(Error::verification(
                &self.info.id,
                format!("refused: {} is not a zero amount", post.amount),
            ));
        }
        let mut v = Verified::new(Some(post.reference), Outcome::Paid);
        v.amount = Some(post.amount);
        v.authorisation = Some("gratuit".into());
        Ok(v)
    }
}

/// How the conformance suite drives this provider: the payer posts our own signed form.
#[cfg(feature = "conformance")]
mod conformance {
    use bank_conformance::{OwnFormDriver, PayerAction};

    bank_conformance::inventory::submit! {
        bank_conformance::DriverFactory {
            provider: super::PROVIDER,
            order: 4,
            driver: || Box::new(OwnFormDriver::new(
                super::PROVIDER,
                vec![],
                vec![(PayerAction::Pay, "ok")],
            )),
        }
    }
}
