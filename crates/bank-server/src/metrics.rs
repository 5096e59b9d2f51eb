//! Health and Prometheus metrics.

use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::ServerError;
use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NotificationLabels {
    pub instance: String,
    pub effect: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TxLabels {
    pub status: String,
    pub mode: String,
}

/// The service's metrics. Label values come only from the configuration and from fixed
/// lists, never from a request: a path names an instance, and an instance that is not
/// configured is counted as `unknown`, so strangers can neither add series nor break the
/// format.
pub struct Metrics {
    registry: Mutex<Registry>,
    instances: std::collections::HashSet<String>,
    pub(crate) notifications: Family<NotificationLabels, Counter>,
    pub(crate) latency: Histogram,
    transactions: Family<TxLabels, Gauge<i64, AtomicI64>>,
    backlog: Gauge<i64, AtomicI64>,
    dead: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new(instances: std::collections::HashSet<String>) -> Self {
        let mut registry = Registry::default();
        let notifications = Family::<NotificationLabels, Counter>::default();
        let latency = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        let transactions = Family::<TxLabels, Gauge<i64, AtomicI64>>::default();
        let backlog = Gauge::<i64, AtomicI64>::default();
        let dead = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "bank_notifications",
            "Notifications received, by instance and effect",
            notifications.clone(),
        );
        registry.register(
            "bank_notification_seconds",
            "Time to handle a notification",
            latency.clone(),
        );
        registry.register(
            "bank_transactions",
            "Transactions by status and instance",
            transactions.clone(),
        );
        registry.register(
            "bank_outbox_backlog",
            "Hook deliveries waiting",
            backlog.clone(),
        );
        registry.register("bank_outbox_dead", "Hook deliveries given up", dead.clone());
        Metrics {
            registry: Mutex::new(registry),
            instances: instances.into_iter().map(|i| escape_label(&i)).collect(),
            notifications,
            latency,
            transactions,
            backlog,
            dead,
        }
    }
}

impl Metrics {
    /// The label for an instance named in a request path: itself when configured,
    /// `unknown` otherwise.
    pub(crate) fn instance_label(&self, instance: &str) -> String {
        let escaped = escape_label(instance);
        if self.instances.contains(&escaped) {
            escaped
        } else {
            "unknown".into()
        }
    }
}

/// A label value as OpenMetrics writes it: backslash, double quote and line feed escaped
/// (`prometheus_client` writes values as given).
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /health`: 200 when the store answers, 503 otherwise.
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    match state.engine.store().outbox_stats().await {
        Ok(s) => axum::Json(serde_json::json!({ "status": "ok", "outbox_pending": s.pending, "outbox_dead": s.dead })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health: store unreachable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": "unavailable" }))).into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ServerError> {
    let counts = state.engine.store().counts().await?;
    let stats = state.engine.store().outbox_stats().await?;
    let m = &state.metrics;
    m.transactions.clear();
    for (status, mode, n) in counts {
        m.transactions
            .get_or_create(&TxLabels {
                status: status.as_str().into(),
                mode: escape_label(&mode.unwrap_or_default()),
            })
            .set(n);
    }
    m.backlog.set(stats.pending);
    m.dead.set(stats.dead);
    let mut out = String::new();
    {
        let reg = m.registry.lock().map_err(|_| ServerError::Unavailable)?;
        prometheus_client::encoding::text::encode(&mut out, &reg)
            .map_err(|_| ServerError::Unavailable)?;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let m = Metrics::new(["simu".to_string()].into_iter().collect());
        assert_eq!(m.instance_label("simu"), "simu");
        assert_eq!(
            m.instance_label("x\"} 1\nbank_outbox_dead{a=\"b"),
            "unknown"
        );
    }
}
