//! HTTP routes: the form intake, the payment page, the REST API, and a page that advances
//! time (SEPA presentations, instalments).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

use super::state::{get as field, TestMeans};
use super::{Inner, SANDBOX_REST_PASSWORD};

type Shared = Arc<Inner>;

pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/vads-payment/", post(intake))
        .route("/checkout/{id}", get(page))
        .route("/checkout/{id}/pay", post(pay))
        .route("/api-payment/V4/{group}/{op}", post(rest))
        .route("/sandbox", get(time_page))
        .route("/sandbox/present/{uuid}", post(present))
        .route("/sandbox/instalment/{id}", post(instalment))
        .with_state(inner)
}

fn html(title: &str, body: maud::Markup) -> Html<String> {
    Html(
        maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { (title) } }
                body style="font-family: sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem" {
                    p { strong { "PayZen sandbox" } " — a local stand-in, no money moves." }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

fn refused(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        html(
            "PayZen",
            maud::html! { h1 { "Payment form refused" } p { (reason) } },
        ),
    )
        .into_response()
}

/// `POST /vads-payment/`: the form, checked, then its page.
async fn intake(AxState(inner): AxState<Shared>, body: Bytes) -> Response {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let taken = inner.state().take(&inner.keys, fields);
    match taken {
        Ok(id) => Redirect::to(&format!("/checkout/{id}")).into_response(),
        Err(e) => refused(&e),
    }
}

async fn page(AxState(inner): AxState<Shared>, Path(id): Path<String>) -> Response {
    let Some(f) = inner.state().checkout(&id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            html("PayZen", maud::html! { p { "No such payment." } }),
        )
            .into_response();
    };
    let amount = field(&f, "vads_amount").unwrap_or("0");
    let minor: i64 = amount.parse().unwrap_or(0);
    let shown = format!("{}.{:02}", minor / 100, minor % 100);
    let cards = field(&f, "vads_payment_cards").unwrap_or("");
    let offered = |m: TestMeans| {
        let sdd = matches!(m, TestMeans::SepaCollected | TestMeans::SepaReturned);
        cards.is_empty()
            || cards
                .split(';')
                .any(|c| if sdd { c == "SDD" } else { c != "SDD" })
    };
    html(
        "PayZen",
        maud::html! {
            h1 { "Pay " (shown) " (currency " (field(&f, "vads_currency").unwrap_or("")) ")" }
            p { "Order " (field(&f, "vads_order_id").unwrap_or("")) " — " (field(&f, "vads_page_action").unwrap_or("")) }
            form method="post" action={ "/checkout/" (id) "/pay" } {
                fieldset {
                    legend { "Test means" }
                    @for (i, (label, m)) in TestMeans::ALL.iter().filter(|(_, m)| offered(*m)).enumerate() {
                        p { label { input type="radio" name="means" value=(m.code()) checked[i == 0]; " " (label) } }
                    }
                }
                button type="submit" name="action" value="pay" { "Pay" }
                " "
                button type="submit" name="action" value="cancel" { "Cancel and return to the shop" }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct Choice {
    action: String,
    means: Option<String>,
}

async fn pay(
    AxState(inner): AxState<Shared>,
    Path(id): Path<String>,
    Form(c): Form<Choice>,
) -> Response {
    let now = chrono::Utc::now();
    let r = {
        let mut s = inner.state();
        if c.action == "cancel" {
            s.abandon(&inner.keys, &id, now)
        } else {
            let means = c
                .means
                .as_deref()
                .and_then(TestMeans::of)
                .unwrap_or(TestMeans::CardApproved);
            s.pay(&inner.keys, &id, means, now)
        }
    };
    inner.dispatch();
    match r {
        Ok((_, back)) if !back.is_empty() => Redirect::to(&back).into_response(),
        Ok(_) => html("PayZen", maud::html! { p { "Done." } }).into_response(),
        Err(e) => refused(&e),
    }
}

fn answer(status: &str, answer: Value) -> Response {
    Json(json!({
        "webService": "sandbox", "version": "V4", "applicationVersion": "sandbox",
        "status": status, "answer": answer,
    }))
    .into_response()
}

fn error(code: &str, message: &str) -> Response {
    answer(
        "ERROR",
        json!({ "errorCode": code, "errorMessage": message, "detailedErrorCode": null, "detailedErrorMessage": null, "_type": "V4/WebService/WebServiceError" }),
    )
}

fn authorised(headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
    else {
        return false;
    };
    matches!(given.split_once(':'), Some((site, password))
        if site.len() == 8 && site.bytes().all(|b| b.is_ascii_digit()) && password == SANDBOX_REST_PASSWORD)
}

/// `POST /api-payment/V4/{group}/{op}`.
async fn rest(
    AxState(inner): AxState<Shared>,
    Path((group, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error("INT_902", "web-service input data validation error");
    };
    let s = |k: &str| {
        req.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let now = chrono::Utc::now();
    let keys = inner.keys.clone();
    let mut st = inner.state();
    let tx_json = |uuid: &str, p: &super::state::Payment, op: &str| {
        json!({ "uuid": uuid, "detailedStatus": p.status, "amount": p.amount, "operationType": op,
                "orderDetails": { "orderId": field(&p.form, "vads_order_id") }, "_type": "V4/PaymentTransaction" })
    };
    match (group.as_str(), op.as_str()) {
        ("Transaction", "CancelOrRefund") => {
            let uuid = s("uuid");
            let Some(p) = st.payments.get(&uuid).cloned() else {
                return error("PSP_010", "transaction not found");
            };
            let amount = req.get("amount").and_then(Value::as_i64);
            let mode = s("resolutionMode");
            let not_captured = matches!(
                p.status.as_str(),
                "AUTHORISED" | "AUTHORISED_TO_VALIDATE" | "WAITING_AUTHORISATION"
            );
            if (mode == "CANCELLATION_ONLY"
                || (mode == "AUTO"
                    && not_captured
                    && p.means != TestMeans::SepaCollected
                    && p.means != TestMeans::SepaReturned))
                && amount.is_none_or(|a| a == p.amount)
            {
                if !not_captured {
                    return error("PSP_012", "the transaction cannot be cancelled any more");
                }
                if let Some(x) = st.payments.get_mut(&uuid) {
                    x.status = "CANCELLED".into();
                }
                let p = st.payments.get(&uuid).cloned().unwrap_or(p);
                return answer("SUCCESS", tx_json(&uuid, &p, "DEBIT"));
            }
            if mode == "CANCELLATION_ONLY" {
                return error("PSP_012", "a partial cancellation is not possible here");
            }
            match st.refund(&keys, &uuid, amount, now, false) {
                Ok((credit, _)) => {
                    let c = super::state::Payment {
                        amount: amount.unwrap_or(p.amount - p.refunded),
                        status: "CAPTURED".into(),
                        ..p
                    };
                    answer("SUCCESS", tx_json(&credit, &c, "CREDIT"))
                }
                Err(e) => error("PSP_100", &e),
            }
        }
        ("Transaction", "Validate") => {
            let uuid = s("uuid");
            match st.payments.get_mut(&uuid) {
                Some(p) if p.status == "AUTHORISED_TO_VALIDATE" => {
                    p.status = "AUTHORISED".into();
                    let p = p.clone();
                    answer("SUCCESS", tx_json(&uuid, &p, "DEBIT"))
                }
                Some(p) => error(
                    "PSP_013",
                    &format!("a {} transaction cannot be validated", p.status),
                ),
                None => error("PSP_010", "transaction not found"),
            }
        }
        ("Transaction", "Get") => {
            let uuid = s("uuid");
            match st.payments.get(&uuid) {
                Some(p) => answer("SUCCESS", tx_json(&uuid, p, "DEBIT")),
                None => error("PSP_010", "transaction not found"),
            }
        }
        ("Subscription", "Cancel") => {
            let id = s("subscriptionId");
            match st.subscriptions.get_mut(&id) {
                Some(sub) if sub.token == s("paymentMethodToken") && sub.active => {
                    sub.active = false;
                    answer(
                        "SUCCESS",
                        json!({ "responseCode": 0, "responseCodeDetail": "Action successfully completed", "_type": "V4/Subscription" }),
                    )
                }
                Some(sub) if sub.token != s("paymentMethodToken") => {
                    error("PSP_030", "token not found")
                }
                _ => error("PSP_032", "subscription not found"),
            }
        }
        _ => error("INT_905", "unknown web service"),
    }
}

/// `GET /sandbox`: payments waiting for presentation and running subscriptions.
async fn time_page(AxState(inner): AxState<Shared>) -> Response {
    let st = inner.state();
    let waiting: Vec<(String, String)> = st
        .payments
        .iter()
        .filter(|(_, p)| {
            p.status == "AUTHORISED"
                && matches!(p.means, TestMeans::SepaCollected | TestMeans::SepaReturned)
        })
        .map(|(u, p)| {
            (
                u.clone(),
                field(&p.form, "vads_order_id").unwrap_or("").to_string(),
            )
        })
        .collect();
    let subs: Vec<String> = st
        .subscriptions
        .iter()
        .filter(|(_, s)| s.active)
        .map(|(id, _)| id.clone())
        .collect();
    drop(st);
    html(
        "PayZen — time",
        maud::html! {
            h1 { "What time brings" }
            h2 { "SEPA debits waiting for presentation" }
            @if waiting.is_empty() { p { "None." } }
            @for (uuid, order) in &waiting {
                form method="post" action={ "/sandbox/present/" (uuid) } {
                    button type="submit" { "Present the debit of order " (order) }
                }
            }
            h2 { "Subscriptions" }
            @if subs.is_empty() { p { "None." } }
            @for id in &subs {
                form method="post" action={ "/sandbox/instalment/" (id) } {
                    input type="hidden" name="paid" value="true";
                    button type="submit" { "Next instalment of " (id) }
                }
            }
        },
    )
    .into_response()
}

async fn present(AxState(inner): AxState<Shared>, Path(uuid): Path<String>) -> Response {
    let r = inner
        .state()
        .present(&inner.keys, &uuid, chrono::Utc::now());
    inner.dispatch();
    match r {
        Ok(_) => Redirect::to("/sandbox").into_response(),
        Err(e) => refused(&e),
    }
}

#[derive(serde::Deserialize)]
struct Paid {
    paid: Option<String>,
}

async fn instalment(
    AxState(inner): AxState<Shared>,
    Path(id): Path<String>,
    Form(p): Form<Paid>,
) -> Response {
    let paid = p.paid.as_deref() != Some("false");
    let r = inner
        .state()
        .instalment(&inner.keys, &id, paid, chrono::Utc::now());
    inner.dispatch();
    match r {
        Ok(_) => Redirect::to("/sandbox").into_response(),
        Err(e) => refused(&e),
    }
}
