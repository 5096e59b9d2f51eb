//! HTTP routes of the sandbox: the API (`/v1`), the hosted page (`/c/pay`) and the
//! control API (`/_sandbox`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Value};

use super::state::{new_id, ApiError, PayOutcome, Renewal, State};
use super::{page, Inner};
use crate::form::parse_nested;

type Shared = Arc<Inner>;

pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/v1/{*rest}", any(api))
        .route("/c/pay/{cs}", get(page_get).post(page_post))
        .route("/c/pay/{cs}/3ds", get(three_ds_get).post(three_ds_post))
        .route("/_sandbox/{*rest}", any(control))
        .with_state(inner)
}

fn json_response(status: u16, body: &Value, extra: &[(&'static str, String)]) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    r
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status, &e.body(), &[("request-id", new_id("req"))])
}

fn fault_error(status: u16) -> ApiError {
    let (kind, code, message) = match status {
        429 => (
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
        ),
        409 => (
            "invalid_request_error",
            Some("lock_timeout"),
            "A concurrent request with the same idempotency key is in progress.",
        ),
        _ => (
            "api_error",
            None,
            "An unexpected error occurred (injected by the sandbox).",
        ),
    };
    ApiError {
        status,
        kind,
        code,
        decline_code: None,
        param: None,
        message: message.into(),
    }
}

fn authorised(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| k.trim() == key)
}

/// An object as the API renders it for `expand[]` in `params`: expandable ids become
/// objects (themselves rendered without their includable fields), and includable fields
/// (an invoice's `payments`) are there only when asked for, as with Stripe.
fn expand(st: &State, v: Value, params: &Value) -> Value {
    let fields: Vec<String> = match params.get("expand") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let mut v = State::render(v, &fields);
    for f in &fields {
        if let Some(id) = v.get(f).and_then(Value::as_str).map(str::to_string) {
            if let Some(o) = st.objects.get(&id) {
                v[f.as_str()] = State::render(o.clone(), &[]);
            }
        }
    }
    v
}

/// Executes one API call on the state.
fn execute(
    st: &mut State,
    method: &Method,
    path: &[&str],
    p: &Value,
    key: Option<&str>,
) -> Result<Value, ApiError> {
    let get = |st: &State, id: &str, kind: &str| st.get(id, kind).map(|v| expand(st, v, p));
    match (method.as_str(), path) {
        ("POST", ["checkout", "sessions"]) => st.create_session(p),
        ("GET", ["checkout", "sessions", id]) => get(st, id, "checkout.session"),
        ("POST", ["checkout", "sessions", id, "expire"]) => st.expire_session(id),
        ("POST", ["payment_intents"]) => st.create_payment_intent(p),
        ("GET", ["payment_intents", id]) => get(st, id, "payment_intent"),
        ("GET", ["charges", id]) => get(st, id, "charge"),
        ("POST", ["refunds"]) => st.refund(p, key),
        ("GET", ["refunds", id]) => get(st, id, "refund"),
        ("GET", ["disputes", id]) => get(st, id, "dispute"),
        ("GET", ["invoices", id]) => get(st, id, "invoice"),
        ("GET", ["subscriptions", id]) => get(st, id, "subscription"),
        ("DELETE", ["subscriptions", id]) => st.cancel_subscription(id),
        ("POST", ["customers"]) => st.create_customer(p),
        ("GET", ["customers", id]) => st.customer(id),
        ("POST", ["customers", id]) => st.update_customer(id, p),
        ("DELETE", ["customers", id]) => st.delete_customer(id),
        ("GET", ["events", id]) => st.event(id).cloned().ok_or_else(|| ApiError::missing(id)),
        ("GET", ["events"]) => {
            let data: Vec<Value> = st.events.iter().rev().take(100).cloned().collect();
            Ok(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/events" }))
        }
        _ => Err(ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: None,
            decline_code: None,
            param: None,
            message: format!(
                "Unrecognized request URL ({method}: /v1/{}). The sandbox emulates only the API subset bank-stripe uses.",
                path.join("/")
            ),
        }),
    }
}

async fn api(
    AxState(inner): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let config = inner.config();
    if !authorised(&headers, &config.secret_key) {
        return error_response(&ApiError {
            status: 401,
            kind: "invalid_request_error",
            code: None,
            decline_code: None,
            param: None,
            message: "Invalid API Key provided.".into(),
        });
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let full = uri.path().to_string();
    let path: Vec<&str> = full
        .trim_start_matches("/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let params = if method == Method::POST {
        parse_nested(&body)
    } else {
        parse_nested(query.unwrap_or_default().as_bytes())
    };
    let (fault, delay) = {
        let mut st = inner.state();
        st.requests
            .push((method.to_string(), full.clone(), key.clone()));
        st.faults
            .iter_mut()
            .find(|f| f.remaining > 0 && full.starts_with(&f.path_prefix))
            .map(|f| {
                f.remaining -= 1;
                (Some((f.status, f.after_executing)), f.delay)
            })
            .unwrap_or_default()
    };
    if !delay.is_zero() {
        // A slow API: the state is not locked meanwhile.
        tokio::time::sleep(delay).await;
    }
    // Status 0: slow only, answered normally.
    let fault = fault.filter(|(status, _)| *status != 0);
    let response = {
        let mut st = inner.state();
        if let Some((status, false)) = fault {
            return error_response(&fault_error(status));
        }
        let fingerprint = format!("{method} {full} {params}");
        let idem = key.clone().filter(|_| method == Method::POST);
        if let Some(k) = &idem {
            if let Some((fp, status, saved)) = st.idempotency.get(k) {
                if *fp != fingerprint {
                    return error_response(&ApiError {
                        status: 400,
                        kind: "idempotency_error",
                        code: None,
                        decline_code: None,
                        param: None,
                        message: format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."),
                    });
                }
                if let Some((status, true)) = fault {
                    return error_response(&fault_error(status));
                }
                return json_response(
                    *status,
                    saved,
                    &[
                        ("request-id", new_id("req")),
                        ("idempotent-replayed", "true".into()),
                        ("idempotency-key", k.clone()),
                    ],
                );
            }
        }
        let result = execute(&mut st, &method, &path, &params, idem.as_deref());
        let (status, body) = match &result {
            Ok(v) => (200, v.clone()),
            Err(e) => (e.status, e.body()),
        };
        // Stripe saves an answer once the endpoint executed: successes and server errors,
        // not validation failures.
        if let Some(k) = &idem {
            if status == 200 || status >= 500 {
                st.idempotency
                    .insert(k.clone(), (fingerprint, status, body.clone()));
            }
        }
        match fault {
            Some((status, true)) => error_response(&fault_error(status)),
            _ => {
                let mut extra = vec![("request-id", new_id("req"))];
                if let Some(k) = &idem {
                    extra.push(("idempotency-key", k.clone()));
                }
                json_response(status, &body, &extra)
            }
        }
    };
    inner.dispatch();
    response
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn query_field(query: &Option<String>, name: &str) -> Option<String> {
    form_field(query.as_deref().unwrap_or_default().as_bytes(), name)
}

async fn page_get(AxState(inner): AxState<Shared>, Path(cs): Path<String>) -> Response {
    let session = inner.state().get(&cs, "checkout.session");
    match session {
        Ok(s) => Html(page::checkout(&s, None).into_string()).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Html(page::message("Unknown session", &e.message).into_string()),
        )
            .into_response(),
    }
}

fn after_payment(inner: &Shared, cs: &str, r: Result<PayOutcome, ApiError>) -> Response {
    inner.dispatch();
    match r {
        Ok(PayOutcome::Paid { redirect } | PayOutcome::Processing { redirect }) => {
            Redirect::to(&redirect).into_response()
        }
        Ok(PayOutcome::RequiresAction) => Redirect::to(&format!("/c/pay/{cs}/3ds")).into_response(),
        Ok(PayOutcome::Declined { message, .. }) => render_error(inner, cs, &message),
        Err(e) => render_error(inner, cs, &e.message),
    }
}

fn render_error(inner: &Shared, cs: &str, message: &str) -> Response {
    match inner.state().get(cs, "checkout.session") {
        Ok(s) => (
            StatusCode::PAYMENT_REQUIRED,
            Html(page::checkout(&s, Some(message)).into_string()),
        )
            .into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Html(page::message("Unknown session", &e.message).into_string()),
        )
            .into_response(),
    }
}

async fn page_post(
    AxState(inner): AxState<Shared>,
    Path(cs): Path<String>,
    body: Bytes,
) -> Response {
    let method = form_field(&body, "card_number")
        .filter(|c| !c.trim().is_empty())
        .or_else(|| form_field(&body, "iban"))
        .unwrap_or_default();
    let r = inner.state().pay(&cs, &method);
    after_payment(&inner, &cs, r)
}

async fn three_ds_get(AxState(inner): AxState<Shared>, Path(cs): Path<String>) -> Response {
    match inner.state().get(&cs, "checkout.session") {
        Ok(s) => Html(page::three_ds(&s).into_string()).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Html(page::message("Unknown session", &e.message).into_string()),
        )
            .into_response(),
    }
}

async fn three_ds_post(
    AxState(inner): AxState<Shared>,
    Path(cs): Path<String>,
    body: Bytes,
) -> Response {
    let approve = form_field(&body, "action").as_deref() == Some("complete");
    let r = inner.state().authenticate(&cs, approve);
    after_payment(&inner, &cs, r)
}

/// `/_sandbox/…`: act as the payer, the dashboard and time; read the events.
async fn control(
    AxState(inner): AxState<Shared>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let full = uri.path().to_string();
    let path: Vec<&str> = full
        .trim_start_matches("/_sandbox/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let q = |name: &str| query_field(&query, name).or_else(|| form_field(&body, name));
    let result: Result<Value, ApiError> = {
        let mut st = inner.state();
        let ser = |o: PayOutcome| serde_json::to_value(o).unwrap_or(Value::Null);
        match (method.as_str(), path.as_slice()) {
            ("GET", ["events"]) => Ok(Value::Array(st.events.clone())),
            ("GET", ["deliveries"]) => {
                Ok(serde_json::to_value(&st.deliveries).unwrap_or(Value::Null))
            }
            ("POST", ["checkout", "sessions", cs, "pay"]) => {
                st.pay(cs, &q("card").unwrap_or_default()).map(ser)
            }
            ("POST", ["checkout", "sessions", cs, "authenticate"]) => st
                .authenticate(cs, q("result").as_deref() != Some("fail"))
                .map(ser),
            ("POST", ["checkout", "sessions", cs, "async"]) => {
                st.settle_async(cs, q("result").as_deref() != Some("failed"))
            }
            ("POST", ["checkout", "sessions", cs, "expire"]) => st.expire_session(cs),
            ("POST", ["payment_intents", pi, "refund"]) => {
                let mut p = json!({ "payment_intent": pi });
                if let Some(a) = q("amount") {
                    p["amount"] = json!(a);
                }
                st.refund(&p, None)
            }
            ("POST", ["payment_intents", pi, "dispute"]) => {
                st.dispute(pi, &q("reason").unwrap_or_else(|| "fraudulent".into()))
            }
            ("POST", ["subscriptions", sub, "renew"]) => {
                let outcome = match q("result").as_deref() {
                    Some("failed") => Renewal::Failed,
                    Some("final_failure") => Renewal::FinalFailure,
                    _ => Renewal::Paid,
                };
                st.renew(sub, outcome)
            }
            ("POST", ["webhook_endpoint"]) => {
                let url = q("url").filter(|u| !u.is_empty());
                inner
                    .config
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .webhook_url = url.clone();
                Ok(json!({ "url": url }))
            }
            _ => Err(ApiError::missing(&full)),
        }
    };
    inner.dispatch();
    match result {
        Ok(v) => json_response(200, &v, &[]),
        Err(e) => error_response(&e),
    }
}
