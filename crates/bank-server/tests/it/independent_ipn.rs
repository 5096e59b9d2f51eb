//! PayPal's IPN protocol checked against implementations that share no code with `bank`
//! (`independent_ipn/peer.py`), on real sockets:
//!
//! - django-paypal's stock IPN listener (PyPI, installed in `.venv` by `.ci/run`) receives
//!   the sandbox's IPNs, in windows-1252, and posts them back to the sandbox: `VERIFIED` for
//!   what the sandbox sent, `INVALID` for a copy someone changed;
//! - a PayPal written in Python from PayPal's IPN documentation sends IPNs to the service's
//!   listener and answers its postbacks `VERIFIED` only when they are byte for byte what it
//!   sent.
//!
//! Without a Python with django-paypal: SKIPPED (a failure under CI).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank::paypal_ipn::sandbox::{Buyer, Sandbox, SandboxConfig, SANDBOX_BUSINESS};
use bank_core::config::ProcessEnv;
use bank_core::store::Verdict;
use bank_core::testing::RecordingHooks;
use bank_core::{Config, Currency, Engine, HookName, Money, NewTransaction, Status};
use bank_server::{router, ServerSettings};
use serde_json::{json, Value};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import django, paypal.standard.ipn"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The Python peer: one JSON line when ready, then one answer per command.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(py: &PathBuf, args: &[&str]) -> (Peer, Value) {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/independent_ipn/peer.py");
        let mut child = Command::new(py)
            .arg(script)
            .args(args)
            .arg("60")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut peer = Peer {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        };
        let ready = peer.read();
        (peer, ready)
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("peer answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer said {line:?}: {e}"))
    }

    fn ask(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.read()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What django-paypal stored, once it holds `n` IPNs (bounded wait).
async fn received(base: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows: Vec<Value> = reqwest::get(format!("{base}/received"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rows.len() >= n || Instant::now() > deadline {
            assert_eq!(rows.len(), n, "django-paypal stored {rows:#?}");
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_paypal_takes_the_sandboxs_ipns_and_its_postbacks_verify() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "independent IPN (django-paypal)",
            "no Python with django-paypal (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let verify_url = format!("{}/cgi-bin/webscr", sandbox.base_url());
    let (listener, ready) = Peer::start(&py, &["listener", &verify_url]);
    let base = format!("http://127.0.0.1:{}", ready["port"]);
    let notify_url = format!("{base}/ipn/");

    // A plain Buy Now button, with words that windows-1252 and UTF-8 write differently.
    let id = sandbox
        .submit(&owned(&[
            ("cmd", "_xclick"),
            ("business", SANDBOX_BUSINESS),
            ("item_name", "Cotisation 2027 – été"),
            ("amount", "12.50"),
            ("currency_code", "EUR"),
            ("invoice", "INDEP-0001"),
            ("custom", "web"),
            ("notify_url", &notify_url),
            ("return", "http://127.0.0.1:9/ok"),
            ("cancel_return", "http://127.0.0.1:9/ko"),
            ("charset", "utf-8"),
            ("no_shipping", "1"),
        ]))
        .unwrap();
    sandbox.pay(&id, Buyer::Pays).unwrap();
    let rows = received(&base, 1).await;
    let paid = &rows[0];
    assert_eq!(paid["flag"], false, "{paid:#?}");
    assert_eq!(paid["response"], "VERIFIED");
    assert_eq!(paid["txn_type"], "web_accept");
    assert_eq!(paid["payment_status"], "Completed");
    assert_eq!(paid["mc_gross"], "12.50");
    assert_eq!(paid["mc_currency"], "EUR");
    assert_eq!(paid["invoice"], "INDEP-0001");
    assert_eq!(paid["custom"], "web");
    assert_eq!(paid["business"], SANDBOX_BUSINESS);
    assert_eq!(
        paid["item_name"], "Cotisation 2027 – été",
        "decoded per charset"
    );
    assert_eq!(paid["test_ipn"], true);

    // A refund made at PayPal: a second IPN, verified too.
    let txn = paid["txn_id"].as_str().unwrap().to_string();
    sandbox.refund(&txn, Some(250)).unwrap();
    let rows = received(&base, 2).await;
    assert_eq!(rows[1]["flag"], false, "{:#?}", rows[1]);
    assert_eq!(rows[1]["payment_status"], "Refunded");
    assert_eq!(rows[1]["mc_gross"], "-2.50");

    // Someone posts a changed copy of the payment to the listener: the sandbox says INVALID.
    let original = sandbox.messages()[0].body.clone();
    let forged = String::from_utf8_lossy(&original).replace("mc_gross=12.50", "mc_gross=99.00");
    assert_ne!(forged.as_bytes(), &original[..]);
    let r = reqwest::Client::new()
        .post(&notify_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = received(&base, 3).await;
    assert_eq!(rows[2]["flag"], true, "{:#?}", rows[2]);
    assert_eq!(rows[2]["response"], "INVALID");
    assert!(rows[2]["flag_info"]
        .as_str()
        .unwrap()
        .contains("Invalid postback"));

    // Each of the sandbox's IPNs was delivered once and acknowledged.
    assert_eq!(sandbox.attempts(), (2, 2));
    reqwest::get(format!("{base}/done")).await.unwrap();
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_paypal_drives_the_services_listener() {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "independent IPN (PayPal in Python)",
            "no Python with django-paypal (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return;
    };
    let (mut paypal, ready) = Peer::start(&py, &["paypal"]);
    let verify_url = ready["verify_url"].as_str().unwrap().to_string();

    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", socket.local_addr().unwrap());
    let text = format!(
        "[installation]\nid = \"web\"\nsecret = \"independent-secret-0123456789\"\nbase_url = \"{base}\"\n\
         [[instance]]\nid = \"paypal-ipn\"\nprovider = \"paypal-ipn\"\norder = 1\n[instance.options]\n\
         business = \"Treasurer@Association.example\"\nverify_url = \"{verify_url}\"\n"
    );
    let config = Config::parse(&text, "<independent>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let hooks = Arc::new(RecordingHooks::new());
    let engine = Arc::new(
        Engine::open(
            store,
            registry,
            hooks.clone(),
            &config.installation,
            config.engine.clone(),
        )
        .await
        .unwrap(),
    );
    tokio::spawn(bank_server::serve(
        socket,
        router(engine.clone(), ServerSettings::default()),
        std::future::pending(),
    ));
    let eur = |minor| Money::from_minor(minor, Currency::EUR).unwrap();
    let paid = engine
        .inserer_transaction(NewTransaction::new(eur(2500)))
        .await
        .unwrap();
    let forged = engine
        .inserer_transaction(NewTransaction::new(eur(4000)))
        .await
        .unwrap();
    let notify_url = format!("{base}/bank/paypal-ipn/notify");

    // The shape of IPN django-paypal's own tests use, for our transaction.
    let ipn = |reference: &str, txn: &str, gross: &str| {
        json!([
            ["mc_gross", gross],
            ["protection_eligibility", "Ineligible"],
            ["payer_id", "BN5JZ2V7MLEV4"],
            ["tax", "0.00"],
            ["payment_date", "23:04:06 Dec 02, 2026 PST"],
            ["payment_status", "Completed"],
            ["charset", "windows-1252"],
            ["first_name", "Jörg"],
            ["mc_fee", "0.59"],
            ["notify_version", "3.9"],
            ["custom", "web"],
            ["payer_status", "verified"],
            ["business", "treasurer@association.example"],
            ["quantity", "1"],
            [
                "verify_sign",
                "An5ns1Kso7MWUdW4ErQKJJJ4qi4-AqdZy6dD.sGO3sDhTf1wAbuO2IZ7"
            ],
            ["payer_email", "jorg@example.org"],
            ["txn_id", txn],
            ["payment_type", "instant"],
            ["last_name", "Müller"],
            ["receiver_email", "treasurer@association.example"],
            ["payment_fee", ""],
            ["receiver_id", "258DLEHY2BDK6"],
            ["txn_type", "web_accept"],
            ["item_name", "Adhésion"],
            ["mc_currency", "EUR"],
            ["item_number", ""],
            ["residence_country", "FR"],
            ["test_ipn", "1"],
            ["handling_amount", "0.00"],
            ["transaction_subject", ""],
            ["invoice", reference],
            ["payment_gross", ""],
            ["shipping", "0.00"]
        ])
    };
    let send = |paypal: &mut Peer, fields: Value, forged: bool| {
        paypal.ask(json!({ "notify_url": notify_url, "fields": fields, "forged": forged }))
    };

    // A genuine payment: acknowledged, posted back byte for byte, settled once.
    let r = send(
        &mut paypal,
        ipn(&paid.reference, "51403485VH153354B", "25.00"),
        false,
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["reply"], "", "PayPal wants an empty 200");
    assert_eq!(
        r["postbacks"],
        json!([{ "exact": true, "answer": "VERIFIED" }])
    );
    let tx = engine.transaction(&paid.reference).await.unwrap();
    assert_eq!(tx.status, Status::Ok);
    assert_eq!(tx.authorisation.as_deref(), Some("51403485VH153354B"));

    // PayPal sends it again: verified again, nothing changes, no second hook.
    let r = send(
        &mut paypal,
        ipn(&paid.reference, "51403485VH153354B", "25.00"),
        false,
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["postbacks"][0]["exact"], true);

    // A forged IPN (PayPal answers INVALID): nothing changes, kept for review.
    let r = send(
        &mut paypal,
        ipn(&forged.reference, "9XK11111AA222222B", "40.00"),
        true,
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(
        r["postbacks"],
        json!([{ "exact": true, "answer": "INVALID" }])
    );
    // A genuine IPN of a payer who paid less than asked: nothing changes either.
    let r = send(
        &mut paypal,
        ipn(&forged.reference, "9XK11111AA333333C", "0.40"),
        false,
    );
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["postbacks"][0]["answer"], "VERIFIED");
    assert_eq!(
        engine.transaction(&forged.reference).await.unwrap().status,
        Status::Commande
    );
    drop(paypal);

    engine.deliver_pending().await.unwrap();
    assert_eq!(
        hooks.count_for(HookName::TraiterReglement, &paid.reference),
        1
    );
    assert_eq!(
        hooks.count_for(HookName::TraiterReglement, &forged.reference),
        0
    );
    let mut verdicts = Vec::new();
    for id in 1..=4 {
        if let Some(n) = engine.store().notification(id).await.unwrap() {
            verdicts.push(n.verdict);
        }
    }
    assert!(verdicts.contains(&Verdict::Rejected), "{verdicts:?}");
    assert!(verdicts.contains(&Verdict::Mismatch), "{verdicts:?}");
}
