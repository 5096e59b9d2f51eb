//! HTTP routes of the sandbox: OAuth, the API (`/v1`, `/v2`), certificates, the
//! postback, and the approval pages.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Form, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use super::state::{new_id, Answer, ApiError, Buyer, State};
use super::{lock, Inner, SANDBOX_CLIENT_ID, SANDBOX_SECRET};

type Shared = Arc<Inner>;

pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/v1/oauth2/token", post(token))
        .route("/v1/notifications/certs/{id}", get(cert))
        .route("/v1/{*rest}", any(api))
        .route("/v2/{*rest}", any(api))
        .route("/checkoutnow", get(order_page).post(order_choice))
        .route(
            "/webapps/billing/subscriptions",
            get(subscription_page).post(subscription_choice),
        )
        .with_state(inner)
}

fn json_response(status: u16, body: &Value) -> Response {
    if status == 204 {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&new_id(13).to_lowercase()) {
        r.headers_mut().insert("paypal-debug-id", v);
    }
    r
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status, &e.body())
}

async fn token(AxState(inner): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    inner.state().token_requests += 1;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let grant = url::form_urlencoded::parse(&body)
        .any(|(k, v)| k == "grant_type" && v == "client_credentials");
    if basic.as_deref() != Some(&format!("{SANDBOX_CLIENT_ID}:{SANDBOX_SECRET}")) || !grant {
        return json_response(
            401,
            &json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
        );
    }
    let lifetime = inner.config().token_lifetime;
    let token = format!("A21AA{}", new_id(40));
    let mut tokens = lock(&inner.tokens);
    let now = Instant::now();
    tokens.retain(|_, exp| *exp > now);
    tokens.insert(token.clone(), now + lifetime);
    json_response(
        200,
        &json!({
            "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/applications/verify-webhook-signature",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": lifetime.as_secs(),
            "nonce": format!("{}-{}", super::state::now_text(), new_id(12)),
        }),
    )
}

async fn cert(AxState(inner): AxState<Shared>, Path(id): Path<String>) -> Response {
    inner.state().certificate_fetches += 1;
    if *lock(&inner.cert_id) != id {
        return error_response(&ApiError {
            status: 404,
            name: "RESOURCE_NOT_FOUND",
            issue: None,
            message: "no such certificate".into(),
        });
    }
    let pem = lock(&inner.chain).served_pem();
    ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response()
}

fn authorised(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    lock(&inner.tokens)
        .get(t)
        .is_some_and(|exp| *exp > Instant::now())
}

async fn api(
    AxState(inner): AxState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&inner, &headers) {
        return error_response(&ApiError {
            status: 401,
            name: "AUTHENTICATION_FAILURE",
            issue: None,
            message: "Authentication failed due to invalid authentication credentials or a missing Authorization header.".into(),
        });
    }
    let path = uri.path().to_string();
    let request_id = headers
        .get("paypal-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if request_id
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.len() > 108)
    {
        return error_response(&ApiError {
            status: 400,
            name: "INVALID_REQUEST",
            issue: Some("INVALID_STRING_LENGTH"),
            message: "PayPal-Request-Id".into(),
        });
    }
    if path == "/v1/notifications/verify-webhook-signature" && method == Method::POST {
        return json_response(
            200,
            &json!({ "verification_status": inner.postback(&body) }),
        );
    }
    let req: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return error_response(&ApiError {
                    status: 400,
                    name: "INVALID_REQUEST",
                    issue: Some("MALFORMED_REQUEST_JSON"),
                    message: "The request JSON is not well formed.".into(),
                })
            }
        }
    };
    let fault = {
        let mut st = inner.state();
        st.requests
            .push((method.to_string(), path.clone(), request_id.clone()));
        let hit = st
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.starts_with(&f.path_prefix));
        hit.map(|f| {
            f.remaining -= 1;
            f.clone()
        })
    };
    if let Some(f) = &fault {
        if !f.after_executing {
            return fault_response(f.status);
        }
    }
    let answer = {
        let mut st = inner.state();
        let a = match st.replay(&path, request_id.as_deref()) {
            Some(a) => a,
            None => route(&mut st, &method, &path, &req, request_id.as_deref()),
        };
        drop(st);
        a
    };
    inner.dispatch();
    if let Some(f) = fault {
        return fault_response(f.status);
    }
    match answer {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => error_response(&e),
    }
}

fn fault_response(status: u16) -> Response {
    if status == 0 {
        // The connection "drops": an answer that is not PayPal's JSON.
        return (StatusCode::BAD_GATEWAY, "upstream connection reset").into_response();
    }
    json_response(
        status,
        &json!({
            "name": if status == 429 { "RATE_LIMIT_REACHED" } else { "INTERNAL_SERVER_ERROR" },
            "message": "An internal server error occurred.",
            "debug_id": new_id(13).to_lowercase(),
        }),
    )
}

fn route(st: &mut State, method: &Method, path: &str, req: &Value, rid: Option<&str>) -> Answer {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let made = |st: &mut State, kind: &str, a: Answer| -> Answer {
        if let Ok((_, v)) = &a {
            if let Some(id) = v.get("id").and_then(Value::as_str) {
                st.remember(path, rid, kind, id);
            }
        }
        a
    };
    match (method.as_str(), seg.as_slice()) {
        ("POST", ["v2", "checkout", "orders"]) => {
            let a = st.create_order(req);
            made(st, "order", a)
        }
        ("GET", ["v2", "checkout", "orders", id]) => st.order_json(id).map(|v| (200, v)),
        ("POST", ["v2", "checkout", "orders", id, verb @ ("capture" | "authorize")]) => {
            let a = st.complete_order(id, verb);
            if a.is_ok() {
                st.remember(path, rid, "order", id);
            }
            a
        }
        ("GET", ["v2", "payments", kind @ ("captures" | "authorizations"), id]) => {
            st.get_payment(id, kind)
        }
        ("POST", ["v2", "payments", "captures", id, "refund"]) => {
            let a = st.refund(id, req);
            made(st, "refund", a)
        }
        ("GET", ["v2", "payments", "refunds", id]) => st.get_refund(id),
        ("POST", ["v2", "payments", "authorizations", id, "capture"]) => {
            let a = st.capture_authorization(id, req);
            made(st, "payment", a)
        }
        ("POST", ["v2", "payments", "authorizations", id, "void"]) => {
            let a = st.void_authorization(id);
            if a.is_ok() {
                st.remember(path, rid, "void", id);
            }
            a
        }
        ("POST", ["v1", "catalogs", "products"]) => {
            let a = st.create_product(req);
            made(st, "product", a)
        }
        ("POST", ["v1", "billing", "plans"]) => {
            let a = st.create_plan(req);
            made(st, "plan", a)
        }
        ("POST", ["v1", "billing", "subscriptions"]) => {
            let a = st.create_subscription(req);
            made(st, "subscription", a)
        }
        ("GET", ["v1", "billing", "subscriptions", id]) => {
            st.subscription_json(id).map(|v| (200, v))
        }
        ("GET", ["v1", "billing", "subscriptions", id, "transactions"]) => {
            st.subscription_transactions(id)
        }
        ("POST", ["v1", "billing", "subscriptions", id, "cancel"]) => {
            st.cancel_subscription(id, req)
        }
        _ => Err(ApiError {
            status: 404,
            name: "NOT_FOUND",
            issue: None,
            message: format!("{method} {path} is not part of this sandbox"),
        }),
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
    ba_token: Option<String>,
}

fn page(title: &str, body: maud::Markup) -> Html<String> {
    Html(
        maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { (title) } }
                body style="font-family: sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem" {
                    p { strong { "PayPal sandbox" } " — a local stand-in, no money moves." }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

async fn order_page(AxState(inner): AxState<Shared>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let found = inner.state().approvable(&token);
    match found {
        Ok((amount, custom)) => page(
            "Pay with PayPal",
            maud::html! {
                h1 { "Pay " (amount.json()["value"].as_str().unwrap_or("")) " " (amount.currency) }
                @if let Some(c) = custom { p { "Order " (c) } }
                form method="post" action="/checkoutnow" {
                    input type="hidden" name="token" value=(token);
                    fieldset {
                        legend { "Log in as a test buyer" }
                        @for (i, (email, _)) in Buyer::ALL.iter().enumerate() {
                            p { label { input type="radio" name="buyer" value=(email) checked[i == 0]; " " (email) } }
                        }
                    }
                    button type="submit" name="action" value="approve" { "Pay Now" }
                    " "
                    button type="submit" name="action" value="cancel" { "Cancel and return" }
                }
            },
        )
        .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, page("PayPal", maud::html! { p { (e.message) } })).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Choice {
    token: String,
    action: String,
    buyer: Option<String>,
}

async fn order_choice(AxState(inner): AxState<Shared>, Form(c): Form<Choice>) -> Response {
    let r = {
        let mut st = inner.state();
        if c.action == "cancel" {
            st.cancel_approval(&c.token)
        } else {
            let buyer = c
                .buyer
                .as_deref()
                .and_then(Buyer::of)
                .unwrap_or(Buyer::Pays);
            st.approve(&c.token, buyer)
        }
    };
    inner.dispatch();
    match r {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page("PayPal", maud::html! { p { (e.message) } }),
        )
            .into_response(),
    }
}

async fn subscription_page(
    AxState(inner): AxState<Shared>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.ba_token.unwrap_or_default();
    let found = inner
        .state()
        .subscription_by_token(&token)
        .map(|s| s.token.clone());
    match found {
        Some(t) => page(
            "Subscribe with PayPal",
            maud::html! {
                h1 { "Agree and subscribe" }
                form method="post" action="/webapps/billing/subscriptions" {
                    input type="hidden" name="token" value=(t);
                    button type="submit" name="action" value="approve" { "Agree & Subscribe" }
                    " "
                    button type="submit" name="action" value="cancel" { "Cancel and return" }
                }
            },
        )
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            page("PayPal", maud::html! { p { "No such subscription." } }),
        )
            .into_response(),
    }
}

async fn subscription_choice(AxState(inner): AxState<Shared>, Form(c): Form<Choice>) -> Response {
    let r = {
        let mut st = inner.state();
        let id = st.subscription_by_token(&c.token).map(|s| s.id_for_page());
        match id {
            None => Err(ApiError {
                status: 404,
                name: "RESOURCE_NOT_FOUND",
                issue: None,
                message: "No such subscription.".into(),
            }),
            Some(id) if c.action == "cancel" => {
                Ok(st.subscription_cancel_url(&id).unwrap_or_default())
            }
            Some(id) => st.approve_subscription(&id),
        }
    };
    inner.dispatch();
    match r {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page("PayPal", maud::html! { p { (e.message) } }),
        )
            .into_response(),
    }
}
