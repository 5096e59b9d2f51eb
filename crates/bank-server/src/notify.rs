//! Per-instance endpoints: our own forms, browser returns, server notifications.

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bank_core::{Channel, Effect, HttpMethod, Notification, NotificationResult};

use crate::error::ServerError;
use crate::metrics::NotificationLabels;
use crate::pages::{layout, page_for, return_redirect};
use crate::AppState;

fn notification(
    channel: Channel,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Bytes,
    state: &AppState,
    conn: &Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Notification {
    let mut n = Notification::new(
        channel,
        if method == Method::GET {
            HttpMethod::Get
        } else {
            HttpMethod::Post
        },
        state.engine.now(),
    );
    n.headers = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    n.query = query.unwrap_or_default();
    n.body = body.to_vec();
    n.peer = crate::edge::client_address(
        crate::admin::peer(conn),
        headers,
        &state.settings.trusted_proxies,
    );
    n
}

async fn handle(
    state: &AppState,
    instance: &str,
    n: Notification,
) -> Result<NotificationResult, bank_core::Error> {
    let start = std::time::Instant::now();
    let r = state.engine.handle_notification(instance, n).await;
    state.metrics.latency.observe(start.elapsed().as_secs_f64());
    let effect = match &r {
        Ok(r) => serde_json::to_value(&r.effect)
            .ok()
            .and_then(|v| v.get("effect").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default(),
        Err(_) => "error".into(),
    };
    state
        .metrics
        .notifications
        .get_or_create(&NotificationLabels {
            instance: state.metrics.instance_label(instance),
            effect,
        })
        .inc();
    r
}

/// `POST /bank/{instance}/action`: a payer pressed one of our own buttons.
pub(crate) async fn action(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ServerError> {
    let n = notification(
        Channel::Browser,
        &method,
        &headers,
        query,
        body,
        &state,
        &conn,
    );
    let r = handle(&state, &instance, n).await?;
    after_browser(&state, r).await
}

/// `GET|POST /bank/{instance}/retour` and `/cancel`: the payer's browser comes back.
pub(crate) async fn browser_return(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ServerError> {
    let reference = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "ref")
        .map(|(_, v)| v.into_owned());
    let n = notification(
        Channel::Browser,
        &method,
        &headers,
        query,
        body,
        &state,
        &conn,
    );
    let r = handle(&state, &instance, n).await?;
    if r.reference.is_none() {
        // The return carried nothing verifiable: show the page for the stored status.
        if let Some(reference) = reference {
            let tx = state.engine.transaction(&reference).await?;
            return Ok(return_redirect(&state, &tx, page_for(tx.status)).await);
        }
    }
    after_browser(&state, r).await
}

async fn after_browser(state: &AppState, r: NotificationResult) -> Result<Response, ServerError> {
    if let Effect::Rejected { reason } = &r.effect {
        tracing::warn!(%reason, "browser post rejected");
        let page = layout(
            "Request refused",
            maud::html! { h1 { "Request refused" } p { "This payment request is not valid. Go back and try again." } },
        );
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    match r.reference {
        Some(reference) => {
            let tx = state.engine.transaction(&reference).await?;
            Ok(return_redirect(state, &tx, page_for(tx.status)).await)
        }
        None => Err(ServerError::NotFound("transaction".into())),
    }
}

/// `GET|POST /bank/{instance}/notify`: server to server. The reply is exactly what the
/// provider expects; only our own failure answers 503 (the provider retries).
pub(crate) async fn server_notification(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    conn: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let n = notification(
        Channel::Server,
        &method,
        &headers,
        query,
        body,
        &state,
        &conn,
    );
    if state.engine.registry().get(&instance).is_none() {
        // A copy of another installation, or an instance removed from the configuration:
        // acknowledge so the provider stops; the engine keeps it within its budget.
        state
            .metrics
            .notifications
            .get_or_create(&NotificationLabels {
                instance: "unknown".into(),
                effect: "unknown_instance".into(),
            })
            .inc();
        return match state.engine.record_unknown_instance(&instance, &n).await {
            Ok(()) => (StatusCode::OK, "").into_response(),
            Err(e) => {
                tracing::error!(error = %e, "could not store the notification");
                ServerError::Unavailable.into_response()
            }
        };
    }
    match handle(&state, &instance, n).await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.reply.status).unwrap_or(StatusCode::OK);
            (
                status,
                [(axum::http::header::CONTENT_TYPE, r.reply.content_type)],
                r.reply.body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(instance, error = %e, "notification not processed: the provider will retry");
            ServerError::Unavailable.into_response()
        }
    }
}
