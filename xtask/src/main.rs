//! `cargo xtask`: project chores written in Rust, needing only cargo (matklad's pattern).
//!
//! - `cargo xtask conformance`: the scenario matrix, provider by scenario; exits non-zero
//!   on any failure.
//! - `cargo xtask bench`: the settlement benchmark beside its SQL baseline (set
//!   `BANK_TEST_POSTGRES_URL` to include PostgreSQL); see docs/BENCHMARKS.md.
//! - `cargo xtask bench notify`: signed notifications over HTTP (wrk) against a release
//!   `bank serve`, beside the database's own ceiling (SQLite UPDATE loop, pgbench -N).

use std::process::{Command, ExitCode};

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(mut cmd: Command) -> ExitCode {
    eprintln!("xtask: running {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("xtask: {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("conformance") => {
            let mut c = cargo();
            c.args([
                "run",
                "--quiet",
                "-p",
                "bank-conformance",
                "--bin",
                "bank-conformance",
                "--",
            ]);
            c.args(&args[1..]);
            run(c)
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("notify") => {
            bench_notify(&args[2..])
        }
        Some("bench") => {
            let mut c = cargo();
            c.args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "bank-e2e",
                "--bin",
                "settlement-bench",
                "--",
            ]);
            c.args(&args[1..]);
            run(c)
        }
        _ => {
            eprintln!("usage: cargo xtask <conformance|bench [notify]> [args]");
            ExitCode::from(2)
        }
    }
}

/// Builds the release `bank` binary, then runs the HTTP benchmark against it.
fn bench_notify(rest: &[String]) -> ExitCode {
    let mut build = cargo();
    build.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "bank-cli",
        "--bin",
        "bank",
    ]);
    if run(build) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "bank-e2e",
        "--bin",
        "notify-bench",
        "--",
        "--bank-bin",
    ]);
    c.arg(format!("{target}/release/bank"));
    c.args(rest);
    run(c)
}
