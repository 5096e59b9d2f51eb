//! The form against eopayment 3.15 (PyPI, GPL: run, never copied; installed in `.venv` by
//! `.ci/run`): the same inputs give the same fields, in the same order, byte for byte.
//! Without such a Python: SKIPPED (a failure under CI).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bank_core::{Currency, Money};

use crate::meaning::{ctx, instance};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import eopayment; assert eopayment.__version__.startswith('3.15') if hasattr(eopayment, '__version__') else True"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// eopayment's form for the same payment (see the script).
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/eopayment_form.py")
}

#[test]
fn the_one_off_card_form_is_eopayments_byte_for_byte() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "eopayment (PayZen form)",
            "no Python with eopayment 3.15 (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    for (algo, option) in [("hmac_sha256", "hmac_sha256"), ("sha1", "sha1")] {
        let acq = instance(&[("signature_algorithm", option)]);
        let tx = bank_core::testing::transaction(
            "shop-0004",
            Money::from_minor(1524, Currency::EUR).unwrap(),
        );
        let c = ctx(false);
        let ours = acq.form(&tx, &c, "000042").unwrap();
        let get = |k: &str| {
            ours.fields
                .iter()
                .find(|f| f.0 == k)
                .map(|f| f.1.clone())
                .unwrap()
        };
        let args = serde_json::json!({
            "key": "1122334455667788", "site": "12345678", "algo": algo,
            "return": c.urls.return_url, "check": c.urls.notify_url,
            "contrib": get("vads_contrib"), "cards": get("vads_payment_cards"),
            "trans_id": "000042", "date": "20240501102030", "amount": 15.24,
            "first": "Jean", "last": "Dupont", "email": "jean@example.com",
            "order": "shop-0004", "info": "shop",
            "extra": [["vads_cust_zip", "69001"], ["vads_cust_city", "Lyon"]],
        });
        let out = Command::new(&py)
            .arg(script())
            .arg(args.to_string())
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fields: Vec<(String, String)> = theirs["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(ours.fields, fields, "{algo}");
        assert_eq!(theirs["url"], ours.action);
        assert_eq!(theirs["method"], "POST");
    }
}
