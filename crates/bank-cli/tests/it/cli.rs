//! The `bank` binary as a user runs it: exit codes and output.

use std::process::Command;

fn bank() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bank"))
}

fn example_config() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bank.example.toml")
}

#[test]
fn demo_runs_every_offline_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = bank()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every button of every provider that pays without a browser, then staff.
    for expected in [
        "simu: ok",
        "simu: echec",
        "simu: abandon",
        "cheque: attente",
        "virement: attente",
        "gratuit: ok",
        "received (cheque)",
        "received (virement)",
        "refunded 10.00 EUR",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(text.contains("delivered: 26"), "{text}");
    assert!(dir.path().join("demo.db").exists());
}

#[test]
fn config_check_accepts_the_example() {
    let out = bank()
        .args(["config", "check", "--config"])
        .arg(example_config())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 instance(s)"));
}

#[test]
fn config_check_names_file_key_and_reason_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    let text = std::fs::read_to_string(example_config())
        .unwrap()
        .replace("payee = ", "payer = ");
    std::fs::write(&path, text).unwrap();
    let out = bank()
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml")
            && err.contains("instance.cheque.options.payer")
            && err.contains("unknown option"),
        "{err}"
    );
    let out = bank()
        .args(["config", "check", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn providers_lists_the_compiled_ones() {
    let out = bank().arg("providers").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["cheque", "gratuit", "simu", "virement"] {
        assert!(text.contains(p), "{text}");
    }
}

#[test]
fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.toml");
    let db = dir.path().join("m.db");
    let text = std::fs::read_to_string(example_config())
        .unwrap()
        .replace("sqlite://bank.db", &format!("sqlite://{}", db.display()));
    std::fs::write(&path, text).unwrap();
    let out = bank()
        .args(["migrate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
}

#[test]
fn request_is_deterministic_and_verify_checks_it() {
    let args = [
        "request",
        "--config",
        "",
        "--instance",
        "simu",
        "--amount",
        "12.34",
        "--reference",
        "shop-0123456789abcdef",
        "--now",
        "2026-01-02T03:04:05Z",
        "--json",
    ];
    let cfg = example_config();
    let run = || {
        let mut a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        a[2] = cfg.clone().into_os_string();
        bank().args(a).output().unwrap()
    };
    let (one, two) = (run(), run());
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(one.stdout, two.stdout, "same inputs, same request");
    let out: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(out["kind"], "choices");
    let ok_form = out["forms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fields"][3][1] == "ok")
        .unwrap();
    assert_eq!(
        ok_form["fields"][0],
        serde_json::json!(["ref", "shop-0123456789abcdef"])
    );
    let body: String = url_encode(ok_form["fields"].as_array().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, &body).unwrap();
    let v = bank()
        .args(["verify", "--config"])
        .arg(&cfg)
        .args(["--instance", "simu", "--browser", "--json", "--body-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let got: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(
        (
            got["verified"].as_bool(),
            got["outcome"].as_str(),
            got["amount_minor"].as_i64()
        ),
        (Some(true), Some("paid"), Some(1234))
    );
    std::fs::write(&file, body.replace("amount=1234", "amount=1")).unwrap();
    let bad = bank()
        .args(["verify", "--config"])
        .arg(&cfg)
        .args(["--instance", "simu", "--body-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(1),
        "a tampered notification exits 1"
    );
    let got: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(got["verified"], false);
}

fn url_encode(fields: &[serde_json::Value]) -> String {
    fields
        .iter()
        .map(|kv| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!(
                "{}={}",
                enc(kv[0].as_str().unwrap()),
                enc(kv[1].as_str().unwrap())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn serve_starts_answers_and_stops_gracefully() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = bank()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL is printed")
        .to_string();
    let mut admin = String::new();
    out.read_line(&mut admin).unwrap();
    assert!(
        admin.contains("password"),
        "admin credentials are printed: {admin}"
    );
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(
        status.success() && rest.contains("bank stopped"),
        "{status:?} {rest}"
    );
}
