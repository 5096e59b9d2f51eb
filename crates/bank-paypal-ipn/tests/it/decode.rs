//! What a verified IPN means, field by field, with the examples of the research notes:
//! statuses, pending reasons, refunds with a negative `mc_gross`, amounts without decimals,
//! the mode and the receiver; and what an unreachable postback does (an `INVALID` one is
//! in `listener`).

use bank_core::{Currency, InstanceInfo, Mode, Money, Outcome};
use bank_paypal_ipn::{Ipn, IpnError, PayPalIpn};

fn instance(mode: Mode, verify_url: &str) -> PayPalIpn {
    let text = format!(
        "[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"pp\"\nprovider = \"paypal-ipn\"\n[instance.options]\nbusiness = \"Merchant@Example.com\"\nreceiver_id = \"BANKSANDBOX01\"\nverify_url = \"{verify_url}\"\nform_url = \"{verify_url}\"\n"
    );
    let config = bank_core::Config::parse(&text, "<test>", &bank_core::config::ProcessEnv).unwrap();
    let info = InstanceInfo {
        id: "pp".into(),
        provider: "paypal-ipn".into(),
        mode,
        order: 1,
        caption: "PayPal".into(),
    };
    PayPalIpn::new(info, &config.instances[0].options).unwrap()
}

fn test_instance() -> PayPalIpn {
    instance(Mode::Test, "http://127.0.0.1:9/cgi-bin/webscr")
}

const BASE: &str = "receiver_email=merchant%40example.com&receiver_id=BANKSANDBOX01&business=merchant%40example.com&invoice=shop-0123456789abcdef&custom=shop&test_ipn=1&charset=windows-1252&first_name=J%F6rg";

fn decode(acq: &PayPalIpn, extra: &str) -> Result<bank_core::Verified, IpnError> {
    acq.decode(&Ipn::parse(format!("{BASE}&{extra}").as_bytes()).unwrap())
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

#[test]
fn statuses_map_to_outcomes() {
    let acq = test_instance();
    let pay = "txn_type=web_accept&txn_id=61E67681CH3238416&mc_gross=19.95&mc_currency=EUR";
    let v = decode(&acq, &format!("{pay}&payment_status=Completed")).unwrap();
    assert_eq!(
        (v.outcome.clone(), v.amount),
        (Outcome::Paid, Some(eur(1995)))
    );
    assert_eq!(v.reference.as_deref(), Some("shop-0123456789abcdef"));
    assert_eq!(v.installation.as_deref(), Some("shop"));
    assert_eq!(v.authorisation.as_deref(), Some("61E67681CH3238416"));
    assert_eq!(v.event_id.as_deref(), Some("61E67681CH3238416:Completed"));
    let v = decode(
        &acq,
        &format!("{pay}&payment_status=Pending&pending_reason=echeck"),
    )
    .unwrap();
    assert_eq!(
        (v.outcome.clone(), v.error_code.as_deref()),
        (Outcome::Waiting, Some("echeck"))
    );
    for s in ["Denied", "Failed", "Expired", "Voided"] {
        assert_eq!(
            decode(&acq, &format!("{pay}&payment_status={s}"))
                .unwrap()
                .outcome,
            Outcome::Failed,
            "{s}"
        );
    }
    for s in ["Processed", "Created", "Something_New"] {
        assert_eq!(
            decode(&acq, &format!("{pay}&payment_status={s}"))
                .unwrap()
                .outcome,
            Outcome::Nothing,
            "{s}"
        );
    }
    let refund = decode(&acq, "txn_id=8AB12345CD6789012&parent_txn_id=61E67681CH3238416&payment_status=Refunded&reason_code=refund&mc_gross=-5.00&mc_currency=EUR").unwrap();
    assert_eq!(refund.outcome, Outcome::RefundedAmount { amount: eur(500) });
    assert_eq!(
        refund.event_id.as_deref(),
        Some("8AB12345CD6789012:Refunded"),
        "each refund counted once"
    );
    assert_eq!(refund.authorisation.as_deref(), Some("61E67681CH3238416"));
    let reversed = decode(&acq, "txn_id=9X&parent_txn_id=61E67681CH3238416&payment_status=Reversed&reason_code=chargeback&mc_gross=-19.95&mc_currency=EUR").unwrap();
    assert_eq!(
        (reversed.outcome, reversed.error_code.as_deref()),
        (Outcome::LateFailure, Some("chargeback"))
    );
    let restored = decode(&acq, "txn_id=9Y&parent_txn_id=61E67681CH3238416&payment_status=Canceled_Reversal&mc_gross=19.95&mc_currency=EUR").unwrap();
    assert_eq!(restored.outcome, Outcome::Paid);
    assert_eq!(
        restored.authorisation.as_deref(),
        Some("61E67681CH3238416"),
        "the same payment, not a second one"
    );
    let jpy = decode(
        &acq,
        "txn_type=web_accept&txn_id=1&payment_status=Completed&mc_gross=1000&mc_currency=JPY",
    )
    .unwrap();
    assert_eq!(
        jpy.amount,
        Some(Money::from_minor(1000, Currency::from_code("JPY").unwrap()).unwrap())
    );
    assert!(decode(
        &acq,
        "txn_type=web_accept&txn_id=1&payment_status=Completed&mc_gross=19.999&mc_currency=EUR"
    )
    .is_err());
}

#[test]
fn subscription_messages_drive_the_recurring_api() {
    let acq = test_instance();
    let s = "subscr_id=I-BW452GLLEP1G";
    assert_eq!(
        decode(&acq, &format!("txn_type=subscr_signup&{s}"))
            .unwrap()
            .outcome,
        Outcome::Nothing
    );
    let p = decode(&acq, &format!("txn_type=subscr_payment&{s}&txn_id=3A&payment_status=Completed&mc_gross=5.00&mc_currency=EUR")).unwrap();
    assert_eq!(
        (p.outcome, p.subscription_id.as_deref()),
        (Outcome::SubscriptionPayment, Some("I-BW452GLLEP1G"))
    );
    assert_eq!(
        decode(&acq, &format!("txn_type=subscr_failed&{s}"))
            .unwrap()
            .outcome,
        Outcome::InstalmentFailed
    );
    for t in [
        "subscr_cancel",
        "subscr_eot",
        "recurring_payment_profile_cancel",
        "recurring_payment_suspended_due_to_max_failed_payment",
    ] {
        assert_eq!(
            decode(&acq, &format!("txn_type={t}&{s}")).unwrap().outcome,
            Outcome::SubscriptionEnded,
            "{t}"
        );
    }
}

#[test]
fn the_mode_and_the_receiver_are_checked() {
    let live = instance(Mode::Live, "https://ipnpb.paypal.com/cgi-bin/webscr");
    let pay =
        "txn_type=web_accept&txn_id=1&payment_status=Completed&mc_gross=19.95&mc_currency=EUR";
    assert!(
        matches!(decode(&live, pay), Err(IpnError::Mode { .. })),
        "a sandbox IPN on a live instance"
    );
    let acq = test_instance();
    let other = |field: &str, value: &str| {
        let body = format!("{BASE}&{pay}").replace(
            &format!("{field}="),
            &format!("{field}={value}&was_{field}="),
        );
        acq.decode(&Ipn::parse(body.as_bytes()).unwrap())
    };
    assert!(matches!(
        other("receiver_email", "payer%40example.org"),
        Err(IpnError::Receiver { .. })
    ));
    assert!(matches!(
        other("receiver_id", "OTHERACCOUNT1"),
        Err(IpnError::Receiver { .. })
    ));
    assert!(matches!(
        other("business", "payer%40example.org"),
        Err(IpnError::Receiver { .. })
    ));
    // The primary e-mail compared without case.
    let upper =
        format!("{BASE}&{pay}").replace("receiver_email=merchant", "receiver_email=MERCHANT");
    assert!(acq.decode(&Ipn::parse(upper.as_bytes()).unwrap()).is_ok());
}

#[tokio::test]
async fn an_unreachable_postback_is_temporary() {
    let acq = test_instance();
    let e = acq.postback(BASE.as_bytes()).await.unwrap_err();
    assert!(matches!(e, IpnError::Postback { .. }), "{e}");
    assert!(matches!(
        e.into_core("pp"),
        bank_core::Error::Provider {
            failure: bank_core::ProviderFailure::Unavailable,
            ..
        }
    ));
}

#[test]
fn a_recurring_transaction_without_a_schedule_gets_no_one_off_button() {
    let mut tx = bank_core::testing::transaction("shop-0123456789abcdef", eur(1500));
    tx.recurring = true;
    let ctx = bank_core::PaymentContext {
        installation: "shop".into(),
        urls: bank_core::InstanceUrls::standard("https://shop.example", "pp", &tx.reference),
        now: chrono::Utc::now(),
        billing: None,
        echeance: None,
        signer: bank_core::FormSigner::new(secrecy::SecretString::from(
            "0123456789abcdef0123".to_string(),
        )),
        counters: None,
    };
    let settings = bank_paypal_ipn::button::ButtonSettings {
        business: "m@example.com".into(),
        kind: bank_paypal_ipn::button::Kind::BuyNow,
        item_name: None,
    };
    assert!(matches!(
        bank_paypal_ipn::button::fields(&tx, &ctx, &settings),
        Err(IpnError::Config { .. })
    ));
}

#[test]
fn a_refund_made_through_the_api_is_recorded_under_its_refunded_ipns_event() {
    use bank_core::Acquirer;
    let acq = test_instance();
    let v = decode(
        &acq,
        "txn_type=web_accept&payment_status=Refunded&txn_id=1JU08902781691411&parent_txn_id=8MC585209K746392H&mc_gross=-10.00&mc_currency=EUR",
    )
    .unwrap();
    assert_eq!(
        v.event_id,
        acq.refund_event_id("1JU08902781691411"),
        "the engine's record of the API refund makes this IPN a duplicate"
    );
}
