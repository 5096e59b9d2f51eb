//! The acquirer against the sandbox: Checkout, test cards, webhooks, refunds with retries,
//! subscriptions.
#![cfg(feature = "sandbox")]

use crate::common;

use std::time::Duration;

use bank_core::{Acquirer, Error, Mode, Money, Outcome, PaymentRequest, Verified};
use bank_stripe::sandbox::{Fault, PayOutcome, Renewal, Sandbox, SandboxConfig, SandboxHandle};
use bank_stripe::{RetryPolicy, Settings, Stripe};
use common::*;

fn instance(sb: &SandboxHandle, extra: &[(&str, &str)]) -> Stripe {
    let opts = options(&sb.instance_options(), extra);
    let mut settings = Settings::from_options(&opts, Mode::Test).unwrap();
    settings.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    Stripe::with_settings(info(Mode::Test), settings).unwrap()
}

fn session_id(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

async fn checkout(acq: &Stripe, tx: &bank_core::Transaction) -> String {
    match acq.payment_request(tx, &ctx(tx)).await.unwrap() {
        PaymentRequest::Redirect { url } => session_id(&url),
        other => panic!("{other:?}"),
    }
}

/// The last event of `kind` about `needle`, verified by the acquirer.
async fn deliver(sb: &SandboxHandle, acq: &Stripe, kind: &str, needle: &str) -> Verified {
    let events = sb.events_about(kind, needle);
    let e = events
        .last()
        .unwrap_or_else(|| panic!("no {kind} about {needle}"));
    let (h, body) = sb
        .signed(e["id"].as_str().unwrap(), chrono::Utc::now().timestamp())
        .unwrap();
    acq.verify(&webhook(&h, body), &vctx()).await.unwrap()
}

#[tokio::test]
async fn pay_with_the_hosted_page_then_verify_the_webhook() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let r = reference();
    let t = tx(&r, 1250);
    let url = match acq.payment_request(&t, &ctx(&t)).await.unwrap() {
        PaymentRequest::Redirect { url } => url,
        other => panic!("{other:?}"),
    };
    assert!(url.starts_with(&sb.base_url()));
    // The payer's browser: the page, then the card form.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("12.50 EUR") && page.contains("card_number"),
        "{page}"
    );
    let resp = http
        .post(&url)
        .form(&[("card_number", "4242 4242 4242 4242")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let cs = session_id(&url);
    assert!(
        location.starts_with("https://shop.example/bank/stripe-test/retour?ref="),
        "{location}"
    );
    assert!(
        location.ends_with(&format!("session_id={cs}")),
        "{location}"
    );

    let v = deliver(&sb, &acq, "checkout.session.completed", &cs).await;
    assert_eq!(v.outcome, Outcome::Paid);
    assert_eq!(v.reference.as_deref(), Some(r.as_str()));
    assert_eq!(v.installation.as_deref(), Some(INSTALLATION));
    assert_eq!(v.amount, Some(t.amount));
    assert!(v.authorisation.as_deref().unwrap().starts_with("pi_"));
    assert!(v.event_id.as_deref().unwrap().starts_with("evt_"));
    assert_eq!(v.reply.status, 200);
}

#[tokio::test]
async fn a_retried_request_never_creates_a_second_session() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = tx(&reference(), 990);
    let a = checkout(&acq, &t).await;
    let b = checkout(&acq, &t).await;
    assert_eq!(a, b);
    // The answer of the first call is lost: the retry with the same key gets the saved one.
    sb.inject(Fault {
        path_prefix: "/v1/checkout/sessions".into(),
        status: 500,
        after_executing: true,
        remaining: 1,
        ..Default::default()
    });
    let t2 = tx(&reference(), 990);
    let c = checkout(&acq, &t2).await;
    assert!(sb.object(&c).is_some());
    let posts: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "POST" && p == "/v1/checkout/sessions")
        .collect();
    assert_eq!(posts.len(), 4);
    assert_eq!(
        posts[2].2, posts[3].2,
        "the retry reuses the idempotency key"
    );
}

#[tokio::test]
async fn declined_card_fails_with_the_decline_code() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let r = reference();
    let cs = checkout(&acq, &tx(&r, 1000)).await;
    for (card, code) in [
        ("4000000000000002", "generic_decline"),
        ("4000 0000 0000 9995", "insufficient_funds"),
    ] {
        assert!(matches!(
            sb.pay(&cs, card).unwrap(),
            PayOutcome::Declined { .. }
        ));
        let v = deliver(&sb, &acq, "payment_intent.payment_failed", &r).await;
        assert_eq!(v.outcome, Outcome::Failed);
        assert_eq!(v.reference.as_deref(), Some(r.as_str()));
        assert_eq!(v.error_code.as_deref(), Some(code));
    }
    // The payer tries again with a good card: paid, same PaymentIntent.
    let failed_pi = deliver(&sb, &acq, "payment_intent.payment_failed", &r)
        .await
        .authorisation;
    assert!(matches!(
        sb.pay(&cs, "4242424242424242").unwrap(),
        PayOutcome::Paid { .. }
    ));
    let v = deliver(&sb, &acq, "checkout.session.completed", &cs).await;
    assert_eq!(v.outcome, Outcome::Paid);
    assert_eq!(v.authorisation, failed_pi);
    assert!(
        sb.pay(&cs, "4242424242424242").is_err(),
        "a completed session cannot be paid again"
    );
}

#[tokio::test]
async fn three_d_secure_then_paid_or_failed() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let cs = checkout(&acq, &tx(&reference(), 1000)).await;
    assert_eq!(
        sb.pay(&cs, "4000000000003220").unwrap(),
        PayOutcome::RequiresAction
    );
    assert!(sb
        .events_about("checkout.session.completed", &cs)
        .is_empty());
    assert!(matches!(
        sb.authenticate(&cs, true).unwrap(),
        PayOutcome::Paid { .. }
    ));
    assert_eq!(
        deliver(&sb, &acq, "checkout.session.completed", &cs)
            .await
            .outcome,
        Outcome::Paid
    );

    let r = reference();
    let cs = checkout(&acq, &tx(&r, 1000)).await;
    sb.pay(&cs, "4000000000003220").unwrap();
    // Through the page's 3-D Secure step.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/c/pay/{cs}/3ds", sb.base_url());
    assert!(http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("Complete authentication"));
    let resp = http
        .post(&url)
        .form(&[("action", "fail")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 402);
    let v = deliver(&sb, &acq, "payment_intent.payment_failed", &r).await;
    assert_eq!(v.outcome, Outcome::Failed);
}

#[tokio::test]
async fn sepa_waits_then_succeeds_or_fails() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = tx(&reference(), 4200);
    let cs = checkout(&acq, &t).await;
    assert!(matches!(
        sb.pay(&cs, "DE89370400440532013000").unwrap(),
        PayOutcome::Processing { .. }
    ));
    let w = deliver(&sb, &acq, "checkout.session.completed", &cs).await;
    assert_eq!(
        (w.outcome.clone(), w.amount),
        (Outcome::Waiting, Some(t.amount))
    );
    sb.settle_async(&cs, true).unwrap();
    let p = deliver(&sb, &acq, "checkout.session.async_payment_succeeded", &cs).await;
    assert_eq!(p.outcome, Outcome::Paid);
    assert_eq!(
        p.authorisation, w.authorisation,
        "same payment, same authorisation"
    );

    let cs = checkout(&acq, &tx(&reference(), 4200)).await;
    sb.pay(&cs, "DE62370400440532013001").unwrap();
    sb.settle_async(&cs, false).unwrap();
    let f = deliver(&sb, &acq, "checkout.session.async_payment_failed", &cs).await;
    assert_eq!(f.outcome, Outcome::Failed);
}

#[tokio::test]
async fn sepa_is_collected_by_itself_when_configured() {
    let sb = Sandbox::start(SandboxConfig {
        sepa_after: Some(Duration::from_millis(10)),
        ..SandboxConfig::default()
    })
    .unwrap();
    let acq = instance(&sb, &[]);
    let cs = checkout(&acq, &tx(&reference(), 4200)).await;
    sb.pay(&cs, "DE89370400440532013000").unwrap();
    for _ in 0..200 {
        if !sb
            .events_about("checkout.session.async_payment_succeeded", &cs)
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never collected");
}

async fn paid(sb: &SandboxHandle, acq: &Stripe, minor: i64) -> bank_core::Transaction {
    let mut t = tx(&reference(), minor);
    let cs = checkout(acq, &t).await;
    sb.pay(&cs, "4242424242424242").unwrap();
    let v = deliver(sb, acq, "checkout.session.completed", &cs).await;
    t.authorisation = v.authorisation;
    t.status = bank_core::Status::Ok;
    t
}

#[tokio::test]
async fn partial_then_full_refund_with_webhooks() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    let pi = t.authorisation.clone().unwrap();
    let part = Money::from_minor(1000, t.amount.currency()).unwrap();
    let done = acq
        .refund(
            &t,
            part,
            &format!("{}:refund:v2", t.reference),
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap();
    assert!(done.provider_reference.unwrap().starts_with("re_"));
    let v = deliver(&sb, &acq, "charge.refunded", &pi).await;
    assert_eq!(v.outcome, Outcome::Refunded { total: part });
    assert_eq!(v.reference.as_deref(), Some(t.reference.as_str()));
    // Too much: a refusal, not retryable (the engine releases the reservation).
    let e = acq
        .refund(
            &t,
            t.amount,
            "k-too-much",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Provider {
                failure: bank_core::ProviderFailure::Refused
                    | bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{e:?}"
    );
    // The rest, from the dashboard: the webhook carries the cumulative total.
    sb.refund_from_dashboard(&pi, None).unwrap();
    let v = deliver(&sb, &acq, "charge.refunded", &pi).await;
    assert_eq!(v.outcome, Outcome::Refunded { total: t.amount });
}

#[tokio::test]
async fn refund_retries_reuse_the_key_and_never_refund_twice() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    let pi = t.authorisation.clone().unwrap();
    // Two server errors before Stripe executes, then the answer of the executed refund lost.
    sb.inject(Fault {
        path_prefix: "/v1/refunds".into(),
        status: 503,
        after_executing: false,
        remaining: 2,
        ..Default::default()
    });
    sb.inject(Fault {
        path_prefix: "/v1/refunds".into(),
        status: 500,
        after_executing: true,
        remaining: 1,
        ..Default::default()
    });
    let key = format!("{}:refund:v2", t.reference);
    let part = Money::from_minor(700, t.amount.currency()).unwrap();
    // Four attempts (1 + 3 retries): 503, 503, 500 after executing, then the saved answer.
    let first = acq
        .refund(
            &t,
            part,
            &key,
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap();
    let refunds: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|(_, p, _)| p == "/v1/refunds")
        .collect();
    assert_eq!(refunds.len(), 4);
    assert!(refunds
        .iter()
        .all(|(_, _, k)| k.as_deref() == Some(key.as_str())));
    // The engine retrying the same refund later gets the same refund back.
    let again = acq
        .refund(
            &t,
            part,
            &key,
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap();
    assert_eq!(again.provider_reference, first.provider_reference);
    let charged = sb.events_about("charge.refunded", &pi);
    assert_eq!(charged.len(), 1, "refunded exactly once");
    assert_eq!(charged[0]["data"]["object"]["amount_refunded"], 700);
}

#[tokio::test]
async fn server_errors_after_every_retry_leave_the_outcome_unknown() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    sb.inject(Fault {
        path_prefix: "/v1/refunds".into(),
        status: 500,
        after_executing: true,
        remaining: 10,
        ..Default::default()
    });
    let e = acq
        .refund(
            &t,
            t.amount,
            "k",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Provider {
                failure: bank_core::ProviderFailure::OutcomeUnknown
                    | bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{e:?}"
    );
    // The first attempt did refund: retries replayed it, never refunded again.
    assert_eq!(
        sb.events_about("charge.refunded", t.authorisation.as_deref().unwrap())
            .len(),
        1
    );
}

#[tokio::test]
async fn rate_limit_after_every_retry_is_a_refusal() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    sb.inject(Fault {
        path_prefix: "/v1/refunds".into(),
        status: 429,
        after_executing: false,
        remaining: 10,
        ..Default::default()
    });
    let e = acq
        .refund(
            &t,
            t.amount,
            "k",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Provider {
                failure: bank_core::ProviderFailure::Refused
                    | bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn same_key_other_parameters_is_an_idempotency_error() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    acq.refund(
        &t,
        Money::from_minor(100, t.amount.currency()).unwrap(),
        "same",
        &bank_core::OperationContext::standalone(chrono::Utc::now()),
    )
    .await
    .unwrap();
    let e = acq
        .refund(
            &t,
            Money::from_minor(200, t.amount.currency()).unwrap(),
            "same",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Provider { failure: bank_core::ProviderFailure::Refused | bank_core::ProviderFailure::Unavailable, ref message, .. } if message.contains("idempotency_error")),
        "{e:?}"
    );
}

#[tokio::test]
async fn dispute_is_a_late_failure_found_through_the_payment_intent() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    let pi = t.authorisation.clone().unwrap();
    sb.dispute(&pi).unwrap();
    let v = deliver(&sb, &acq, "charge.dispute.created", &pi).await;
    assert_eq!(v.outcome, Outcome::LateFailure);
    assert_eq!(v.reference.as_deref(), Some(t.reference.as_str()));
    assert_eq!(v.error_code.as_deref(), Some("dispute:fraudulent"));
    // The test card that is disputed after paying.
    let r = reference();
    let cs = checkout(&acq, &tx(&r, 1000)).await;
    sb.pay(&cs, "4000000000000259").unwrap();
    let pi = sb.object(&cs).unwrap()["payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let v = deliver(&sb, &acq, "charge.dispute.created", &pi).await;
    assert_eq!(v.reference.as_deref(), Some(r.as_str()));
}

#[tokio::test]
async fn subscription_first_payment_renewals_and_end() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let r = reference();
    let mut t = tx(&r, 1500);
    t.recurring = true;
    let cs = checkout(&acq, &t).await;
    let session = sb.object(&cs).unwrap();
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["amount_total"], 1500);
    sb.pay(&cs, "4242424242424242").unwrap();
    let first = deliver(&sb, &acq, "checkout.session.completed", &cs).await;
    assert_eq!(first.outcome, Outcome::Paid);
    assert_eq!(first.amount, Some(t.amount));
    let sub = first.subscription_id.clone().unwrap();
    assert!(sub.starts_with("sub_"));
    let inv = deliver(&sb, &acq, "invoice.paid", &sub).await;
    assert_eq!(inv.outcome, Outcome::Paid);
    assert_eq!(
        inv.authorisation, first.authorisation,
        "one payment, one authorisation"
    );
    assert_eq!(inv.reference.as_deref(), Some(r.as_str()));
    // A renewal: the instalment amount, the first reference.
    sb.renew(&sub, Renewal::Paid).unwrap();
    let events = sb.events_about("invoice.paid", &sub);
    let (h, body) = sb
        .signed(
            events.last().unwrap()["id"].as_str().unwrap(),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    let v = acq.verify(&webhook(&h, body), &vctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::InstalmentPaid);
    assert_eq!(v.reference.as_deref(), Some(r.as_str()));
    assert_eq!(
        v.amount,
        Some(Money::from_minor(500, t.amount.currency()).unwrap())
    );
    assert_ne!(v.authorisation, first.authorisation);
    // A failure Stripe will retry: nothing yet. The last one: the instalment failed, ended.
    sb.renew(&sub, Renewal::Failed).unwrap();
    assert_eq!(
        deliver(&sb, &acq, "invoice.payment_failed", &sub)
            .await
            .outcome,
        Outcome::Nothing
    );
    sb.renew(&sub, Renewal::FinalFailure).unwrap();
    assert_eq!(
        deliver(&sb, &acq, "invoice.payment_failed", &sub)
            .await
            .outcome,
        Outcome::InstalmentFailed
    );
    let end = deliver(&sb, &acq, "customer.subscription.deleted", &sub).await;
    assert_eq!(end.outcome, Outcome::SubscriptionEnded);
    assert_eq!(end.reference.as_deref(), Some(r.as_str()));
    // The first payment can be refunded through its invoice.
    t.authorisation = first.authorisation.clone();
    acq.refund(
        &t,
        t.amount,
        "sub-refund",
        &bank_core::OperationContext::standalone(chrono::Utc::now()),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn cancel_subscription_through_the_api() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let mut t = tx(&reference(), 500);
    t.recurring = true;
    let cs = checkout(&acq, &t).await;
    sb.pay(&cs, "4242424242424242").unwrap();
    let first = deliver(&sb, &acq, "checkout.session.completed", &cs).await;
    t.subscription_id = first.subscription_id.clone();
    let done = acq
        .cancel_subscription(
            &t,
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap();
    assert_eq!(done.provider_reference, t.subscription_id);
    let sub = t.subscription_id.unwrap();
    assert_eq!(sb.object(&sub).unwrap()["status"], "canceled");
    assert_eq!(
        deliver(&sb, &acq, "customer.subscription.deleted", &sub)
            .await
            .outcome,
        Outcome::SubscriptionEnded
    );
}

#[tokio::test]
async fn expired_session_is_an_abandon() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let cs = checkout(&acq, &tx(&reference(), 1000)).await;
    sb.expire(&cs).unwrap();
    assert_eq!(
        deliver(&sb, &acq, "checkout.session.expired", &cs)
            .await
            .outcome,
        Outcome::Cancelled
    );
}

#[tokio::test]
async fn confirm_events_reads_the_object_back() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[("confirm_events", "true")]);
    let t = tx(&reference(), 1000);
    let cs = checkout(&acq, &t).await;
    sb.pay(&cs, "DE89370400440532013000").unwrap();
    // The stale "unpaid" event, confirmed after the debit was collected: the object says paid.
    let stale = sb.events_about("checkout.session.completed", &cs);
    sb.settle_async(&cs, true).unwrap();
    let (h, body) = sb
        .signed(
            stale[0]["id"].as_str().unwrap(),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    let v = acq.verify(&webhook(&h, body), &vctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Paid);
    // An authentic event naming an object this account does not have is refused.
    let forged = serde_json::json!({"id": "evt_x", "object": "event", "type": "checkout.session.completed", "livemode": false,
        "data": {"object": {"id": "cs_test_nothere", "object": "checkout.session", "payment_status": "paid", "amount_total": 1000, "currency": "eur"}}});
    let body = serde_json::to_vec(&forged).unwrap();
    let h = bank_stripe::signature::header(
        &[bank_stripe::sandbox::SANDBOX_WEBHOOK_SECRET],
        chrono::Utc::now().timestamp(),
        &body,
    );
    let e = acq.verify(&webhook(&h, body), &vctx()).await.unwrap_err();
    assert!(matches!(e, Error::Verification { .. }), "{e:?}");
}

#[tokio::test]
async fn webhooks_are_delivered_signed_and_retried_until_acknowledged() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A receiver that answers 500 twice, then 200, and keeps what it got.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        for i in 0..10 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let mut n = 0;
            loop {
                let r = sock.read(&mut buf[n..]).await.unwrap_or(0);
                if r == 0 {
                    break;
                }
                n += r;
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if n >= end + 4 + len {
                        break;
                    }
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
            let status = if i < 2 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = sock
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    let sb = Sandbox::start(SandboxConfig {
        webhook_url: Some(format!("http://{addr}/bank/stripe-test/notify")),
        delivery_backoff: Duration::from_millis(10),
        webhook_secrets: vec!["whsec_old".into(), "whsec_new".into()],
        ..SandboxConfig::default()
    })
    .unwrap();
    let acq = instance(&sb, &[]);
    let cs = checkout(&acq, &tx(&reference(), 1000)).await;
    sb.pay(&cs, "4242424242424242").unwrap();
    let mut ok = false;
    for _ in 0..300 {
        let d = sb.deliveries();
        if d.iter().any(|x| x.status == Some(200)) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "never acknowledged: {:?}", sb.deliveries());
    let d = sb.deliveries();
    assert_eq!(
        d.iter().map(|x| x.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        d.iter().all(|x| x.kind == "checkout.session.completed"),
        "only enabled events are sent"
    );
    // What arrived verifies, with either secret of the rotation.
    let raw = got.lock().unwrap().last().unwrap().clone();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let sig = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("stripe-signature: ")
                .or_else(|| l.strip_prefix("Stripe-Signature: "))
        })
        .unwrap();
    assert_eq!(sig.matches("v1=").count(), 2);
    assert!(body.contains("\n  \""), "pretty-printed as Stripe sends");
    for secret in ["whsec_old", "whsec_new"] {
        let opts = options(
            &[
                (
                    "secret_key".into(),
                    bank_stripe::sandbox::SANDBOX_SECRET_KEY.into(),
                ),
                ("webhook_secrets".into(), secret.into()),
                ("api_base".into(), sb.base_url()),
            ],
            &[],
        );
        let other = Stripe::new(info(Mode::Test), &opts).unwrap();
        let v = other
            .verify(&webhook(sig, body.as_bytes().to_vec()), &vctx())
            .await
            .unwrap();
        assert_eq!(v.outcome, Outcome::Paid);
    }
}

#[tokio::test]
async fn api_errors_are_stripe_shaped() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/v1/payment_intents/pi_nope", sb.base_url()))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(format!("{}/v1/payment_intents/pi_nope", sb.base_url()))
        .bearer_auth(bank_stripe::sandbox::SANDBOX_SECRET_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"]["code"], "resource_missing");
    let r = http
        .post(format!("{}/v1/checkout/sessions", sb.base_url()))
        .bearer_auth(bank_stripe::sandbox::SANDBOX_SECRET_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("mode=payment")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"]["type"], "invalid_request_error");
    assert_eq!(j["error"]["param"], "success_url");
    // Control API: the events it sent.
    let j: serde_json::Value = http
        .get(format!("{}/_sandbox/events", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(j.is_array());
}

/// A subscription paid on the hosted page: the first transaction as the engine stores it
/// (authorisation: the first invoice) and the subscription.
async fn subscribed(
    sb: &SandboxHandle,
    acq: &Stripe,
    minor: i64,
) -> (bank_core::Transaction, String) {
    let mut t = tx(&reference(), minor);
    t.recurring = true;
    let cs = checkout(acq, &t).await;
    sb.pay(&cs, "4242424242424242").unwrap();
    let first = deliver(sb, acq, "checkout.session.completed", &cs).await;
    assert_eq!(first.outcome, Outcome::Paid);
    t.authorisation = first.authorisation.clone();
    t.subscription_id = first.subscription_id.clone();
    let sub = first.subscription_id.unwrap();
    (t, sub)
}

/// The PaymentIntent that paid invoice `inv`, from the sandbox's own records.
fn paid_by(sb: &SandboxHandle, inv: &str) -> String {
    sb.object(inv).unwrap()["payments"]["data"][0]["payment"]["payment_intent"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_sandbox_returns_an_invoices_payments_only_when_expanded() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let (t, _) = subscribed(&sb, &acq, 1500).await;
    let inv = t.authorisation.unwrap();
    assert!(inv.starts_with("in_"));
    let plain = acq
        .client()
        .get("t", &format!("/v1/invoices/{inv}"))
        .await
        .unwrap();
    assert_eq!(plain["id"], inv.as_str());
    assert!(plain.get("payments").is_none(), "{plain}");
    for query in ["expand%5B0%5D=payments", "expand[]=payments"] {
        let expanded = acq
            .client()
            .get("t", &format!("/v1/invoices/{inv}?{query}"))
            .await
            .unwrap();
        assert_eq!(
            bank_stripe::event::invoice_payment_intent(&expanded),
            Some(paid_by(&sb, &inv)),
            "{query}"
        );
    }
    // Events carry the invoice without its payments too.
    let paid = sb.events_about("invoice.paid", &inv);
    assert_eq!(paid.len(), 1);
    assert!(paid[0]["data"]["object"].get("payments").is_none());
    // An expanded invoice inside a session is rendered the same way.
    let session = sb.events_about("checkout.session.completed", &inv);
    let cs = session[0]["data"]["object"]["id"].as_str().unwrap();
    let s = acq
        .client()
        .get(
            "t",
            &format!("/v1/checkout/sessions/{cs}?expand%5B0%5D=invoice"),
        )
        .await
        .unwrap();
    assert_eq!(s["invoice"]["id"], inv.as_str());
    assert!(s["invoice"].get("payments").is_none());
}

#[tokio::test]
async fn refunds_of_a_subscriptions_first_payment_and_of_a_renewal() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let (t, sub) = subscribed(&sb, &acq, 1500).await;
    let first_inv = t.authorisation.clone().unwrap();
    let first_pi = paid_by(&sb, &first_inv);
    // Part of the first payment, then the rest: each refund reaches its PaymentIntent.
    let part = Money::from_minor(400, t.amount.currency()).unwrap();
    let done = acq
        .refund(
            &t,
            part,
            "sub-first-1",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap();
    assert!(done.provider_reference.unwrap().starts_with("re_"));
    let v = deliver(&sb, &acq, "charge.refunded", &first_pi).await;
    assert_eq!(v.outcome, Outcome::Refunded { total: part });
    let rest = Money::from_minor(1100, t.amount.currency()).unwrap();
    acq.refund(
        &t,
        rest,
        "sub-first-2",
        &bank_core::OperationContext::standalone(chrono::Utc::now()),
    )
    .await
    .unwrap();
    let v = deliver(&sb, &acq, "charge.refunded", &first_pi).await;
    assert_eq!(v.outcome, Outcome::Refunded { total: t.amount });
    // The invoice was read each time (with its payments: without them the sandbox, like
    // Stripe, names no PaymentIntent and the refund would have been refused).
    let reads: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "GET" && p == &format!("/v1/invoices/{first_inv}"))
        .collect();
    assert_eq!(reads.len(), 2);
    // A renewal: its own transaction, authorised by its own invoice.
    sb.renew(&sub, Renewal::Paid).unwrap();
    let renewal = deliver(&sb, &acq, "invoice.paid", &sub).await;
    assert_eq!(renewal.outcome, Outcome::InstalmentPaid);
    let renewal_inv = renewal.authorisation.clone().unwrap();
    assert_ne!(renewal_inv, first_inv);
    let mut r = tx(&reference(), 500);
    r.parent_reference = Some(t.reference.clone());
    r.authorisation = Some(renewal_inv.clone());
    acq.refund(
        &r,
        r.amount,
        "renewal-1",
        &bank_core::OperationContext::standalone(chrono::Utc::now()),
    )
    .await
    .unwrap();
    let renewal_pi = paid_by(&sb, &renewal_inv);
    assert_ne!(renewal_pi, first_pi);
    let refunded = sb.events_about("charge.refunded", &renewal_pi);
    assert_eq!(refunded.len(), 1);
    assert_eq!(refunded[0]["data"]["object"]["amount_refunded"], 500);
    assert_eq!(refunded[0]["data"]["object"]["refunded"], true);
    // A transaction that kept the session id as its authorisation: found through the
    // session's first invoice.
    let (mut s, _) = subscribed(&sb, &acq, 700).await;
    let inv = s.authorisation.clone().unwrap();
    let cs = sb.events_about("checkout.session.completed", &inv)[0]["data"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.authorisation = Some(cs);
    acq.refund(
        &s,
        s.amount,
        "via-session",
        &bank_core::OperationContext::standalone(chrono::Utc::now()),
    )
    .await
    .unwrap();
    assert_eq!(
        sb.events_about("charge.refunded", &paid_by(&sb, &inv))
            .len(),
        1
    );
    // A renewal that failed has nothing to refund: Stripe refuses, nothing happened.
    sb.renew(&sub, Renewal::Failed).unwrap();
    let failed = sb.events_about("invoice.payment_failed", &sub);
    let mut f = tx(&reference(), 500);
    f.authorisation = failed.last().unwrap()["data"]["object"]["id"]
        .as_str()
        .map(str::to_string);
    let e = acq
        .refund(
            &f,
            f.amount,
            "failed-1",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Provider {
                failure: bank_core::ProviderFailure::Refused
                    | bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{e:?}"
    );
}

/// An instance with the real retry schedule (0.5 s, doubling, at most 5 s) and a webhook
/// deadline of one second.
fn impatient(sb: &SandboxHandle, extra: &[(&str, &str)]) -> Stripe {
    let mut all = vec![
        ("max_network_retries", "10"),
        ("webhook_api_timeout_seconds", "1"),
    ];
    all.extend_from_slice(extra);
    Stripe::new(info(Mode::Test), &options(&sb.instance_options(), &all)).unwrap()
}

#[tokio::test]
async fn a_slow_api_while_handling_a_webhook_is_a_5xx_then_the_redelivery_settles() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = impatient(&sb, &[("confirm_events", "true")]);
    let t = tx(&reference(), 1000);
    let cs = checkout(&acq, &t).await;
    sb.pay(&cs, "4242424242424242").unwrap();
    // Stripe hangs on the confirmation read, far longer than the deadline.
    sb.inject(Fault {
        path_prefix: format!("/v1/checkout/sessions/{cs}"),
        status: 0,
        delay: Duration::from_secs(30),
        remaining: 1,
        ..Default::default()
    });
    let events = sb.events_about("checkout.session.completed", &cs);
    let id = events[0]["id"].as_str().unwrap();
    let (h, body) = sb.signed(id, chrono::Utc::now().timestamp()).unwrap();
    let started = std::time::Instant::now();
    let e = acq
        .verify(&webhook(&h, body.clone()), &vctx())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Not a rejection: the engine answers 5xx and Stripe redelivers.
    assert!(
        matches!(e, Error::Provider { failure: bank_core::ProviderFailure::OutcomeUnknown | bank_core::ProviderFailure::Unavailable, ref message, .. } if message.contains("within 1 s")),
        "{e:?}"
    );
    // The redelivery, Stripe answering again, settles the payment.
    let v = acq.verify(&webhook(&h, body), &vctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Paid);
    assert_eq!(v.event_id.as_deref(), Some(id));
}

#[tokio::test]
async fn a_failing_api_while_handling_a_webhook_stops_retrying_at_the_deadline() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = paid(&sb, &acq, 3000).await;
    let pi = t.authorisation.clone().unwrap();
    sb.dispute(&pi).unwrap();
    // Every read of the PaymentIntent (the dispute names no transaction) fails: ten retries
    // on the real schedule would take about 40 s.
    sb.inject(Fault {
        path_prefix: "/v1/payment_intents/".into(),
        status: 500,
        remaining: 100,
        ..Default::default()
    });
    let slow = impatient(&sb, &[]);
    let events = sb.events_about("charge.dispute.created", &pi);
    let (h, body) = sb
        .signed(
            events[0]["id"].as_str().unwrap(),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    let started = std::time::Instant::now();
    let e = slow.verify(&webhook(&h, body), &vctx()).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        matches!(
            e,
            Error::Provider {
                failure: bank_core::ProviderFailure::OutcomeUnknown
                    | bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{e:?}"
    );
    let reads = sb
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "GET" && p == &format!("/v1/payment_intents/{pi}"))
        .count();
    assert!(
        (2..=4).contains(&reads),
        "retried until the deadline: {reads}"
    );
}
