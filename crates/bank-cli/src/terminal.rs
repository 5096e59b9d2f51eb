//! `bank terminal pay|emulate`: the counter terminal from the command line (the service
//! reaches terminals through the port the provider registers).

use std::time::Duration;

use bank::terminal_tools as tools;
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
            let mut args = tools::PayArgs::new(host, port, amount);
            args.currency = currency;
            args.cheque = cheque;
            args.refund = refund;
            args.deadline = Duration::from_secs(deadline_seconds);
            args.verbose = verbose;
            tools::pay(&args, &mut out).await
        }
        TerminalCommand::Emulate {
            port,
            duration_seconds,
        } => {
            let mut args = tools::EmulateArgs::new(port);
            args.duration = duration_seconds.map(Duration::from_secs);
            tools::emulate_until_ctrl_c(&args, &mut out).await
        }
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Code(u8::try_from(code).unwrap_or(1)))
    }
}
