//! Test doubles shared by the conformance suite and the tests of other crates.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Error;
use crate::hooks::{HookCall, HookName, Hooks};

/// Hooks that record every call, and can be told to fail a hook a number of times.
#[derive(Debug, Default)]
pub struct RecordingHooks {
    calls: Mutex<Vec<HookCall>>,
    failures: Mutex<BTreeMap<&'static str, u32>>,
}

impl RecordingHooks {
    /// No calls yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `times` calls of `hook` fail.
    pub fn fail(&self, hook: HookName, times: u32) {
        self.failures.lock().unwrap().insert(hook.as_str(), times);
    }

    /// Every successful call, in order.
    pub fn calls(&self) -> Vec<HookCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Successful calls of `hook`.
    pub fn count(&self, hook: HookName) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.hook == hook)
            .count()
    }

    /// Successful calls of `hook` for `reference`.
    pub fn count_for(&self, hook: HookName, reference: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.hook == hook && c.transaction.reference == reference)
            .count()
    }

    /// Forgets the calls.
    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn record(&self, call: &HookCall) -> Result<(), Error> {
        let mut f = self.failures.lock().unwrap();
        if let Some(n) = f.get_mut(call.hook.as_str()) {
            if *n > 0 {
                *n -= 1;
                return Err(Error::hook(call.hook.as_str(), "told to fail"));
            }
        }
        self.calls.lock().unwrap().push(call.clone());
        Ok(())
    }
}

#[async_trait]
impl Hooks for RecordingHooks {
    async fn event(&self, call: &HookCall) -> Result<(), Error> {
        self.record(call)
    }
}

/// The environment variable naming what requires every suite to run (CI sets it).
pub const REQUIRED_ENV: &str = "CI";
/// Where `cargo xtask test` collects the suites that were skipped, to print them at the end.
pub const SKIPPED_DIR_ENV: &str = "BANK_SKIPPED_DIR";

/// A suite cannot run because `what` is missing. Under CI (`CI` set) that is a failure:
/// CI is never green without running a suite. Otherwise the suite is skipped, said on
/// stderr, and noted for `cargo xtask test`'s summary.
///
/// # Panics
/// When `CI` is set.
pub fn skip_suite(suite: &str, what: &str) {
    assert!(
        std::env::var_os(REQUIRED_ENV).is_none(),
        "{suite}: {what} is missing, and {REQUIRED_ENV} requires every suite to run"
    );
    eprintln!("SKIPPED ({suite}): {what}");
    if let Some(dir) = std::env::var_os(SKIPPED_DIR_ENV) {
        let dir = std::path::PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let name: String = suite
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let _ = std::fs::write(
            dir.join(format!("{name}.txt")),
            format!("{suite}: {what}\n"),
        );
    }
}

/// A transaction as the store would hand it to an acquirer: `reference`, `amount`, status
/// `commande`, nothing paid or refunded yet. Tests and benchmarks of providers start here.
pub fn transaction(
    reference: &str,
    amount: crate::money::Money,
) -> crate::transaction::Transaction {
    let now = chrono::Utc::now();
    let zero = crate::money::Money::zero(amount.currency());
    crate::transaction::Transaction {
        id: 1,
        reference: reference.to_string(),
        status: crate::status::Status::Commande,
        version: 1,
        amount,
        amount_ht: None,
        refunded: zero,
        refund_pending: zero,
        id_auteur: None,
        auteur_id: None,
        auteur: None,
        parrain: None,
        tracking_id: None,
        champs: Default::default(),
        billing: None,
        recurring: false,
        parent_reference: None,
        mode: None,
        authorisation: None,
        subscription_id: None,
        error_code: None,
        error_message: None,
        created_at: now,
        updated_at: now,
        paid_at: None,
    }
}
