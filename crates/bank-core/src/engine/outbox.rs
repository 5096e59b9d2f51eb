//! Hook delivery from the outbox: after commit, in order per transaction, at least once,
//! with a stable idempotency key, retries with exponential backoff, then parked as dead.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::Engine;
use crate::error::Error;
use crate::hooks::{dispatch, HookCall};
use crate::store::OutboxItem;

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
/// How long a woken worker waits for more changes before claiming.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

impl Engine {
    /// Delivers every due hook now, in rounds, until none is due (bounded).
    ///
    /// # Errors
    /// A store error; hook failures are recorded and retried, not returned.
    pub async fn deliver_pending(&self) -> Result<DeliveryReport, Error> {
        let mut report = DeliveryReport::default();
        let lease = Duration::seconds(self.settings.hook_lease_seconds);
        for _ in 0..MAX_ROUNDS {
            let claimed_until = self.clock.now() + lease;
            let items = self
                .store
                .claim_hooks(self.clock.now(), claimed_until, BATCH)
                .await?;
            if items.is_empty() {
                break;
            }
            // Every row of the batch holds the claim's lease; rows later in the batch have
            // less of it left, which deliver_row checks before each hook. Rows whose hooks
            // all succeeded are marked done together: one commit per batch, not per row;
            // before the lease could run out, those done so far are marked at once (another
            // worker would deliver them again).
            let mut done = Vec::new();
            for item in &items {
                if !done.is_empty() && self.lease_too_short(claimed_until) {
                    self.store.rows_delivered(&done, self.clock.now()).await?;
                    done.clear();
                }
                if self.deliver_row(item, claimed_until, &mut report).await? {
                    done.push(item);
                }
            }
            self.store.rows_delivered(&done, self.clock.now()).await?;
        }
        Ok(report)
    }

    /// Delivers the hooks of one claimed row in order, from its cursor; stops at the first
    /// failure (later hooks of the change wait) or when the claim is lost. Returns true when
    /// every hook was delivered: the caller marks the row done.
    ///
    /// A successful hook is not recorded on its own: the row is written once, when done.
    /// Before a hook whose longest call could outlast the lease, the progress so far is
    /// written and the lease extended, so no other worker takes the row while a hook runs.
    /// A crash between hooks delivers the earlier hooks of the row again, with the same
    /// idempotency keys: at least once, as documented.
    async fn deliver_row(
        &self,
        item: &OutboxItem,
        mut leased_until: DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> Result<bool, Error> {
        let lease = Duration::seconds(self.settings.hook_lease_seconds);
        for index in item.next..item.hooks.len() {
            if self.lease_too_short(leased_until) {
                let now = self.clock.now();
                let kept = if index == item.next {
                    self.store.renew_claim(item, now + lease).await?
                } else {
                    self.store
                        .hook_delivered(item, index - 1, now + lease)
                        .await?
                };
                if !kept {
                    tracing::warn!(
                        row = item.id,
                        "outbox claim lost during delivery; another worker goes on"
                    );
                    return Ok(false);
                }
                leased_until = now + lease;
            }
            let hook = item.hooks[index];
            let call = HookCall {
                hook,
                idempotency_key: crate::hooks::idempotency_key(&item.key_prefix, hook),
                transaction: item.snapshot.clone(),
                detail: item.detail.clone(),
                attempt: if index == item.next { item.attempt } else { 1 },
            };
            match self.call_hook(&call).await {
                Ok(()) => report.delivered += 1,
                Err(e) => {
                    let retry_at = (call.attempt < self.settings.hook_max_attempts).then(|| {
                        let exp = call.attempt.saturating_sub(1).min(20);
                        let delay = (self.settings.hook_retry_base_seconds << exp).min(3600);
                        self.clock.now() + Duration::seconds(delay)
                    });
                    if retry_at.is_some() {
                        tracing::warn!(hook = %call.hook, key = %call.idempotency_key, attempt = call.attempt, error = %e, "hook failed; will retry");
                        report.retried += 1;
                    } else {
                        tracing::error!(hook = %call.hook, key = %call.idempotency_key, attempt = call.attempt, error = %e, "hook failed for the last time: parked as dead");
                        report.dead += 1;
                    }
                    self.store
                        .hook_failed(item, index, &e.to_string(), retry_at)
                        .await?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// True when a lease ending at `until` may run out during the longest hook call (its
    /// timeout, with a second of margin for the write that follows).
    fn lease_too_short(&self, until: DateTime<Utc>) -> bool {
        self.clock.now() + Duration::seconds(self.settings.hook_timeout_seconds + 1) > until
    }

    /// Calls a hook in its own task, with a timeout: a hook that panics or hangs fails
    /// like one that returns an error, and cannot stop the delivery of others.
    async fn call_hook(&self, call: &HookCall) -> Result<(), Error> {
        let hooks = self.hooks.clone();
        let owned = call.clone();
        let task = tokio::spawn(async move { dispatch(hooks.as_ref(), &owned).await });
        let abort = task.abort_handle();
        let timeout =
            std::time::Duration::from_secs(self.settings.hook_timeout_seconds.unsigned_abs());
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) if join.is_panic() => {
                Err(Error::hook(call.hook.as_str(), "the hook panicked"))
            }
            Ok(Err(join)) => Err(Error::hook(call.hook.as_str(), join.to_string())),
            Err(_) => {
                abort.abort();
                Err(Error::hook(
                    call.hook.as_str(),
                    format!("no answer within {timeout:?}"),
                ))
            }
        }
    }

    /// Makes the hooks parked as dead due again, after the host fixed what made them fail.
    ///
    /// # Errors
    /// A store error.
    pub async fn requeue_dead_hooks(&self) -> Result<u64, Error> {
        let n = self.store.requeue_dead(self.clock.now()).await?;
        if n > 0 {
            self.wake.notify_one();
        }
        Ok(n)
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
                () = self.wake.notified() => {
                    // Let the changes committing right now join this round: one claim and
                    // one completion for them all, for a few milliseconds of hook latency.
                    tokio::time::sleep(GATHER).await;
                }
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}
