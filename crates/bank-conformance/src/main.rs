//! `bank-conformance`: runs every scenario for every compiled provider and prints a matrix.
//! Exits 1 when any scenario fails. Used by `cargo xtask conformance`.

use std::process::ExitCode;

use bank_conformance::{all_drivers, run, Verdict, SCENARIOS};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let drivers = all_drivers();
    let width = SCENARIOS.iter().map(|s| s.name.len()).max().unwrap_or(10);
    print!("{:width$}", "scenario");
    for d in &drivers {
        print!("  {:>9}", d.provider());
    }
    println!();
    let (mut passed, mut failed, mut na) = (0, 0, 0);
    let mut failures = Vec::new();
    for s in SCENARIOS {
        print!("{:width$}", s.name);
        for d in &drivers {
            let cell = match run(d.as_ref(), s).await {
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
                    failures.push(format!("{} / {}: {why}", d.provider(), s.name));
                    "FAIL"
                }
            };
            print!("  {cell:>9}");
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
