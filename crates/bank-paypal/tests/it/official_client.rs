//! PayPal's official Python server SDK (`paypal-server-sdk` from PyPI, installed in
//! `.venv` by `.ci/run`) pointed at the sandbox: it creates, captures and refunds an order
//! with PayPal's idempotency and errors as the SDK expects them, and the sandbox's webhooks
//! verify with the algorithm of PayPal's SDKs. Without such a Python: SKIPPED (a failure
//! under CI).
#![cfg(feature = "sandbox")]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bank_paypal::sandbox::{Buyer, Sandbox, SandboxConfig, SANDBOX_WEBHOOK_ID};
use serde_json::Value;

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import paypalserversdk"])
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

#[test]
fn the_official_sdk_works_against_the_sandbox() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "official PayPal SDK",
            "no Python with `paypal-server-sdk` (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).expect("sandbox");
    let base = sandbox.base_url();

    let created = run(&py, &base, &["create"]);
    assert_eq!(created["status"], "PAYER_ACTION_REQUIRED");
    assert_eq!(created["status_code"], 201);
    assert_eq!(created["replay_status_code"], 200, "a replay answers 200");
    assert_eq!(
        created["same_on_retry"], true,
        "same request id, same order"
    );
    assert_eq!(created["huf"], "DECIMALS_NOT_SUPPORTED");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["payer_action"].as_str().unwrap().contains(&id));

    sandbox.approve(&id, Buyer::Pays).expect("approve");
    let captured = run(&py, &base, &["capture", &id]);
    assert_eq!(captured["order_status"], "COMPLETED");
    assert_eq!(captured["capture_status"], "COMPLETED");
    assert_eq!(captured["amount"], "12.50");
    assert_eq!(captured["replay_status_code"], 200);
    assert_eq!(captured["replay_same_capture"], true);
    assert_eq!(captured["second_capture"], "ORDER_ALREADY_CAPTURED");
    assert_eq!(captured["refund_status"], "COMPLETED");
    assert_eq!(captured["refund_amount"], "2.50");
    assert_eq!(captured["capture_after_refund"], "PARTIALLY_REFUNDED");
    assert_eq!(captured["missing"], "INVALID_RESOURCE_ID");

    // The capture's webhook, as the sandbox delivers it, checked the SDKs' way.
    let capture = captured["capture_id"].as_str().unwrap();
    let event = sandbox
        .events_about("PAYMENT.CAPTURE.COMPLETED", capture)
        .pop()
        .expect("a capture event");
    let (headers, body) = sandbox
        .signed(event["id"].as_str().unwrap(), chrono::Utc::now())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let h: serde_json::Map<String, Value> = headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let hf = dir.path().join("headers.json");
    let bf = dir.path().join("body");
    std::fs::write(&hf, serde_json::to_vec(&h).unwrap()).unwrap();
    std::fs::write(&bf, &body).unwrap();
    let v = run(
        &py,
        &base,
        &[
            "verify",
            hf.to_str().unwrap(),
            bf.to_str().unwrap(),
            SANDBOX_WEBHOOK_ID,
        ],
    );
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["algo"], "SHA256withRSA");
    let wrong = run(
        &py,
        &base,
        &[
            "verify",
            hf.to_str().unwrap(),
            bf.to_str().unwrap(),
            "ANOTHERWEBHOOK1",
        ],
    );
    assert_eq!(
        wrong["verified"], false,
        "another webhook id does not verify"
    );
}
