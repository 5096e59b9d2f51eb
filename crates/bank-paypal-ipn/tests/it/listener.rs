//! The listener in an engine, against the sandbox: the tampering attack of the research
//! notes, postbacks of changed bodies, replays, refunds one by one, reversals and their
//! cancellation, subscriptions, and encrypted buttons checked with `openssl smime`.

use bank_conformance::Harness;
use bank_core::{
    Acquirer, Currency, Echeance, Effect, FormSigner, InstanceUrls, Interval, Money, Outcome,
    PaymentContext, PaymentRequest, Status, VerifyContext,
};
use bank_paypal_ipn::conformance::{driver, sandbox, PayPalIpnDriver};
use bank_paypal_ipn::sandbox::{Buyer, Sandbox, SandboxConfig};

async fn harness() -> Harness {
    Harness::new(&driver()).await.unwrap()
}

/// The button of `tx` as the acquirer builds it, edited by the payer with `edit`, paid:
/// the IPN PayPal sends (genuine: it verifies).
async fn pay_edited(
    h: &Harness,
    tx: &bank_core::Transaction,
    edit: &[(&str, &str)],
) -> bank_core::Notification {
    let ctx = h.engine.payment_context(tx, &h.instance).await;
    let acq = h.engine.registry().get(&h.instance).unwrap();
    let PaymentRequest::Form(form) = acq.payment_request(tx, &ctx).await.unwrap() else {
        panic!("a form")
    };
    let mut fields = form.fields.clone();
    for (k, v) in edit {
        for f in fields.iter_mut().filter(|f| f.0 == *k) {
            f.1 = v.to_string();
        }
    }
    let id = sandbox().submit(&fields).unwrap();
    sandbox().pay(&id, Buyer::Pays).unwrap();
    PayPalIpnDriver::delivered(&sandbox().last_message(&tx.reference).unwrap(), h)
}

#[tokio::test]
async fn an_edited_plain_button_gets_a_verified_ipn_that_never_settles() {
    let h = harness().await;
    for (edit, what) in [
        (vec![("amount", "0.01")], "a lower amount"),
        (
            vec![("currency_code", "HUF"), ("amount", "1990")],
            "a weaker currency, same number",
        ),
        (
            vec![("business", "payer@example.org")],
            "the payer's own account as business",
        ),
    ] {
        let tx = h.transaction(1990).await.unwrap();
        let n = pay_edited(&h, &tx, &edit).await;
        let r = h.notify(n).await.unwrap();
        assert!(
            matches!(
                r.effect,
                Effect::AmountMismatch { .. } | Effect::Rejected { .. }
            ),
            "{what}: {r:?}"
        );
        assert_eq!(
            h.reload(&tx).await.unwrap().status,
            Status::Commande,
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_changed_body_is_invalid_and_a_replay_changes_nothing() {
    let h = harness().await;
    let tx = h.transaction(2500).await.unwrap();
    let n = pay_edited(&h, &tx, &[]).await;
    let mut changed = n.clone();
    changed.body = String::from_utf8_lossy(&n.body)
        .replace("mc_gross=25.00", "mc_gross=25.0")
        .into_bytes();
    let r = h.notify(changed).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Rejected { .. }),
        "PayPal says INVALID: {r:?}"
    );
    let r = h.notify(n.clone()).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{r:?}"
    );
    let r = h.notify(n).await.unwrap();
    assert_eq!(
        r.effect,
        Effect::Duplicate,
        "the same txn_id and payment_status again"
    );
    let paid = h.reload(&tx).await.unwrap();
    assert!(paid.authorisation.is_some());
}

#[tokio::test]
async fn refunds_add_up_one_by_one_and_a_cancelled_reversal_restores() {
    let h = harness().await;
    let tx = h.transaction(4000).await.unwrap();
    h.notify(pay_edited(&h, &tx, &[]).await).await.unwrap();
    let txn = h.reload(&tx).await.unwrap().authorisation.unwrap();
    for (minor, total) in [(1000, 1000), (1000, 2000)] {
        let m = sandbox().refund(&txn, Some(minor)).unwrap();
        let r = h.notify(PayPalIpnDriver::delivered(&m, &h)).await.unwrap();
        assert_eq!(
            r.effect,
            Effect::PartiallyRefunded { total_minor: total },
            "{r:?}"
        );
    }
    let tx2 = h.transaction(3000).await.unwrap();
    h.notify(pay_edited(&h, &tx2, &[]).await).await.unwrap();
    let txn2 = h.reload(&tx2).await.unwrap().authorisation.unwrap();
    let r = h
        .notify(PayPalIpnDriver::delivered(
            &sandbox().reverse(&txn2).unwrap(),
            &h,
        ))
        .await
        .unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                from: Status::Ok,
                to: Status::Echec
            }
        ),
        "{r:?}"
    );
    let r = h
        .notify(PayPalIpnDriver::delivered(
            &sandbox().cancel_reversal(&txn2).unwrap(),
            &h,
        ))
        .await
        .unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                from: Status::Echec,
                to: Status::Ok
            }
        ),
        "{r:?}"
    );
}

fn ctx(tx: &bank_core::Transaction) -> PaymentContext {
    PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "paypal-ipn", &tx.reference),
        now: chrono::Utc::now(),
        billing: None,
        echeance: Some(Echeance {
            amount: Money::from_minor(500, Currency::EUR).unwrap(),
            interval: Interval::Month,
            count: Some(11),
        }),
        signer: FormSigner::new(secrecy::SecretString::from(
            "test-secret-0123456789".to_string(),
        )),
        counters: None,
    }
}

fn instance(options: Vec<(String, String)>) -> bank_paypal_ipn::PayPalIpn {
    let mut text = String::from("[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"paypal-ipn\"\nprovider = \"paypal-ipn\"\n[instance.options]\n");
    for (k, v) in options {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    let config = bank_core::Config::parse(&text, "<test>", &bank_core::config::ProcessEnv).unwrap();
    let info = bank_core::InstanceInfo {
        id: "paypal-ipn".into(),
        provider: "paypal-ipn".into(),
        mode: bank_core::Mode::Test,
        order: 1,
        caption: "PayPal".into(),
    };
    bank_paypal_ipn::PayPalIpn::new(info, &config.instances[0].options).unwrap()
}

fn vctx() -> VerifyContext {
    VerifyContext {
        installation: "shop".into(),
        now: chrono::Utc::now(),
        signer: FormSigner::new(secrecy::SecretString::from(
            "test-secret-0123456789".to_string(),
        )),
        counters: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_button_pays_first_then_renews_fails_and_ends() {
    let sb = Sandbox::start(SandboxConfig {
        deliver: false,
        ..SandboxConfig::default()
    })
    .unwrap();
    let acq = instance(sb.instance_options());
    let mut tx = bank_core::testing::transaction(
        "shop-0123456789abcdef",
        Money::from_minor(1500, Currency::EUR).unwrap(),
    );
    tx.recurring = true;
    let PaymentRequest::Form(form) = acq.payment_request(&tx, &ctx(&tx)).await.unwrap() else {
        panic!()
    };
    let get = |k: &str| form.fields.iter().find(|f| f.0 == k).map(|f| f.1.clone());
    assert_eq!(get("cmd").as_deref(), Some("_xclick-subscriptions"));
    assert_eq!(
        (
            get("a1").as_deref(),
            get("a3").as_deref(),
            get("t3").as_deref()
        ),
        (Some("15.00"), Some("5.00"), Some("M"))
    );
    assert_eq!(get("srt").as_deref(), Some("11"));
    let id = sb.submit(&form.fields).unwrap();
    sb.pay(&id, Buyer::Pays).unwrap();
    let verify = |m: bank_paypal_ipn::sandbox::Message| {
        let mut n = bank_core::Notification::new(
            bank_core::Channel::Server,
            bank_core::HttpMethod::Post,
            chrono::Utc::now(),
        );
        n.body = m.body;
        let acq = &acq;
        async move { acq.verify(&n, &vctx()).await.unwrap() }
    };
    let first = verify(sb.last_message(&tx.reference).unwrap()).await;
    assert_eq!(first.outcome, Outcome::SubscriptionPayment);
    assert_eq!(first.amount, Some(tx.amount));
    let subscr = first.subscription_id.clone().unwrap();
    let second = verify(sb.renew(&subscr, true).unwrap()).await;
    assert_eq!(
        (second.outcome, second.amount),
        (
            Outcome::SubscriptionPayment,
            Some(Money::from_minor(500, Currency::EUR).unwrap())
        )
    );
    assert_ne!(second.event_id, first.event_id);
    assert_eq!(
        verify(sb.renew(&subscr, false).unwrap()).await.outcome,
        Outcome::InstalmentFailed
    );
    assert_eq!(
        verify(sb.cancel_subscription(&subscr).unwrap())
            .await
            .outcome,
        Outcome::SubscriptionEnded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_buttons_open_with_openssl_smime_and_plain_ones_can_be_blocked() {
    let sb = Sandbox::start(SandboxConfig {
        deliver: false,
        block_plain: true,
        ..SandboxConfig::default()
    })
    .unwrap();
    let options = sb.ewp_options().unwrap();
    let acq = instance(options.clone());
    let tx = bank_core::testing::transaction(
        "shop-0123456789abcdeg",
        Money::from_minor(1990, Currency::EUR).unwrap(),
    );
    let mut c = ctx(&tx);
    c.echeance = None;
    let PaymentRequest::Form(form) = acq.payment_request(&tx, &c).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        form.fields.len(),
        2,
        "cmd and encrypted only: nothing to edit"
    );
    assert_eq!(form.fields[0], ("cmd".to_string(), "_s-xclick".to_string()));
    let pem = &form.fields[1].1;
    assert!(pem.starts_with("-----BEGIN PKCS7-----"));
    // PayPal's side with the commands of the research notes.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let opt = |k: &str| options.iter().find(|o| o.0 == k).unwrap().1.clone();
    let enc = write("encrypted.pem", pem);
    let pcert = write("paypal_cert.pem", &sb.paypal_cert_pem());
    let pkey = write("paypal_key.pem", &sb.paypal_key_pem());
    let mcert = write("my-pubcert.pem", &opt("ewp_merchant_cert"));
    let signer = dir.path().join("signer.pem");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl smime -decrypt -inform pem -in {} -recip {} -inkey {} -binary | openssl smime -verify -inform der -noverify -binary -certfile {} -signer {}",
            enc.display(), pcert.display(), pkey.display(), mcert.display(), signer.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("cert_id={}\n", opt("ewp_cert_id"))),
        "{text}"
    );
    assert!(
        text.contains("amount=19.90\n") && text.contains(&format!("invoice={}\n", tx.reference)),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&signer).unwrap(),
        opt("ewp_merchant_cert"),
        "signed by the merchant's certificate"
    );
    // The sandbox takes the encrypted button, and refuses its plain fields.
    sb.submit(&form.fields).expect("encrypted button accepted");
    let plain = bank_paypal_ipn::button::fields(
        &tx,
        &c,
        &bank_paypal_ipn::button::ButtonSettings {
            business: bank_paypal_ipn::sandbox::SANDBOX_BUSINESS.into(),
            kind: bank_paypal_ipn::button::Kind::BuyNow,
            item_name: None,
        },
    )
    .unwrap();
    assert!(sb
        .submit(&plain)
        .unwrap_err()
        .contains("encrypted buttons only"));
    // A button signed by a certificate not uploaded under its cert_id: refused.
    let other = bank_paypal_ipn::sandbox::KeyPair::generate("someone else").unwrap();
    let forged = bank_paypal_ipn::button::Ewp::new(
        &opt("ewp_cert_id"),
        &other.cert_pem(),
        &other.key_pem(),
        &sb.paypal_cert_pem(),
    )
    .unwrap();
    let encrypted = forged.encrypt(&plain).unwrap();
    assert!(sb
        .submit(&[
            ("cmd".into(), "_s-xclick".into()),
            ("encrypted".into(), encrypted)
        ])
        .is_err());
}

#[tokio::test]
async fn a_donor_chooses_the_amount_and_the_transaction_takes_it() {
    let d = PayPalIpnDriver::with_options(&[("button", "donate"), ("donation_amount", "payer")]);
    let h = Harness::new(&d).await.unwrap();
    let donate = |tx: bank_core::Transaction, typed: &'static str| {
        let h = &h;
        async move {
            let id = PayPalIpnDriver::checkout(h, &tx).await.unwrap();
            sandbox().donate(&id, Buyer::Pays, typed).unwrap();
            let m = sandbox().last_message(&tx.reference).unwrap();
            (
                h.notify(PayPalIpnDriver::delivered(&m, h)).await.unwrap(),
                m,
            )
        }
    };

    // The button carries no amount: PayPal asks the donor.
    let tx = h.transaction(500).await.unwrap();
    let ctx = h.engine.payment_context(&tx, &h.instance).await;
    let acq = h.engine.registry().get(&h.instance).unwrap();
    let PaymentRequest::Form(form) = acq.payment_request(&tx, &ctx).await.unwrap() else {
        panic!("a form")
    };
    assert!(form
        .fields
        .iter()
        .any(|f| f == &("cmd".into(), "_donations".into())));
    assert!(
        !form.fields.iter().any(|f| f.0 == "amount"),
        "{:?}",
        form.fields
    );
    let id = PayPalIpnDriver::checkout(&h, &tx).await.unwrap();
    assert!(sandbox().pay(&id, Buyer::Pays).is_err(), "no amount typed");
    assert!(sandbox().donate(&id, Buyer::Pays, "12.345").is_err());

    // 20.00 given where at least 5.00 was asked: paid, worth 20.00, hooks and refunds too.
    let (r, _) = donate(tx.clone(), "20.00").await;
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{r:?}"
    );
    let paid = h.reload(&tx).await.unwrap();
    assert_eq!(paid.amount, Money::from_minor(2000, Currency::EUR).unwrap());
    let txn = paid.authorisation.clone().unwrap();
    let r = h
        .notify(PayPalIpnDriver::delivered(
            &sandbox().refund(&txn, None).unwrap(),
            &h,
        ))
        .await
        .unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                to: Status::Rembourse,
                ..
            }
        ),
        "the whole 20.00 refunded: {r:?}"
    );

    // Less than the least accepted: recorded, nothing marked.
    let low = h.transaction(500).await.unwrap();
    let (r, _) = donate(low.clone(), "4.99").await;
    assert!(matches!(r.effect, Effect::AmountMismatch { .. }), "{r:?}");
    let after = h.reload(&low).await.unwrap();
    assert_eq!(
        (after.status, after.amount.minor()),
        (Status::Commande, 500)
    );

    // The same amount in another currency (the payer edited the plain button): refused.
    let usd = h.transaction(500).await.unwrap();
    let id = PayPalIpnDriver::checkout(&h, &usd).await.unwrap();
    let mut fields = sandbox().checkout_fields(&id).unwrap();
    for f in fields.iter_mut().filter(|f| f.0 == "currency_code") {
        f.1 = "USD".into();
    }
    let id = sandbox().submit(&fields).unwrap();
    sandbox().donate(&id, Buyer::Pays, "50.00").unwrap();
    let m = sandbox().last_message(&usd.reference).unwrap();
    let r = h.notify(PayPalIpnDriver::delivered(&m, &h)).await.unwrap();
    assert!(matches!(r.effect, Effect::AmountMismatch { .. }), "{r:?}");
    assert_eq!(h.reload(&usd).await.unwrap().status, Status::Commande);

    // A Buy Now instance never lets the payer choose: an exact amount is still required.
    let fixed = harness().await;
    let tx = fixed.transaction(500).await.unwrap();
    let n = pay_edited(&fixed, &tx, &[("amount", "20.00")]).await;
    let r = fixed.notify(n).await.unwrap();
    assert!(matches!(r.effect, Effect::AmountMismatch { .. }), "{r:?}");
}
