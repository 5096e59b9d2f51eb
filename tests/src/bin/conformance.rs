//! `conformance`: runs every scenario for every provider linked in and prints a matrix:
//! the notification scenarios for the providers notified by payers or servers, the terminal
//! scenarios for counter terminals (each against its emulator). Exits 1 when any scenario
//! fails. Used by `cargo xtask conformance`.

use std::process::ExitCode;

use bank_conformance::{
    all_drivers, run, run_terminal, terminal_drivers, terminal_scenarios, Verdict, SCENARIOS,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    // The facade's listing links every enabled provider crate, and with it its driver.
    let linked = bank::registry::factories().len();
    let drivers = all_drivers();
    println!("{linked} providers linked");
    let terminals = terminal_drivers();
    let width = SCENARIOS
        .iter()
        .map(|s| s.name)
        .chain(terminal_scenarios().iter().map(|s| s.name))
        .map(str::len)
        .max()
        .unwrap_or(10);
    print!("{:width$}", "scenario");
    for p in drivers
        .iter()
        .map(|d| d.provider())
        .chain(terminals.iter().map(|t| t.provider()))
    {
        print!("  {p:>12}");
    }
    println!();
    let (mut passed, mut failed, mut na) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut tally = |provider: &str, scenario: &str, v: Verdict| match v {
        Verdict::Passed => {
            passed += 1;
            "pass"
        }
        Verdict::NotApplicable(_) => {
            na += 1;
            "n/a"
        }
        Verdict::Failed(why) => {
            failed += 1;
            failures.push(format!("{provider} / {scenario}: {why}"));
            "FAIL"
        }
    };
    for s in SCENARIOS {
        print!("{:width$}", s.name);
        for d in &drivers {
            let cell = tally(d.provider(), s.name, run(d.as_ref(), s).await);
            print!("  {cell:>12}");
        }
        for t in &terminals {
            let cell = tally(
                t.provider(),
                s.name,
                Verdict::NotApplicable("a terminal".into()),
            );
            print!("  {cell:>12}");
        }
        println!();
    }
    for s in terminal_scenarios() {
        print!("{:width$}", s.name);
        for d in &drivers {
            let cell = tally(
                d.provider(),
                s.name,
                Verdict::NotApplicable("not a terminal".into()),
            );
            print!("  {cell:>12}");
        }
        for t in &terminals {
            let cell = tally(t.provider(), s.name, run_terminal(t.as_ref(), s).await);
            print!("  {cell:>12}");
        }
        println!();
    }
    println!();
    for f in &failures {
        println!("FAILED {f}");
    }
    println!("conformance: {passed} passed, {failed} failed, {na} not applicable");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
