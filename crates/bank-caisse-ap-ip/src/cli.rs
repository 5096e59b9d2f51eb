//! What `bank terminal pay` and `bank terminal emulate` run. The command-line parsing
//! lives in `bank-cli`; these take plain arguments and a writer, and return the exit code,
//! so they are tested without a process.
//!
//! Exit codes of [`pay`]: [`exit::APPROVED`] (0) only when the terminal approved;
//! [`exit::DECLINED`], [`exit::UNKNOWN`] (the card may have been charged: read the
//! terminal's receipt before trying again), [`exit::UNREACHABLE`] (nothing was sent),
//! [`exit::USAGE`] (bad arguments, nothing was sent).

use std::io::Write;
use std::time::Duration;

use bank_core::{Currency, Money};

use crate::client::{ExchangeOutcome, TerminalClient, TerminalConfig, DEFAULT_DEADLINE};
use crate::codec::escape;
use crate::protocol::{application_label, read_mode_label, Action, PaymentMethod, Request};

/// Exit codes.
pub mod exit {
    /// The terminal approved.
    pub const APPROVED: i32 = 0;
    /// The terminal declined (or the payment was cancelled on it).
    pub const DECLINED: i32 = 1;
    /// Unknown outcome: the card may have been charged.
    pub const UNKNOWN: i32 = 2;
    /// The terminal could not be reached, or was busy: nothing was sent.
    pub const UNREACHABLE: i32 = 3;
    /// Bad arguments: nothing was sent.
    pub const USAGE: i32 = 64;
    /// The emulator could not start.
    pub const SOFTWARE: i32 = 70;
}

/// Arguments of `bank terminal pay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayArgs {
    /// `--host`: the terminal's address.
    pub host: String,
    /// `--port` (8888).
    pub port: u16,
    /// `--amount`, decimal (`12.45`).
    pub amount: String,
    /// `--currency` (EUR).
    pub currency: String,
    /// `--cheque`: the cheque application (`CC=00C`).
    pub cheque: bool,
    /// `--refund`: a refund (`CD=1`) instead of a debit.
    pub refund: bool,
    /// `--pos-number` (01).
    pub pos_number: String,
    /// `--deadline` (180 s).
    pub deadline: Duration,
    /// `--verbose`: print the frames.
    pub verbose: bool,
}

impl PayArgs {
    /// A card debit of `amount` EUR on `host:port`, POS 01, 180 s.
    pub fn new(host: impl Into<String>, port: u16, amount: impl Into<String>) -> Self {
        PayArgs {
            host: host.into(),
            port,
            amount: amount.into(),
            currency: "EUR".into(),
            cheque: false,
            refund: false,
            pos_number: "01".into(),
            deadline: DEFAULT_DEADLINE,
            verbose: false,
        }
    }
}

/// `bank terminal pay`: sends the amount to the terminal, prints that it waits for the
/// card, then the result in words. Returns the exit code (0 only when approved).
pub async fn pay<W: Write + ?Sized>(args: &PayArgs, out: &mut W) -> i32 {
    let usage = |out: &mut W, msg: String| {
        let _ = writeln!(out, "error: {msg}");
        exit::USAGE
    };
    let currency = match Currency::from_code(&args.currency) {
        Ok(c) => c,
        Err(e) => return usage(out, e.to_string()),
    };
    let amount = match Money::parse(&args.amount, currency) {
        Ok(a) => a,
        Err(e) => return usage(out, e.to_string()),
    };
    let mut config = TerminalConfig::new(args.host.clone(), args.port);
    config.header.pos_number = args.pos_number.clone();
    config.deadline = args.deadline;
    config.method = if args.cheque {
        PaymentMethod::Cheque
    } else {
        PaymentMethod::Card
    };
    let client = match TerminalClient::new(config) {
        Ok(c) => c,
        Err(e) => return usage(out, e.to_string()),
    };
    let action = if args.refund {
        Action::Refund
    } else {
        Action::Debit
    };
    let request = match Request::new(
        &client.config().header,
        amount,
        action,
        client.config().method,
    ) {
        Ok(r) => r,
        Err(e) => return usage(out, e.to_string()),
    };
    let _ = writeln!(
        out,
        "Terminal {}: {} of {} by {}.",
        client.config().endpoint(),
        action.as_str(),
        amount,
        request.method().as_str()
    );
    if args.verbose {
        let _ = writeln!(out, "sent:     {}", escape(&request.encode()));
    }
    let _ = writeln!(
        out,
        "Waiting for the card on the terminal (up to {} s)...",
        args.deadline.as_secs()
    );
    let _ = out.flush();
    let exchange = match client.exchange(&request).await {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(out, "NOT SENT: {e}");
            return exit::UNREACHABLE;
        }
    };
    if args.verbose {
        let _ = writeln!(out, "received: {}", escape(&exchange.received));
    }
    let code = match &exchange.outcome {
        ExchangeOutcome::Approved(a) => {
            let mut line = format!("APPROVED: {}", a.amount);
            if let Some(auth) = &a.authorisation {
                line.push_str(&format!(", authorisation {auth}"));
            }
            if let Some(card) = &a.card {
                line.push_str(&format!(", card {card}"));
            }
            if let Some(app) = &a.application {
                line.push_str(&format!(
                    ", {}",
                    application_label(app)
                        .map_or_else(|| format!("application {app}"), str::to_string)
                ));
            }
            if let Some(mode) = a.read_mode.as_deref().and_then(read_mode_label) {
                line.push_str(&format!(" ({mode})"));
            }
            let _ = writeln!(out, "{line}.");
            exit::APPROVED
        }
        ExchangeOutcome::Declined(d) => {
            let code = d
                .code
                .as_deref()
                .map(|c| format!(" (code {c})"))
                .unwrap_or_default();
            let _ = writeln!(out, "DECLINED: {}{code}.", d.reason);
            exit::DECLINED
        }
        ExchangeOutcome::Unreachable { reason } => {
            let _ = writeln!(out, "UNREACHABLE: {reason}. Nothing was charged.");
            exit::UNREACHABLE
        }
        ExchangeOutcome::Unknown(cause) => {
            let _ = writeln!(
                out,
                "UNKNOWN OUTCOME: {cause}. The card may have been charged: read the terminal's receipt before trying again."
            );
            exit::UNKNOWN
        }
    };
    let _ = out.flush();
    code
}

#[cfg(feature = "sandbox")]
pub use sandbox::{emulate, emulate_until_ctrl_c, EmulateArgs};

#[cfg(feature = "sandbox")]
mod sandbox {
    use std::future::Future;
    use std::io::Write;
    use std::time::Duration;

    use super::exit;
    use crate::codec::escape;
    use crate::emulator::{self, Decision, EmulatorConfig, AMOUNT_RULES};

    /// Arguments of `bank terminal emulate`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EmulateArgs {
        /// `--port` on 127.0.0.1 (0: a free port, printed).
        pub port: u16,
        /// `--duration`: stop after this long (none: until Ctrl-C).
        pub duration: Option<Duration>,
        /// The emulator's behaviour (`--delay`, `--decline CODE`, quirks).
        pub config: EmulatorConfig,
    }

    impl EmulateArgs {
        /// An emulator on `port` answering after one second, deciding by amount.
        pub fn new(port: u16) -> Self {
            EmulateArgs {
                port,
                duration: None,
                config: EmulatorConfig {
                    delay: Duration::from_secs(1),
                    ..EmulatorConfig::default()
                },
            }
        }
    }

    /// `bank terminal emulate`: runs the emulator until `shutdown` resolves or the
    /// duration passes, printing each exchange. Returns the exit code.
    pub async fn emulate<W, F>(args: &EmulateArgs, out: &mut W, shutdown: F) -> i32
    where
        W: Write + ?Sized,
        F: Future<Output = ()>,
    {
        let handle = match emulator::start_on(args.port, args.config.clone()).await {
            Ok(h) => h,
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                return exit::SOFTWARE;
            }
        };
        let _ = writeln!(
            out,
            "Caisse-AP terminal emulator on {} (answers after {:?}).",
            handle.addr(),
            args.config.delay
        );
        match &args.config.decision {
            Decision::Approve => {
                let _ = writeln!(out, "Approves every payment.");
            }
            Decision::Decline(code) => {
                let _ = writeln!(out, "Declines every payment with code {code}.");
            }
            Decision::ByAmount => {
                let _ = writeln!(out, "Approves, except amounts whose cents end in:");
                for (cents, what) in AMOUNT_RULES {
                    let _ = writeln!(out, "  .{cents}  {what}");
                }
            }
        }
        let _ = writeln!(out, "Stop with Ctrl-C.");
        let _ = out.flush();
        let stop_at = args.duration.map(|d| tokio::time::Instant::now() + d);
        tokio::pin!(shutdown);
        let mut printed = 0;
        // Ends on shutdown or at the duration; each round waits for a change (bounded).
        loop {
            printed = print_new(&handle, printed, out);
            let tick = async {
                match stop_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tick => break,
                () = handle.changed(Duration::from_millis(500)) => {}
            }
        }
        let shown = print_new(&handle, printed, out);
        let n = handle.exchanges().len();
        handle.shutdown().await;
        if n > shown {
            let _ = writeln!(out, "({} request(s) still open were dropped)", n - shown);
        }
        let _ = writeln!(out, "Emulator stopped after {n} request(s).");
        0
    }

    /// Prints the finished exchanges after the first `printed`, in order; returns how many
    /// are printed in all.
    fn print_new<W: Write + ?Sized>(
        handle: &emulator::EmulatorHandle,
        printed: usize,
        out: &mut W,
    ) -> usize {
        let all = handle.exchanges();
        let mut n = printed;
        for e in all.iter().skip(printed).take_while(|e| e.finished) {
            n += 1;
            let _ = writeln!(out, "-> {}", escape(&e.request));
            match &e.answer {
                Some(a) => {
                    let _ = writeln!(out, "<- {}", escape(a));
                }
                None => {
                    let _ = writeln!(out, "<- (no answer)");
                }
            }
        }
        let _ = out.flush();
        n
    }

    /// [`emulate`] until Ctrl-C (or the duration).
    pub async fn emulate_until_ctrl_c<W: Write + ?Sized>(args: &EmulateArgs, out: &mut W) -> i32 {
        emulate(args, out, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }
}
