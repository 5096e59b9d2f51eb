//! A button payment refunded through the REST API when the instance has REST credentials
//! (PayPal's local REST sandbox stands in; the transaction id of a button payment is the
//! capture id of Payments v2), and recorded for staff to refund by hand without them.

use bank_core::{Acquirer, Currency, InstanceInfo, Mode, Money, OperationContext};
use bank_paypal::sandbox::{Buyer, Sandbox, SandboxConfig};
use serde_json::json;

fn instance(extra: &[(&str, String)]) -> bank_paypal_ipn::PayPalIpn {
    let mut text = String::from("[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"pp\"\nprovider = \"paypal-ipn\"\n[instance.options]\nbusiness = \"merchant@example.com\"\n");
    for (k, v) in extra {
        text.push_str(&format!("{k} = {}\n", serde_json::to_string(v).unwrap()));
    }
    let config = bank_core::Config::parse(&text, "<test>", &bank_core::config::ProcessEnv).unwrap();
    let info = InstanceInfo {
        id: "pp".into(),
        provider: "paypal-ipn".into(),
        mode: Mode::Test,
        order: 1,
        caption: "PayPal".into(),
    };
    bank_paypal_ipn::PayPalIpn::new(info, &config.instances[0].options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_go_through_the_rest_api_when_configured_else_to_staff() {
    let rest = Sandbox::start(SandboxConfig::default()).unwrap();
    // A completed payment at PayPal, named by its transaction id.
    let (_, order) = rest
        .state(|s| {
            s.create_order(&json!({
                "intent": "CAPTURE",
                "purchase_units": [{ "amount": {"currency_code": "EUR", "value": "30.00"} }],
                "payment_source": {"paypal": {"experience_context": {"return_url": "https://shop.example/r", "cancel_url": "https://shop.example/c"}}},
            }))
        })
        .unwrap();
    let id = order["id"].as_str().unwrap().to_string();
    rest.approve(&id, Buyer::Pays).unwrap();
    rest.state(|s| s.complete_order(&id, "capture")).unwrap();
    let txn = rest.state(|s| s.capture_of_order(&id)).unwrap();
    let mut tx = bank_core::testing::transaction(
        "shop-0123456789abcdef",
        Money::from_minor(3000, Currency::EUR).unwrap(),
    );
    tx.authorisation = Some(txn.clone());
    let ctx = OperationContext::standalone(chrono::Utc::now());
    let ten = Money::from_minor(1000, Currency::EUR).unwrap();

    let with_api = instance(&[
        (
            "rest_client_id",
            bank_paypal::sandbox::SANDBOX_CLIENT_ID.to_string(),
        ),
        (
            "rest_client_secret",
            bank_paypal::sandbox::SANDBOX_SECRET.to_string(),
        ),
        ("rest_api_base", rest.base_url()),
    ]);
    let r = with_api.refund(&tx, ten, "refund-1", &ctx).await.unwrap();
    assert!(!r.manual && r.provider_reference.is_some(), "{r:?}");
    let again = with_api.refund(&tx, ten, "refund-1", &ctx).await.unwrap();
    assert_eq!(
        again.provider_reference, r.provider_reference,
        "the same key is the same refund"
    );
    let path = format!("/v2/payments/captures/{txn}/refund");
    let sent: Vec<_> = rest
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "POST" && *p == path)
        .collect();
    assert!(
        sent.iter()
            .all(|(_, _, rid)| rid.as_deref() == Some("bank-refund-refund-1")),
        "{sent:?}"
    );
    let e = with_api
        .refund(
            &tx,
            Money::from_minor(2500, Currency::EUR).unwrap(),
            "refund-2",
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("REFUND_AMOUNT_EXCEEDED"), "{e}");

    let by_hand = instance(&[]);
    let r = by_hand.refund(&tx, ten, "refund-3", &ctx).await.unwrap();
    assert!(r.manual, "without REST credentials staff refunds at PayPal");
}
