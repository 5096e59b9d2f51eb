//! `bank terminal pay|emulate`, and the adapter that puts the terminals behind the server's
//! `/api/terminal/…` routes.

use std::time::Duration;

use bank::async_trait;
use bank::caisse_ap_ip::{self as caisse, CaisseApError, CashierWord, TerminalService};
use bank_server::{TerminalPort, TerminalRefusal};
use clap::Subcommand;

use crate::common::Failure;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TerminalCommand {
    /// Charges an amount on a Caisse-AP terminal and prints the result in words.
    /// Exit codes: 0 approved, 1 declined, 2 unknown outcome (look at the terminal's
    /// receipt), 3 terminal unreachable or busy (nothing sent), 64 bad arguments.
    Pay {
        /// Terminal address.
        #[arg(long)]
        host: String,
        /// Terminal TCP port.
        #[arg(long)]
        port: u16,
        /// Amount, a decimal string ("12.45").
        #[arg(long)]
        amount: String,
        /// ISO 4217 currency.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// A cheque (on a terminal with a cheque printer) rather than a card.
        #[arg(long)]
        cheque: bool,
        /// A refund rather than a debit.
        #[arg(long)]
        refund: bool,
        /// Seconds to wait for the terminal's answer.
        #[arg(long, default_value_t = 180)]
        deadline_seconds: u64,
        /// Print the frames sent and received.
        #[arg(long)]
        verbose: bool,
    },
    /// Runs a terminal emulator on 127.0.0.1 for people without a terminal. Amounts ending
    /// in 51 are refused, 52 cancelled on the terminal, 53 timed out, others approved.
    Emulate {
        /// TCP port.
        #[arg(long, default_value_t = 8888)]
        port: u16,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration_seconds: Option<u64>,
    },
}

pub(crate) async fn run(cmd: TerminalCommand) -> Result<(), Failure> {
    let mut out = std::io::stdout();
    let code = match cmd {
        TerminalCommand::Pay {
            host,
            port,
            amount,
            currency,
            cheque,
            refund,
            deadline_seconds,
            verbose,
        } => {
            let mut args = caisse::cli::PayArgs::new(host, port, amount);
            args.currency = currency;
            args.cheque = cheque;
            args.refund = refund;
            args.deadline = Duration::from_secs(deadline_seconds);
            args.verbose = verbose;
            caisse::cli::pay(&args, &mut out).await
        }
        TerminalCommand::Emulate {
            port,
            duration_seconds,
        } => {
            let mut args = caisse::cli::EmulateArgs::new(port);
            args.duration = duration_seconds.map(Duration::from_secs);
            caisse::cli::emulate_until_ctrl_c(&args, &mut out).await
        }
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Code(u8::try_from(code).unwrap_or(1)))
    }
}

/// The terminals of a configuration, for the HTTP routes.
#[derive(Debug)]
pub(crate) struct Terminals(pub(crate) TerminalService);

fn refusal(e: CaisseApError) -> TerminalRefusal {
    let status = match &e {
        CaisseApError::Busy { .. }
        | CaisseApError::AlreadyCharging { .. }
        | CaisseApError::NotPayable { .. } => 409,
        CaisseApError::NotATerminal { .. } => 404,
        CaisseApError::Engine(inner)
            if matches!(**inner, bank::Error::UnknownTransaction { .. }) =>
        {
            404
        }
        CaisseApError::CurrencyNotAccepted { .. }
        | CaisseApError::InvalidAmount { .. }
        | CaisseApError::InvalidInput { .. } => 422,
        // The terminal answered but the answer could not be stored: the message says what
        // it answered; the POS must show it.
        _ => 503,
    };
    TerminalRefusal {
        status,
        message: e.to_string(),
    }
}

#[async_trait]
impl TerminalPort for Terminals {
    async fn charge(
        &self,
        instance: &str,
        reference: &str,
    ) -> Result<serde_json::Value, TerminalRefusal> {
        let report = self.0.charge(instance, reference).await.map_err(refusal)?;
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
        let r = self
            .0
            .resolve(instance, reference, word, staff)
            .await
            .map_err(refusal)?;
        Ok(serde_json::json!({ "reference": r.reference, "status": r.status, "effect": r.effect }))
    }
}
