//! # bank-cheque
//!
//! Payment by cheque. The payment page shows the payee, the postal address and the
//! reference to write on the back; the payer confirms, the transaction goes `attente`
//! (hook `reglement_en_attente`), and staff marks it received when the cheque arrives
//! ([`bank_core::Engine::mark_received`]). Refunds are recorded; staff sends the money.

#![forbid(unsafe_code)]

use std::sync::Arc;

use bank_core::{
    async_trait, own_form, Acquirer, Capabilities, Error, InstanceInfo, Notification,
    OperationResult, Options, Outcome, ParamKind, Parameter, PaymentContext, PaymentRequest,
    ProviderDescription, RefundSupport, Transaction, Verified, VerifyContext,
};

/// Provider name in configuration.
pub const PROVIDER: &str = "cheque";

/// A cheque instance.
#[derive(Debug)]
pub struct Cheque {
    info: InstanceInfo,
    payee: String,
    address: String,
    note: Option<String>,
}

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Cheque",
        parameters: vec![
            Parameter::text("payee", "Payable to (ordre)"),
            Parameter::text("address", "Postal address to send the cheque to")
                .kind(ParamKind::Multiline),
            Parameter::text("note", "Extra instructions")
                .kind(ParamKind::Multiline)
                .optional(),
        ],
    }
}

fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    Ok(Arc::new(Cheque {
        info,
        payee: options.text("payee")?,
        address: options.text("address")?,
        note: options.get("note").map(str::to_string),
    }))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

// The demo's cheque: nothing to reach, only whom to pay.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: PROVIDER,
        instance: "cheque",
        order: 2,
        start: |_| bank_core::StaticSandbox::ready(&[
            ("payee", "Association des amis du quartier"),
            ("address", "1 rue de la Paix, 75002 Paris"),
        ]),
    }
}

#[async_trait]
impl Acquirer for Cheque {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.offline = true;
        c.refund = RefundSupport::Partial;
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        let mut details = vec![
            ("Amount".to_string(), tx.amount.to_string()),
            ("Payable to".to_string(), self.payee.clone()),
            ("Send to".to_string(), self.address.clone()),
            ("Write on the back".to_string(), tx.reference.clone()),
        ];
        if let Some(n) = &self.note {
            details.push(("Note".to_string(), n.clone()));
        }
        Ok(PaymentRequest::Instructions {
            heading: "Pay by cheque".into(),
            details,
            confirm: Some(own_form::build(
                ctx,
                &self.info.id,
                tx,
                "attente",
                "I will send a cheque",
            )),
        })
    }

    async fn verify(&self, n: &Notification, ctx: &VerifyContext) -> Result<Verified, Error> {
        own_form::verify_confirmation(n, ctx, &self.info.id, "attente", Outcome::Waiting)
    }

    async fn refund(
        &self,
        _tx: &Transaction,
        _amount: bank_core::Money,
        _key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<OperationResult, Error> {
        Ok(own_form::manual_refund())
    }
}

/// How the conformance suite drives this provider: the payer posts our own signed form.
#[cfg(feature = "conformance")]
mod conformance {
    use bank_conformance::{OwnFormDriver, PayerAction};

    bank_conformance::inventory::submit! {
        bank_conformance::DriverFactory {
            provider: super::PROVIDER,
            order: 2,
            driver: || Box::new(OwnFormDriver::new(
                super::PROVIDER,
                vec![("payee", "Association des amis"), ("address", "1 rue de la Paix\n75000 Paris")],
                vec![(PayerAction::Wait, "attente")],
            )),
        }
    }
}
