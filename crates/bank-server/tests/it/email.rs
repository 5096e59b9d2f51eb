//! E-mail notifications against a real SMTP server on loopback (aiosmtpd, a maintained
//! SMTP server from PyPI that `.ci/run` installs in `.venv`). Without it: SKIPPED.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bank_core::config::ProcessEnv;
use bank_core::{Clock, Config, Engine, ManualClock};
use bank_server::EmailHooks;

struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BANK_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn smtp() -> Option<Smtp> {
    let Some(py) = python() else {
        bank_core::testing::skip_suite(
            "e-mail",
            "no Python with aiosmtpd (bash .ci/run creates .venv; or set BANK_TEST_PYTHON)",
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = Command::new(py)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Smtp {
        child,
        port,
        maildir,
    })
}

fn messages(s: &Smtp) -> Vec<String> {
    let new = s.maildir.path().join("box").join("new");
    let mut out: Vec<String> = std::fs::read_dir(new)
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_on_each_settlement_and_daily_summary() {
    let Some(smtp) = smtp() else { return };
    let text = r#"
[installation]
id = "mail"
secret = "mail-secret-0123456789abc"
[[instance]]
id = "simu"
provider = "simu"
"#;
    let config = Config::parse(text, "<mail>", &ProcessEnv).unwrap();
    let registry = bank::Registry::from_config(&config, &ProcessEnv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = bank_store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .unwrap();
    let mail = EmailHooks::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Boutique <bank@shop.example>",
        "tresorier@shop.example",
        Some("bureau@shop.example"),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let engine = Engine::open(
        store,
        registry,
        Arc::new(mail.clone()),
        &config.installation,
        config.engine.clone(),
    )
    .await
    .unwrap()
    .with_clock(clock.clone());
    let mut refs = Vec::new();
    for minor in [1250, 990] {
        let mut t = bank_core::NewTransaction::new(
            bank_core::Money::from_minor(minor, bank_core::Currency::EUR).unwrap(),
        );
        t.force = true;
        t.auteur = Some("alice@example.org".into());
        let tx = engine.inserer_transaction(t).await.unwrap();
        let ctx = engine.payment_context(&tx, "simu").await;
        let form = bank_core::own_form::build(&ctx, "simu", &tx, "ok", "");
        let f: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        engine
            .handle_notification("simu", bank_core::Notification::form_post(&f, engine.now()))
            .await
            .unwrap();
        refs.push(tx.reference);
    }
    let report = engine.deliver_pending().await.unwrap();
    assert_eq!(report.delivered, 8, "{report:?}");
    let tickets = messages(&smtp);
    assert_eq!(tickets.len(), 2, "one ticket per settled payment");
    assert!(tickets.iter().any(|m| m.contains(&refs[0])
        && m.contains("12.50 EUR")
        && m.contains("To: tresorier@shop.example")));
    let n = mail
        .send_daily_summary(&engine, clock.now().date_naive())
        .await
        .unwrap();
    assert_eq!(n, 2);
    let all = messages(&smtp);
    let summary = all
        .iter()
        .find(|m| m.contains("bureau@shop.example"))
        .expect("summary sent");
    assert!(summary.contains("Total 22.40 EUR"), "{summary}");
}

#[test]
fn bad_addresses_are_configuration_errors() {
    assert!(EmailHooks::new("smtp://127.0.0.1:25", "not an address", "a@b.c", None).is_err());
    assert!(EmailHooks::new("ftp://x", "a@b.c", "a@b.c", None).is_err());
}
