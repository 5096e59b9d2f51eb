//! The `caisse-ap-ip` provider: one instance per terminal.
//!
//! ```toml
//! [[instance]]
//! id = "tpe-accueil"
//! provider = "caisse-ap-ip"
//! mode = "live"
//! [instance.options]
//! host = "192.168.1.50"     # fixed IP of the terminal
//! port = 8888               # default
//! pos_number = "01"         # CA, two digits (default)
//! mode = "card"             # or "cheque" (cheque printer on the terminal)
//! deadline_seconds = 180    # overall wait for the cardholder (default)
//! currencies = "EUR"        # comma-separated; XPF for French Pacific territories
//! ```
//!
//! The payment page shows [`PaymentRequest::Terminal`]: the point of sale asks the server
//! to charge the terminal ([`crate::TerminalService::charge`]). A terminal sends no
//! notification, so [`Acquirer::verify`] rejects everything posted to its endpoint: only
//! the server's own exchange can settle a payment. A refund is a refund exchange (`CD=1`)
//! on the terminal, with the card presented again.

use bank_core::ProviderFailure;
use std::sync::Arc;

use bank_core::{
    async_trait, Acquirer, Capabilities, Currency, Error, InstanceInfo, Money, Notification,
    OperationResult, Options, ParamKind, Parameter, PaymentContext, PaymentRequest,
    ProviderDescription, RefundSupport, Transaction, Verified, VerifyContext,
};

use crate::client::{ExchangeOutcome, TerminalClient, TerminalConfig, DEFAULT_PORT};
use crate::protocol::{
    Action, PaymentMethod, Request, RequestHeader, DEFAULT_POS_SOFTWARE_ID, MAX_AMOUNT_MINOR,
};

/// Provider name in configuration.
pub const PROVIDER: &str = "caisse-ap-ip";

/// Longest deadline accepted, in seconds.
pub const MAX_DEADLINE_SECONDS: i64 = 3600;

/// The provider's self-description.
pub fn describe() -> ProviderDescription {
    ProviderDescription {
        name: PROVIDER,
        caption: "Card terminal at the counter",
        parameters: vec![
            Parameter::text("host", "Terminal IP address or host name (fixed IP)"),
            Parameter::text("port", "Terminal TCP port")
                .kind(ParamKind::Integer)
                .default_value("8888"),
            Parameter::text(
                "pos_number",
                "Cash register number sent to the terminal (CA)",
            )
            .default_value("01"),
            Parameter::text("mode", "Payment mode: card, or cheque (cheque printer)")
                .kind(ParamKind::Choice(&["card", "cheque"]))
                .default_value("card"),
            Parameter::text(
                "deadline_seconds",
                "How long to wait for the terminal's answer, in seconds",
            )
            .kind(ParamKind::Integer)
            .default_value("180"),
            Parameter::text(
                "currencies",
                "Currencies the terminal takes, comma-separated ISO codes",
            )
            .default_value("EUR"),
            Parameter::text(
                "pos_software_id",
                "Concert protocol identifier of the POS software (CJ, 12 digits)",
            )
            .default_value(DEFAULT_POS_SOFTWARE_ID),
        ],
    }
}

/// The terminal link and currencies of an instance, from its checked options.
///
/// # Errors
/// [`Error::Config`] naming the option.
pub fn settings_from_options(
    instance: &str,
    options: &Options,
) -> Result<(TerminalConfig, Vec<Currency>), Error> {
    let err = |name: &str, reason: String| Error::Config {
        file: "<configuration>".into(),
        key: format!("instance.{instance}.options.{name}"),
        reason,
    };
    let host = options.text("host")?;
    let port = options.integer("port", i64::from(DEFAULT_PORT))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| err("port", format!("{port} is outside 1..=65535")))?;
    let deadline = options.integer("deadline_seconds", 180)?;
    if !(1..=MAX_DEADLINE_SECONDS).contains(&deadline) {
        return Err(err(
            "deadline_seconds",
            format!("{deadline} is outside 1..={MAX_DEADLINE_SECONDS}"),
        ));
    }
    let mode = options.get("mode").unwrap_or("card");
    let method = PaymentMethod::parse(mode)
        .ok_or_else(|| err("mode", format!("expected card or cheque, got {mode:?}")))?;
    let mut currencies = Vec::new();
    for code in options
        .get("currencies")
        .unwrap_or("EUR")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let c = Currency::from_code(code).map_err(|_| {
            err(
                "currencies",
                format!("{code:?} is not an ISO 4217 currency"),
            )
        })?;
        if !currencies.contains(&c) {
            currencies.push(c);
        }
    }
    if currencies.is_empty() {
        return Err(err("currencies", "no currency given".into()));
    }
    let mut config = TerminalConfig::new(host, port);
    config.method = method;
    config.deadline = std::time::Duration::from_secs(deadline.unsigned_abs());
    config.header = RequestHeader {
        pos_number: options.get("pos_number").unwrap_or("01").to_string(),
        pos_software_id: options
            .get("pos_software_id")
            .unwrap_or(DEFAULT_POS_SOFTWARE_ID)
            .to_string(),
        ..RequestHeader::default()
    };
    config.check().map_err(|e| match e {
        crate::CaisseApError::InvalidSetting {
            setting, reason, ..
        } => err(setting, reason),
        other => err("host", other.to_string()),
    })?;
    Ok((config, currencies))
}

/// A Caisse-AP terminal instance.
#[derive(Debug)]
pub struct CaisseApIp {
    info: InstanceInfo,
    client: TerminalClient,
    currencies: Vec<Currency>,
}

impl CaisseApIp {
    /// An instance for a terminal link (hosts that configure in code).
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings.
    pub fn new(
        info: InstanceInfo,
        config: TerminalConfig,
        currencies: Vec<Currency>,
    ) -> Result<Self, Error> {
        let id = info.id.clone();
        let client = TerminalClient::new(config).map_err(|e| Error::Config {
            file: "<code>".into(),
            key: format!("instance.{id}"),
            reason: e.to_string(),
        })?;
        Ok(CaisseApIp {
            info,
            client,
            currencies,
        })
    }

    /// The terminal client.
    pub fn client(&self) -> &TerminalClient {
        &self.client
    }
}

fn build(info: InstanceInfo, options: &Options) -> Result<Arc<dyn Acquirer>, Error> {
    let (config, currencies) = settings_from_options(&info.id, options)?;
    Ok(Arc::new(CaisseApIp::new(info, config, currencies)?))
}

bank_core::inventory::submit! {
    bank_core::ProviderFactory { name: PROVIDER, describe, build }
}

#[async_trait]
impl Acquirer for CaisseApIp {
    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.terminal = true;
        // Any amount up to what was paid, as many times as needed: the protocol sends an
        // amount with CD=1.
        c.refund = RefundSupport::Partial;
        c.currencies = self.currencies.clone();
        c
    }

    async fn payment_request(
        &self,
        tx: &Transaction,
        _ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        if tx.amount.minor() > MAX_AMOUNT_MINOR {
            return Err(Error::provider(
                self.info.id.clone(),
                ProviderFailure::Refused,
                format!("{} is too large for a terminal", tx.amount),
            ));
        }
        Ok(PaymentRequest::Terminal {
            instance: self.info.id.clone(),
        })
    }

    async fn verify(&self, _n: &Notification, _ctx: &VerifyContext) -> Result<Verified, Error> {
        // Nothing a browser or anyone else posts can settle a terminal payment: only the
        // server's own exchange with the terminal does (TerminalService).
        Err(Error::verification(
            &self.info.id,
            "a card terminal sends no notifications: its answers are settled by the server",
        ))
    }

    async fn refund(
        &self,
        tx: &Transaction,
        amount: Money,
        key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<OperationResult, Error> {
        let id = &self.info.id;
        let request = Request::new(
            &self.client.config().header,
            amount,
            Action::Refund,
            self.client.config().method,
        )
        .map_err(|e| e.into_core(id))?;
        tracing::info!(instance = %id, reference = %tx.reference, %amount, key, "refund on the terminal: present the card");
        let exchange = self
            .client
            .exchange(&request)
            .await
            .map_err(|e| e.into_core(id))?;
        let evidence = exchange.evidence();
        match exchange.outcome {
            ExchangeOutcome::Approved(a) => {
                tracing::info!(instance = %id, reference = %tx.reference, authorisation = ?a.authorisation, exchange = %evidence, "terminal refund approved");
                Ok(OperationResult {
                    provider_reference: a.authorisation.or_else(|| Some(key.to_string())),
                    manual: false,
                })
            }
            ExchangeOutcome::Declined(d) => {
                let mut e = Error::provider(
                    id.clone(),
                    ProviderFailure::Refused,
                    format!("the terminal declined the refund: {}", d.reason),
                );
                if let Some(c) = d.code {
                    e = e.with_code(c);
                }
                Err(e)
            }
            ExchangeOutcome::Unreachable { reason } => Err(Error::provider(
                id.clone(),
                ProviderFailure::Unavailable,
                format!("terminal unreachable, nothing refunded: {reason}"),
            )),
            ExchangeOutcome::Unknown(cause) => {
                tracing::error!(instance = %id, reference = %tx.reference, %cause, exchange = %evidence, "terminal refund outcome unknown");
                Err(Error::provider(
                    id.clone(),
                    ProviderFailure::OutcomeUnknown,
                    format!(
                        "refund outcome unknown ({cause}): ask the cashier what the terminal printed"
                    ),
                ))
            }
        }
    }
}
