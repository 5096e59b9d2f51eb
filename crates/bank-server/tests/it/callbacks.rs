//! Hooks for hosts outside Rust: signed POSTs from the outbox, retried until 2xx, checked
//! by the PHP and Python code that docs/CALLBACKS.md gives hosts (run here as written).

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
    let deliveries: Vec<(String, Vec<u8>)> = seen
        .iter()
        .map(|(h, b)| {
            (
                h["bank-signature"].to_str().unwrap().to_string(),
                b.to_vec(),
            )
        })
        .collect();
    drop(seen);
    docs_snippets_verify(&deliveries);
}

/// The code of the fenced `lang` block of docs/CALLBACKS.md, up to `until`: what a PHP or
/// Python host copies.
fn doc_snippet(lang: &str, until: &str) -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CALLBACKS.md"),
    )
    .unwrap();
    let block = doc
        .split(&format!("```{lang}\n"))
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("no {lang} block in docs/CALLBACKS.md"));
    block
        .split(until)
        .next()
        .unwrap()
        .trim_start_matches("<?php\n")
        .to_string()
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// Runs the PHP and Python checks of docs/CALLBACKS.md, as written there, on real
/// deliveries: genuine ones pass with either secret of the rotation, a wrong secret and a
/// tampered body fail. The documentation a host copies cannot rot.
fn docs_snippets_verify(deliveries: &[(String, Vec<u8>)]) {
    let dir = tempfile::tempdir().unwrap();
    let php = format!(
        "<?php\n{}\n$body = file_get_contents($argv[1]);\n$header = file_get_contents($argv[2]);\necho bank_verify($body, $header, array_slice($argv, 3)) ? 'ok' : 'bad';\n",
        doc_snippet("php", "$body = file_get_contents")
    );
    let py = format!(
        "{}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nheader = open(sys.argv[2]).read()\nprint('ok' if bank_verify(body, header, sys.argv[3:]) else 'bad', end='')\n",
        doc_snippet("python", "# In a Flask view")
    );
    let mut runners: Vec<(&str, std::path::PathBuf, std::path::PathBuf)> = Vec::new();
    match which("php") {
        Some(bin) => {
            let f = dir.path().join("check.php");
            std::fs::write(&f, php).unwrap();
            runners.push(("PHP", bin, f));
        }
        None => bank_core::testing::skip_suite(
            "PHP callback check (docs/CALLBACKS.md)",
            "php not installed (apt-get install php-cli; bash .ci/run installs it)",
        ),
    }
    match which("python3") {
        Some(bin) => {
            let f = dir.path().join("check.py");
            std::fs::write(&f, py).unwrap();
            runners.push(("Python", bin, f));
        }
        None => bank_core::testing::skip_suite(
            "Python callback check (docs/CALLBACKS.md)",
            "python3 not installed",
        ),
    }
    for (i, (header, body)) in deliveries.iter().enumerate() {
        let body_file = dir.path().join(format!("body{i}"));
        let header_file = dir.path().join(format!("header{i}"));
        std::fs::write(&body_file, body).unwrap();
        std::fs::write(&header_file, header).unwrap();
        let mut tampered = body.clone();
        tampered[body.len() / 2] ^= 1;
        let tampered_file = dir.path().join(format!("tampered{i}"));
        std::fs::write(&tampered_file, tampered).unwrap();
        for (lang, bin, script) in &runners {
            let said = |body: &std::path::Path, secret: &str| {
                let out = std::process::Command::new(bin)
                    .arg(script)
                    .arg(body)
                    .arg(&header_file)
                    .arg(secret)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{lang}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            assert_eq!(said(&body_file, "old-secret"), "ok", "{lang}, delivery {i}");
            assert_eq!(said(&body_file, "new-secret"), "ok", "{lang}, delivery {i}");
            assert_eq!(said(&body_file, "another"), "bad", "{lang}: a wrong secret");
            assert_eq!(
                said(&tampered_file, "new-secret"),
                "bad",
                "{lang}: a tampered body"
            );
        }
    }
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
