//! # bank-conformance
//!
//! The scenario suite every provider must pass. A [`Driver`] tells the suite how to act as
//! the payer and the provider for one provider (for hosted providers: through its local
//! sandbox); the suite then runs each [`Scenario`] that the provider's declared
//! [`bank_core::Capabilities`] call for, against a real engine and store. A scenario that
//! does not apply is reported as such, never as passed.
//!
//! A provider brings its driver in its own crate, behind its `conformance` feature, and
//! registers it ([`DriverFactory`], [`TerminalDriverFactory`]); the matrix and the tests
//! iterate over what is linked. Run it with `cargo xtask conformance` (a matrix, provider
//! by scenario), or per provider as ordinary tests with [`conformance_tests!`].

#![forbid(unsafe_code)]

pub mod drivers;
mod harness;
mod scenarios;
pub mod terminal;

pub use drivers::{Driver, OwnFormDriver, PayerAction};
pub use harness::Harness;
pub use scenarios::{run, Scenario, Verdict, SCENARIOS};
pub use terminal::{
    run_terminal, terminal_drivers, terminal_scenarios, TerminalAmounts, TerminalDriver,
    TerminalDriverFactory, TerminalScenario,
};

/// What a provider submits to `inventory` (behind its `conformance` feature): how the
/// suite drives it. A provider brings its driver with its crate, like its sandbox.
#[derive(Debug)]
pub struct DriverFactory {
    /// Provider name.
    pub provider: &'static str,
    /// Column of the matrix (offline means first, then hosted providers).
    pub order: i32,
    /// Its driver.
    pub driver: fn() -> Box<dyn Driver>,
}

inventory::collect!(DriverFactory);

/// Every driver linked in, one per provider, in matrix order.
pub fn all_drivers() -> Vec<Box<dyn Driver>> {
    let mut v: Vec<_> = inventory::iter::<DriverFactory>.into_iter().collect();
    v.sort_by_key(|f| (f.order, f.provider));
    v.into_iter().map(|f| (f.driver)()).collect()
}

/// The driver of `provider`, if linked in.
pub fn driver(provider: &str) -> Option<Box<dyn Driver>> {
    inventory::iter::<DriverFactory>
        .into_iter()
        .find(|f| f.provider == provider)
        .map(|f| (f.driver)())
}

/// Re-exported for providers registering a driver with the same `inventory` version.
pub use inventory;

/// Generates one `#[tokio::test]` per scenario for a driver (ripgrep's `rgtest!` idea:
/// the same bodies, once per backend).
///
/// ```ignore
/// bank_conformance::conformance_tests!(cheque, bank_conformance::drivers::cheque());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident, $driver:expr) => {
        mod $module {
            $crate::conformance_tests!(@each $driver;
                paid, waiting_then_paid, refused, abandoned, zero_amount_rule, duplicate_settlement,
                concurrent_settlement, foreign_reference, unknown_reference, amount_mismatch,
                tampered_notification, refund_full, refund_partial, late_failure, hook_retry);
        }
    };
    (@each $driver:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let driver = $driver;
                let driver: &dyn $crate::Driver = &driver;
                let scenario = $crate::SCENARIOS
                    .iter()
                    .find(|s| s.name == stringify!($name))
                    .expect("scenario exists");
                match $crate::run(driver, scenario).await {
                    $crate::Verdict::Passed => {}
                    $crate::Verdict::NotApplicable(why) => {
                        eprintln!("{} / {}: not applicable: {why}", driver.provider(), scenario.name)
                    }
                    $crate::Verdict::Failed(why) => panic!("{} / {} failed: {why}", driver.provider(), scenario.name),
                }
            }
        )*
    };
}
