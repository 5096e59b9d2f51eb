//! The TCP client against the emulator: each quirk of caisse-ap.md §8, and peers that
//! misbehave (silent, closing early, garbage, lying lengths, non-ASCII, oversized). Every
//! failure is a clear outcome, never a panic and never a false approval.
#![cfg(feature = "sandbox")]

use std::time::Duration;

use bank_caisse_ap_ip::emulator::{self, Decision, EmulatorConfig, Misbehaviour, Quirks};
use bank_caisse_ap_ip::{
    Action, CaisseApError, ExchangeOutcome, PaymentMethod, Request, TerminalClient, TerminalConfig,
    UnknownCause,
};
use bank_core::{Currency, Money};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

fn config(port: u16) -> TerminalConfig {
    let mut c = TerminalConfig::new("127.0.0.1", port);
    c.deadline = Duration::from_secs(3);
    c.drain = Duration::from_millis(150);
    c
}

fn request(c: &TerminalConfig, amount: Money, action: Action) -> Request {
    Request::new(&c.header, amount, action, c.method).unwrap()
}

async fn run(
    emu: EmulatorConfig,
    c: impl FnOnce(&mut TerminalConfig),
    amount: i64,
) -> bank_caisse_ap_ip::Exchange {
    let e = emulator::start(emu).await.unwrap();
    let mut cfg = config(e.port());
    c(&mut cfg);
    let client = TerminalClient::new(cfg.clone()).unwrap();
    let x = tokio::time::timeout(
        Duration::from_secs(10),
        client.exchange(&request(&cfg, eur(amount), Action::Debit)),
    )
    .await
    .expect("bounded")
    .unwrap();
    e.shutdown().await;
    x
}

fn quirk(q: Quirks) -> EmulatorConfig {
    EmulatorConfig {
        delay: Duration::from_millis(20),
        quirks: q,
        ..EmulatorConfig::default()
    }
}

fn misbehave(m: Misbehaviour) -> EmulatorConfig {
    quirk(Quirks {
        misbehaviour: Some(m),
        ..Quirks::default()
    })
}

#[tokio::test]
async fn approved_and_written_once_without_crlf() {
    let e = emulator::start(EmulatorConfig::default()).await.unwrap();
    let cfg = config(e.port());
    let client = TerminalClient::new(cfg.clone()).unwrap();
    let req = request(&cfg, eur(1245), Action::Debit);
    let x = client.exchange(&req).await.unwrap();
    let ExchangeOutcome::Approved(a) = &x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert_eq!(a.amount, eur(1245));
    assert_eq!(a.authorisation.as_deref().map(str::len), Some(6));
    assert_eq!(a.card.as_deref(), Some("497010######0014"));
    assert_eq!(
        x.sent,
        b"CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041245"
    );
    let seen = e.exchanges();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request, x.sent);
    assert_eq!(seen[0].reads, 1, "the request must arrive in one write");
    assert!(!seen[0].request.contains(&b'\r') && !seen[0].request.contains(&b'\n'));
    // The emulator closes after answering: no need to wait for the drain window.
    assert!(x.elapsed < Duration::from_secs(2), "{:?}", x.elapsed);
    let ev = x.evidence();
    assert_eq!(ev["result"], "approved");
    assert!(ev["received"].as_str().unwrap().contains("AE00210"));
    e.shutdown().await;
}

#[tokio::test]
async fn declined_by_amount() {
    let x = run(EmulatorConfig::default(), |_| {}, 1251).await;
    let ExchangeOutcome::Declined(d) = x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert_eq!(d.code.as_deref(), Some("04"));
    assert_eq!(d.reason, "refused");
}

#[tokio::test]
async fn declined_by_option() {
    let emu = EmulatorConfig {
        decision: Decision::Decline("05".into()),
        ..EmulatorConfig::default()
    };
    let x = run(emu, |_| {}, 1000).await;
    assert!(
        matches!(x.outcome, ExchangeOutcome::Declined(ref d) if d.code.as_deref() == Some("05"))
    );
}

#[tokio::test]
async fn r2_zero_padded_amount_is_approved() {
    let x = run(quirk(Quirks::real_terminal()), |_| {}, 5).await;
    assert!(String::from_utf8_lossy(&x.received).contains("CB012000000000005"));
    assert!(matches!(x.outcome, ExchangeOutcome::Approved(ref a) if a.amount == eur(5)));
}

#[tokio::test]
async fn r3_cancel_without_amount_is_declined() {
    let x = run(quirk(Quirks::real_terminal()), |_| {}, 1252).await;
    assert!(!String::from_utf8_lossy(&x.received).contains("CB"));
    let ExchangeOutcome::Declined(d) = x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert_eq!(d.code.as_deref(), Some("11"));
    assert_eq!(d.reason, "cancelled on the terminal (red key)");
}

#[tokio::test]
async fn r6_other_version_is_accepted() {
    let q = Quirks {
        answer_version: Some("0320".into()),
        ..Quirks::default()
    };
    let x = run(quirk(q), |_| {}, 1000).await;
    assert!(matches!(x.outcome, ExchangeOutcome::Approved(ref a) if a.version == "0320"));
}

#[tokio::test]
async fn never_closing_terminal_answer_taken_after_drain() {
    let x = run(
        quirk(Quirks::simulator()),
        |c| c.drain = Duration::from_millis(200),
        1000,
    )
    .await;
    assert!(
        matches!(x.outcome, ExchangeOutcome::Approved(_)),
        "{:?}",
        x.outcome
    );
    assert!(x.elapsed >= Duration::from_millis(200), "{:?}", x.elapsed);
    assert!(x.elapsed < Duration::from_secs(2), "{:?}", x.elapsed);
}

#[tokio::test]
async fn answer_split_over_many_writes() {
    // Seven-byte chunks cut fields in the middle and sometimes on a boundary.
    let q = Quirks {
        split_answer: Some((7, Duration::from_millis(10))),
        keep_open: true,
        ..Quirks::default()
    };
    let x = run(quirk(q), |_| {}, 1000).await;
    let ExchangeOutcome::Approved(a) = x.outcome else {
        panic!("{:?}", x.outcome);
    };
    // The card data after AE arrived too: the drain window waited for it.
    assert!(a.authorisation.is_some() && a.card.is_some() && a.contract.is_some());
}

#[tokio::test]
async fn immediate_acknowledgement_is_unknown() {
    let x = run(misbehave(Misbehaviour::ImmediateAck), |_| {}, 1000).await;
    let ExchangeOutcome::Unknown(c) = &x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert_eq!(
        c,
        &UnknownCause::UnexpectedStatus {
            status: "11".into()
        }
    );
    assert!(c.to_string().contains("immediate"));
}

#[tokio::test]
async fn silent_terminal_is_unknown_at_the_deadline() {
    let started = std::time::Instant::now();
    let x = run(
        misbehave(Misbehaviour::Silent),
        |c| c.deadline = Duration::from_millis(300),
        1000,
    )
    .await;
    assert!(
        matches!(
            x.outcome,
            ExchangeOutcome::Unknown(UnknownCause::Timeout { received: 0, .. })
        ),
        "{:?}",
        x.outcome
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn silent_by_amount() {
    let x = run(
        EmulatorConfig::default(),
        |c| c.deadline = Duration::from_millis(300),
        1299,
    )
    .await;
    assert!(matches!(
        x.outcome,
        ExchangeOutcome::Unknown(UnknownCause::Timeout { .. })
    ));
}

#[tokio::test]
async fn close_without_answer_is_unknown() {
    let x = run(misbehave(Misbehaviour::CloseWithoutAnswer), |_| {}, 1000).await;
    assert_eq!(
        x.outcome,
        ExchangeOutcome::Unknown(UnknownCause::Closed { received: 0 })
    );
}

#[tokio::test]
async fn truncated_answer_is_unknown() {
    let x = run(misbehave(Misbehaviour::Truncated), |_| {}, 1000).await;
    assert!(
        matches!(x.outcome, ExchangeOutcome::Unknown(UnknownCause::Closed { received }) if received > 0),
        "{:?}",
        x.outcome
    );
}

#[tokio::test]
async fn oversized_answer_is_unknown() {
    let x = run(
        misbehave(Misbehaviour::Oversized(10_000)),
        |c| c.max_answer = 4096,
        1000,
    )
    .await;
    assert_eq!(
        x.outcome,
        ExchangeOutcome::Unknown(UnknownCause::Oversized { limit: 4096 })
    );
}

#[tokio::test]
async fn garbage_lies_and_non_ascii_are_unknown() {
    let cases: [&[u8]; 6] = [
        b"GARBAGE?!",
        b"HELLO",
        // length says 99: the terminal then closes
        b"CZ0040300AE00210CB09905",
        // non-ASCII in a value
        b"CZ0040300AE002\xe910",
        // CR/LF after a whole answer
        b"CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041000AE00210\r\n",
        // the simulator's answer to half a request: AE=10 with AF=09
        b"CZ00203AE00210AF00209",
    ];
    for raw in cases {
        let x = run(misbehave(Misbehaviour::Raw(raw.to_vec())), |_| {}, 1000).await;
        assert!(
            matches!(x.outcome, ExchangeOutcome::Unknown(_)),
            "{}: {:?}",
            String::from_utf8_lossy(raw),
            x.outcome
        );
    }
}

#[tokio::test]
async fn a_full_card_number_in_an_answer_is_masked_in_evidence() {
    let raw = b"CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041000AE00210AA0164970101234560014AC006123456".to_vec();
    let x = run(misbehave(Misbehaviour::Raw(raw)), |_| {}, 1000).await;
    let ExchangeOutcome::Approved(a) = &x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert_eq!(a.card.as_deref(), Some("497010######0014"));
    let text = String::from_utf8(x.received.clone()).unwrap();
    assert!(text.contains("AA016497010######0014"), "{text}");
    assert!(!x.evidence().to_string().contains("4970101234560014"));
    // In garbage too.
    let x = run(
        misbehave(Misbehaviour::Raw(b"PAN 4970101234560014 ??".to_vec())),
        |_| {},
        1000,
    )
    .await;
    assert!(matches!(x.outcome, ExchangeOutcome::Unknown(_)));
    assert!(!x.evidence().to_string().contains("4970101234560014"));
}

#[tokio::test]
async fn unreachable_terminal_sends_nothing() {
    // A port nobody listens on: bind, read the port, close.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let cfg = config(port);
    let client = TerminalClient::new(cfg.clone()).unwrap();
    let x = client
        .exchange(&request(&cfg, eur(1000), Action::Debit))
        .await
        .unwrap();
    assert!(
        matches!(x.outcome, ExchangeOutcome::Unreachable { .. }),
        "{:?}",
        x.outcome
    );
    assert!(x.received.is_empty());
}

#[tokio::test]
async fn refund_cheque_and_currencies() {
    let e = emulator::start(EmulatorConfig::default()).await.unwrap();
    let mut cfg = config(e.port());
    let client = TerminalClient::new(cfg.clone()).unwrap();
    let x = client
        .exchange(&request(&cfg, eur(1000), Action::Refund))
        .await
        .unwrap();
    assert!(matches!(x.outcome, ExchangeOutcome::Approved(_)));
    assert!(String::from_utf8_lossy(&x.sent).contains("CD0011CB0041000"));

    cfg.method = PaymentMethod::Cheque;
    let cheque = TerminalClient::new(cfg.clone()).unwrap();
    let x = cheque
        .exchange(&request(&cfg, eur(4200), Action::Debit))
        .await
        .unwrap();
    let ExchangeOutcome::Approved(a) = &x.outcome else {
        panic!("{:?}", x.outcome);
    };
    assert!(a.authorisation.is_none() && a.card.is_none());
    assert!(String::from_utf8_lossy(&x.sent).contains("CC00300C"));
    // R5: a failed cheque is 04.
    let x = cheque
        .exchange(&request(&cfg, eur(4252), Action::Debit))
        .await
        .unwrap();
    assert!(
        matches!(x.outcome, ExchangeOutcome::Declined(ref d) if d.code.as_deref() == Some("04"))
    );

    cfg.method = PaymentMethod::Card;
    let xpf = Money::from_minor(1000, Currency::from_code("XPF").unwrap()).unwrap();
    let x = client
        .exchange(&request(&cfg, xpf, Action::Debit))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&x.sent).contains("CE003953"));
    assert!(matches!(x.outcome, ExchangeOutcome::Approved(ref a) if a.amount == xpf));
    let usd = Money::from_minor(1000, Currency::from_code("USD").unwrap()).unwrap();
    let x = client
        .exchange(&request(&cfg, usd, Action::Debit))
        .await
        .unwrap();
    assert!(
        matches!(x.outcome, ExchangeOutcome::Declined(ref d) if d.code.as_deref() == Some("13"))
    );
    e.shutdown().await;
}

#[tokio::test]
async fn one_exchange_at_a_time_per_terminal() {
    let e = emulator::start(EmulatorConfig {
        delay: Duration::from_millis(400),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let cfg = config(e.port());
    let a = TerminalClient::new(cfg.clone()).unwrap();
    // Another client of the same terminal (a cheque instance, the refund path) shares the lock.
    let b = TerminalClient::new(cfg.clone()).unwrap();
    let req = request(&cfg, eur(1000), Action::Debit);
    let first = tokio::spawn({
        let a = a.clone();
        let req = req.clone();
        async move { a.exchange(&req).await }
    });
    let seen = e.wait_for_exchanges(1, Duration::from_secs(3)).await;
    assert_eq!(seen.len(), 1);
    let second = b.exchange(&req).await;
    assert!(
        matches!(second, Err(CaisseApError::Busy { .. })),
        "{second:?}"
    );
    assert!(second.unwrap_err().to_string().contains("busy"));
    let first = first.await.unwrap().unwrap();
    assert!(matches!(first.outcome, ExchangeOutcome::Approved(_)));
    // Free again once the first is done; the refused one never reached the terminal.
    assert_eq!(e.exchanges().len(), 1);
    assert!(b.exchange(&req).await.is_ok());
    e.shutdown().await;
}

#[tokio::test]
async fn emulator_reproduces_the_simulator() {
    // Q1 (AE=10 with AF=09 at once for a request without CE), then C2 (a second request
    // on the same connection: the simulator never closes).
    let e = emulator::start(quirk(Quirks::simulator())).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    s.write_all(b"CZ0040300CJ012012345678901CA00201CD0010CB0041000")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &buf[..n],
        b"CZ0040300CJ012012345678901CA00201CD0010CB0041000AE00210AF00209"
    );
    s.write_all(b"CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041251")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &buf[..n],
        b"CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041251AE00201AF00204"
    );
    // E4: garbage gets no answer and a closed connection.
    let mut g = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    g.write_all(b"HELLO").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(3), g.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    e.shutdown().await;
}
