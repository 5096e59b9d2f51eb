//! Hook delivery from the outbox: after commit, in order per transaction, at least once,
//! with a stable idempotency key, retries with exponential backoff, then parked as dead.

use std::sync::Arc;

use chrono::Duration;
use serde::Serialize;

use super::Engine;
use crate::error::Error;
use crate::hooks::{dispatch, HookCall};

/// What one delivery run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Hooks delivered.
    pub delivered: u64,
    /// Hooks that failed and will be retried.
    pub retried: u64,
    /// Hooks that failed for the last time.
    pub dead: u64,
}

/// Upper bound of claim rounds in one run, so a run always ends.
const MAX_ROUNDS: usize = 10_000;
const BATCH: u32 = 64;

impl Engine {
    /// Delivers every due hook now, in rounds, until none is due (bounded).
    ///
    /// # Errors
    /// A store error; hook failures are recorded and retried, not returned.
    pub async fn deliver_pending(&self) -> Result<DeliveryReport, Error> {
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let lease = now + Duration::seconds(self.settings.hook_lease_seconds);
            let items = self.store.claim_hooks(now, lease, BATCH).await?;
            if items.is_empty() {
                break;
            }
            for item in items {
                for index in item.next..item.hooks.len() {
                    let hook = item.hooks[index];
                    let call = HookCall {
                        hook,
                        idempotency_key: format!("{}:{}", item.key_prefix, hook),
                        transaction: item.snapshot.clone(),
                        detail: item.detail.clone(),
                        attempt: if index == item.next { item.attempt } else { 1 },
                    };
                    match dispatch(self.hooks.as_ref(), &call).await {
                        Ok(()) => {
                            let last = index + 1 == item.hooks.len();
                            self.store
                                .hook_delivered(item.id, index, last, self.clock.now())
                                .await?;
                            report.delivered += 1;
                        }
                        Err(e) => {
                            let retry_at =
                                (call.attempt < self.settings.hook_max_attempts).then(|| {
                                    let exp = call.attempt.saturating_sub(1).min(20);
                                    let delay =
                                        (self.settings.hook_retry_base_seconds << exp).min(3600);
                                    self.clock.now() + Duration::seconds(delay)
                                });
                            if retry_at.is_some() {
                                tracing::warn!(hook = %call.hook, key = %call.idempotency_key, attempt = call.attempt, error = %e, "hook failed; will retry");
                                report.retried += 1;
                            } else {
                                tracing::error!(hook = %call.hook, key = %call.idempotency_key, attempt = call.attempt, error = %e, "hook failed for the last time");
                                report.dead += 1;
                            }
                            self.store
                                .hook_failed(item.id, &e.to_string(), retry_at)
                                .await?;
                            // Later hooks of this change wait: hooks are delivered in order.
                            break;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Delivers hooks until `shutdown` resolves: at once after each committed change, and
    /// every `poll` otherwise (retries, deliveries left by a crashed process or another
    /// server).
    pub async fn run_outbox_worker(
        self: Arc<Self>,
        poll: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.deliver_pending().await {
                tracing::error!(error = %e, "outbox delivery failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}
