//! The acquirer alone against its sandbox: token cache, request ids, postback,
//! certificates that cannot be fetched, subscriptions.

use std::sync::Arc;

use bank_core::{
    Acquirer, Channel, Currency, Echeance, FormSigner, HttpMethod, InstanceInfo, InstanceUrls,
    Interval, Mode, Money, Notification, Options, Outcome, PaymentContext, PaymentRequest,
    Transaction, Verified, VerifyContext,
};
use bank_paypal::sandbox::{Renewal, Sandbox, SandboxConfig, SandboxHandle};
use bank_paypal::{PayPal, PayPalError};
use secrecy::SecretString;

const INSTALLATION: &str = "shop";

fn tx(reference: &str, minor: i64, recurring: bool) -> Transaction {
    let mut t = bank_core::testing::transaction(
        reference,
        Money::from_minor(minor, Currency::EUR).unwrap(),
    );
    t.recurring = recurring;
    t
}

fn signer() -> FormSigner {
    FormSigner::new(SecretString::from(
        "test-secret-0123456789abcdef".to_string(),
    ))
}

fn ctx(tx: &Transaction) -> PaymentContext {
    PaymentContext {
        installation: INSTALLATION.into(),
        urls: InstanceUrls::standard("https://shop.example", "paypal-test", &tx.reference),
        now: chrono::Utc::now(),
        billing: None,
        echeance: tx.recurring.then(|| Echeance {
            amount: Money::from_minor(500, Currency::EUR).unwrap(),
            interval: Interval::Month,
            count: None,
        }),
        signer: signer(),
        counters: None,
    }
}

fn vctx() -> VerifyContext {
    VerifyContext {
        installation: INSTALLATION.into(),
        now: chrono::Utc::now(),
        signer: signer(),
        counters: None,
    }
}

fn instance(sb: &SandboxHandle, extra: &[(&str, &str)]) -> PayPal {
    let mut text = String::new();
    for (k, v) in sb.instance_options() {
        if extra.iter().any(|(e, _)| *e == k) {
            continue;
        }
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    for (k, v) in extra {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(v).unwrap()));
    }
    let opts: Options = toml_options(&text);
    PayPal::new(
        InstanceInfo {
            id: "paypal-test".into(),
            provider: "paypal".into(),
            mode: Mode::Test,
            order: 1,
            caption: "PayPal".into(),
        },
        &opts,
    )
    .unwrap()
}

fn toml_options(text: &str) -> Options {
    let config = bank_core::Config::parse(
        &format!("[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"paypal-test\"\nprovider = \"paypal\"\n[instance.options]\n{text}"),
        "<test>",
        &bank_core::config::ProcessEnv,
    )
    .unwrap();
    config.instances[0].options.clone()
}

fn signed(sb: &SandboxHandle, kind: &str, needle: &str) -> Notification {
    let e = sb
        .events_about(kind, needle)
        .pop()
        .unwrap_or_else(|| panic!("no {kind} about {needle}"));
    let (headers, body) = sb
        .signed(e["id"].as_str().unwrap(), chrono::Utc::now())
        .unwrap();
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    n.headers = headers;
    n.body = body;
    n
}

fn redirect(r: PaymentRequest) -> url::Url {
    match r {
        PaymentRequest::Redirect { url } => url::Url::parse(&url).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn query(u: &url::Url, key: &str) -> String {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn one_token_serves_many_calls_even_concurrently() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = Arc::new(instance(&sb, &[]));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let acq = acq.clone();
        tasks.push(tokio::spawn(async move {
            let t = tx(&format!("shop-00000000000000{i:02}"), 1000 + i, false);
            acq.payment_request(&t, &ctx(&t)).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        sb.token_requests(),
        1,
        "the token is cached and fetched once under concurrency"
    );
    let orders = sb
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "POST" && p == "/v2/checkout/orders")
        .count();
    assert_eq!(orders, 8);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = tx("shop-0000000000000001", 1000, false);
    acq.payment_request(&t, &ctx(&t)).await.unwrap();
    // The sandbox forgets every token (as PayPal does after nine hours, or on revocation).
    sb.set_token_lifetime(std::time::Duration::from_secs(3600));
    sb.state(|_| ());
    let before = sb.token_requests();
    sb.expire_tokens();
    acq.payment_request(&t, &ctx(&t)).await.unwrap();
    assert_eq!(
        sb.token_requests(),
        before + 1,
        "a 401 renews the token and the call succeeds"
    );
}

#[tokio::test]
async fn a_retried_order_is_the_same_order() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = tx("shop-0000000000000002", 1990, false);
    let a = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    let b = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    assert_eq!(a, b, "the same PayPal-Request-Id gives the same order");
    let ids: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|(_, p, _)| p == "/v2/checkout/orders")
        .map(|(_, _, r)| r)
        .collect();
    assert!(ids.iter().all(|r| r.is_some() && *r == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn postback_verification_accepts_only_what_paypal_sent() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[("webhook_verification", "postback")]);
    let t = tx("shop-0000000000000003", 1990, false);
    let order = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    sb.approve(&order, bank_paypal::sandbox::Buyer::Pays)
        .unwrap();
    let n = signed(&sb, "CHECKOUT.ORDER.APPROVED", &order);
    acq.check(&n, chrono::Utc::now().timestamp())
        .await
        .expect("PayPal says SUCCESS");
    let mut forged = n.clone();
    let body = String::from_utf8(n.body.clone()).unwrap().replacen(
        "\"value\":\"19.90\"",
        "\"value\":\"99.90\"",
        1,
    );
    forged.body = body.into_bytes();
    assert!(matches!(
        acq.check(&forged, chrono::Utc::now().timestamp()).await,
        Err(PayPalError::Postback { .. })
    ));
}

#[tokio::test]
async fn a_certificate_that_cannot_be_fetched_is_temporary_and_an_unknown_one_is_refused() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let t = tx("shop-0000000000000004", 1990, false);
    let acq = instance(&sb, &[]);
    let order = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    sb.approve(&order, bank_paypal::sandbox::Buyer::Pays)
        .unwrap();
    let n = signed(&sb, "CHECKOUT.ORDER.APPROVED", &order);
    // Nothing listens on port 9: the fetch fails, PayPal must retry (5xx), not be refused.
    let unreachable = instance(&sb, &[("webhook_cert_origins", "http://127.0.0.1:9")]);
    let mut moved = n.clone();
    for (k, v) in moved.headers.iter_mut() {
        if k == "paypal-cert-url" {
            *v = v.replace(&sb.base_url(), "http://127.0.0.1:9");
        }
    }
    let e = unreachable
        .check(&moved, chrono::Utc::now().timestamp())
        .await
        .unwrap_err();
    assert!(matches!(e, PayPalError::CertFetch { .. }), "{e}");
    assert!(!e.is_verification());
    let core = e.into_core("paypal-test");
    assert!(
        matches!(
            core,
            bank_core::Error::Provider {
                failure: bank_core::ProviderFailure::Unavailable,
                ..
            }
        ),
        "{core}"
    );
    // A certificate id the sandbox never issued: refused.
    let mut unknown = n.clone();
    for (k, v) in unknown.headers.iter_mut() {
        if k == "paypal-cert-url" {
            *v = format!("{}/v1/notifications/certs/CERT-0000", sb.base_url());
        }
    }
    assert!(matches!(
        acq.check(&unknown, chrono::Utc::now().timestamp()).await,
        Err(PayPalError::Certificate { .. })
    ));
    // An expired signing certificate: refused at today's date.
    let now = chrono::Utc::now().timestamp();
    sb.reissue_certificate(now - 400 * 86_400, now - 35 * 86_400)
        .unwrap();
    let stale = signed(&sb, "CHECKOUT.ORDER.APPROVED", &order);
    match acq.check(&stale, now).await {
        Err(PayPalError::Certificate { reason, .. }) => {
            assert!(reason.contains("expired"), "{reason}")
        }
        other => panic!("an expired certificate passed: {other:?}"),
    }
}

#[tokio::test]
async fn made_up_certificate_ids_cannot_make_us_fetch_without_limit() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let t = tx("shop-0000000000000008", 1990, false);
    let acq = instance(&sb, &[]);
    let order = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    sb.approve(&order, bank_paypal::sandbox::Buyer::Pays)
        .unwrap();
    let genuine = signed(&sb, "CHECKOUT.ORDER.APPROVED", &order);
    let now = chrono::Utc::now().timestamp();
    acq.check(&genuine, now)
        .await
        .expect("the genuine certificate, fetched once and kept");
    let forged = |i: usize| {
        let mut n = genuine.clone();
        for (k, v) in n.headers.iter_mut() {
            if k == "paypal-cert-url" {
                *v = format!("{}/v1/notifications/certs/CERT-made-up-{i}", sb.base_url());
            }
        }
        n
    };
    for i in 1..bank_paypal::webhook::cert::FETCHES_PER_MINUTE {
        assert!(matches!(
            acq.check(&forged(i), now).await,
            Err(PayPalError::Certificate { .. })
        ));
    }
    // The budget of the minute is spent: no more fetching, a 503 (PayPal would retry)…
    let e = acq.check(&forged(99), now).await.unwrap_err();
    assert!(matches!(e, PayPalError::CertFetch { .. }), "{e}");
    // …while the certificate already checked still serves genuine deliveries.
    acq.check(&genuine, now).await.expect("cached");
    // A minute later, fetching resumes.
    assert!(matches!(
        acq.check(&forged(100), now + 61).await,
        Err(PayPalError::Certificate { .. })
    ));
    assert_eq!(
        acq.cert_cache().len(),
        1,
        "refused certificates are not kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_deliveries_on_a_cold_cache_fetches_the_certificate_once() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = Arc::new(instance(&sb, &[]));
    let t = tx("shop-0000000000000009", 1990, false);
    let order = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    sb.approve(&order, bank_paypal::sandbox::Buyer::Pays)
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut tasks = Vec::new();
    for _ in 0..3 * bank_paypal::webhook::cert::FETCHES_PER_MINUTE {
        let (acq, n) = (acq.clone(), signed(&sb, "CHECKOUT.ORDER.APPROVED", &order));
        tasks.push(tokio::spawn(
            async move { acq.check(&n, now).await.map(|_| ()) },
        ));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("every delivery verifies: one fetch served them all");
    }
    assert_eq!(sb.certificate_fetches(), 1);
}

#[tokio::test]
async fn a_subscription_pays_first_then_renews_then_ends() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let t = tx("shop-0000000000000005", 1500, true);
    let approve = redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap());
    let ba = query(&approve, "ba_token");
    let sub = sb
        .state(|s| s.subscription_by_token(&ba).map(|s| s.id_for_page()))
        .unwrap();
    let back = url::Url::parse(&sb.approve_subscription(&sub).unwrap()).unwrap();
    assert_eq!(query(&back, "subscription_id"), sub);
    let first: Verified = acq
        .verify(&signed(&sb, "PAYMENT.SALE.COMPLETED", &sub), &vctx())
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Paid, "{first:?}");
    assert_eq!(first.reference.as_deref(), Some(t.reference.as_str()));
    assert_eq!(first.subscription_id.as_deref(), Some(sub.as_str()));
    assert_eq!(
        first.amount,
        Some(t.amount),
        "the first cycle is the first payment (a trial at its amount)"
    );
    sb.renew(&sub, Renewal::Paid).unwrap();
    let second = acq
        .verify(&signed(&sb, "PAYMENT.SALE.COMPLETED", &sub), &vctx())
        .await
        .unwrap();
    assert_eq!(second.outcome, Outcome::InstalmentPaid);
    assert_eq!(
        second.amount,
        Some(Money::from_minor(500, Currency::EUR).unwrap())
    );
    assert_ne!(second.event_id, first.event_id);
    // The first sale's event again (PayPal retrying) is still the first payment.
    let again = acq
        .verify(
            &signed(
                &sb,
                "PAYMENT.SALE.COMPLETED",
                &first.authorisation.clone().unwrap(),
            ),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Paid);
    sb.renew(&sub, Renewal::Failed).unwrap();
    let failed = acq
        .verify(
            &signed(&sb, "BILLING.SUBSCRIPTION.PAYMENT.FAILED", &sub),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(failed.outcome, Outcome::InstalmentFailed);
    let ended = acq
        .verify(
            &signed(&sb, "BILLING.SUBSCRIPTION.SUSPENDED", &sub),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(ended.outcome, Outcome::SubscriptionEnded);
}

#[tokio::test]
async fn staff_cancels_a_subscription() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[]);
    let mut t = tx("shop-0000000000000006", 500, true);
    let ba = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "ba_token",
    );
    let sub = sb
        .state(|s| s.subscription_by_token(&ba).map(|s| s.id_for_page()))
        .unwrap();
    sb.approve_subscription(&sub).unwrap();
    t.subscription_id = Some(sub.clone());
    let ctx = bank_core::OperationContext::standalone(chrono::Utc::now());
    acq.cancel_subscription(&t, &ctx).await.unwrap();
    acq.cancel_subscription(&t, &ctx)
        .await
        .expect("cancelling twice is what was asked");
    let ended = acq
        .verify(
            &signed(&sb, "BILLING.SUBSCRIPTION.CANCELLED", &sub),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(ended.outcome, Outcome::SubscriptionEnded);
}

#[tokio::test]
async fn authorise_then_capture_then_refund() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let acq = instance(&sb, &[("intent", "authorize")]);
    assert!(acq.capabilities().capture);
    let mut t = tx("shop-0000000000000007", 2500, false);
    let order = query(
        &redirect(acq.payment_request(&t, &ctx(&t)).await.unwrap()),
        "token",
    );
    sb.approve(&order, bank_paypal::sandbox::Buyer::Pays)
        .unwrap();
    let mut back = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
    back.query = format!("ref={}&token={order}&PayerID=X", t.reference);
    let v = acq.verify(&back, &vctx()).await.unwrap();
    assert_eq!(
        v.outcome,
        Outcome::Paid,
        "an authorisation holds the money: {v:?}"
    );
    t.authorisation = v.authorisation.clone();
    let ctx = bank_core::OperationContext::standalone(chrono::Utc::now());
    let eur = |m| Money::from_minor(m, Currency::EUR).unwrap();
    acq.capture(&t, eur(2500), &ctx).await.unwrap();
    let r = acq.refund(&t, eur(1000), "refund-1", &ctx).await.unwrap();
    assert!(r.provider_reference.is_some());
    let e = acq
        .refund(&t, eur(2000), "refund-2", &ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            bank_core::Error::Provider {
                failure: bank_core::ProviderFailure::Refused,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("REFUND_AMOUNT_EXCEEDED"), "{e}");
}
