//! The `paybox` provider behind a real engine and SQLite store: what a genuine, a replayed
//! and each kind of bad IPN does to a transaction, and what is kept as evidence.

use std::collections::BTreeMap;
use std::sync::Arc;

use bank_core::config::Config;
use bank_core::store::Verdict as StoredVerdict;
use bank_core::testing::RecordingHooks;
use bank_core::{
    Acquirer, Channel, Currency, Effect, Engine, HttpMethod, InstanceInfo, Mode, Money,
    NewTransaction, Notification, Options, PaymentRequest, Registry, Status, Transaction,
};
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::{Digest, Sha1};

const TEST_KEY: &str = include_str!("../../src/sandbox/test_key.pem");
const TEST_PUB: &str = include_str!("../../src/sandbox/test_key.pub.pem");
const HMAC_KEY: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\
0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";

struct Setup {
    engine: Arc<Engine>,
    hooks: Arc<RecordingHooks>,
    _dir: tempfile::TempDir,
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

async fn setup(public_key: &str) -> Setup {
    setup_with(public_key, &[]).await
}

async fn setup_with(public_key: &str, extra: &[(&str, &str)]) -> Setup {
    std::hint::black_box(bank_paybox::describe as fn() -> bank_core::ProviderDescription);
    let mut text = format!(
        "[installation]\nid = \"shop\"\nsecret = \"test-secret-0123456789abcdef\"\nbase_url = \"https://shop.example\"\n\n\
[[instance]]\nid = \"pbx\"\nprovider = \"paybox\"\n[instance.options]\nsite = \"1999888\"\nrang = \"32\"\nidentifiant = \"107904482\"\n\
hmac_key = \"{HMAC_KEY}\"\npublic_key = {}\ndefault_email = \"shop@example.com\"\n",
        toml_str(public_key)
    );
    for (k, v) in extra {
        text.push_str(&format!("{k} = {}\n", toml_str(v)));
    }
    let env: BTreeMap<String, String> = BTreeMap::new();
    let config = Config::parse(&text, "<tests>", &env).expect("configuration");
    let registry = Registry::from_config(&config, &env).expect("registry");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bank.db").display());
    let store = bank_store::SqliteStore::connect(&url)
        .await
        .expect("sqlite");
    let hooks = Arc::new(RecordingHooks::new());
    let engine = Engine::open(
        Arc::new(store),
        registry,
        hooks.clone(),
        &config.installation,
        config.engine.clone(),
    )
    .await
    .expect("engine")
    // A fixed clock: the same request twice gives the same bytes (PBX_TIME).
    .with_clock(Arc::new(bank_core::ManualClock::new(chrono::Utc::now())));
    Setup {
        engine: Arc::new(engine),
        hooks,
        _dir: dir,
    }
}

impl Setup {
    async fn tx(&self, minor: i64) -> Transaction {
        let mut t = NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap());
        t.force = true;
        self.engine.inserer_transaction(t).await.unwrap()
    }

    async fn notify(&self, n: Notification) -> bank_core::NotificationResult {
        self.engine.handle_notification("pbx", n).await.unwrap()
    }

    async fn reload(&self, tx: &Transaction) -> Transaction {
        self.engine.transaction(&tx.reference).await.unwrap()
    }

    async fn stored_verdict(&self, id: i64) -> Option<StoredVerdict> {
        self.engine
            .store()
            .notification(id)
            .await
            .unwrap()
            .map(|n| n.verdict)
    }
}

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The signed variables of an IPN, as Paybox encodes them.
fn ipn_vars(montant: &str, reference: &str, erreur: &str, auth: &str) -> String {
    format!(
        "montant={}&reference={}&code_autorisation={}&erreur={}&numero_appel=30310733&numero_transaction=13957441&date_transaction=01052024&heure_transaction={}",
        enc(montant),
        enc(reference),
        enc(auth),
        enc(erreur),
        enc("12:20:30")
    )
}

fn sign_with(pem: &str, data: &str) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let sig = key
        .sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data.as_bytes()))
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .encode(sig)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn signed(vars: &str) -> String {
    format!("{vars}&signature={}", sign_with(TEST_KEY, vars))
}

fn ipn(query: String) -> Notification {
    let mut n = Notification::new(Channel::Server, HttpMethod::Get, chrono::Utc::now());
    n.query = query;
    n
}

fn paid_query(tx: &Transaction) -> String {
    signed(&ipn_vars(
        &tx.amount.minor().to_string(),
        &tx.reference,
        "00000",
        "XXXXXX",
    ))
}

#[tokio::test]
async fn signed_ipn_pays_once_and_a_replay_changes_nothing() {
    let s = setup(TEST_PUB).await;
    let tx = s.tx(1250).await;
    let r = s.notify(ipn(paid_query(&tx))).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
    assert_eq!(r.reply.status, 200);
    let t = s.reload(&tx).await;
    assert_eq!(t.authorisation.as_deref(), Some("13957441/30310733"));
    assert_eq!(t.mode.as_deref(), Some("pbx"));

    // The same IPN again (Paybox's retry or an attacker's replay): acknowledged, kept as
    // evidence, no second transition, no second hook.
    let again = s.notify(ipn(paid_query(&tx))).await;
    assert!(
        matches!(again.effect, Effect::NoOp { status: Status::Ok }),
        "{:?}",
        again.effect
    );
    assert_eq!(again.reply.status, 200);
    s.engine.deliver_pending().await.unwrap();
    assert_eq!(s.hooks.count(bank_core::HookName::TraiterReglement), 1);
    let evidence = s
        .engine
        .store()
        .history(t.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.notification_id.is_some())
        .count();
    assert_eq!(evidence, 2);
}

#[tokio::test]
async fn without_cle_only_paybox_addresses_may_pay() {
    let s = setup_with(
        TEST_PUB,
        &[
            ("check_ipn_source", "true"),
            ("ipn_sources", "195.101.99.76, 2001:db8::1"),
        ],
    )
    .await;
    // The sender is what the server determined (its peer, or what a trusted proxy
    // forwarded): headers a client writes play no part here.
    let from = |peer: Option<&str>, headers: &[(&str, &str)], tx: &Transaction| {
        let mut n = ipn(paid_query(tx));
        n.peer = peer.map(|p| p.parse().unwrap());
        n.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        n
    };
    let tx = s.tx(1250).await;
    let mut id = 0;
    for (peer, headers, why) in [
        (None, vec![], "source unknown"),
        (Some("203.0.113.9"), vec![], "203.0.113.9"),
        // A forged header naming Paybox changes nothing.
        (
            Some("203.0.113.9"),
            vec![
                ("x-forwarded-for", "195.101.99.76"),
                ("x-real-ip", "195.101.99.76"),
            ],
            "203.0.113.9",
        ),
    ] {
        id += 1;
        assert_rejected(&s, &tx, from(peer, &headers, &tx), why, id).await;
    }
    let r = s.notify(from(Some("195.101.99.76"), &[], &tx)).await;
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{:?}",
        r.effect
    );
    let tx = s.tx(990).await;
    let r = s.notify(from(Some("2001:db8::1"), &[], &tx)).await;
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{:?}",
        r.effect
    );
}

async fn assert_rejected(s: &Setup, tx: &Transaction, n: Notification, why: &str, stored_id: i64) {
    let r = s.notify(n).await;
    match &r.effect {
        Effect::Rejected { reason } => {
            assert!(reason.contains(why), "{why:?} not in {reason:?}")
        }
        other => panic!("{why}: {other:?}"),
    }
    assert_eq!(r.reply.status, 400);
    assert_eq!(s.reload(tx).await.status, Status::Commande, "{why}");
    assert_eq!(
        s.stored_verdict(stored_id).await,
        Some(StoredVerdict::Rejected),
        "{why}: stored for review"
    );
}

#[tokio::test]
async fn bad_ipns_are_rejected_stored_and_change_nothing() {
    let s = setup(TEST_PUB).await;
    let tx = s.tx(1250).await;
    let good = paid_query(&tx);

    // A tampered field: the amount raised after signing.
    let tampered = good.replacen("montant=1250", "montant=1350", 1);
    assert_rejected(&s, &tx, ipn(tampered), "bad signature", 1).await;
    // Another tampered field: the result code.
    let refused = signed(&ipn_vars("1250", &tx.reference, "00105", ""));
    let flipped = refused.replacen("erreur=00105", "erreur=00000", 1);
    assert_rejected(&s, &tx, ipn(flipped), "bad signature", 2).await;
    // Missing signature.
    let unsigned = ipn_vars("1250", &tx.reference, "00000", "XXXXXX");
    assert_rejected(&s, &tx, ipn(unsigned.clone()), "no signature", 3).await;
    // Truncated signature.
    let truncated = &good[..good.len() - 20];
    assert_rejected(&s, &tx, ipn(truncated.to_string()), "signature", 4).await;
    // Empty signature.
    assert_rejected(
        &s,
        &tx,
        ipn(format!("{unsigned}&signature=")),
        "empty signature",
        5,
    )
    .await;
    // Not base64.
    assert_rejected(
        &s,
        &tx,
        ipn(format!("{unsigned}&signature=a")),
        "not base64",
        6,
    )
    .await;
    // A variable repeated inside the signed bytes.
    let doubled = signed(&format!(
        "{}&montant=1",
        ipn_vars("1250", &tx.reference, "00000", "XXXXXX")
    ));
    assert_rejected(&s, &tx, ipn(doubled), "appears twice", 7).await;
    // Signed, but 00000 without an authorisation number.
    let no_auth = signed(&ipn_vars("1250", &tx.reference, "00000", ""));
    assert_rejected(&s, &tx, ipn(no_auth), "authorisation", 8).await;
    // Signed, but the amount is not a number.
    let bad_amount = signed(&ipn_vars("12.50", &tx.reference, "00000", "XXXXXX"));
    assert_rejected(&s, &tx, ipn(bad_amount), "montant", 9).await;
    // Something appended after the signature.
    assert_rejected(&s, &tx, ipn(format!("{good}&x=1")), "not the last", 10).await;

    s.engine.deliver_pending().await.unwrap();
    assert!(s.hooks.calls().is_empty());
}

#[tokio::test]
async fn a_signature_by_another_key_is_rejected() {
    // The instance trusts Paybox's real key; the IPN is signed by the sandbox's.
    let s = setup(bank_paybox::PAYBOX_PUBLIC_KEY_PEM).await;
    let tx = s.tx(1250).await;
    assert_rejected(
        &s,
        &tx,
        ipn(paid_query(&tx)),
        "not signed by the configured Paybox key",
        1,
    )
    .await;
}

#[tokio::test]
async fn a_wrong_amount_never_marks_the_transaction() {
    let s = setup(TEST_PUB).await;
    let tx = s.tx(1250).await;
    let q = signed(&ipn_vars("1249", &tx.reference, "00000", "XXXXXX"));
    let r = s.notify(ipn(q)).await;
    assert!(
        matches!(r.effect, Effect::AmountMismatch { .. }),
        "{:?}",
        r.effect
    );
    assert_eq!(s.reload(&tx).await.status, Status::Commande);
    s.engine.deliver_pending().await.unwrap();
    assert!(s.hooks.calls().is_empty());
}

#[tokio::test]
async fn refusals_and_cancellations_keep_their_meaning() {
    let s = setup(TEST_PUB).await;
    let tx = s.tx(1250).await;
    let r = s
        .notify(ipn(signed(&ipn_vars("1250", &tx.reference, "00151", ""))))
        .await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Echec
        }
    );
    let t = s.reload(&tx).await;
    assert_eq!(t.error_code.as_deref(), Some("00151"));
    assert!(t.error_message.unwrap().contains("insufficient funds"));

    let tx = s.tx(1250).await;
    let r = s
        .notify(ipn(signed(&ipn_vars("1250", &tx.reference, "00001", ""))))
        .await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Abandon
        }
    );

    let tx = s.tx(1250).await;
    let r = s
        .notify(ipn(signed(&ipn_vars("1250", &tx.reference, "99999", ""))))
        .await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Attente
        }
    );
}

#[tokio::test]
async fn browser_returns_never_settle() {
    let s = setup(TEST_PUB).await;
    let tx = s.tx(1250).await;
    let browser = |q: String| {
        let mut n = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
        n.query = q;
        n
    };
    // Signed and genuine, with our own `ref` parameter first: checked, nothing changes.
    let r = s
        .notify(browser(format!("ref={}&{}", tx.reference, paid_query(&tx))))
        .await;
    assert!(matches!(r.effect, Effect::NoOp { .. }), "{:?}", r.effect);
    assert_eq!(s.reload(&tx).await.status, Status::Commande);
    // Without Paybox's variables (the payer typed the URL): nothing to verify, nothing done.
    let r = s.notify(browser(format!("ref={}", tx.reference))).await;
    assert_eq!(r.effect, Effect::Unknown);
    assert!(r.reference.is_none());
    // Forged: rejected and stored.
    let forged = paid_query(&tx).replacen("erreur=00000", "erreur=00001", 1);
    let r = s
        .notify(browser(format!("ref={}&{forged}", tx.reference)))
        .await;
    assert!(
        matches!(r.effect, Effect::Rejected { .. }),
        "{:?}",
        r.effect
    );
    assert_eq!(s.reload(&tx).await.status, Status::Commande);
}

#[tokio::test]
async fn an_ipn_posted_in_the_body_is_verified_too() {
    // PBX_RUF1=POST: the same variables in a form body.
    let s = setup(TEST_PUB).await;
    let tx = s.tx(990).await;
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    n.body = paid_query(&tx).into_bytes();
    let r = s.notify(n).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
}

#[tokio::test]
async fn the_form_is_signed_and_complete() {
    let s = setup(TEST_PUB).await;
    let mut new = NewTransaction::new(Money::from_minor(1999, Currency::EUR).unwrap());
    new.billing = Some(bank_core::Billing {
        first_name: Some("Zoé".into()),
        last_name: Some("O'Brien & Co".into()),
        email: Some("zoe@example.com".into()),
        country: Some("BE".into()),
        ..Default::default()
    });
    let tx = s.engine.inserer_transaction(new).await.unwrap();
    let choices = s.engine.payment_choices(&tx.reference).await.unwrap();
    let PaymentRequest::Form(form) = &choices[0].request else {
        panic!("not a form");
    };
    assert_eq!(form.action, bank_paybox::settings::SYSTEM_TEST_URL);
    assert!(form.auto_submit);
    let get = |n: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("PBX_TOTAL"), Some("1999"));
    assert_eq!(get("PBX_DEVISE"), Some("978"));
    assert_eq!(get("PBX_CMD"), Some(tx.reference.as_str()));
    assert_eq!(get("PBX_PORTEUR"), Some("zoe@example.com"));
    assert_eq!(get("PBX_RETOUR"), Some(bank_paybox::form::RETOUR));
    assert_eq!(
        get("PBX_REPONDRE_A"),
        Some("https://shop.example/bank/pbx/notify")
    );
    assert!(get("PBX_ANNULE").unwrap().contains("/bank/pbx/cancel?ref="));
    assert!(get("PBX_EFFECTUE")
        .unwrap()
        .contains("/bank/pbx/retour?ref="));
    let billing = get("PBX_BILLING").unwrap();
    assert!(billing.contains("<FirstName>Zoé</FirstName><LastName>O'Brien &amp; Co</LastName>"));
    assert!(billing.contains("<CountryCode>056</CountryCode>"));
    assert!(get("PBX_SHOPPINGCART")
        .unwrap()
        .contains("<totalQuantity>1</totalQuantity>"));
    let (last, mac) = form.fields.last().unwrap();
    assert_eq!(last, "PBX_HMAC");
    let key = bank_paybox::HmacKey::from_hex(HMAC_KEY).unwrap();
    let body = bank_paybox::form::signed_string(&form.fields[..form.fields.len() - 1]);
    assert!(key.verify_hex(body.as_bytes(), mac));
    // The same transaction at the same instant gives the same bytes.
    let again = s.engine.payment_choices(&tx.reference).await.unwrap();
    assert_eq!(&again[0].request, &choices[0].request);
}

fn standalone(options: &[(&str, &str)]) -> bank_paybox::Paybox {
    let mut pairs = vec![
        ("site", "1999888"),
        ("rang", "32"),
        ("identifiant", "107904482"),
        ("hmac_key", HMAC_KEY),
    ];
    pairs.extend_from_slice(options);
    let info = InstanceInfo {
        id: "pbx".into(),
        provider: "paybox".into(),
        mode: Mode::Test,
        order: 0,
        caption: "Paybox".into(),
    };
    bank_paybox::Paybox::new(info, &Options::from_pairs("pbx", &pairs)).unwrap()
}

fn paid_tx() -> Transaction {
    let now = chrono::Utc::now();
    Transaction {
        id: 1,
        reference: "shop-0123456789abcdef".into(),
        status: Status::Ok,
        version: 2,
        amount: Money::from_minor(1000, Currency::EUR).unwrap(),
        amount_ht: None,
        refunded: Money::zero(Currency::EUR),
        refund_pending: Money::zero(Currency::EUR),
        id_auteur: None,
        auteur_id: None,
        auteur: None,
        parrain: None,
        tracking_id: None,
        champs: Default::default(),
        billing: None,
        recurring: false,
        parent_reference: None,
        mode: Some("pbx".into()),
        authorisation: Some("13957441/30310733".into()),
        subscription_id: None,
        error_code: None,
        error_message: None,
        created_at: now,
        updated_at: now,
        paid_at: Some(now),
    }
}

#[tokio::test]
async fn direct_needs_a_key_and_the_engine() {
    let amount = Money::from_minor(100, Currency::EUR).unwrap();
    let without_cle = standalone(&[]);
    assert_eq!(
        without_cle.capabilities().refund,
        bank_core::RefundSupport::None
    );
    let e = without_cle
        .refund(
            &paid_tx(),
            amount,
            "k",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cle"), "{e}");
    assert!(matches!(
        e,
        bank_core::Error::Provider {
            failure: bank_core::ProviderFailure::Refused | bank_core::ProviderFailure::Unavailable,
            ..
        }
    ));

    let without_engine = standalone(&[("cle", "1999888I")]);
    assert_eq!(
        without_engine.capabilities().refund,
        bank_core::RefundSupport::Partial
    );
    let e = without_engine
        .refund(
            &paid_tx(),
            amount,
            "k",
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("engine"), "{e}");
    assert!(matches!(
        e,
        bank_core::Error::Provider {
            failure: bank_core::ProviderFailure::Refused | bank_core::ProviderFailure::Unavailable,
            ..
        }
    ));

    let mut unpaid = paid_tx();
    unpaid.authorisation = None;
    let e = without_engine
        .capture(
            &unpaid,
            amount,
            &bank_core::OperationContext::standalone(chrono::Utc::now()),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no Paybox transaction number"),
        "{e}"
    );
}

#[tokio::test]
async fn no_email_no_form() {
    let p = standalone(&[]);
    let tx = paid_tx();
    let ctx = bank_core::PaymentContext {
        installation: "shop".into(),
        urls: bank_core::InstanceUrls::standard("https://shop.example", "pbx", &tx.reference),
        now: chrono::Utc::now(),
        billing: None,
        echeance: None,
        signer: bank_core::FormSigner::new(secrecy::SecretString::from("x".repeat(32))),
        counters: None,
    };
    let e = p.payment_request(&tx, &ctx).await.unwrap_err();
    assert!(e.to_string().contains("PBX_PORTEUR"), "{e}");
}
