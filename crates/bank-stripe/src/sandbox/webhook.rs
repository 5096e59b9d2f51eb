//! The webhook sender: signs each delivery attempt anew (a new `t`), posts it, and retries
//! with backoff until a 2xx, a bounded number of times.

use std::sync::Arc;

use serde_json::Value;

use super::state::Delivery;
use super::{Inner, SandboxConfig};

/// Delivers `event` to the configured endpoint, if any and if its type is enabled.
pub(crate) fn deliver(inner: Arc<Inner>, config: &SandboxConfig, event: Value) {
    let Some(url) = config.webhook_url.clone() else {
        return;
    };
    let kind = event["type"].as_str().unwrap_or_default().to_string();
    if !config.enabled_events.is_empty() && !config.enabled_events.contains(&kind) {
        return;
    }
    let id = event["id"].as_str().unwrap_or_default().to_string();
    let attempts = config.delivery_attempts.max(1);
    let backoff = config.delivery_backoff;
    let rt = inner.rt.clone();
    rt.spawn(async move {
        // Stripe sends pretty-printed JSON: receivers must verify the bytes as received.
        let Ok(body) = serde_json::to_vec_pretty(&event) else {
            return;
        };
        for attempt in 1..=attempts {
            let secrets = inner.config().webhook_secrets;
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let t = super::state::now();
            let header = crate::signature::header(&refs, t, &body);
            let r = inner
                .http
                .post(&url)
                .header("Content-Type", "application/json; charset=utf-8")
                .header("Stripe-Signature", header)
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match r {
                Ok(resp) => (Some(resp.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            inner.state().deliveries.push(Delivery {
                event: id.clone(),
                kind: kind.clone(),
                attempt,
                url: url.clone(),
                status,
                error,
            });
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            if attempt < attempts {
                let wait = backoff.saturating_mul(1u32 << (attempt - 1).min(16));
                tokio::time::sleep(wait).await;
            }
        }
        tracing::warn!(event = %id, %url, "stripe sandbox: webhook not acknowledged, giving up");
    });
}
