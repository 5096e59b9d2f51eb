//! The provider against its sandbox, end to end through an engine: the hosted page's
//! checks, the signed IPN and return, Paybox Direct (refund, capture, cancel, inquiry),
//! subscriptions through Direct Plus, and the backup host rules.
#![cfg(feature = "sandbox")]

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use bank_core::config::Config;
use bank_core::testing::RecordingHooks;
use bank_core::{
    Acquirer, Channel, Currency, Effect, Engine, HookName, HttpMethod, Money, NewTransaction,
    Notification, PaymentRequest, Registry, Status, Transaction,
};
use bank_paybox::direct::{DirectClient, DirectRequest, Operation};
use bank_paybox::sandbox::{Sandbox, SandboxConfig, SandboxHandle, CARD_ACCEPTED, CARD_REFUSED};
use bank_paybox::PayboxError;

struct Setup {
    engine: Arc<Engine>,
    hooks: Arc<RecordingHooks>,
    sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let sandbox = Sandbox::spawn(SandboxConfig::default()).expect("sandbox");
    let mut text = String::from(
        "[installation]\nid = \"shop\"\nsecret = \"test-secret-0123456789abcdef\"\nbase_url = \"https://shop.example\"\n\n[[instance]]\nid = \"pbx\"\nprovider = \"paybox\"\n[instance.options]\ndefault_email = \"shop@example.com\"\n",
    );
    for (k, v) in sandbox.instance_options() {
        if !extra.iter().any(|(e, _)| *e == k) {
            text.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
        }
    }
    for (k, v) in extra {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(v).unwrap()));
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
    .expect("engine");
    Setup {
        engine: Arc::new(engine),
        hooks,
        sandbox,
        _dir: dir,
    }
}

impl Setup {
    fn acquirer(&self) -> Arc<dyn Acquirer> {
        self.engine.registry().get("pbx").unwrap()
    }

    async fn tx(&self, minor: i64, recurring: bool) -> Transaction {
        let mut t = NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap());
        t.force = true;
        t.recurring = recurring;
        self.engine.inserer_transaction(t).await.unwrap()
    }

    async fn form(&self, tx: &Transaction) -> bank_core::Form {
        let mut ctx = self.engine.payment_context(tx, "pbx").await;
        ctx.urls.notify_url = self.sandbox.ipn_sink_url();
        match self.acquirer().payment_request(tx, &ctx).await.unwrap() {
            PaymentRequest::Form(f) => f,
            other => panic!("{other:?}"),
        }
    }

    /// Pays `tx` on the sandbox with `card` and hands the IPN to the engine.
    async fn pay(&self, tx: &Transaction, card: &str) -> bank_core::NotificationResult {
        let form = self.form(tx).await;
        let visit = self.sandbox.visit(&form, Some(card)).await.unwrap();
        let ipn = visit.ipn.expect("an IPN");
        assert_eq!(ipn.delivery, Ok(200));
        assert_eq!(
            self.sandbox.received_ipns().last(),
            Some(&ipn.query),
            "delivered byte for byte"
        );
        let mut n = Notification::new(Channel::Server, HttpMethod::Get, self.engine.now());
        n.query = ipn.query;
        self.engine.handle_notification("pbx", n).await.unwrap()
    }

    async fn reload(&self, tx: &Transaction) -> Transaction {
        self.engine.transaction(&tx.reference).await.unwrap()
    }
}

#[tokio::test]
async fn the_hosted_page_refuses_a_bad_form() {
    let s = setup(&[]).await;
    let tx = s.tx(1250, false).await;
    let good = s.form(&tx).await;
    let mut bad_hmac = good.clone();
    let last = bad_hmac.fields.len() - 1;
    bad_hmac.fields[last].1.replace_range(0..1, "0");
    if bad_hmac.fields[last].1 == good.fields[last].1 {
        bad_hmac.fields[last].1.replace_range(0..1, "1");
    }
    let mut tampered = good.clone();
    for (k, v) in &mut tampered.fields {
        if k == "PBX_TOTAL" {
            *v = "100".into();
        }
    }
    let mut other_site = good.clone();
    other_site.fields[0].1 = "1999887".into();
    let mut no_hmac = good.clone();
    no_hmac.fields.pop();
    for (form, why) in [
        (bad_hmac, "HMAC"),
        (tampered, "HMAC"),
        (other_site, "unknown merchant"),
        (no_hmac, "PBX_HMAC"),
    ] {
        let e = s
            .sandbox
            .visit(&form, Some(CARD_ACCEPTED))
            .await
            .unwrap_err();
        assert!(
            e.contains("Access refused") && e.contains(why),
            "{why}: {e}"
        );
    }
    assert!(
        s.sandbox.sent_ipns().is_empty(),
        "no IPN for a refused form"
    );
}

#[tokio::test]
async fn pay_refund_partially_then_fully_through_direct() {
    let s = setup(&[]).await;
    let tx = s.tx(3000, false).await;
    let r = s.pay(&tx, CARD_ACCEPTED).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
    let part = Money::from_minor(1000, Currency::EUR).unwrap();
    let t = s
        .engine
        .refund(&tx.reference, Some(part), "staff")
        .await
        .unwrap();
    assert_eq!((t.status, t.refunded), (Status::Ok, part));

    // The sandbox checks amounts: asking Paybox for more than is left is a definite
    // refusal, which releases nothing but changes nothing either.
    let too_much = Money::from_minor(2001, Currency::EUR).unwrap();
    let e = s
        .acquirer()
        .refund(&t, too_much, "k", &s.engine.operation_context())
        .await
        .unwrap_err();
    match e {
        bank_core::Error::Provider { code, failure, .. } => {
            assert_eq!(code.as_deref(), Some("00011"));
            assert_eq!(failure, bank_core::ProviderFailure::Refused);
        }
        other => panic!("{other:?}"),
    }

    let t = s.engine.refund(&tx.reference, None, "staff").await.unwrap();
    assert_eq!(t.status, Status::Rembourse);
    assert_eq!(t.refunded, t.amount);
    s.engine.deliver_pending().await.unwrap();
    assert_eq!(s.hooks.count(HookName::TraiterRemboursement), 2);
}

#[tokio::test]
async fn a_refused_card_fails_the_payment() {
    let s = setup(&[]).await;
    let tx = s.tx(1250, false).await;
    let r = s.pay(&tx, CARD_REFUSED).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Echec
        }
    );
    let t = s.reload(&tx).await;
    assert_eq!(t.error_code.as_deref(), Some("00105"));
    assert!(t.error_message.unwrap().contains("do not honour"));
}

#[tokio::test]
async fn the_browser_comes_back_with_the_same_signed_query() {
    let s = setup(&[]).await;
    let tx = s.tx(1250, false).await;
    let form = s.form(&tx).await;
    let visit = s.sandbox.visit(&form, Some(CARD_ACCEPTED)).await.unwrap();
    let location = visit.redirect.expect("redirect");
    assert!(
        location.starts_with("https://shop.example/bank/pbx/retour?ref="),
        "{location}"
    );
    let query = location.split_once('?').unwrap().1.to_string();
    assert!(query.ends_with(visit.ipn.as_ref().unwrap().query.as_str()));
    let mut n = Notification::new(Channel::Browser, HttpMethod::Get, s.engine.now());
    n.query = query;
    let r = s.engine.handle_notification("pbx", n).await.unwrap();
    assert!(matches!(r.effect, Effect::NoOp { .. }), "{:?}", r.effect);
    assert_eq!(
        s.reload(&tx).await.status,
        Status::Commande,
        "only the IPN settles"
    );

    // Cancelling on the page: back to PBX_ANNULE with 00001, and no IPN.
    let tx = s.tx(1250, false).await;
    let form = s.form(&tx).await;
    let before = s.sandbox.sent_ipns().len();
    let visit = s.sandbox.visit(&form, None).await.unwrap();
    let location = visit.redirect.unwrap();
    assert!(location.contains("/bank/pbx/cancel?ref="), "{location}");
    assert!(location.contains("erreur=00001"));
    assert!(visit.ipn.is_none());
    assert_eq!(s.sandbox.sent_ipns().len(), before);
}

#[tokio::test]
async fn authorise_then_capture_or_cancel() {
    let s = setup(&[("authorisation_only", "true")]).await;
    assert!(s.acquirer().capabilities().capture);
    let tx = s.tx(2000, false).await;
    let form = s.form(&tx).await;
    assert!(form
        .fields
        .iter()
        .any(|(k, v)| k == "PBX_AUTOSEULE" && v == "O"));
    s.pay(&tx, CARD_ACCEPTED).await;
    let t = s.reload(&tx).await;
    assert_eq!(t.status, Status::Ok);
    // Nothing captured yet: nothing to refund at Paybox.
    let one = Money::from_minor(100, Currency::EUR).unwrap();
    assert!(s
        .acquirer()
        .refund(&t, one, "k", &s.engine.operation_context())
        .await
        .is_err());
    let captured = s
        .acquirer()
        .capture(&t, t.amount, &s.engine.operation_context())
        .await
        .unwrap();
    assert!(captured.provider_reference.is_some());
    assert!(
        s.acquirer()
            .capture(&t, t.amount, &s.engine.operation_context())
            .await
            .is_err(),
        "captured once"
    );
    s.acquirer()
        .refund(&t, one, "k", &s.engine.operation_context())
        .await
        .unwrap();

    let tx = s.tx(2000, false).await;
    s.pay(&tx, CARD_ACCEPTED).await;
    let t = s.reload(&tx).await;
    s.acquirer()
        .cancel(&t, &s.engine.operation_context())
        .await
        .unwrap();
    assert!(
        s.acquirer()
            .capture(&t, t.amount, &s.engine.operation_context())
            .await
            .is_err(),
        "cancelled"
    );
}

#[tokio::test]
async fn subscriptions_register_the_card_and_debit_it() {
    let s = setup(&[]).await;
    let first = s.tx(1000, true).await;
    let form = s.form(&first).await;
    let get = |n: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("PBX_REFABONNE"), Some(first.reference.clone()));
    assert_eq!(
        get("PBX_RETOUR").as_deref(),
        Some(bank_paybox::form::RETOUR_SUBSCRIPTION)
    );
    s.pay(&first, CARD_ACCEPTED).await;
    let t = s.reload(&first).await;
    assert_eq!(t.status, Status::Ok);
    let sub = bank_paybox::Subscriber::decode(t.subscription_id.as_deref().unwrap()).unwrap();
    assert_eq!(sub.refabonne, first.reference);
    assert_eq!(sub.expiry, "2912");

    let r = s.engine.charge_instalment(&first.reference).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{:?}",
        r.effect
    );
    s.engine.deliver_pending().await.unwrap();
    assert_eq!(s.hooks.count(HookName::RenouvelerAbonnement), 1);

    // Ending the subscription deletes the subscriber; a later debit is refused.
    s.engine
        .cancel_subscription(&first.reference, "staff")
        .await
        .unwrap();
    let r = s.engine.charge_instalment(&first.reference).await.unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                to: Status::Echec,
                ..
            }
        ),
        "{:?}",
        r.effect
    );

    // A debit the bank refuses (the sandbox refuses amounts ending in 51 cents).
    let first = s.tx(1051, true).await;
    s.pay(&first, CARD_ACCEPTED).await;
    let r = s.engine.charge_instalment(&first.reference).await.unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                to: Status::Echec,
                ..
            }
        ),
        "{:?}",
        r.effect
    );
    s.engine.deliver_pending().await.unwrap();
    assert!(s.hooks.count(HookName::Resilier) >= 2);
}

fn request(op: Operation, numquestion: i64) -> DirectRequest {
    let c = SandboxConfig::default();
    DirectRequest {
        operation: op,
        site: c.site,
        rang: c.rang,
        cle: secrecy::SecretString::from(c.cle),
        numquestion,
        montant: Some(100),
        devise: Some(978),
        reference: Some("shop-x".into()),
        numtrans: Some("1".into()),
        numappel: Some("1".into()),
        dateq: "01052024102030".into(),
        activite: None,
        refabonne: None,
        porteur: None,
        dateval: None,
    }
}

/// A port where nothing listens.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/PPPS.php")
}

/// A host that reads the question and closes without answering, once.
fn mute_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
        }
    });
    format!("http://127.0.0.1:{port}/PPPS.php")
}

#[tokio::test]
async fn the_backup_host_only_when_nothing_was_sent() {
    let sandbox = Sandbox::spawn(SandboxConfig::default()).unwrap();
    // Main host down (connection refused): the backup answers. Here, for a transaction
    // the sandbox does not know: a definite refusal, from the backup.
    let client = DirectClient::new(vec![dead_url(), sandbox.direct_url()]).unwrap();
    match client.send(&request(Operation::Refund, 1)).await {
        Err(PayboxError::Refused { code, .. }) => assert_eq!(code, "00015"),
        other => panic!("{other:?}"),
    }
    // The main host took the refund and said nothing: never sent to the backup.
    let client = DirectClient::new(vec![mute_url(), sandbox.direct_url()]).unwrap();
    match client.send(&request(Operation::Refund, 2)).await {
        Err(PayboxError::OutcomeUnknown { .. }) => {}
        other => panic!("{other:?}"),
    }
    // An inquiry moves no money: it may go to the backup after the same failure.
    let client = DirectClient::new(vec![mute_url(), sandbox.direct_url()]).unwrap();
    match client.send(&request(Operation::Inquiry, 3)).await {
        Err(PayboxError::Refused { code, .. }) => assert_eq!(code, "00015"),
        other => panic!("{other:?}"),
    }
    // Every host down: unreachable, nothing sent.
    let client = DirectClient::new(vec![dead_url(), dead_url()]).unwrap();
    match client.send(&request(Operation::Refund, 4)).await {
        Err(PayboxError::Unreachable { hosts: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    // A question number used twice in a day is refused by the sandbox.
    let client = DirectClient::new(vec![sandbox.direct_url()]).unwrap();
    match client.send(&request(Operation::Inquiry, 3)).await {
        Err(PayboxError::Refused { code, .. }) => assert_eq!(code, "00005"),
        other => panic!("{other:?}"),
    }
    // A wrong CLE is refused.
    let mut r = request(Operation::Inquiry, 5);
    r.cle = secrecy::SecretString::from("wrong".to_string());
    match client.send(&r).await {
        Err(PayboxError::Refused { code, .. }) => assert_eq!(code, "00006"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sandbox_in_its_own_thread_serves_any_runtime() {
    let s = Sandbox::start(SandboxConfig::default()).unwrap();
    for _ in 0..2 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = s.direct_url();
        rt.block_on(async move {
            let client = DirectClient::new(vec![url]).unwrap();
            let r = client
                .send(&request(Operation::Inquiry, rand_question()))
                .await;
            assert!(matches!(r, Err(PayboxError::Refused { .. })), "{r:?}");
        });
    }
    assert_eq!(
        s.public_key_pem(),
        bank_paybox::sandbox::TEST_PUBLIC_KEY_PEM
    );
    assert!(s
        .instance_options()
        .iter()
        .any(|(k, v)| k == "url" && v == &s.system_url()));
}

fn rand_question() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static N: AtomicI64 = AtomicI64::new(100);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Another merchant's Paybox account, on its own sandbox: same signing key (as on Paybox,
/// where every account shares one), another site, rank, HMAC key and Direct key.
fn other_account() -> SandboxConfig {
    SandboxConfig {
        site: "1999887".into(),
        rang: "43".into(),
        identifiant: "110647233".into(),
        hmac_key_hex: "FEDCBA9876543210".repeat(8),
        cle: "1999887I".into(),
    }
}

/// The IPN of a payment of `tx` (its reference and amount) made on the other account,
/// with our IPN URL: what an attacker gets by paying on their own Paybox account.
async fn paid_on_another_account(s: &Setup, tx: &Transaction) -> String {
    let c = other_account();
    let other = Sandbox::spawn(c.clone()).unwrap();
    let info = bank_core::InstanceInfo {
        id: "attacker".into(),
        provider: "paybox".into(),
        mode: bank_core::Mode::Test,
        order: 0,
        caption: "Paybox".into(),
    };
    let mut pairs: Vec<(String, String)> = other.instance_options();
    pairs.push(("default_email".into(), "a@example.com".into()));
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let attacker =
        bank_paybox::Paybox::new(info, &bank_core::Options::from_pairs("attacker", &refs)).unwrap();
    let mut ctx = s.engine.payment_context(tx, "pbx").await;
    ctx.urls.notify_url = other.ipn_sink_url();
    let fields = attacker.form_fields(tx, &ctx).unwrap();
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("PBX_SITE"), Some("1999887"));
    assert_eq!(get("PBX_CMD"), Some(tx.reference.as_str()));
    let form = bank_core::Form {
        action: other.system_url(),
        method: HttpMethod::Post,
        fields,
        submit_label: "Pay".into(),
        auto_submit: true,
    };
    let visit = other.visit(&form, Some(CARD_ACCEPTED)).await.unwrap();
    visit.ipn.expect("an IPN").query
}

#[tokio::test]
async fn a_payment_on_another_account_never_pays_our_order() {
    let s = setup(&[]).await;
    let tx = s.tx(4200, false).await;
    let query = paid_on_another_account(&s, &tx).await;
    // Genuinely signed, with our reference and amount.
    let verified = bank_paybox::response::verify(
        &bank_paybox::settings::parse_public_key(s.sandbox.public_key_pem()).unwrap(),
        &query,
    )
    .unwrap();
    assert_eq!(verified.reference, tx.reference);
    assert_eq!(verified.erreur, "00000");

    let mut n = Notification::new(Channel::Server, HttpMethod::Get, s.engine.now());
    n.query = query;
    let r = s.engine.handle_notification("pbx", n).await.unwrap();
    match &r.effect {
        Effect::Rejected { reason } => {
            assert!(reason.contains("does not know"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.reload(&tx).await.status, Status::Commande);
    s.engine.deliver_pending().await.unwrap();
    assert_eq!(s.hooks.count(HookName::TraiterReglement), 0);

    // The same order paid on our account is confirmed and settles.
    let r = s.pay(&tx, CARD_ACCEPTED).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
}

#[tokio::test]
async fn a_paid_ipn_waits_while_direct_cannot_confirm_it() {
    let s = setup(&[("direct_url", &dead_url())]).await;
    let tx = s.tx(1500, false).await;
    let form = s.form(&tx).await;
    let visit = s.sandbox.visit(&form, Some(CARD_ACCEPTED)).await.unwrap();
    let mut n = Notification::new(Channel::Server, HttpMethod::Get, s.engine.now());
    n.query = visit.ipn.unwrap().query;
    // Not a verification failure: the server answers 5xx and Paybox sends it again.
    match s.engine.handle_notification("pbx", n).await {
        Err(bank_core::Error::Provider { failure, .. }) => {
            assert_eq!(failure, bank_core::ProviderFailure::Unavailable)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.reload(&tx).await.status, Status::Commande);
}

#[tokio::test]
async fn question_numbers_are_counted_per_site_and_day() {
    let s = setup(&[]).await;
    let tx = s.tx(1000, false).await;
    s.pay(&tx, CARD_ACCEPTED).await; // one inquiry
    let name = bank_paybox::acquirer::question_counter("1999888", s.engine.now());
    assert!(name.starts_with("paybox:1999888:") && !name.contains(":32:"));
    assert_eq!(name.len(), "paybox:1999888:".len() + 8);
    assert_eq!(s.engine.store().next_counter(&name).await.unwrap(), 2);
}

#[tokio::test]
async fn a_temporary_failure_keeps_the_subscription() {
    let s = setup(&[]).await;
    // The sandbox answers 00003 (Paybox error, retry) to debits ending in 03 cents.
    let first = s.tx(1003, true).await;
    s.pay(&first, CARD_ACCEPTED).await;
    match s.engine.charge_instalment(&first.reference).await {
        Err(bank_core::Error::Provider { code, failure, .. }) => {
            assert_eq!(code.as_deref(), Some("00003"));
            assert!(failure.may_pass_later());
        }
        other => panic!("{other:?}"),
    }
    s.engine.deliver_pending().await.unwrap();
    assert_eq!(s.hooks.count(HookName::Resilier), 0);
    let t = s.reload(&first).await;
    assert_eq!(t.status, Status::Ok);
    assert!(t.subscription_id.is_some());
}

#[tokio::test]
async fn the_card_handle_stays_out_of_history() {
    let s = setup(&[]).await;
    let first = s.tx(1000, true).await;
    s.pay(&first, CARD_ACCEPTED).await;
    let t = s.reload(&first).await;
    let handle = bank_paybox::Subscriber::decode(t.subscription_id.as_deref().unwrap())
        .unwrap()
        .handle;
    s.engine.charge_instalment(&first.reference).await.unwrap();
    let page = s
        .engine
        .store()
        .list_transactions(&bank_core::store::ListFilter::default(), None, 10)
        .await
        .unwrap();
    let instalment = page
        .items
        .iter()
        .find(|x| x.reference != first.reference)
        .expect("the instalment");
    assert_eq!(instalment.status, Status::Ok);
    let history = s.engine.store().history(instalment.id).await.unwrap();
    let text =
        serde_json::to_string(&history.iter().map(|h| &h.detail).collect::<Vec<_>>()).unwrap();
    assert!(text.contains("NUMTRANS"), "{text}");
    assert!(!text.contains(&handle), "{text}");
}

/// `bank verify` builds the instance without an engine: the signature of a captured IPN is
/// checked, and the Direct inquiry (which needs the store's question numbers) is reported
/// as not done rather than failing the check.
#[tokio::test]
async fn offline_verification_says_the_inquiry_was_not_made() {
    let s = setup(&[]).await;
    let tx = s.tx(1250, false).await;
    let form = s.form(&tx).await;
    let ipn = s
        .sandbox
        .visit(&form, Some(bank_paybox::sandbox::CARD_ACCEPTED))
        .await
        .unwrap()
        .ipn
        .expect("an IPN");
    let mut pairs: Vec<(String, String)> = s.sandbox.instance_options();
    pairs.push(("default_email".into(), "shop@example.com".into()));
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let info = bank_core::InstanceInfo {
        id: "pbx".into(),
        provider: "paybox".into(),
        mode: bank_core::Mode::Test,
        order: 0,
        caption: "Paybox".into(),
    };
    let offline =
        bank_paybox::Paybox::new(info, &bank_core::Options::from_pairs("pbx", &refs)).unwrap();
    let mut n = Notification::new(Channel::Server, HttpMethod::Get, s.engine.now());
    n.query = ipn.query;
    let ctx = bank_core::VerifyContext {
        installation: "shop".into(),
        now: s.engine.now(),
        signer: s.engine.signer().clone(),
        counters: None,
    };
    let v = offline.verify(&n, &ctx).await.expect("signature checked");
    assert_eq!(v.outcome, bank_core::Outcome::Paid);
    assert_eq!(
        v.detail["confirmed_by_direct"],
        "not checked: no engine (offline verification)"
    );
    let mut tampered = n.clone();
    tampered.query = tampered.query.replacen("montant=1250", "montant=125", 1);
    assert!(offline.verify(&tampered, &ctx).await.is_err());
}
