//! `bank terminal pay` and `bank terminal emulate`, through their library functions.
#![cfg(feature = "sandbox")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bank_caisse_ap_ip::cli::{self, exit, EmulateArgs, PayArgs};
use bank_caisse_ap_ip::emulator::{self, EmulatorConfig};

async fn pay(args: &PayArgs) -> (i32, String) {
    let mut out = Vec::new();
    let code = tokio::time::timeout(Duration::from_secs(10), cli::pay(args, &mut out))
        .await
        .expect("bounded");
    (code, String::from_utf8(out).unwrap())
}

fn fast() -> EmulatorConfig {
    EmulatorConfig {
        delay: Duration::from_millis(20),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn pay_prints_and_exits_by_result() {
    let e = emulator::start(fast()).await.unwrap();
    let mut args = PayArgs::new("127.0.0.1", e.port(), "12.45");
    args.deadline = Duration::from_secs(5);

    let (code, out) = pay(&args).await;
    assert_eq!(code, exit::APPROVED, "{out}");
    assert!(out.contains("debit of 12.45 EUR by card"), "{out}");
    assert!(out.contains("Waiting for the card"), "{out}");
    assert!(out.contains("APPROVED: 12.45 EUR, authorisation "), "{out}");
    assert!(
        out.contains("card 497010######0014, CB contact (chip)."),
        "{out}"
    );

    args.amount = "12.51".into();
    let (code, out) = pay(&args).await;
    assert_eq!(code, exit::DECLINED, "{out}");
    assert!(out.contains("DECLINED: refused (code 04)."), "{out}");

    args.amount = "12.99".into();
    args.deadline = Duration::from_millis(300);
    let (code, out) = pay(&args).await;
    assert_eq!(code, exit::UNKNOWN, "{out}");
    assert!(
        out.contains("UNKNOWN OUTCOME") && out.contains("receipt"),
        "{out}"
    );
    e.shutdown().await;
}

#[tokio::test]
async fn pay_refund_cheque_currency_and_verbose() {
    let e = emulator::start(fast()).await.unwrap();
    let mut args = PayArgs::new("127.0.0.1", e.port(), "10");
    args.deadline = Duration::from_secs(5);
    args.refund = true;
    args.verbose = true;
    let (code, out) = pay(&args).await;
    assert_eq!(code, exit::APPROVED, "{out}");
    assert!(out.contains("refund of 10.00 EUR"), "{out}");
    assert!(
        out.contains("sent:     CZ0040300CJ012012345678901CA00201CE003978CD0011CB0041000"),
        "{out}"
    );
    assert!(out.contains("received: CZ0040300"), "{out}");

    args.refund = false;
    args.verbose = false;
    args.cheque = true;
    args.amount = "42,00".into();
    let (code, out) = pay(&args).await;
    assert_eq!(code, exit::APPROVED, "{out}");
    assert!(out.contains("by cheque"), "{out}");

    args.cheque = false;
    args.currency = "XPF".into();
    args.amount = "1000".into();
    let (code, _) = pay(&args).await;
    assert_eq!(code, exit::APPROVED);
    let sent: Vec<String> = e
        .exchanges()
        .iter()
        .map(|x| String::from_utf8(x.request.clone()).unwrap())
        .collect();
    assert!(sent[0].contains("CD0011"));
    assert!(sent[1].contains("CC00300CCB0044200"));
    assert!(sent[2].contains("CE003953") && sent[2].ends_with("CB0041000"));
    e.shutdown().await;
}

#[tokio::test]
async fn pay_refuses_bad_arguments_without_sending() {
    let e = emulator::start(fast()).await.unwrap();
    for (amount, currency) in [
        ("0", "EUR"),
        ("12.345", "EUR"),
        ("-3", "EUR"),
        ("abc", "EUR"),
        ("10", "ZZZ"),
        ("10000000000.00", "EUR"),
    ] {
        let mut args = PayArgs::new("127.0.0.1", e.port(), amount);
        args.currency = currency.into();
        let (code, out) = pay(&args).await;
        assert_eq!(code, exit::USAGE, "{amount} {currency}: {out}");
        assert!(out.starts_with("error: "), "{out}");
    }
    let mut args = PayArgs::new("127.0.0.1", e.port(), "10");
    args.pos_number = "123".into();
    assert_eq!(pay(&args).await.0, exit::USAGE);
    assert_eq!(
        pay(&PayArgs::new("127.0.0.1", 0, "10")).await.0,
        exit::USAGE
    );
    assert!(e.exchanges().is_empty());
    e.shutdown().await;
}

#[tokio::test]
async fn pay_unreachable() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let (code, out) = pay(&PayArgs::new("127.0.0.1", port, "10")).await;
    assert_eq!(code, exit::UNREACHABLE, "{out}");
    assert!(
        out.contains("UNREACHABLE") && out.contains("Nothing was charged"),
        "{out}"
    );
}

/// A writer the test can read while `emulate` writes to it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn emulate_runs_for_a_bounded_duration() {
    let mut args = EmulateArgs::new(0);
    args.duration = Some(Duration::from_millis(300));
    let mut out = Vec::new();
    let code = tokio::time::timeout(
        Duration::from_secs(5),
        cli::emulate(&args, &mut out, std::future::pending()),
    )
    .await
    .expect("stops by itself");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 0);
    assert!(
        out.contains("Caisse-AP terminal emulator on 127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains(".51  declined 04"), "{out}");
    assert!(
        out.contains("Emulator stopped after 0 request(s)."),
        "{out}"
    );
}

#[tokio::test]
async fn emulate_serves_pay_until_shutdown() {
    let mut args = EmulateArgs::new(0);
    args.config.delay = Duration::from_millis(20);
    let out = Shared::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let mut out = out.clone();
        async move {
            cli::emulate(&args, &mut out, async {
                let _ = stop_rx.await;
            })
            .await
        }
    });
    // Read the port from the first line (bounded wait).
    let mut port = None;
    for _ in 0..100 {
        if let Some(line) = out.text().lines().next() {
            port = line
                .split("127.0.0.1:")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|p| p.parse::<u16>().ok());
            if port.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let port = port.expect("emulator address printed");
    let mut args = PayArgs::new("127.0.0.1", port, "3.20");
    args.deadline = Duration::from_secs(5);
    assert_eq!(pay(&args).await.0, exit::APPROVED);
    stop_tx.send(()).unwrap();
    let code = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
    assert_eq!(code, 0);
    let text = out.text();
    assert!(
        text.contains("-> CZ0040300CJ012012345678901CA00201CE003978CD0010CB003320"),
        "{text}"
    );
    assert!(
        text.contains("<- CZ0040300") && text.contains("AE00210"),
        "{text}"
    );
    assert!(text.contains("stopped after 1 request(s)"), "{text}");
}

#[tokio::test]
async fn emulate_reports_a_port_in_use() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let args = EmulateArgs::new(l.local_addr().unwrap().port());
    let mut out = Vec::new();
    let code = cli::emulate(&args, &mut out, std::future::pending()).await;
    assert_eq!(code, exit::SOFTWARE);
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with("error: cannot listen"));
}
