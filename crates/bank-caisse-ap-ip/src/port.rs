//! The terminals behind the service's `/api/terminal/…` routes: [`TerminalService`] as a
//! [`bank_core::TerminalPort`], registered so that the service finds it without naming
//! this crate.

use std::sync::Arc;

use bank_core::config::{Config, Env};
use bank_core::{async_trait, Engine, TerminalPort, TerminalRefusal};

use crate::acquirer::PROVIDER;
use crate::error::CaisseApError;
use crate::service::{CashierWord, TerminalService};

bank_core::inventory::submit! {
    bank_core::TerminalFactory { provider: PROVIDER, build }
}

fn build(
    engine: Arc<Engine>,
    config: &Config,
    env: &dyn Env,
) -> Result<Option<Arc<dyn TerminalPort>>, bank_core::Error> {
    if !config.instances.iter().any(|i| i.provider == PROVIDER) {
        return Ok(None);
    }
    let service = TerminalService::from_config(engine, config, env).map_err(|e| match e {
        CaisseApError::Engine(inner) => *inner,
        other => bank_core::Error::Config {
            file: config.source.clone(),
            key: PROVIDER.into(),
            reason: other.to_string(),
        },
    })?;
    Ok(Some(Arc::new(service)))
}

/// The HTTP status of a refusal: 409 for a state that forbids it (busy, paid, nothing to
/// resolve), 404 for an unknown terminal or transaction, 422 for input the terminal
/// refuses, 503 for our own failure (the message says what the terminal answered).
fn refusal(e: CaisseApError) -> TerminalRefusal {
    let status = match &e {
        CaisseApError::Busy { .. }
        | CaisseApError::AlreadyCharging { .. }
        | CaisseApError::NotPayable { .. }
        | CaisseApError::NothingToResolve { .. } => 409,
        CaisseApError::NotATerminal { .. } => 404,
        CaisseApError::Engine(inner)
            if matches!(**inner, bank_core::Error::UnknownTransaction { .. }) =>
        {
            404
        }
        CaisseApError::CurrencyNotAccepted { .. }
        | CaisseApError::InvalidAmount { .. }
        | CaisseApError::InvalidInput { .. } => 422,
        _ => 503,
    };
    TerminalRefusal {
        status,
        message: e.to_string(),
    }
}

#[async_trait]
impl TerminalPort for TerminalService {
    fn instances(&self) -> Vec<String> {
        TerminalService::instances(self)
            .map(str::to_string)
            .collect()
    }

    async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        let report = TerminalService::charge(self, instance, reference)
            .await
            .map_err(refusal)?;
        serde_json::to_value(report).map_err(|e| TerminalRefusal {
            status: 503,
            message: e.to_string(),
        })
    }

    async fn resolve(
        &self,
        instance: &str,
        body: &serde_json::Value,
        staff: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        let bad = |m: String| TerminalRefusal {
            status: 400,
            message: m,
        };
        let reference = body
            .get("reference")
            .and_then(|r| r.as_str())
            .ok_or_else(|| bad("reference: required".into()))?;
        let word: CashierWord =
            serde_json::from_value(body.clone()).map_err(|e| bad(format!("word: {e}")))?;
        let r = TerminalService::resolve(self, instance, reference, word, staff)
            .await
            .map_err(refusal)?;
        Ok(serde_json::json!({ "reference": r.reference, "status": r.status, "effect": r.effect }))
    }
}
