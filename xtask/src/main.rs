//! `cargo xtask`: project chores written in Rust, needing only cargo (matklad's pattern).
//!
//! - `cargo xtask test`: every test of the workspace, then the conformance matrix, then
//!   which suites were skipped and why (a suite skips when its outside tool is missing,
//!   and fails instead when `CI` is set). The README's test command.
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
        Some("test") => test(&args[1..]),
        Some("conformance") => {
            let mut c = cargo();
            c.args([
                "run",
                "--quiet",
                "-p",
                "bank-e2e",
                "--bin",
                "conformance",
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
            eprintln!("usage: cargo xtask <test|conformance|bench [notify]> [args]");
            ExitCode::from(2)
        }
    }
}

/// `cargo test --workspace` (extra arguments passed on), the conformance matrix, and the
/// list of suites skipped for want of an outside tool.
fn test(rest: &[String]) -> ExitCode {
    let skipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/skipped");
    let _ = std::fs::remove_dir_all(&skipped);
    let mut t = cargo();
    t.args(["test", "--workspace"]).args(rest);
    t.env("BANK_SKIPPED_DIR", &skipped);
    let tests = run(t);
    let mut c = cargo();
    c.args(["run", "--quiet", "-p", "bank-e2e", "--bin", "conformance"]);
    let matrix = run(c);
    let mut lines: Vec<String> = std::fs::read_dir(&skipped)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|l| l.trim().to_string())
        .collect();
    lines.sort();
    lines.dedup();
    if lines.is_empty() {
        println!("skipped suites: none");
    } else {
        println!(
            "skipped suites ({}; set CI=1 to make them fail instead):",
            lines.len()
        );
        for l in &lines {
            println!("  {l}");
        }
    }
    if tests == ExitCode::SUCCESS && matrix == ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
