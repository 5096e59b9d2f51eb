//! The `bank` command.
//!
//! Exit codes scripts can rely on: 0 success, 1 a failure while running (or, for
//! `verify`, a notification that failed verification), 2 bad usage or an invalid
//! configuration.

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
    let cli = Cli::parse();
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
