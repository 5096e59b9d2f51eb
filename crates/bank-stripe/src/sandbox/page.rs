//! The hosted checkout page and its 3-D Secure step.

use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use super::cards::LISTED;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Stripe sandbox" }
                style { "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}"
                        ".banner{background:#ffd;border:1px solid #cc9;padding:.5rem;font-size:.9rem}"
                        ".error{color:#b00;font-weight:bold}label{display:block;margin:.8rem 0 .2rem}"
                        "input{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box}"
                        "button{font-size:1.1rem;padding:.5rem 1.2rem;margin:.8rem .4rem 0 0}table{font-size:.85rem}" }
            }
            body {
                p.banner { "Local Stripe sandbox: no real payment is made." }
                (body)
            }
        }
    }
}

fn amount(session: &Value) -> String {
    let total = session["amount_total"].as_i64().unwrap_or(0);
    let cur = session["currency"]
        .as_str()
        .unwrap_or("")
        .to_ascii_uppercase();
    match bank_core::Currency::from_code(&cur)
        .ok()
        .and_then(|c| crate::amount::from_stripe(total, &cur).ok().map(|m| (c, m)))
    {
        Some((_, m)) => m.to_string(),
        None => format!("{total} {cur}"),
    }
}

/// The payment page of a session, with an error from the previous attempt.
pub(crate) fn checkout(session: &Value, error: Option<&str>) -> Markup {
    let id = session["id"].as_str().unwrap_or_default();
    let open = session["status"] == "open";
    let subscription = session["mode"] == "subscription";
    layout(
        "Pay",
        html! {
            h1 { "Pay " (amount(session)) }
            @if subscription { p { "Subscription: this amount now, then each period." } }
            @if let Some(r) = session["client_reference_id"].as_str() { p { "Order " code { (r) } } }
            @if !open {
                p.error { "This checkout session is " (session["status"].as_str().unwrap_or("closed")) "." }
            } @else {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action={ "/c/pay/" (id) } {
                    label for="card_number" { "Card number" }
                    input id="card_number" name="card_number" value="4242 4242 4242 4242" autocomplete="off";
                    label for="expiry" { "Expiry (any future date) and CVC (any 3 digits)" }
                    input id="expiry" name="expiry" value="12 / 34   123";
                    button type="submit" { "Pay" }
                    @if let Some(c) = session["cancel_url"].as_str() { a href=(c) { "Cancel" } }
                }
                form method="post" action={ "/c/pay/" (id) } {
                    label for="iban" { "Or SEPA Direct Debit: IBAN" }
                    input id="iban" name="iban" value="DE89 3704 0044 0532 0130 00" autocomplete="off";
                    button type="submit" { "Pay by SEPA debit" }
                }
                h2 { "Test numbers" }
                table { @for (n, what) in LISTED { tr { td { code { (n) } } td { (what) } } } }
            }
        },
    )
}

/// The 3-D Secure step.
pub(crate) fn three_ds(session: &Value) -> Markup {
    let id = session["id"].as_str().unwrap_or_default();
    layout(
        "3-D Secure",
        html! {
            h1 { "3-D Secure authentication" }
            p { "Your bank asks you to confirm the payment of " (amount(session)) "." }
            form method="post" action={ "/c/pay/" (id) "/3ds" } {
                button type="submit" name="action" value="complete" { "Complete authentication" }
                button type="submit" name="action" value="fail" { "Fail authentication" }
            }
        },
    )
}

/// A page with a message only.
pub(crate) fn message(title: &str, text: &str) -> Markup {
    layout(title, html! { h1 { (title) } p { (text) } })
}
