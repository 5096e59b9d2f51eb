//! Conformance, end to end: the terminal emulator, the `caisse-ap-ip` provider, the
//! engine and a SQLite store. Each scenario shows the transaction's status, the stored
//! evidence, and that hooks are written exactly once.
#![cfg(feature = "sandbox")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bank_caisse_ap_ip::emulator::{self, Decision, EmulatorConfig, EmulatorHandle, Quirks};
use bank_caisse_ap_ip::{
    CaisseApError, CashierWord, ChargeOutcome, TerminalConfig, TerminalService,
};
use bank_core::config::Config;
use bank_core::testing::RecordingHooks;
use bank_core::{
    Currency, Effect, Engine, HookName, Money, NewTransaction, Notification, PaymentRequest,
    Registry, Status, Transaction,
};

struct Setup {
    engine: Arc<Engine>,
    hooks: Arc<RecordingHooks>,
    service: TerminalService,
    _dir: tempfile::TempDir,
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// An engine with instance `tpe` (card) and `tpe-cheque` (cheque) on the terminal at
/// `port`, answering within `deadline` seconds.
async fn setup(port: u16, deadline: u32) -> Setup {
    let text = format!(
        r#"
[installation]
id = "shop"
secret = "test-secret-0123456789abcdef"

[[instance]]
id = "tpe"
provider = "caisse-ap-ip"
order = 1
[instance.options]
host = "127.0.0.1"
port = {port}
deadline_seconds = {deadline}
currencies = "EUR, XPF"

[[instance]]
id = "tpe-cheque"
provider = "caisse-ap-ip"
order = 2
[instance.options]
host = "127.0.0.1"
port = {port}
mode = "cheque"
deadline_seconds = {deadline}
"#
    );
    let config = Config::parse(&text, "<tests>", &env()).expect("configuration");
    let registry = Registry::from_config(&config, &env()).expect("registry");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bank.db").display());
    let store = bank_store::SqliteStore::connect(&url)
        .await
        .expect("sqlite");
    let hooks = Arc::new(RecordingHooks::new());
    let engine = Arc::new(
        Engine::open(
            Arc::new(store),
            registry,
            hooks.clone(),
            &config.installation,
            config.engine.clone(),
        )
        .await
        .expect("engine"),
    );
    let service = TerminalService::from_config(engine.clone(), &config, &env()).expect("service");
    Setup {
        engine,
        hooks,
        service,
        _dir: dir,
    }
}

impl Setup {
    async fn tx(&self, minor: i64) -> Transaction {
        self.tx_in(minor, Currency::EUR).await
    }

    async fn tx_in(&self, minor: i64, currency: Currency) -> Transaction {
        let mut t = NewTransaction::new(Money::from_minor(minor, currency).unwrap());
        t.force = true;
        self.engine.inserer_transaction(t).await.unwrap()
    }

    async fn now(&self, tx: &Transaction) -> Transaction {
        self.engine.transaction(&tx.reference).await.unwrap()
    }

    /// Delivers hooks twice (a second run must deliver nothing new) and returns the hooks
    /// called for `tx`, in order.
    async fn hooks_of(&self, tx: &Transaction) -> Vec<HookName> {
        self.engine.deliver_pending().await.unwrap();
        let again = self.engine.deliver_pending().await.unwrap();
        assert_eq!(again.delivered, 0, "hooks delivered twice");
        self.hooks
            .calls()
            .into_iter()
            .filter(|c| c.transaction.reference == tx.reference)
            .map(|c| c.hook)
            .collect()
    }

    /// The stored raw notifications of `tx`, as JSON bodies.
    async fn evidence(&self, tx: &Transaction) -> Vec<serde_json::Value> {
        let store = self.engine.store();
        let mut out = Vec::new();
        for h in store.history(tx.id).await.unwrap() {
            if let Some(id) = h.notification_id {
                let n = store.notification(id).await.unwrap().unwrap();
                out.push(serde_json::from_slice(&n.raw.body).unwrap());
            }
        }
        out
    }
}

const PAID: [HookName; 4] = [
    HookName::TraiterReglement,
    HookName::PreFacturer,
    HookName::Facturer,
    HookName::Notifier,
];

async fn emu(config: EmulatorConfig) -> EmulatorHandle {
    emulator::start(config).await.unwrap()
}

fn fast() -> EmulatorConfig {
    EmulatorConfig {
        delay: Duration::from_millis(20),
        ..EmulatorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 5).await;
    let tx = s.tx(1245).await;

    // The payment page offers the terminal.
    let choices = s.engine.payment_choices(&tx.reference).await.unwrap();
    assert!(choices.iter().any(|c| c.request
        == PaymentRequest::Terminal {
            instance: "tpe".into()
        }));

    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    let ChargeOutcome::Approved {
        amount,
        authorisation,
        card,
        application,
    } = &r.outcome
    else {
        panic!("{r:?}");
    };
    assert_eq!(*amount, tx.amount);
    assert_eq!(card.as_deref(), Some("497010######0014"));
    assert_eq!(application.as_deref(), Some("CB contact"));
    assert_eq!(r.status, Some(Status::Ok));
    assert!(
        r.message.starts_with("Approved: 12.45 EUR, authorisation"),
        "{}",
        r.message
    );

    let after = s.now(&tx).await;
    assert_eq!(after.status, Status::Ok);
    assert_eq!(after.mode.as_deref(), Some("tpe"));
    assert_eq!(&after.authorisation, authorisation);
    assert_eq!(s.hooks_of(&tx).await, PAID);

    // Evidence: the start, then the exchange with both frames; no full card number.
    let ev = s.evidence(&tx).await;
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0]["step"], "started");
    assert_eq!(ev[1]["result"], "approved");
    assert_eq!(
        ev[1]["sent"],
        "CZ0040300CJ012012345678901CA00201CE003978CD0010CB0041245"
    );
    assert!(ev[1]["received"].as_str().unwrap().contains("AE00210"));
    assert!(ev[1]["received"]
        .as_str()
        .unwrap()
        .contains("AA016497010######0014"));

    // Paid: a second charge is refused before anything reaches the terminal.
    let again = s.service.charge("tpe", &tx.reference).await;
    assert!(
        matches!(
            again,
            Err(CaisseApError::NotPayable {
                status: Status::Ok,
                ..
            })
        ),
        "{again:?}"
    );
    assert_eq!(e.exchanges().len(), 1);
    assert_eq!(s.hooks_of(&tx).await, PAID);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_then_paid_with_another_card() {
    let refusing = emu(EmulatorConfig {
        decision: Decision::Decline("04".into()),
        ..fast()
    })
    .await;
    let mut s = setup(refusing.port(), 5).await;
    let tx = s.tx(2000).await;
    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    assert_eq!(
        r.outcome,
        ChargeOutcome::Declined {
            code: Some("04".into()),
            reason: "refused".into()
        }
    );
    assert_eq!(r.message, "Declined: refused (code 04).");
    let after = s.now(&tx).await;
    assert_eq!(after.status, Status::Echec);
    assert_eq!(after.error_code.as_deref(), Some("04"));
    assert_eq!(after.error_message.as_deref(), Some("refused"));
    assert_eq!(s.hooks_of(&tx).await, [HookName::ReglementEnEchec]);

    // The customer presents another card: the same transaction can be charged again.
    let approving = emu(fast()).await;
    let mut c = TerminalConfig::new("127.0.0.1", approving.port());
    c.deadline = Duration::from_secs(5);
    s.service.add_terminal("tpe", c).unwrap();
    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    assert!(r.outcome.is_approved());
    assert_eq!(s.now(&tx).await.status, Status::Ok);
    let mut expected = vec![HookName::ReglementEnEchec];
    expected.extend(PAID);
    assert_eq!(s.hooks_of(&tx).await, expected);
    refusing.shutdown().await;
    approving.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_on_the_terminal() {
    // A Desk/5000: red key, answer without CB.
    let e = emu(EmulatorConfig {
        quirks: Quirks::real_terminal(),
        ..fast()
    })
    .await;
    let s = setup(e.port(), 5).await;
    let tx = s.tx(1052).await;
    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    assert_eq!(
        r.outcome,
        ChargeOutcome::Declined {
            code: Some("11".into()),
            reason: "cancelled on the terminal (red key)".into()
        }
    );
    assert!(!r.received.contains("CB0"), "{}", r.received);
    let after = s.now(&tx).await;
    assert_eq!(after.status, Status::Echec);
    assert_eq!(after.error_code.as_deref(), Some("11"));
    assert_eq!(s.hooks_of(&tx).await, [HookName::ReglementEnEchec]);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_unreachable() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let s = setup(port, 5).await;
    let tx = s.tx(1000).await;
    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    assert!(
        matches!(r.outcome, ChargeOutcome::Unreachable { .. }),
        "{r:?}"
    );
    assert!(r.message.contains("nothing was charged"), "{}", r.message);
    let after = s.now(&tx).await;
    assert_eq!(after.status, Status::Commande);
    assert!(s.hooks_of(&tx).await.is_empty());
    let ev = s.evidence(&tx).await;
    assert_eq!(ev.last().unwrap()["result"], "unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_unknown_then_resolved_by_the_cashier() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 1).await;
    // ...99: the emulator never answers.
    let tx = s.tx(1099).await;
    let started = std::time::Instant::now();
    let r = s.service.charge("tpe", &tx.reference).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    let ChargeOutcome::Unknown { reason } = &r.outcome else {
        panic!("{r:?}");
    };
    assert!(reason.contains("no whole answer"), "{reason}");
    assert!(r.message.contains("Do not charge again"), "{}", r.message);
    // Nothing marked, not even echec; no hook.
    assert_eq!(s.now(&tx).await.status, Status::Commande);
    assert!(s.hooks_of(&tx).await.is_empty());
    assert_eq!(s.evidence(&tx).await.last().unwrap()["result"], "unknown");
    assert_eq!(e.exchanges().len(), 1, "never retried");

    // The receipt says approved.
    let res = s
        .service
        .resolve(
            "tpe",
            &tx.reference,
            CashierWord::Approved {
                authorisation: "A1B2C3".into(),
            },
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(res.status, Some(Status::Ok));
    let after = s.now(&tx).await;
    assert_eq!(after.authorisation.as_deref(), Some("A1B2C3"));
    assert_eq!(s.hooks_of(&tx).await, PAID);
    let ev = s.evidence(&tx).await;
    assert_eq!(ev.last().unwrap()["word"], "approved");
    assert_eq!(ev.last().unwrap()["staff"], "alice");

    // Said twice: the outcome is known now, so nothing is left to resolve.
    let again = s
        .service
        .resolve(
            "tpe",
            &tx.reference,
            CashierWord::Approved {
                authorisation: "A1B2C3".into(),
            },
            "alice",
        )
        .await;
    assert!(
        matches!(again, Err(CaisseApError::NothingToResolve { .. })),
        "{again:?}"
    );
    assert_eq!(s.hooks_of(&tx).await, PAID);

    // Another unknown, the receipt says declined.
    let tx2 = s.tx(2099).await;
    let r = s.service.charge("tpe", &tx2.reference).await.unwrap();
    assert!(matches!(r.outcome, ChargeOutcome::Unknown { .. }));
    let bad = s
        .service
        .resolve(
            "tpe",
            &tx2.reference,
            CashierWord::Approved {
                authorisation: " ".into(),
            },
            "bob",
        )
        .await;
    assert!(
        matches!(bad, Err(CaisseApError::InvalidInput { .. })),
        "{bad:?}"
    );
    s.service
        .resolve(
            "tpe",
            &tx2.reference,
            CashierWord::Declined {
                note: Some("no receipt printed".into()),
            },
            "bob",
        )
        .await
        .unwrap();
    let after = s.now(&tx2).await;
    assert_eq!(after.status, Status::Echec);
    assert!(after.error_message.unwrap().contains("no receipt printed"));
    assert_eq!(s.hooks_of(&tx2).await, [HookName::ReglementEnEchec]);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_on_the_terminal() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 1).await;
    let tx = s.tx(5000).await;
    assert!(s
        .service
        .charge("tpe", &tx.reference)
        .await
        .unwrap()
        .outcome
        .is_approved());

    // A partial refund the terminal declines (…51): nothing refunded, nothing pending.
    let eur = |m| Money::from_minor(m, Currency::EUR).unwrap();
    let refused = s
        .service
        .refund(&tx.reference, Some(eur(51)), "alice")
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let after = s.now(&tx).await;
    assert!(after.refunded.is_zero() && after.refund_pending.is_zero());

    // A partial refund whose outcome is unknown (…99, no answer): left pending.
    let unknown = s
        .service
        .refund(&tx.reference, Some(eur(99)), "alice")
        .await;
    assert!(
        matches!(unknown, Err(CaisseApError::Engine(ref e)) if matches!(**e, bank_core::Error::RefundOutcomeUnknown { .. })),
        "{unknown:?}"
    );
    assert_eq!(s.now(&tx).await.refund_pending, eur(99));
    // The cashier says the terminal printed a refused refund.
    s.engine
        .resolve_pending_refund(&tx.reference, false, "alice")
        .await
        .unwrap();

    // The whole amount: a CD=1 exchange, then rembourse.
    let t = s
        .service
        .refund(&tx.reference, None, "alice")
        .await
        .unwrap();
    assert_eq!(t.status, Status::Rembourse);
    let last = e.exchanges().last().unwrap().request.clone();
    assert!(String::from_utf8(last)
        .unwrap()
        .ends_with("CD0011CB0045000"));
    let mut expected = PAID.to_vec();
    expected.push(HookName::TraiterRemboursement);
    assert_eq!(s.hooks_of(&tx).await, expected);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheque() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 5).await;
    let tx = s.tx(4200).await;
    let r = s.service.charge("tpe-cheque", &tx.reference).await.unwrap();
    let ChargeOutcome::Approved {
        authorisation,
        card,
        ..
    } = &r.outcome
    else {
        panic!("{r:?}");
    };
    assert!(authorisation.is_none() && card.is_none());
    assert!(r.sent.contains("CC00300C"), "{}", r.sent);
    let after = s.now(&tx).await;
    assert_eq!(after.status, Status::Ok);
    assert_eq!(after.mode.as_deref(), Some("tpe-cheque"));
    assert_eq!(s.hooks_of(&tx).await, PAID);

    // A cheque failure is 04, in words that say so.
    let tx = s.tx(4251).await;
    let r = s.service.charge("tpe-cheque", &tx.reference).await.unwrap();
    assert!(
        matches!(&r.outcome, ChargeOutcome::Declined { code: Some(c), reason } if c == "04" && reason.contains("cheque")),
        "{r:?}"
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_charges_on_one_terminal_are_refused_as_busy() {
    let e = emu(EmulatorConfig {
        delay: Duration::from_millis(500),
        ..EmulatorConfig::default()
    })
    .await;
    let s = Arc::new(setup(e.port(), 5).await);
    let a = s.tx(1000).await;
    let b = s.tx(2000).await;
    let first = tokio::spawn({
        let s = s.clone();
        let r = a.reference.clone();
        async move { s.service.charge("tpe", &r).await }
    });
    e.wait_for_exchanges(1, Duration::from_secs(3)).await;
    // Same terminal, another transaction: busy. The cheque instance shares the terminal.
    let busy = s.service.charge("tpe", &b.reference).await;
    assert!(matches!(busy, Err(CaisseApError::Busy { .. })), "{busy:?}");
    let busy = s.service.charge("tpe-cheque", &b.reference).await;
    assert!(matches!(busy, Err(CaisseApError::Busy { .. })), "{busy:?}");
    // Same transaction again, while it runs: refused too.
    let twice = s.service.charge("tpe", &a.reference).await;
    assert!(
        matches!(twice, Err(CaisseApError::AlreadyCharging { .. })),
        "{twice:?}"
    );
    let r = first.await.unwrap().unwrap();
    assert!(r.outcome.is_approved());
    // Only one exchange reached the terminal; b is untouched and can be charged now.
    assert_eq!(e.exchanges().len(), 1);
    assert_eq!(s.now(&b).await.status, Status::Commande);
    assert!(s.hooks_of(&b).await.is_empty());
    assert_eq!(s.hooks_of(&a).await, PAID);
    assert!(s
        .service
        .charge("tpe", &b.reference)
        .await
        .unwrap()
        .outcome
        .is_approved());
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_posted_can_settle_a_terminal_payment() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 5).await;
    let tx = s.tx(1000).await;
    let forged = Notification::form_post(
        &[("ref", tx.reference.as_str()), ("AE", "10"), ("CB", "1000")],
        s.engine.now(),
    );
    let res = s.engine.handle_notification("tpe", forged).await.unwrap();
    assert!(matches!(res.effect, Effect::Rejected { .. }), "{res:?}");
    assert_eq!(s.now(&tx).await.status, Status::Commande);
    e.shutdown().await;
}

/// The review's attack: with the API token, "approved, FAKE01" for any transaction, a
/// currency the terminal does not take, no charge ever sent. Refused, nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_applies_only_to_an_unknown_exchange_of_that_terminal() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 5).await;
    let fake = CashierWord::Approved {
        authorisation: "FAKE01".into(),
    };
    // Never charged.
    let tx = s.tx(1000).await;
    let r = s
        .service
        .resolve("tpe", &tx.reference, fake.clone(), "api:pos")
        .await;
    assert!(
        matches!(r, Err(CaisseApError::NothingToResolve { .. })),
        "{r:?}"
    );
    // A currency the terminal does not take: no exchange was ever started.
    let jpy = s.tx_in(1000, Currency::from_code("JPY").unwrap()).await;
    assert!(s.service.charge("tpe", &jpy.reference).await.is_err());
    let r = s
        .service
        .resolve("tpe", &jpy.reference, fake.clone(), "api:pos")
        .await;
    assert!(
        matches!(r, Err(CaisseApError::NothingToResolve { .. })),
        "{r:?}"
    );
    // Approved by the terminal: its outcome is known.
    let paid = s.tx(1200).await;
    assert!(s
        .service
        .charge("tpe", &paid.reference)
        .await
        .unwrap()
        .outcome
        .is_approved());
    let r = s
        .service
        .resolve(
            "tpe",
            &paid.reference,
            CashierWord::Declined { note: None },
            "api:pos",
        )
        .await;
    assert!(
        matches!(r, Err(CaisseApError::NothingToResolve { .. })),
        "{r:?}"
    );
    for t in [&tx, &jpy] {
        let now = s.now(t).await;
        assert_eq!(now.status, Status::Commande);
        assert!(s.hooks_of(t).await.is_empty());
    }
    assert_eq!(s.now(&paid).await.status, Status::Ok);
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_sending() {
    let e = emu(fast()).await;
    let s = setup(e.port(), 5).await;
    let tx = s.tx(1000).await;
    assert!(matches!(
        s.service.charge("nope", &tx.reference).await,
        Err(CaisseApError::NotATerminal { .. })
    ));
    let usd = s.tx_in(1000, Currency::from_code("USD").unwrap()).await;
    assert!(matches!(
        s.service.charge("tpe", &usd.reference).await,
        Err(CaisseApError::CurrencyNotAccepted { .. })
    ));
    assert!(matches!(
        s.service.charge("tpe", "shop-UNKNOWN").await,
        Err(CaisseApError::Engine(_))
    ));
    // XPF is configured: 1000 XPF goes as CB=1000, CE=953.
    let xpf = s.tx_in(1000, Currency::from_code("XPF").unwrap()).await;
    let r = s.service.charge("tpe", &xpf.reference).await.unwrap();
    assert!(r.outcome.is_approved());
    assert!(
        r.sent.contains("CE003953") && r.sent.ends_with("CB0041000"),
        "{}",
        r.sent
    );
    assert_eq!(e.exchanges().len(), 1);
    e.shutdown().await;
}

#[test]
fn configuration_errors_name_the_option() {
    let _ = bank_caisse_ap_ip::describe();
    let bad = |opts: &str| {
        let text = format!(
            "[installation]\nid = \"shop\"\nsecret = \"test-secret-0123456789abcdef\"\n[[instance]]\nid = \"tpe\"\nprovider = \"caisse-ap-ip\"\n[instance.options]\n{opts}\n"
        );
        let config = Config::parse(&text, "<tests>", &env()).unwrap();
        Registry::from_config(&config, &env())
            .unwrap_err()
            .to_string()
    };
    assert!(bad("").contains("host"));
    assert!(bad("host = \"10.0.0.5\"\nport = 70000").contains("port"));
    assert!(bad("host = \"10.0.0.5\"\npos_number = \"1\"").contains("pos_number"));
    assert!(bad("host = \"10.0.0.5\"\nmode = \"cash\"").contains("mode"));
    assert!(bad("host = \"10.0.0.5\"\ndeadline_seconds = 0").contains("deadline_seconds"));
    assert!(bad("host = \"10.0.0.5\"\ncurrencies = \"EUR, ZZZ\"").contains("currencies"));
    assert!(bad("host = \"10.0.0.5\"\ncolour = \"red\"").contains("unknown option"));
}

#[test]
fn cashier_word_from_json() {
    let w: CashierWord =
        serde_json::from_str(r#"{"word":"approved","authorisation":"123456"}"#).unwrap();
    assert_eq!(
        w,
        CashierWord::Approved {
            authorisation: "123456".into()
        }
    );
    let w: CashierWord = serde_json::from_str(r#"{"word":"declined","note":null}"#).unwrap();
    assert_eq!(w, CashierWord::Declined { note: None });
}

/// The HTTP server runs these in handlers on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(s: &TerminalService) {
    fn send<T: Send>(_: T) {}
    fn shared<T: Send + Sync>() {}
    shared::<TerminalService>();
    send(s.charge("tpe", "ref"));
    send(s.resolve("tpe", "ref", CashierWord::Declined { note: None }, "staff"));
    send(s.refund("ref", None, "staff"));
    let mut out: Vec<u8> = Vec::new();
    send(bank_caisse_ap_ip::cli::pay(
        &bank_caisse_ap_ip::cli::PayArgs::new("h", 1, "1"),
        &mut out,
    ));
}
