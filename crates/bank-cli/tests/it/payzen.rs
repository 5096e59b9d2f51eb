//! `bank request` and `bank verify` for a PayZen shop, against independent
//! implementations: the form is eopayment 3.15's byte for byte (eopayment_form.py of
//! bank-payzen-sepa's tests), and an IPN signed by Python's own `hmac` verifies while a
//! changed one does not. Without a Python with eopayment: SKIPPED (a failure under CI).

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn bank() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bank"))
}

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import eopayment"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

const CONFIG: &str = r#"
[installation]
id = "shop"
secret = "shop-secret-0123456789abcdef"
base_url = "https://shop.example"

[[instance]]
id = "payzen"
provider = "payzen-sepa"
[instance.options]
site_id = "12345678"
key_test = "1122334455667788"
means = "card"
"#;

/// An IPN for `reference`, signed with Python's `hmac` (not ours).
const SIGNER: &str = r#"
import base64, hashlib, hmac, sys, urllib.parse
ref, key = sys.argv[1], sys.argv[2]
f = dict(vads_amount='1524', vads_currency='978', vads_ctx_mode='TEST', vads_site_id='12345678',
         vads_trans_date='20240501102030', vads_trans_id='000042', vads_order_id=ref,
         vads_order_info='shop', vads_trans_uuid='0123456789abcdef0123456789abcdef',
         vads_trans_status='AUTHORISED', vads_result='00', vads_auth_result='00',
         vads_card_brand='CB', vads_url_check_src='PAY', vads_operation_type='DEBIT',
         vads_cust_first_name='Jérôme', vads_version='V2')
s = '+'.join(f[k] for k in sorted(f)) + '+' + key
f['signature'] = base64.b64encode(hmac.new(key.encode(), s.encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode(f), end='')
"#;

#[test]
fn request_is_eopayments_form_and_verify_takes_an_ipn_signed_elsewhere() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "eopayment (bank request, PayZen)",
            "no Python with eopayment 3.15 (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bank.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = bank()
        .args(["request", "--config"])
        .arg(&cfg)
        .args([
            "--instance",
            "payzen",
            "--amount",
            "15.24",
            "--reference",
            "shop-0004",
            "--email",
            "jean@example.com",
            "--now",
            "2024-05-01T10:20:30Z",
            "--counter",
            "43",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fields = ours["fields"].as_array().unwrap();
    let get = |k: &str| {
        fields
            .iter()
            .find(|f| f[0] == k)
            .map(|f| f[1].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(get("vads_trans_id"), "000042", "the counter's 43rd value");
    let args = serde_json::json!({
        "key": "1122334455667788", "site": "12345678", "algo": "hmac_sha256",
        "return": get("vads_url_return"), "check": get("vads_url_check"),
        "contrib": get("vads_contrib"), "cards": "CB;VISA;MASTERCARD",
        "trans_id": "000042", "date": "20240501102030", "amount": 15.24,
        "email": "jean@example.com", "order": "shop-0004", "info": "shop",
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bank-payzen-sepa/tests/it/eopayment_form.py");
    let eo = Command::new(&py)
        .arg(script)
        .arg(args.to_string())
        .output()
        .unwrap();
    assert!(
        eo.status.success(),
        "{}",
        String::from_utf8_lossy(&eo.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&eo.stdout).unwrap();
    assert_eq!(&theirs["fields"], &ours["fields"], "byte for byte");
    assert_eq!(theirs["url"], ours["action"]);

    let signed = Command::new(&py)
        .args(["-c", SIGNER, "shop-0004", "1122334455667788"])
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let body = dir.path().join("ipn");
    let verify = |bytes: &[u8]| {
        std::fs::write(&body, bytes).unwrap();
        bank()
            .args(["verify", "--config"])
            .arg(&cfg)
            .args(["--instance", "payzen", "--json", "--body-file"])
            .arg(&body)
            .output()
            .unwrap()
    };
    let ok = verify(&signed.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["outcome"], "paid");
    assert_eq!(got["amount_minor"], 1524);
    let changed = String::from_utf8(signed.stdout)
        .unwrap()
        .replace("vads_amount=1524", "vads_amount=1523");
    let bad = verify(changed.as_bytes());
    assert_eq!(bad.status.code(), Some(1), "a changed IPN exits 1");
}
