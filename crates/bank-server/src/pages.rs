//! Pages for payers: the payment page and the return pages. Plain server-rendered HTML, no
//! external assets, readable on a phone, escaped by `maud`.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use bank_core::{Form, HttpMethod, PaymentRequest, ReturnPage, Status};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::error::ServerError;
use crate::AppState;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:auto;padding:1rem;line-height:1.5;color:#111}\
h1{font-size:1.4rem}section{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}\
button{font-size:1rem;padding:.6rem 1rem;margin:.2rem 0;border-radius:.4rem;border:1px solid #555;background:#f3f3f3;cursor:pointer}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0;white-space:pre-line}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;font-size:.9rem}\
.status{font-weight:700}.err{color:#a00}@media(max-width:30rem){dl{grid-template-columns:1fr}}";

/// The page layout.
pub(crate) fn layout(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (PreEscaped(STYLE)) }
                }
                body { main { (body) } }
            }
        }
        .into_string(),
    )
}

fn form(f: &Form) -> Markup {
    let method = match f.method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
    };
    html! {
        form method=(method) action=(f.action) {
            @for (k, v) in &f.fields {
                input type="hidden" name=(k) value=(v);
            }
            button type="submit" { (f.submit_label) }
        }
    }
}

/// `go_on`: submit a hosted form as the page loads. Only when the payer has nothing else to
/// choose (it is the only way to pay, or they just chose it): otherwise the other choices
/// would flash by and leave with the page.
fn request(r: &PaymentRequest, go_on: bool) -> Markup {
    match r {
        PaymentRequest::Form(f) => html! {
            (form(f))
            @if f.auto_submit && go_on {
                // The button stays for browsers without script.
                script { (PreEscaped("document.currentScript.previousElementSibling.submit();")) }
            }
        },
        PaymentRequest::Redirect { url } => {
            html! { p { a href=(url) { "Continue to the payment page" } } }
        }
        PaymentRequest::Html { html } => html! { (PreEscaped(html)) },
        PaymentRequest::Instructions {
            heading,
            details,
            confirm,
        } => html! {
            h3 { (heading) }
            dl { @for (k, v) in details { dt { (k) } dd { (v) } } }
            @if let Some(f) = confirm { (form(f)) }
        },
        PaymentRequest::Choices { forms } => html! { @for f in forms { (form(f)) } },
        PaymentRequest::Terminal { .. } => {
            html! { p { "Pay at the counter on the card terminal." } }
        }
    }
}

/// `GET /`: what this service is.
pub(crate) async fn home() -> Html<String> {
    layout(
        "bank",
        html! {
            h1 { "bank payments service" }
            p { "Payment pages are at " code { "/pay/<reference>" } "; staff sign in at " a href="/admin" { "/admin" } "." }
            p { "The JSON API is described at " a href="/api/openapi.json" { "/api/openapi.json" } "." }
        },
    )
}

/// `GET /pay/{reference}`: the enabled ways to pay, in configured order.
pub(crate) async fn payment_page(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ServerError> {
    let tx = state.engine.transaction(&reference).await?;
    match tx.status {
        Status::Ok | Status::Rembourse => {
            return Ok(return_redirect(&state, &tx, ReturnPage::Ok).await)
        }
        // The payer said how they would pay (a cheque, a transfer): the waiting page.
        Status::Attente => return Ok(return_redirect(&state, &tx, ReturnPage::Attente).await),
        Status::Commande | Status::Echec | Status::Abandon => {}
    }
    let choices = state.engine.payment_choices(&reference).await?;
    let web: Vec<_> = choices
        .iter()
        .filter(|c| !matches!(c.request, PaymentRequest::Terminal { .. }))
        .collect();
    let only = web.len() == 1;
    Ok(layout(
        "Payment",
        html! {
            h1 { "Payment of " (tx.amount) }
            p { "Reference " code { (tx.reference) } }
            @if web.is_empty() { p.err { "No means of payment is available for this amount." } }
            // Terminals are for the counter's point of sale, not for payers on the web.
            @for c in &web {
                section aria-label=(c.instance.caption) {
                    h2 { (c.instance.caption) }
                    (request(&c.request, only))
                }
            }
        },
    )
    .into_response())
}

/// `POST /bank/{instance}/choose`: the payer chose an instance whose request calls the
/// provider (a Stripe Checkout Session is created now, not on every page view).
pub(crate) async fn choose(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ServerError> {
    let f = crate::auth::form_fields(&body);
    let (Some(reference), Some(token)) = (
        crate::auth::field(&f, "ref"),
        crate::auth::field(&f, "token"),
    ) else {
        return Err(ServerError::BadRequest("ref and token: required".into()));
    };
    let tx = state.engine.transaction(reference).await?;
    if !matches!(
        tx.status,
        Status::Commande | Status::Echec | Status::Abandon
    ) {
        return Ok(return_redirect(&state, &tx, page_for(tx.status)).await);
    }
    let r = state
        .engine
        .chosen_request(&instance, reference, token)
        .await?;
    Ok(match r {
        PaymentRequest::Redirect { url } => axum::response::Redirect::to(&url).into_response(),
        other => layout(
            "Payment",
            html! {
                h1 { "Payment of " (tx.amount) }
                (request(&other, true))
            },
        )
        .into_response(),
    })
}

/// The return page a payer goes to for `tx`, unless `redirige_apres_retour` says otherwise.
pub(crate) async fn return_redirect(
    state: &AppState,
    tx: &bank_core::Transaction,
    page: ReturnPage,
) -> Response {
    let default = format!(
        "/bank/retour/{}?ref={}",
        match page {
            ReturnPage::Ok => "ok",
            ReturnPage::Attente => "attente",
            ReturnPage::Echec => "echec",
        },
        tx.reference
    );
    let target = state
        .engine
        .hooks()
        .redirige_apres_retour(tx, page)
        .await
        .unwrap_or(default);
    axum::response::Redirect::to(&target).into_response()
}

/// The return page for a status.
pub(crate) fn page_for(status: Status) -> ReturnPage {
    match status {
        Status::Ok | Status::Rembourse => ReturnPage::Ok,
        Status::Attente => ReturnPage::Attente,
        Status::Commande | Status::Echec | Status::Abandon => ReturnPage::Echec,
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct RefQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// `GET /bank/retour/{ok|attente|echec}?ref=`.
pub(crate) async fn return_page(
    State(state): State<AppState>,
    Path(page): Path<String>,
    Query(q): Query<RefQuery>,
) -> Result<Html<String>, ServerError> {
    let tx = match &q.reference {
        Some(r) => Some(state.engine.transaction(r).await?),
        None => None,
    };
    let (title, text) = match page.as_str() {
        "ok" => ("Payment received", "Thank you: your payment was received."),
        "attente" => (
            "Payment pending",
            "Thank you: your payment will be recorded when it reaches us.",
        ),
        "echec" => (
            "Payment not completed",
            "The payment did not go through. You can try again.",
        ),
        _ => return Err(ServerError::NotFound("page".into())),
    };
    Ok(layout(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            @if let Some(tx) = &tx {
                p { "Reference " code { (tx.reference) } " — " (tx.amount) " — status " span.status { (tx.status) } }
                @if page == "echec" && !matches!(tx.status, Status::Ok | Status::Rembourse) {
                    p { a href={ "/pay/" (tx.reference) } { "Try again" } }
                }
            }
        },
    ))
}
