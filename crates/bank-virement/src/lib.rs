//! # bank-virement
//!
//! Payment by bank transfer. The payment page shows the holder, IBAN, BIC and the
//! reference to quote; the payer confirms, the transaction goes `attente`, and staff
//! confirms when the transfer is on the account ([`bank_core::Engine::mark_received`]).
//! The IBAN is checked (ISO 13616 mod-97) when the configuration is loaded, so a typo
//! never reaches a payer.

#![forbid(unsafe_code)]

use std::sync::Arc;

use bank_core::{
    async_trait, own_form, Acquirer, Capabilities, Error, InstanceInfo, Notification,
    OperationResult, Options, Outcome, Parameter, PaymentContext, PaymentRequest,
    ProviderDescription, RefundSupport, Transaction, Verified, VerifyContext,
};

/// Provider name in configuration.
pub const PROVIDER: &str = "virement";

/// Errors of the transfer provider.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VirementError {
    /// The IBAN fails its checks.
    #[error("invalid IBAN: {reason}")]
    InvalidIban {
        /// Why.
        reason: String,
    },
    /// The BIC is not 8 or 11 letters and digits.
    #[error("invalid BIC {bic:?}: 8 or 11 letters and digits expected")]
    InvalidBic {
        /// What was given.
        bic: String,
    },
}

/// A bank transfer instance.
#[derive(Debug)]
pub struct Virement {
    info: InstanceInfo,
    holder: String,
    iban: String,
    bic: String,
    bank: Option<String>,
}

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Bank transfer",
        parameters: vec![
            Parameter::text("holder", "Account holder"),
            Parameter::text("iban", "IBAN"),
            Parameter::text("bic", "BIC"),
            Parameter::text("bank", "Bank name").optional(),
        ],
    }
}

/// Checks an IBAN (spaces allowed) and returns it grouped by four for display.
///
/// # Errors
/// [`VirementError::InvalidIban`].
pub fn check_iban(iban: &str) -> Result<String, VirementError> {
    let parsed: iban::Iban =
        iban.parse()
            .map_err(|e: iban::ParseIbanError| VirementError::InvalidIban {
                reason: e.to_string(),
            })?;
    Ok(parsed.to_string())
}

/// Checks a BIC (ISO 9362 shape).
///
/// # Errors
/// [`VirementError::InvalidBic`].
pub fn check_bic(bic: &str) -> Result<String, VirementError> {
    let b = bic.trim().to_ascii_uppercase();
    let ok = b.is_ascii()
        && (b.len() == 8 || b.len() == 11)
        && b[..6].bytes().all(|c| c.is_ascii_uppercase())
        && b[6..].bytes().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(b)
    } else {
        Err(VirementError::InvalidBic {
            bic: bic.to_string(),
        })
    }
}

fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let bad = |key: &str, e: VirementError| Error::Config {
        file: "<instance>".into(),
        key: format!("instance.{}.options.{key}", info.id),
        reason: e.to_string(),
    };
    let iban = check_iban(&options.text("iban")?).map_err(|e| bad("iban", e))?;
    let bic = check_bic(&options.text("bic")?).map_err(|e| bad("bic", e))?;
    Ok(Arc::new(Virement {
        holder: options.text("holder")?,
        bank: options.get("bank").map(str::to_string),
        iban,
        bic,
        info,
    }))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

// The demo's transfer: a valid test IBAN (it passes mod-97) of no real account.
bank_core::inventory::submit! {
    bank_core::SandboxFactory {
        provider: PROVIDER,
        instance: "virement",
        order: 3,
        start: |_| bank_core::StaticSandbox::ready(&[
            ("holder", "Association des amis du quartier"),
            ("iban", "FR76 3000 6000 0112 3456 7890 189"),
            ("bic", "BNPAFRPP"),
        ]),
    }
}

#[async_trait]
impl Acquirer for Virement {
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
            ("Account holder".to_string(), self.holder.clone()),
            ("IBAN".to_string(), self.iban.clone()),
            ("BIC".to_string(), self.bic.clone()),
        ];
        if let Some(b) = &self.bank {
            details.push(("Bank".to_string(), b.clone()));
        }
        details.push(("Reference to quote".to_string(), tx.reference.clone()));
        Ok(PaymentRequest::Instructions {
            heading: "Pay by bank transfer".into(),
            details,
            confirm: Some(own_form::build(
                ctx,
                &self.info.id,
                tx,
                "attente",
                "I will make the transfer",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_and_bic_are_checked() {
        assert_eq!(
            check_iban("FR76 3000 6000 0112 3456 7890 189").unwrap(),
            "FR76 3000 6000 0112 3456 7890 189"
        );
        assert!(
            check_iban("FR76 3000 6000 0112 3456 7890 188").is_err(),
            "bad check digits"
        );
        assert!(check_iban("").is_err());
        assert_eq!(check_bic("bnpafrpp").unwrap(), "BNPAFRPP");
        assert!(check_bic("BNPAFRPPX").is_err());
        assert!(
            check_bic("ABCDEÀG").is_err(),
            "non-ASCII is an error, not a panic"
        );
    }
}

/// How the conformance suite drives this provider: the payer posts our own signed form.
#[cfg(feature = "conformance")]
mod conformance {
    use bank_conformance::{OwnFormDriver, PayerAction};

    bank_conformance::inventory::submit! {
        bank_conformance::DriverFactory {
            provider: super::PROVIDER,
            order: 3,
            driver: || Box::new(OwnFormDriver::new(
                super::PROVIDER,
                vec![("holder", "Association des amis"), ("iban", "FR76 3000 6000 0112 3456 7890 189"), ("bic", "BNPAFRPP")],
                vec![(PayerAction::Wait, "attente")],
            )),
        }
    }
}
