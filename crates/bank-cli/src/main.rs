//! The `bank` command.
//!
//! Exit codes scripts can rely on: 0 success, 1 a failure while running, 2 bad usage or an
//! invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;

/// Payments for shops and associations.
#[derive(Debug, Parser)]
#[command(name = "bank", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs transactions through every offline provider on an embedded SQLite file and
    /// prints their statuses and histories.
    Demo {
        /// Directory of the SQLite file (created if missing).
        #[arg(long, default_value = "bank-data")]
        data_dir: PathBuf,
    },
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
    match command {
        Command::Demo { data_dir } => match demo::run(&data_dir).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Providers => {
            for f in bank::registry::factories() {
                let d = (f.describe)();
                println!("{} — {}", d.name, d.caption);
                for p in &d.parameters {
                    let mut flags = Vec::new();
                    if p.required {
                        flags.push("required".to_string());
                    }
                    if p.secret {
                        flags.push("secret".to_string());
                    }
                    if let Some(def) = p.default {
                        flags.push(format!("default {def:?}"));
                    }
                    println!(
                        "    {:<16} {:?}  {}  [{}]",
                        p.name,
                        p.kind,
                        p.caption,
                        flags.join(", ")
                    );
                }
            }
            let _ = bank::compiled_providers();
            ExitCode::SUCCESS
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => match load(&config) {
            Ok((cfg, registry)) => {
                for a in registry.all() {
                    let i = a.info();
                    println!(
                        "ok  {:<20} {:<10} {:<5} order {}",
                        i.id,
                        i.provider,
                        i.mode.as_str(),
                        i.order
                    );
                }
                println!(
                    "{}: {} instance(s), installation {:?}: valid",
                    config.display(),
                    cfg.instances.len(),
                    cfg.installation.id
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Migrate { config } => {
            let cfg = match load(&config) {
                Ok((cfg, _)) => cfg,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match migrate(&cfg.store_url).await {
                Ok(()) => {
                    println!(
                        "migrated {}",
                        cfg.store_url.split('@').next_back().unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn load(path: &std::path::Path) -> Result<(bank::Config, bank::Registry), bank::Error> {
    let _ = bank::compiled_providers();
    let env = bank::config::ProcessEnv;
    let cfg = bank::Config::from_file(path)?;
    let registry = bank::Registry::from_config(&cfg, &env)?;
    Ok((cfg, registry))
}

async fn migrate(url: &str) -> Result<(), bank::Error> {
    let store = bank::store_backends::open(url).await?;
    store.migrate().await
}
