//! The terminal scenarios for every counter terminal compiled in, against its emulator.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_terminal_passes_the_terminal_scenarios() {
    let mut failures = Vec::new();
    for driver in bank_conformance::terminal_drivers() {
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
