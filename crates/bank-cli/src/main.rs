//! The `bank` command.
//!
//! Exit codes scripts can rely on: 0 success, 1 a failure while running (or, for
//! `verify`, a notification that failed verification), 2 an invalid configuration or
//! argument value, 64 bad usage (an unknown flag, a missing or malformed argument: what
//! `sysexits.h` calls `EX_USAGE`). `bank terminal pay` gives 2 its own meaning (unknown
//! outcome) and documents its codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod common;
mod demo;
mod serve;
mod terminal;
mod tools;
mod transactions;

/// Payments for shops and associations.
#[derive(Debug, Parser)]
#[command(name = "bank", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the payments service. With no options: an embedded SQLite file in the data
    /// directory and a demo configuration with every compiled provider; prints the URL and
    /// the admin credentials it generated.
    Serve {
        /// The configuration file (default: the demo configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory of the demo (SQLite file, installation secret).
        #[arg(long, default_value = "bank-data")]
        data_dir: PathBuf,
        /// Address to listen on (overrides the configuration).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Runs transactions through every offline provider on an embedded SQLite file and
    /// prints their statuses and histories.
    Demo {
        /// Directory of the SQLite file (created if missing).
        #[arg(long, default_value = "bank-data")]
        data_dir: PathBuf,
    },
    /// Lists, shows and exports transactions.
    Transactions {
        #[command(subcommand)]
        command: transactions::TxCommand,
    },
    /// The counter card terminal (Caisse-AP over TCP): charge an amount, or emulate one.
    Terminal {
        #[command(subcommand)]
        command: terminal::TerminalCommand,
    },
    /// Prints what an instance would send for an amount (the form, URL or instructions).
    Request(tools::RequestArgs),
    /// Decodes and checks a captured notification, without a database.
    Verify(tools::VerifyArgs),
    /// Lists the providers compiled into this binary with their parameters.
    Providers,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Staff accounts: end every session of a user (or of all users), on every server.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Stored requests that did not verify: prune old ones (see docs/ARCHITECTURE.md).
    Notifications {
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Creates or upgrades the database schema of a configuration's store.
    Migrate {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validates every instance of a configuration against its provider's description.
    Check {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Ends every session of `--user` (or of every configured user): they must sign in again.
    RevokeSessions {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Only this user (default: all).
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum NotificationsCommand {
    /// Deletes rejected requests (they changed nothing) received more than `--older-than-days`
    /// ago, and the hourly tallies of that age. Verified notifications are never deleted.
    Prune {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Keep what is younger than this many days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        older_than_days: u32,
    },
}

/// Output formats of `transactions export`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated values, one line per transaction.
    Csv,
    /// A JSON array.
    Json,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BANK_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(64),
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(cli.command))
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Serve {
            config,
            data_dir,
            listen,
        } => serve::run(config.as_deref(), &data_dir, listen).await,
        Command::Demo { data_dir } => demo::run(&data_dir).await.map_err(common::Failure::Run),
        Command::Transactions { command } => transactions::run(command).await,
        Command::Terminal { command } => terminal::run(command).await,
        Command::Request(args) => tools::request(args).await,
        Command::Verify(args) => tools::verify(args).await,
        Command::Providers => {
            common::providers();
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => common::check(&config),
        Command::Migrate { config } => common::migrate(&config).await,
        Command::Admin {
            command: AdminCommand::RevokeSessions { config, user },
        } => common::revoke_sessions(&config, user.as_deref()).await,
        Command::Notifications {
            command:
                NotificationsCommand::Prune {
                    config,
                    older_than_days,
                },
        } => common::prune(&config, older_than_days).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(common::Failure::Config(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(common::Failure::Run(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(common::Failure::Silent) => ExitCode::FAILURE,
        Err(common::Failure::Code(c)) => ExitCode::from(c),
    }
}
