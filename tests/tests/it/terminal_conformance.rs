//! The terminal scenarios for every counter terminal compiled in, against its emulator.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_terminal_passes_the_terminal_scenarios() {
    // The facade's listing links every enabled provider crate, drivers included.
    assert!(!bank::registry::factories().is_empty());
    let mut failures = Vec::new();
    let drivers = bank_conformance::terminal_drivers();
    assert!(!drivers.is_empty(), "no terminal driver linked");
    for driver in drivers {
        for scenario in bank_conformance::terminal_scenarios() {
            match bank_conformance::run_terminal(driver.as_ref(), scenario).await {
                bank_conformance::Verdict::Passed => {}
                bank_conformance::Verdict::NotApplicable(why) => {
                    eprintln!(
                        "{} / {}: not applicable: {why}",
                        driver.provider(),
                        scenario.name
                    )
                }
                bank_conformance::Verdict::Failed(why) => {
                    failures.push(format!("{} / {}: {why}", driver.provider(), scenario.name))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
