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
