//! The conformance scenarios for every provider linked in: each brings its driver in its
//! own crate and registers it, so a new provider is tested here without editing this file.

use bank_conformance::{all_drivers, run, Verdict, SCENARIOS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_passes_the_scenarios() {
    // The facade's listing links every enabled provider crate, drivers included.
    let providers = bank::registry::factories();
    let drivers = all_drivers();
    let terminals: Vec<&str> = bank_conformance::terminal_drivers()
        .iter()
        .map(|t| t.provider())
        .collect();
    for p in &providers {
        assert!(
            drivers.iter().any(|d| d.provider() == p.name) || terminals.contains(&p.name),
            "{} brings no conformance driver",
            p.name
        );
    }
    let mut failures = Vec::new();
    for d in &drivers {
        for s in SCENARIOS {
            if let Verdict::Failed(why) = run(d.as_ref(), s).await {
                failures.push(format!("{} / {}: {why}", d.provider(), s.name));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
