//! Options, amounts, and what each event means, on fixtures in Stripe's shapes.

use crate::common;

use bank_core::{
    Acquirer, Channel, Currency, Error, HttpMethod, Mode, Money, Notification, Outcome,
};
use bank_stripe::amount::{from_stripe, to_stripe};
use bank_stripe::event::{decode, Event};
use bank_stripe::{Settings, Stripe, StripeError};
use common::*;
use serde_json::json;

const SECRET: &str = "whsec_fixture_secret";

fn opts(key: &str, extra: &[(&str, &str)]) -> bank_core::Options {
    let base = vec![
        ("secret_key".to_string(), key.to_string()),
        ("webhook_secrets".to_string(), SECRET.to_string()),
    ];
    options(&base, extra)
}

fn acq(mode: Mode) -> Stripe {
    let key = if mode == Mode::Live {
        "sk_live_x"
    } else {
        "sk_test_x"
    };
    Stripe::new(info(mode), &opts(key, &[])).unwrap()
}

fn signed(event: &serde_json::Value, t: i64) -> Notification {
    let body = serde_json::to_vec_pretty(event).unwrap();
    webhook(&bank_stripe::signature::header(&[SECRET], t, &body), body)
}

fn ev(kind: &str, object: serde_json::Value) -> serde_json::Value {
    json!({"id": "evt_1", "object": "event", "type": kind, "livemode": false, "created": 1, "data": {"object": object}})
}

#[test]
fn live_refuses_a_local_api_and_no_signature_age_check() {
    let reason = |extra: &[(&str, &str)]| match Settings::from_options(
        &opts("sk_live_abc", extra),
        Mode::Live,
    ) {
        Err(StripeError::Config { option, reason }) => format!("{option}: {reason}"),
        Ok(_) => "accepted".into(),
        Err(e) => e.to_string(),
    };
    assert!(reason(&[("api_base", "https://127.0.0.1:12111")]).starts_with("api_base"));
    assert!(reason(&[("api_base", "https://localhost")]).starts_with("api_base"));
    assert!(reason(&[("tolerance_seconds", "0")]).starts_with("tolerance_seconds"));
    assert_eq!(reason(&[]), "accepted");
    // Test instances may use the sandbox and turn the age check off (replaying captures).
    assert!(Settings::from_options(
        &opts(
            "sk_test_abc",
            &[
                ("api_base", "http://127.0.0.1:1"),
                ("tolerance_seconds", "0")
            ]
        ),
        Mode::Test
    )
    .is_ok());
}

#[test]
fn live_and_test_keys_are_never_mixed() {
    let e = Settings::from_options(&opts("sk_live_abc", &[]), Mode::Test).unwrap_err();
    assert!(
        matches!(e, StripeError::Config { option: "secret_key", ref reason } if reason.contains("live key"))
    );
    assert!(Settings::from_options(&opts("sk_test_abc", &[]), Mode::Live).is_err());
    assert!(
        Settings::from_options(&opts("pk_test_abc", &[]), Mode::Test).is_err(),
        "a publishable key"
    );
    assert!(Settings::from_options(&opts("rk_test_abc", &[]), Mode::Test).is_ok());
    assert!(Settings::from_options(
        &opts("sk_live_abc", &[("api_base", "http://127.0.0.1:1")]),
        Mode::Live
    )
    .is_err());
    let bad = options(
        &[
            ("secret_key".into(), "sk_test_x".into()),
            ("webhook_secrets".into(), "sk_test_oops".into()),
        ],
        &[],
    );
    assert!(Settings::from_options(&bad, Mode::Test).is_err());
    // Through the registry path: a configuration error naming the option.
    let e = bank_core::registry::factory("stripe")
        .map(|f| (f.build)(info(Mode::Test), &opts("sk_live_abc", &[])));
    assert!(matches!(e, Some(Err(Error::Config { ref key, .. })) if key.ends_with("secret_key")));
    let s = Settings::from_options(&opts("sk_test_secretvalue", &[]), Mode::Test).unwrap();
    let shown = format!("{s:?} {:?}", acq(Mode::Test));
    assert!(
        !shown.contains("secretvalue") && !shown.contains(SECRET),
        "{shown}"
    );
}

#[test]
fn amounts_in_stripe_units() {
    let m = |minor, c: &str| Money::from_minor(minor, Currency::from_code(c).unwrap()).unwrap();
    assert_eq!(to_stripe(m(1999, "EUR")).unwrap(), 1999);
    assert_eq!(to_stripe(m(500, "JPY")).unwrap(), 500);
    assert_eq!(
        to_stripe(m(500, "ISK")).unwrap(),
        50000,
        "ISK is two-decimal in the API"
    );
    assert_eq!(from_stripe(50000, "isk").unwrap(), m(500, "ISK"));
    assert!(from_stripe(50050, "isk").is_err());
    assert_eq!(to_stripe(m(5120, "KWD")).unwrap(), 5120);
    assert!(
        to_stripe(m(5124, "KWD")).is_err(),
        "three-decimal amounts end in 0"
    );
    assert_eq!(
        to_stripe(m(300, "MGA")).unwrap(),
        3,
        "MGA is zero-decimal at Stripe"
    );
    assert!(to_stripe(m(350, "MGA")).is_err());
    assert_eq!(from_stripe(3, "mga").unwrap(), m(300, "MGA"));
    assert_eq!(to_stripe(m(12345, "HUF")).unwrap(), 12345);
    assert!(from_stripe(-1, "eur").is_err());
    assert!(from_stripe(1, "xyz").is_err());
}

#[tokio::test]
async fn checkout_session_events() {
    let a = acq(Mode::Test);
    let r = reference();
    let session = |status: &str| {
        json!({"id": "cs_test_1", "object": "checkout.session", "mode": "payment",
        "client_reference_id": r, "metadata": {"bank_reference": r, "bank_installation": INSTALLATION},
        "amount_total": 1999, "currency": "eur", "payment_intent": "pi_1", "payment_status": status, "unknown_field": [1, 2]})
    };
    let now = chrono::Utc::now();
    for (kind, status, outcome) in [
        ("checkout.session.completed", "paid", Outcome::Paid),
        ("checkout.session.completed", "unpaid", Outcome::Waiting),
        (
            "checkout.session.completed",
            "no_payment_required",
            Outcome::Paid,
        ),
        (
            "checkout.session.async_payment_succeeded",
            "paid",
            Outcome::Paid,
        ),
        (
            "checkout.session.async_payment_failed",
            "unpaid",
            Outcome::Failed,
        ),
        ("checkout.session.expired", "unpaid", Outcome::Cancelled),
    ] {
        let v = a
            .verify(
                &signed(&ev(kind, session(status)), now.timestamp()),
                &vctx_at(now),
            )
            .await
            .unwrap();
        assert_eq!(v.outcome, outcome, "{kind} {status}");
        assert_eq!(v.reference.as_deref(), Some(r.as_str()));
        assert_eq!(
            v.amount,
            Some(Money::from_minor(1999, Currency::EUR).unwrap())
        );
        assert_eq!(v.authorisation.as_deref(), Some("pi_1"));
        assert_eq!(v.event_id.as_deref(), Some("evt_1"));
    }
}

#[test]
fn invoice_subscription_in_both_api_shapes() {
    let basil = json!({"id": "in_1", "object": "invoice", "billing_reason": "subscription_cycle", "amount_paid": 500, "currency": "eur",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1", "metadata": {"bank_reference": "shop-AAAAAAAAAAAAAAAA"}}}});
    let legacy = json!({"id": "in_1", "object": "invoice", "billing_reason": "subscription_cycle", "amount_paid": 500, "currency": "eur",
        "subscription": "sub_1", "subscription_details": {"metadata": {"bank_reference": "shop-AAAAAAAAAAAAAAAA"}}});
    let lines = json!({"id": "in_1", "object": "invoice", "billing_reason": "subscription_cycle", "amount_paid": 500, "currency": "eur",
        "subscription": {"id": "sub_1", "object": "subscription"}, "lines": {"data": [{"metadata": {"bank_reference": "shop-AAAAAAAAAAAAAAAA"}}]}});
    for o in [basil, legacy, lines] {
        let e: Event = serde_json::from_value(ev("invoice.paid", o)).unwrap();
        let d = decode(&e).unwrap();
        assert_eq!(d.outcome, Outcome::InstalmentPaid);
        assert_eq!(d.reference.as_deref(), Some("shop-AAAAAAAAAAAAAAAA"));
        assert_eq!(d.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(d.amount.map(Money::minor), Some(500));
    }
}

#[test]
fn dunning_failures_wait_for_the_last_attempt() {
    let o = |next: serde_json::Value| {
        json!({"id": "in_2", "object": "invoice", "billing_reason": "subscription_cycle", "amount_due": 500,
        "currency": "eur", "next_payment_attempt": next, "attempt_count": 2, "subscription": "sub_1", "metadata": {"bank_reference": "shop-AAAAAAAAAAAAAAAA"}})
    };
    let e: Event =
        serde_json::from_value(ev("invoice.payment_failed", o(json!(1_700_000_000)))).unwrap();
    assert_eq!(decode(&e).unwrap().outcome, Outcome::Nothing);
    let e: Event = serde_json::from_value(ev("invoice.payment_failed", o(json!(null)))).unwrap();
    assert_eq!(decode(&e).unwrap().outcome, Outcome::InstalmentFailed);
}

#[tokio::test]
async fn events_of_the_other_mode_or_unknown_types_are_acknowledged_and_ignored() {
    let a = acq(Mode::Test);
    let now = chrono::Utc::now();
    let mut live = ev(
        "checkout.session.completed",
        json!({"id": "cs_1", "object": "checkout.session", "payment_status": "paid",
        "amount_total": 100, "currency": "eur", "client_reference_id": reference()}),
    );
    live["livemode"] = json!(true);
    let v = a
        .verify(&signed(&live, now.timestamp()), &vctx_at(now))
        .await
        .unwrap();
    assert_eq!(
        (v.outcome, v.reference, v.reply.status),
        (Outcome::Nothing, None, 200)
    );
    let other = ev(
        "customer.created",
        json!({"id": "cus_1", "object": "customer", "metadata": {"bank_reference": reference()}}),
    );
    let v = a
        .verify(&signed(&other, now.timestamp()), &vctx_at(now))
        .await
        .unwrap();
    assert_eq!((v.outcome, v.reference), (Outcome::Nothing, None));
    // An amount in a currency nobody knows: authentic, acknowledged, ignored.
    let odd = ev(
        "checkout.session.completed",
        json!({"id": "cs_1", "object": "checkout.session", "payment_status": "paid",
        "amount_total": 100, "currency": "zzz", "client_reference_id": reference()}),
    );
    let v = a
        .verify(&signed(&odd, now.timestamp()), &vctx_at(now))
        .await
        .unwrap();
    assert_eq!(v.outcome, Outcome::Nothing);
    // Test events never reach a live instance's transactions either.
    let l = acq(Mode::Live);
    let test = ev(
        "checkout.session.completed",
        json!({"id": "cs_1", "object": "checkout.session", "payment_status": "paid",
        "amount_total": 100, "currency": "eur", "client_reference_id": reference()}),
    );
    let v = l
        .verify(&signed(&test, now.timestamp()), &vctx_at(now))
        .await
        .unwrap();
    assert_eq!(v.outcome, Outcome::Nothing);
}

#[tokio::test]
async fn bad_deliveries_are_verification_errors() {
    let a = acq(Mode::Test);
    let now = chrono::Utc::now();
    let good = signed(
        &ev(
            "checkout.session.completed",
            json!({"id": "cs_1", "object": "checkout.session"}),
        ),
        now.timestamp(),
    );
    let mut unsigned = good.clone();
    unsigned.headers.retain(|(k, _)| k != "stripe-signature");
    let mut two_t = good.clone();
    let h = two_t.header("stripe-signature").unwrap().to_string();
    two_t.headers.retain(|(k, _)| k != "stripe-signature");
    two_t
        .headers
        .push(("stripe-signature".into(), format!("t=1,{h}")));
    let mut tampered = good.clone();
    tampered.body[10] ^= 1;
    let not_json = {
        let body = b"not json".to_vec();
        webhook(
            &bank_stripe::signature::header(&[SECRET], now.timestamp(), &body),
            body,
        )
    };
    for (name, n) in [
        ("unsigned", unsigned),
        ("two t", two_t),
        ("tampered", tampered),
        ("not json", not_json),
    ] {
        let e = a.verify(&n, &vctx_at(now)).await.unwrap_err();
        assert!(matches!(e, Error::Verification { .. }), "{name}: {e:?}");
        assert_eq!(a.rejection_reply(&e).status, 400);
    }
    let stale = a
        .verify(&good, &vctx_at(now + chrono::Duration::seconds(301)))
        .await
        .unwrap_err();
    assert!(
        matches!(stale, Error::Verification { ref reason, .. } if reason.contains("tolerance"))
    );
}

#[test]
fn a_stale_signature_says_when_it_was_signed_and_how_to_check_it() {
    let a = acq(Mode::Test);
    let body = br#"{"id":"evt_1","object":"event","type":"x","data":{"object":{}}}"#.to_vec();
    let n = webhook(
        &bank_stripe::signature::header(&[SECRET], 1_700_000_000, &body),
        body,
    );
    let e = a.check(&n, 1_700_000_000 + 3600).unwrap_err();
    let shown = e.into_core("stripe-test").to_string();
    for part in [
        "1700000000",
        "2023-11-14T22:13:20Z",
        "3600 s old",
        "tolerance of 300 s",
        "bank verify --now 2023-11-14T22:13:20Z",
    ] {
        assert!(shown.contains(part), "{part:?} not in {shown:?}");
    }
    // At its signing time it verifies: the hint is right.
    assert!(a.check(&n, 1_700_000_000).is_ok());
}

#[test]
fn webhook_api_timeout_option() {
    let s = Settings::from_options(&opts("sk_test_x", &[]), Mode::Test).unwrap();
    assert_eq!(s.webhook_api_timeout, std::time::Duration::from_secs(10));
    let s = Settings::from_options(
        &opts("sk_test_x", &[("webhook_api_timeout_seconds", "3")]),
        Mode::Test,
    )
    .unwrap();
    assert_eq!(s.webhook_api_timeout, std::time::Duration::from_secs(3));
    for bad in ["0", "61", "-1", "ten"] {
        let e = Settings::from_options(
            &opts("sk_test_x", &[("webhook_api_timeout_seconds", bad)]),
            Mode::Test,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                StripeError::Config {
                    option: "webhook_api_timeout_seconds",
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
    }
    assert!(bank_stripe::describe()
        .parameters
        .iter()
        .any(|p| p.name == "webhook_api_timeout_seconds"));
}

#[test]
fn what_paid_an_invoice_in_both_api_shapes() {
    use bank_stripe::event::{invoice_payment, invoice_payment_intent};
    // basil, read with expand[]=payments: a failed attempt, then the paid one.
    let basil = json!({"id": "in_1", "object": "invoice", "payments": {"object": "list", "data": [
        {"id": "inpay_1", "object": "invoice_payment", "status": "canceled",
         "payment": {"type": "payment_intent", "payment_intent": "pi_failed"}},
        {"id": "inpay_2", "object": "invoice_payment", "status": "paid",
         "payment": {"type": "payment_intent", "payment_intent": {"id": "pi_paid", "object": "payment_intent"}}}]}});
    assert_eq!(
        invoice_payment(&basil),
        Some(("payment_intent", "pi_paid".to_string()))
    );
    assert_eq!(invoice_payment_intent(&basil).as_deref(), Some("pi_paid"));
    // A payment recorded as a bare charge.
    let charge = json!({"id": "in_1", "object": "invoice", "payments": {"data": [
        {"status": "paid", "payment": {"type": "charge", "charge": "ch_1"}}]}});
    assert_eq!(
        invoice_payment(&charge),
        Some(("charge", "ch_1".to_string()))
    );
    assert_eq!(invoice_payment_intent(&charge), None);
    // Before basil.
    let legacy =
        json!({"id": "in_1", "object": "invoice", "payment_intent": "pi_old", "charge": "ch_old"});
    assert_eq!(
        invoice_payment(&legacy),
        Some(("payment_intent", "pi_old".to_string()))
    );
    let legacy_charge =
        json!({"id": "in_1", "object": "invoice", "payment_intent": null, "charge": "ch_old"});
    assert_eq!(
        invoice_payment(&legacy_charge),
        Some(("charge", "ch_old".to_string()))
    );
    // basil without the expansion: nothing to find (the reason the invoice is expanded).
    let unexpanded = json!({"id": "in_1", "object": "invoice", "status": "paid"});
    assert_eq!(invoice_payment(&unexpanded), None);
}

#[tokio::test]
async fn the_browser_return_settles_nothing() {
    let a = acq(Mode::Test);
    let r = reference();
    let mut n = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
    n.query = format!("ref={r}&session_id=cs_test_1");
    let v = a.verify(&n, &vctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Nothing);
    assert_eq!(v.reference.as_deref(), Some(r.as_str()));
}

#[test]
fn checkout_request_carries_reference_and_installation() {
    let r = reference();
    let t = tx(&r, 1999);
    let req = bank_stripe::checkout::build(&t, &ctx(&t), "stripe-test").unwrap();
    let tree = bank_stripe::form::parse_nested(req.body.encode().as_bytes());
    assert_eq!(tree["mode"], "payment");
    assert_eq!(tree["client_reference_id"], r.as_str());
    assert_eq!(tree["metadata"]["bank_installation"], INSTALLATION);
    assert_eq!(
        tree["payment_intent_data"]["metadata"]["bank_reference"],
        r.as_str()
    );
    assert_eq!(tree["line_items"][0]["price_data"]["unit_amount"], "1999");
    assert_eq!(tree["customer_email"], "payer@example.org");
    assert!(tree["success_url"]
        .as_str()
        .unwrap()
        .ends_with("&session_id={CHECKOUT_SESSION_ID}"));
    // Same transaction, same key; another amount, another key.
    assert_eq!(
        req.idempotency_key,
        bank_stripe::checkout::build(&t, &ctx(&t), "stripe-test")
            .unwrap()
            .idempotency_key
    );
    let t2 = tx(&r, 2000);
    assert_ne!(
        req.idempotency_key,
        bank_stripe::checkout::build(&t2, &ctx(&t2), "stripe-test")
            .unwrap()
            .idempotency_key
    );
    assert!(req.idempotency_key.len() <= 255);
    // A subscription: recurring instalment price plus the first payment's extra.
    let mut s = tx(&r, 1500);
    s.recurring = true;
    let tree = bank_stripe::form::parse_nested(
        bank_stripe::checkout::build(&s, &ctx(&s), "stripe-test")
            .unwrap()
            .body
            .encode()
            .as_bytes(),
    );
    assert_eq!(tree["mode"], "subscription");
    assert_eq!(
        tree["line_items"][0]["price_data"]["recurring"]["interval"],
        "month"
    );
    assert_eq!(tree["line_items"][0]["price_data"]["unit_amount"], "500");
    assert_eq!(tree["line_items"][1]["price_data"]["unit_amount"], "1000");
    assert_eq!(
        tree["subscription_data"]["metadata"]["bank_reference"],
        r.as_str()
    );
    // A first payment below the instalments cannot be expressed: refused, clearly.
    let mut small = tx(&r, 100);
    small.recurring = true;
    assert!(bank_stripe::checkout::build(&small, &ctx(&small), "stripe-test").is_err());
    // A currency not offered.
    let x = tx_in(&r, 100, Currency::from_code("XAF").unwrap());
    assert!(matches!(
        bank_stripe::checkout::build(&x, &ctx(&x), "stripe-test"),
        Err(StripeError::Currency { .. })
    ));
}

#[test]
fn capabilities() {
    let c = acq(Mode::Test).capabilities();
    assert!(
        c.hosted_payment && c.server_notifications && c.recurring && !c.offline && !c.simulation
    );
    assert_eq!(c.refund, bank_core::RefundSupport::Partial);
    for code in ["EUR", "USD", "GBP", "CHF", "JPY"] {
        assert!(
            c.currencies.contains(&Currency::from_code(code).unwrap()),
            "{code}"
        );
    }
    let d = bank_stripe::describe();
    assert!(d.parameters.iter().filter(|p| p.secret).count() == 2);
}
