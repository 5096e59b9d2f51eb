//! Hooks for hosts outside Rust: signed POSTs from the outbox, retried until 2xx.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bank_core::config::ProcessEnv;
use bank_core::{Config, Engine, ManualClock};
use bank_server::CallbackHooks;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A host on 127.0.0.1 that refuses the first request and records the others.
async fn host() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let calls = Arc::new(Mutex::new(0));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            let calls = calls.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                s.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// The host's check, written independently of the crate's signer.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    header
        .split(',')
        .filter_map(|p| p.strip_prefix("v1="))
        .any(|sig| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&hex::decode(sig).unwrap()).is_ok()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_reach_the_host_signed_and_retried() {
    let (url, seen) = host().await;
    let text = r#"
[installation]
id = "cb"
secret = "callback-secret-0123456789"
[[instance]]
id = "simu"
provider = "simu"
"#;
    let config = Config::parse(text, "<cb>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    // Mid-rotation: the old and the new secret both sign.
    let hooks = CallbackHooks::new(
        vec![url],
        vec![
            SecretString::from("old-secret"),
            SecretString::from("new-secret"),
        ],
        Duration::from_secs(5),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = Engine::open(
        store,
        registry,
        Arc::new(hooks),
        &config.installation,
        config.engine.clone(),
    )
    .await
    .unwrap()
    .with_clock(clock.clone());
    let mut t = bank_core::NewTransaction::new(
        bank_core::Money::from_minor(700, bank_core::Currency::EUR).unwrap(),
    );
    t.force = true;
    let tx = engine.inserer_transaction(t).await.unwrap();
    let ctx = engine.payment_context(&tx, "simu").await;
    let form = bank_core::own_form::build(&ctx, "simu", &tx, "ok", "");
    let fields: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    engine
        .handle_notification(
            "simu",
            bank_core::Notification::form_post(&fields, engine.now()),
        )
        .await
        .unwrap();

    let first = engine.deliver_pending().await.unwrap();
    assert_eq!(
        (first.delivered, first.retried),
        (0, 1),
        "the host's 500 is a failure"
    );
    clock.advance(chrono::Duration::minutes(2));
    let second = engine.deliver_pending().await.unwrap();
    assert_eq!(second.delivered, 4);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    let (h, body) = &seen[0];
    assert_eq!(h["bank-hook"], "traiter_reglement");
    assert_eq!(
        h["idempotency-key"],
        format!("{}:v1:traiter_reglement", tx.reference)
    );
    let sig = h["bank-signature"].to_str().unwrap();
    assert!(
        verify("old-secret", sig, body) && verify("new-secret", sig, body),
        "both secrets sign during a rotation"
    );
    assert!(!verify("another", sig, body));
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (
            json["attempt"].as_u64(),
            json["transaction"]["status"].as_str()
        ),
        (Some(2), Some("ok"))
    );
    let order: Vec<_> = seen
        .iter()
        .map(|(h, _)| h["bank-hook"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        ["traiter_reglement", "pre_facturer", "facturer", "notifier"]
    );
}

#[test]
fn callbacks_need_a_secret_and_http_urls() {
    assert!(CallbackHooks::new(
        vec!["http://127.0.0.1/x".into()],
        vec![],
        Duration::from_secs(1)
    )
    .is_err());
    let s = vec![SecretString::from("k")];
    assert!(
        CallbackHooks::new(vec!["ftp://127.0.0.1/x".into()], s, Duration::from_secs(1)).is_err()
    );
}
