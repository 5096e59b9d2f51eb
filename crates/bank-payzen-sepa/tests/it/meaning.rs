//! What each response means: card, SEPA's lifecycle, instalments, refunds; and the form.

use bank_core::{
    Acquirer, Channel, Currency, Echeance, FormSigner, HttpMethod, InstanceUrls, Interval, Money,
    Notification, Outcome, PaymentContext, VerifyContext,
};
use bank_payzen_sepa::signature::{sign, Algorithm};
use bank_payzen_sepa::Payzen;

use crate::vectors::{oracle, percent_encode, BASE, CASES};

const KEY: &str = "1122334455667788";

pub fn instance(extra: &[(&str, &str)]) -> Payzen {
    let mut text = String::from("[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"payzen\"\nprovider = \"payzen-sepa\"\n[instance.options]\nsite_id = \"12345678\"\nkey_test = \"1122334455667788\"\n");
    for (k, v) in extra {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(v).unwrap()));
    }
    let config = bank_core::Config::parse(&text, "<test>", &bank_core::config::ProcessEnv).unwrap();
    let info = bank_core::InstanceInfo {
        id: "payzen".into(),
        provider: "payzen-sepa".into(),
        mode: bank_core::Mode::Test,
        order: 1,
        caption: "PayZen".into(),
    };
    Payzen::new(info, &config.instances[0].options).unwrap()
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

fn ipn(body: String) -> Notification {
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    n.body = body.into_bytes();
    n
}

/// The base fields with `changes` applied (added or replaced), signed with the test key.
pub fn signed(changes: &[(&str, &str)]) -> String {
    let mut f: Vec<(String, String)> = BASE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in changes {
        match f.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => f.push((k.to_string(), v.to_string())),
        }
    }
    let sig = sign(
        Algorithm::HmacSha256,
        f.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        KEY,
    );
    f.push(("signature".into(), sig));
    f.iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn the_oracles_card_cases_mean_what_payzen_says() {
    let acq = instance(&[]);
    let want = [
        Outcome::Paid,
        Outcome::Failed,
        Outcome::Failed,
        Outcome::Cancelled,
        Outcome::Failed,
        Outcome::Waiting,
    ];
    for ((name, case, sig), outcome) in CASES.iter().zip(want) {
        let v = acq.verify(&ipn(oracle(case, sig)), &vctx()).await.unwrap();
        assert_eq!(v.outcome, outcome, "{name}");
        if outcome == Outcome::Paid {
            assert_eq!(
                v.amount,
                Some(Money::from_minor(4990, Currency::EUR).unwrap())
            );
            assert_eq!(
                v.authorisation.as_deref(),
                Some("0123456789abcdef0123456789abcdef")
            );
        }
    }
    let v = acq
        .verify(&ipn(oracle(CASES[2].1, CASES[2].2)), &vctx())
        .await
        .unwrap();
    assert_eq!(
        v.error_code.as_deref(),
        Some("51"),
        "insufficient funds kept"
    );
    // A changed amount: refused before anything is read.
    let changed = oracle(CASES[0].1, CASES[0].2).replace("vads_amount=4990", "vads_amount=4991");
    assert!(acq.verify(&ipn(changed), &vctx()).await.is_err());
}

#[tokio::test]
async fn a_sepa_debit_waits_until_collected_and_a_return_undoes_it() {
    let acq = instance(&[("means", "sdd")]);
    let sdd = [
        ("vads_order_id", "shop-0001"),
        ("vads_card_brand", "SDD"),
        ("vads_acquirer_network", "SEPA"),
        ("vads_identifier", "UMR2024050112345678"),
        ("vads_occurrence_type", "UNITAIRE"),
        ("vads_presentation_date", "20240506000000"),
        ("vads_result", "00"),
        ("vads_auth_result", ""),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = sdd.to_vec();
        all.extend_from_slice(extra);
        signed(&all)
    };
    let v = acq
        .verify(&ipn(with(&[("vads_trans_status", "AUTHORISED")])), &vctx())
        .await
        .unwrap();
    assert_eq!(
        v.outcome,
        Outcome::Waiting,
        "a mandate and a pre-notification, not money"
    );
    assert_eq!(v.reference.as_deref(), Some("shop-0001"));
    assert_eq!(
        v.subscription_id.as_deref(),
        Some("UMR2024050112345678"),
        "the UMR is kept"
    );
    assert_eq!(v.detail["presentation_date"], "20240506000000");
    let collected = acq
        .verify(
            &ipn(with(&[
                ("vads_trans_status", "CAPTURED"),
                ("vads_url_check_src", "BATCH"),
            ])),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(collected.outcome, Outcome::Paid);
    assert_ne!(collected.event_id, v.event_id);
    let returned = acq
        .verify(
            &ipn(with(&[
                ("vads_trans_status", "REFUSED"),
                ("vads_url_check_src", "BATCH"),
            ])),
            &vctx(),
        )
        .await
        .unwrap();
    assert_eq!(returned.outcome, Outcome::LateFailure);
    let refused = acq
        .verify(&ipn(with(&[("vads_trans_status", "REFUSED")])), &vctx())
        .await
        .unwrap();
    assert_eq!(refused.outcome, Outcome::Failed, "refused while paying");
}

#[tokio::test]
async fn instalments_name_the_subscription_and_refunds_their_own_amount() {
    let acq = instance(&[]);
    let rec = |status: &'static str| {
        signed(&[
            ("vads_url_check_src", "REC"),
            ("vads_subscription", "shop-first"),
            ("vads_order_id", ""),
            ("vads_identifier", "0123456789abcdef0123456789abcdef"),
            ("vads_recurrence_number", "2"),
            ("vads_trans_status", status),
            ("vads_auth_result", "00"),
            ("vads_trans_uuid", "fedcba9876543210fedcba9876543210"),
        ])
    };
    let paid = acq.verify(&ipn(rec("CAPTURED")), &vctx()).await.unwrap();
    assert_eq!(paid.outcome, Outcome::InstalmentPaid);
    assert_eq!(paid.reference.as_deref(), Some("shop-first"));
    assert!(paid.amount.is_some());
    let failed = acq.verify(&ipn(rec("REFUSED")), &vctx()).await.unwrap();
    assert_eq!(failed.outcome, Outcome::InstalmentFailed);

    let refund = signed(&[
        ("vads_order_id", "shop-0002"),
        ("vads_operation_type", "CREDIT"),
        ("vads_url_check_src", "MERCH_BO"),
        ("vads_amount", "1000"),
        ("vads_trans_status", "CAPTURED"),
        ("vads_auth_result", ""),
        ("vads_trans_uuid", "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb"),
    ]);
    let v = acq.verify(&ipn(refund), &vctx()).await.unwrap();
    assert_eq!(
        v.outcome,
        Outcome::RefundedAmount {
            amount: Money::from_minor(1000, Currency::EUR).unwrap()
        }
    );
    assert_eq!(v.amount, None, "a refund is not a payment to check");
}

#[tokio::test]
async fn the_browser_return_never_settles_and_a_forged_one_is_refused() {
    let acq = instance(&[]);
    let mut n = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
    n.query = format!("ref=shop-0003&{}", oracle(CASES[0].1, CASES[0].2));
    let v = acq.verify(&n, &vctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Nothing);
    n.query = n.query.replace("vads_amount=4990", "vads_amount=1");
    assert!(acq.verify(&n, &vctx()).await.is_err());
}

pub fn ctx(recurring: bool) -> PaymentContext {
    PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "payzen", "shop-0004"),
        now: chrono::DateTime::parse_from_rfc3339("2024-05-01T10:20:30Z")
            .unwrap()
            .into(),
        billing: Some(bank_core::Billing {
            first_name: Some("Jean".into()),
            last_name: Some("Dupont".into()),
            email: Some("jean@example.com".into()),
            city: Some("Lyon".into()),
            postal_code: Some("69001".into()),
            ..Default::default()
        }),
        echeance: recurring.then(|| Echeance {
            amount: Money::from_minor(1500, Currency::EUR).unwrap(),
            interval: Interval::Month,
            count: Some(12),
        }),
        signer: FormSigner::new(secrecy::SecretString::from(
            "test-secret-0123456789".to_string(),
        )),
        counters: None,
    }
}

#[tokio::test]
async fn the_form_is_signed_ordered_and_needs_the_stores_counters() {
    let acq = instance(&[("means", "sdd")]);
    let tx = bank_core::testing::transaction(
        "shop-0004",
        Money::from_minor(4990, Currency::EUR).unwrap(),
    );
    let err = acq.payment_request(&tx, &ctx(false)).await.unwrap_err();
    assert!(err.to_string().contains("counters"), "{err}");
    let form = acq.form(&tx, &ctx(false), "000042").unwrap();
    let names: Vec<&str> = form.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "vads_cust_zip",
            "vads_cust_city",
            "vads_amount",
            "vads_url_return",
            "vads_url_check",
            "vads_cust_first_name",
            "vads_cust_last_name",
            "vads_cust_email",
            "vads_order_info",
            "vads_order_id",
            "vads_trans_id",
            "vads_action_mode",
            "vads_capture_delay",
            "vads_contrib",
            "vads_currency",
            "vads_cust_country",
            "vads_ctx_mode",
            "vads_language",
            "vads_page_action",
            "vads_payment_cards",
            "vads_payment_config",
            "vads_return_mode",
            "vads_site_id",
            "vads_trans_date",
            "vads_validation_mode",
            "vads_version",
            "signature",
        ]
    );
    let get = |k: &str| form.fields.iter().find(|f| f.0 == k).map(|f| f.1.as_str());
    assert_eq!(get("vads_payment_cards"), Some("SDD"));
    assert_eq!(get("vads_trans_date"), Some("20240501102030"));
    assert_eq!(get("vads_order_id"), Some("shop-0004"));
    // The form verifies like a response: every vads_* field signed.
    let r = bank_payzen_sepa::Response::parse(
        form.fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
            .as_bytes(),
    )
    .unwrap();
    assert!(bank_payzen_sepa::signature::verify(
        Algorithm::HmacSha256,
        r.fields().iter().map(|(k, v)| (k.as_str(), v.as_str())),
        KEY,
        get("signature").unwrap()
    ));

    // A subscription: paid now, instalments from next month, 11 more.
    let mut tx = tx;
    tx.recurring = true;
    let form = acq.form(&tx, &ctx(true), "000043").unwrap();
    let get = |k: &str| form.fields.iter().find(|f| f.0 == k).map(|f| f.1.clone());
    assert_eq!(
        get("vads_page_action").as_deref(),
        Some("REGISTER_PAY_SUBSCRIBE")
    );
    assert_eq!(get("vads_subscription").as_deref(), Some("shop-0004"));
    assert_eq!(get("vads_sub_amount").as_deref(), Some("1500"));
    assert_eq!(get("vads_sub_currency").as_deref(), Some("978"));
    assert_eq!(get("vads_sub_effect_date").as_deref(), Some("20240601"));
    assert_eq!(
        get("vads_sub_desc").as_deref(),
        Some("RRULE:FREQ=MONTHLY;BYMONTHDAY=1;COUNT=11")
    );
}
