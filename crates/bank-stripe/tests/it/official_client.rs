//! Stripe's official Python library (`stripe` from PyPI, installed in `.venv` by `.ci/run`)
//! pointed at the sandbox: sessions, idempotency, refunds and errors as the library expects
//! them, and the sandbox's webhook signatures checked by the library's own verifier.
//! Without such a Python: SKIPPED.
#![cfg(feature = "sandbox")]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bank_stripe::sandbox::{PayOutcome, Sandbox, SandboxConfig, SANDBOX_WEBHOOK_SECRET};
use serde_json::Value;

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import stripe"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn run(py: &PathBuf, base: &str, args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/official/client.py");
    let out = Command::new(py)
        .arg(script)
        .arg(base)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "client.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_library_works_against_the_sandbox() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "official Stripe library",
            "no Python with `stripe` (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    let sandbox = Sandbox::spawn(SandboxConfig::default()).expect("sandbox");
    let base = sandbox.base_url();
    let py2 = py.clone();
    let b = base.clone();
    let created = tokio::task::spawn_blocking(move || run(&py2, &b, &["create"]))
        .await
        .unwrap();
    assert_eq!(created["amount_total"], 1250);
    assert_eq!(created["currency"], "eur");
    assert_eq!(created["payment_status"], "unpaid");
    assert_eq!(
        created["same_on_retry"], true,
        "same key, same parameters: same session"
    );
    assert_eq!(created["reuse_other_params"], "IdempotencyError");
    let cs = created["id"].as_str().unwrap().to_string();

    let paid = sandbox.pay(&cs, "4242424242424242").expect("pay");
    assert!(matches!(paid, PayOutcome::Paid { .. }), "{paid:?}");

    let (py2, b, id) = (py.clone(), base.clone(), cs.clone());
    let after = tokio::task::spawn_blocking(move || run(&py2, &b, &["after_payment", &id]))
        .await
        .unwrap();
    assert_eq!(after["status"], "complete");
    assert_eq!(after["payment_status"], "paid");
    assert_eq!(after["refund_amount"], 250);
    assert_eq!(after["missing"], "resource_missing");

    let completed = sandbox
        .events()
        .into_iter()
        .find(|e| e["type"] == "checkout.session.completed")
        .expect("a completed event");
    let event_id = completed["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();
    let (header, body) = sandbox.signed(&event_id, now).expect("signed event");
    let payload = std::env::temp_dir().join(format!("bank-stripe-{event_id}.json"));
    std::fs::write(&payload, body).unwrap();
    let p = payload.display().to_string();
    let checked = tokio::task::spawn_blocking(move || {
        run(
            &py,
            &base,
            &["webhook", &header, &p, SANDBOX_WEBHOOK_SECRET],
        )
    })
    .await
    .unwrap();
    assert_eq!(checked["type"], "checkout.session.completed");
    assert_eq!(checked["id"], event_id.as_str());
    assert_eq!(checked["tampered"], "SignatureVerificationError");
    let _ = std::fs::remove_file(&payload);
}
