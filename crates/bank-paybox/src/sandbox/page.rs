//! The sandbox's pages.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::{Session, TEST_CARDS};
use crate::codes;

fn layout(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) " — Paybox sandbox" }
                    style { "body{font-family:sans-serif;max-width:36em;margin:2em auto}label{display:block;margin:.5em 0}.warn{background:#fee;padding:.5em}" }
                }
                body {
                    p.warn { "Paybox sandbox: no real payment is made here." }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

/// The hosted payment page.
pub(super) fn payment(session_id: &str, s: &Session) -> Html<String> {
    let total: i64 = s.get("PBX_TOTAL").and_then(|t| t.parse().ok()).unwrap_or(0);
    let amount = format!("{}.{:02} EUR", total / 100, total % 100);
    layout(
        "Payment",
        html! {
            h1 { "Card payment" }
            p { "Amount: " strong #amount { (amount) } }
            p { "Order: " code #reference { (s.get("PBX_CMD").unwrap_or_default()) } }
            form method="post" action="/php/pay" {
                input type="hidden" name="session" value=(session_id);
                label { "Card number " input name="card" autocomplete="off" inputmode="numeric" required; }
                label { "Expiry (MMYY) " input name="expiry" value="1229"; }
                label { "Security code " input name="cvv" value="123"; }
                button type="submit" { "Pay" }
            }
            form method="post" action="/php/cancel" {
                input type="hidden" name="session" value=(session_id);
                button type="submit" { "Cancel" }
            }
            h2 { "Test cards" }
            ul {
                @for (number, code, what) in TEST_CARDS {
                    li { code { (number) } " → " (code) ": " (what) }
                }
                li { "a number failing the Luhn check → 00004" }
            }
        },
    )
}

/// The error page of a refused form (no payment, no IPN).
pub(super) fn refused(why: &str) -> Html<String> {
    layout(
        "Access refused",
        html! {
            h1 #error data-code="00006" { "Access refused" }
            p { "The payment request was refused: " (why) }
        },
    )
}

/// The result page when the form gave no return URL.
pub(super) fn result(code: &str) -> Html<String> {
    let (_, meaning) = codes::system(code);
    layout(
        "Result",
        html! {
            h1 #result data-code=(code) { "Result " (code) }
            p { (meaning) }
        },
    )
}
