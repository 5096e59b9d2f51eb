//! HTTP routes: the button intake and postback at `/cgi-bin/webscr`, the checkout page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;

use super::state::Buyer;
use super::{lock, Inner};

type Shared = Arc<Inner>;

pub(crate) fn router(inner: Shared) -> Router {
    Router::new()
        .route("/cgi-bin/webscr", post(webscr))
        .route("/checkout/{id}", get(page))
        .route("/checkout/{id}/pay", post(pay))
        .with_state(inner)
}

fn html(title: &str, body: maud::Markup) -> Html<String> {
    Html(
        maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { (title) } }
                body style="font-family: sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem" {
                    p { strong { "PayPal sandbox (buttons)" } " — a local stand-in, no money moves." }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

/// `POST /cgi-bin/webscr`: a postback, or a button.
async fn webscr(AxState(inner): AxState<Shared>, body: Bytes) -> Response {
    if let Some(raw) = body.strip_prefix(b"cmd=_notify-validate&") {
        let ok = inner.state().sent_exactly(raw);
        return if ok { "VERIFIED" } else { "INVALID" }.into_response();
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    match intake(&inner, &fields) {
        Ok(id) => Redirect::to(&format!("/checkout/{id}")).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            html(
                "PayPal",
                maud::html! { h1 { "This button cannot be used" } p { (e) } },
            ),
        )
            .into_response(),
    }
}

/// Takes a button: decrypts and checks an encrypted one; refuses plain ones when blocked.
pub(crate) fn intake(inner: &Inner, fields: &[(String, String)]) -> Result<String, String> {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let button = match get("cmd") {
        Some("_s-xclick") => decrypt(inner, get("encrypted").ok_or("no encrypted field")?)?,
        Some("_xclick" | "_donations" | "_xclick-subscriptions") if inner.config.block_plain => {
            return Err("This merchant accepts encrypted buttons only.".into())
        }
        Some("_xclick" | "_donations" | "_xclick-subscriptions") => fields.to_vec(),
        other => return Err(format!("unknown cmd {other:?}")),
    };
    let has = |k: &str| button.iter().any(|(n, _)| n == k);
    for k in ["business", "currency_code", "notify_url"] {
        if !has(k) {
            return Err(format!("missing {k}"));
        }
    }
    let id = inner.state().open(button);
    Ok(id)
}

/// EWP as PayPal does: decrypt with PayPal's key, verify the signature with the merchant
/// certificate registered under the plaintext's `cert_id`.
fn decrypt(inner: &Inner, pem: &str) -> Result<Vec<(String, String)>, String> {
    let e = |x: openssl::error::ErrorStack| x.to_string();
    let enveloped = Pkcs7::from_pem(pem.as_bytes()).map_err(e)?;
    let signed = enveloped
        .decrypt(&inner.paypal.key, &inner.paypal.cert, Pkcs7Flags::BINARY)
        .map_err(|_| "cannot decrypt: not encrypted to this PayPal's certificate".to_string())?;
    let signed = Pkcs7::from_der(&signed).map_err(e)?;
    let certs = lock(&inner.merchant_certs).clone();
    let store = X509StoreBuilder::new().map_err(e)?.build();
    for (id, cert) in certs {
        let mut stack = Stack::new().map_err(e)?;
        stack.push(cert).map_err(e)?;
        let mut out = Vec::new();
        if signed
            .verify(
                &stack,
                &store,
                None,
                Some(&mut out),
                Pkcs7Flags::BINARY | Pkcs7Flags::NOVERIFY | Pkcs7Flags::NOINTERN,
            )
            .is_ok()
        {
            let text = String::from_utf8(out).map_err(|x| x.to_string())?;
            let mut fields: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let cert_id = fields
                .iter()
                .find(|(k, _)| k == "cert_id")
                .map(|(_, v)| v.clone());
            if cert_id.as_deref() != Some(id.as_str()) {
                return Err(
                    "the signer's certificate is not the one registered under this cert_id".into(),
                );
            }
            fields.retain(|(k, _)| k != "cert_id");
            return Ok(fields);
        }
    }
    Err("not signed by a certificate uploaded to this account".into())
}

async fn page(AxState(inner): AxState<Shared>, Path(id): Path<String>) -> Response {
    let fields = inner.state().checkout(&id).cloned();
    let Some(f) = fields else {
        return (
            StatusCode::NOT_FOUND,
            html("PayPal", maud::html! { p { "No such checkout." } }),
        )
            .into_response();
    };
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let what = if get("cmd") == "_xclick-subscriptions" {
        format!(
            "Subscribe: {} {} every period",
            get("a3"),
            get("currency_code")
        )
    } else if get("amount").is_empty() {
        format!("Donate in {}", get("currency_code"))
    } else {
        format!("Pay {} {}", get("amount"), get("currency_code"))
    };
    let typed = get("cmd") == "_donations" && get("amount").is_empty();
    html(
        "PayPal",
        maud::html! {
            h1 { (what) }
            p { (get("item_name")) " — to " (get("business")) }
            form method="post" action={ "/checkout/" (id) "/pay" } {
                @if typed {
                    p { label { "Donation amount (" (get("currency_code")) ") " input type="text" name="amount" inputmode="decimal" required; } }
                }
                fieldset {
                    legend { "Log in as a test buyer" }
                    @for (i, (email, _)) in Buyer::ALL.iter().enumerate() {
                        p { label { input type="radio" name="buyer" value=(email) checked[i == 0]; " " (email) } }
                    }
                }
                button type="submit" name="action" value="pay" { "Pay Now" }
                " "
                button type="submit" name="action" value="cancel" { "Cancel and return" }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
struct Choice {
    action: String,
    buyer: Option<String>,
    amount: Option<String>,
}

async fn pay(
    AxState(inner): AxState<Shared>,
    Path(id): Path<String>,
    Form(c): Form<Choice>,
) -> Response {
    let r = if c.action == "cancel" {
        inner
            .state()
            .checkout(&id)
            .and_then(|f| {
                f.iter()
                    .find(|(k, _)| k == "cancel_return")
                    .map(|(_, v)| v.clone())
            })
            .ok_or_else(|| "no such checkout".to_string())
    } else {
        let buyer = c
            .buyer
            .as_deref()
            .and_then(Buyer::of)
            .unwrap_or(Buyer::Pays);
        inner.state().pay(&id, buyer, c.amount.as_deref())
    };
    inner.dispatch();
    match r {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html("PayPal", maud::html! { p { (e) } }),
        )
            .into_response(),
    }
}
