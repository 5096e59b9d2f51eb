//! The `bank` binary at its edges: usage errors, live-mode configuration checks, owner-only
//! files, spreadsheet-safe exports, offline verification that says what it did not check.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

fn bank() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bank"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn usage_errors_exit_64_not_the_unknown_outcome_code() {
    for args in [
        vec!["terminal", "pay", "--port", "8888", "--amount", "1.00"],
        vec![
            "terminal",
            "pay",
            "--host",
            "127.0.0.1",
            "--port",
            "99999",
            "--amount",
            "1.00",
        ],
        vec![
            "terminal",
            "pay",
            "--host",
            "127.0.0.1",
            "--port",
            "8888",
            "--amount",
            "1.00",
            "--no-such-flag",
        ],
        vec!["no-such-command"],
    ] {
        let out = bank().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: 2 means 'unknown outcome, look at the receipt' for terminal pay\n{}",
            stderr(&out)
        );
    }
    let help = bank().args(["terminal", "pay", "--help"]).output().unwrap();
    assert_eq!(help.status.code(), Some(0));
}

const LIVE_BASE: &str = r#"
[installation]
id = "shop"
secret = { env = "BANK_TEST_SECRET" }
base_url = "https://shop.example"

[[instance]]
id = "cheque"
provider = "cheque"
mode = "live"
[instance.options]
payee = "Association"
address = "1 rue de la Paix"
"#;

fn check(dir: &Path, extra: &str) -> Output {
    let path = write(dir, "live.toml", &format!("{LIVE_BASE}{extra}"));
    bank()
        .args(["config", "check", "--config"])
        .arg(path)
        .env("BANK_TEST_SECRET", "a-long-installation-secret-0123456789")
        .env("BANK_TEST_TOKEN", "a-token-of-more-than-24-characters")
        .env_remove("BANK_STORE_URL")
        .env_remove("BANK_BASE_URL")
        .output()
        .unwrap()
}

#[test]
fn live_configuration_refuses_clear_secrets_and_unsafe_urls() {
    let dir = tempfile::tempdir().unwrap();
    let ok = check(dir.path(), "");
    assert!(ok.status.success(), "the base passes: {}", stderr(&ok));
    let token_env = "\n[server]\napi_tokens = [{ name = \"pos\", env = \"BANK_TEST_TOKEN\" }]\n";
    let ok = check(dir.path(), token_env);
    assert!(
        ok.status.success(),
        "tokens from the environment: {}",
        stderr(&ok)
    );
    let weak = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$uH8bDA6lFJTo0SJmQHpvSg";
    let cases: Vec<(String, &str)> = vec![
        (
            "\n[server]\napi_tokens = [\"a-token-of-more-than-24-characters\"]\n".into(),
            "server.api_tokens[0]",
        ),
        (
            "\n[callbacks]\nurls = [\"https://host.example/hook\"]\nsecrets = [\"clear-callback-secret\"]\n".into(),
            "callbacks.secrets[0]",
        ),
        (
            "\n[callbacks]\nurls = [\"https://host.example/hook\"]\nsecrets = [{ env = \"BANK_TEST_EMPTY\" }]\n".into(),
            "callbacks.secrets[0]",
        ),
        (
            "\n[store]\nurl = \"postgres://bank:hunter2@db.example/bank\"\n".into(),
            "store.url",
        ),
        (
            "\n[email]\nsmtp_url = \"smtp://user:pass@mail.example\"\nfrom = \"a@shop.example\"\nstaff = \"b@shop.example\"\n".into(),
            "email.smtp_url",
        ),
        (
            format!("\n[admin]\nusers = [{{ name = \"t\", password_hash = \"{weak}\" }}]\n"),
            "admin.users[0].password_hash",
        ),
        (
            "\n[admin]\nusers = [{ name = \"t\", password_hash = { env = \"BANK_TEST_WEAK\" } }]\n"
                .into(),
            "admin.users[0].password_hash",
        ),
        (
            "\n[admin]\nusers = [{ name = \"t\", password_hash = { env = \"BANK_TEST_GARBAGE\" } }]\n"
                .into(),
            "admin.users[0].password_hash",
        ),
    ];
    for (extra, key) in cases {
        let path = write(dir.path(), "live.toml", &format!("{LIVE_BASE}{extra}"));
        let out = bank()
            .args(["config", "check", "--config"])
            .arg(&path)
            .env("BANK_TEST_SECRET", "a-long-installation-secret-0123456789")
            .env("BANK_TEST_EMPTY", "")
            .env("BANK_TEST_WEAK", weak)
            .env("BANK_TEST_GARBAGE", "$argon2id$not-a-hash")
            .env_remove("BANK_STORE_URL")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra} was accepted: {err}");
        assert!(err.contains(key), "{key} not named: {err}");
    }
    for (base_url, why) in [
        ("javascript:alert(1)", "http(s)"),
        ("http://shop.example", "https"),
    ] {
        let text = LIVE_BASE.replace("https://shop.example", base_url);
        let path = write(dir.path(), "live.toml", &text);
        let out = bank()
            .args(["config", "check", "--config"])
            .arg(&path)
            .env("BANK_TEST_SECRET", "a-long-installation-secret-0123456789")
            .env_remove("BANK_BASE_URL")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{base_url}: {err}");
        assert!(
            err.contains("installation.base_url") && err.contains(why),
            "{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn data_files_are_owner_only_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = bank()
        .args(["demo", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("demo.db")), 0o600, "database");
    for side in ["demo.db-wal", "demo.db-shm"] {
        let p = data.join(side);
        if p.exists() {
            assert_eq!(mode(&p) & 0o077, 0, "{side}");
        }
    }
}

async fn engine_on(path: &Path) -> (Arc<bank::Engine>, bank::Config) {
    let text = format!(
        "[installation]\nid = \"shop\"\nsecret = \"export-secret-0123456789\"\n\
         [store]\nurl = \"sqlite://{}\"\n\
         [[instance]]\nid = \"simu\"\nprovider = \"simu\"\n",
        path.join("bank.db").display()
    );
    let cfg_path = write(path, "bank.toml", &text);
    let config = bank::Config::from_file(&cfg_path).unwrap();
    let registry = bank::Registry::from_config(&config, &bank::config::ProcessEnv).unwrap();
    let store = bank::store_backends::open(&config.store_url).await.unwrap();
    let engine = bank::Engine::open(
        store,
        registry,
        Arc::new(bank::NoHooks),
        &config.installation,
        config.engine.clone(),
    )
    .await
    .unwrap();
    (Arc::new(engine), config)
}

#[tokio::test]
async fn csv_export_neutralises_formulas_and_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine_on(dir.path()).await;
    for auteur in [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+cmd|' /C calc'!A0",
        "-2",
        "@SUM(A1:A9)",
        "\tTAB",
        "\rCR",
        "esc\u{1b}[31mred\u{7}",
    ] {
        let mut t =
            bank::NewTransaction::new(bank::Money::parse("1", bank::Currency::EUR).unwrap());
        t.auteur = Some(auteur.into());
        t.force = true;
        engine.inserer_transaction(t).await.unwrap();
    }
    let out = bank()
        .args(["transactions", "export", "--format", "csv", "--config"])
        .arg(dir.path().join("bank.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let auteurs: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(8).unwrap().to_string())
        .collect();
    assert_eq!(auteurs.len(), 7);
    for a in &auteurs {
        assert!(
            !a.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a formula cell: {a:?}"
        );
        assert!(!a.chars().any(char::is_control), "raw control: {a:?}");
    }
    assert!(auteurs
        .iter()
        .any(|a| a == "'=HYPERLINK(\"http://evil.example\",\"x\")"));
    assert!(auteurs.iter().any(|a| a.contains("\\u{1b}[31mred\\u{7}")));
    let json = bank()
        .args(["transactions", "export", "--format", "json", "--config"])
        .arg(dir.path().join("bank.toml"))
        .output()
        .unwrap();
    let all: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|t| t["auteur"] == "esc\u{1b}[31mred\u{7}"),
        "the JSON export is exact"
    );
}

#[tokio::test]
async fn verify_of_a_paybox_ipn_says_the_direct_inquiry_was_not_made() {
    let sandbox =
        bank::paybox::sandbox::Sandbox::spawn(Default::default()).expect("paybox sandbox");
    let dir = tempfile::tempdir().unwrap();
    let mut options = String::new();
    for (k, v) in sandbox.instance_options() {
        options.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    assert!(
        options.contains("cle = "),
        "the sandbox configures Direct: {options}"
    );
    let text = format!(
        "[installation]\nid = \"shop\"\nsecret = \"verify-secret-0123456789\"\nbase_url = \"https://shop.example\"\n\
         [[instance]]\nid = \"paybox\"\nprovider = \"paybox\"\n[instance.options]\n{options}default_email = \"payer@example.org\"\n"
    );
    let cfg = write(dir.path(), "bank.toml", &text);
    let request = bank()
        .args([
            "request",
            "--instance",
            "paybox",
            "--amount",
            "12.50",
            "--json",
        ])
        .args(["--reference", "shop-0123456789abcdef", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(request.status.success(), "{}", stderr(&request));
    let r: serde_json::Value = serde_json::from_slice(&request.stdout).unwrap();
    let form = bank::Form {
        action: r["action"].as_str().unwrap().to_string(),
        method: bank::HttpMethod::Post,
        fields: r["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        submit_label: String::new(),
        auto_submit: false,
    };
    let visit = sandbox
        .visit(&form, Some(bank::paybox::sandbox::CARD_ACCEPTED))
        .await
        .unwrap();
    let ipn = visit.ipn.expect("an IPN");
    let out = bank()
        .args([
            "verify",
            "--instance",
            "paybox",
            "--method",
            "GET",
            "--json",
        ])
        .args(["--query", &ipn.query, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["outcome"], "paid");
    assert_eq!(
        v["confirmed_by_direct"], "not checked: no engine (offline verification)",
        "{v}"
    );
}

#[test]
fn verify_of_a_captured_paypal_webhook_checks_it_and_reads_paypal_back() {
    use bank::paypal::sandbox::{Buyer, Sandbox, SandboxConfig};
    // On its own thread: the `bank` processes below call it while this thread waits.
    let sandbox = Sandbox::start(SandboxConfig::default()).expect("paypal sandbox");
    let dir = tempfile::tempdir().unwrap();
    let mut options = String::new();
    for (k, v) in sandbox.instance_options() {
        options.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    let text = format!(
        "[installation]\nid = \"shop\"\nsecret = \"verify-secret-0123456789\"\nbase_url = \"https://shop.example\"\n\
         [[instance]]\nid = \"paypal\"\nprovider = \"paypal\"\n[instance.options]\n{options}"
    );
    let cfg = write(dir.path(), "bank.toml", &text);
    let request = bank()
        .args([
            "request",
            "--instance",
            "paypal",
            "--amount",
            "12.50",
            "--json",
        ])
        .args(["--reference", "shop-0123456789abcdef", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(request.status.success(), "{}", stderr(&request));
    let r: serde_json::Value = serde_json::from_slice(&request.stdout).unwrap();
    let action = r["action"].as_str().expect("a redirect");
    let order = action
        .split_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or(t).to_string())
        .unwrap();
    sandbox.approve(&order, Buyer::Pays).unwrap();
    // The webhook as PayPal delivered it, captured to files.
    let event = sandbox
        .events_about("CHECKOUT.ORDER.APPROVED", &order)
        .pop()
        .unwrap();
    let (headers, body) = sandbox
        .signed(event["id"].as_str().unwrap(), chrono::Utc::now())
        .unwrap();
    let verify = |body: &[u8]| {
        let file = write(dir.path(), "body.json", std::str::from_utf8(body).unwrap());
        let mut cmd = bank();
        cmd.args([
            "verify",
            "--instance",
            "paypal",
            "--method",
            "POST",
            "--json",
        ]);
        for (k, v) in &headers {
            cmd.args(["--header", &format!("{k}: {v}")]);
        }
        cmd.arg("--body-file").arg(file).arg("--config").arg(&cfg);
        cmd.output().unwrap()
    };
    let out = verify(&body);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["outcome"], "paid", "the approved order was captured: {v}");
    assert_eq!(v["reference"], "shop-0123456789abcdef");
    assert_eq!(v["amount_minor"], 1250);
    let mut tampered = body.clone();
    let at = tampered.len() - 2;
    tampered[at] = b' ';
    let out = verify(&tampered);
    assert!(!out.status.success(), "a changed body does not verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert!(v["error"].as_str().unwrap().contains("signature"), "{v}");
}
