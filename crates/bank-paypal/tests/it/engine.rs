//! The provider in an engine, against its sandbox: the payer's return captures, the
//! webhooks that follow change nothing, a lost capture answer is read back, events out of
//! order do not move a payment back, and a payment to another merchant never settles.

use bank_conformance::Harness;
use bank_core::{Channel, Effect, HttpMethod, Notification, Status};
use bank_paypal::conformance::{driver, sandbox, PayPalDriver};
use bank_paypal::sandbox::{Buyer, Fault};
use serde_json::json;

async fn harness() -> Harness {
    Harness::new(&driver()).await.unwrap()
}

fn browser_return(url: &str) -> Notification {
    let u = url::Url::parse(url).unwrap();
    let mut n = Notification::new(Channel::Browser, HttpMethod::Get, chrono::Utc::now());
    n.query = u.query().unwrap_or_default().to_string();
    n
}

fn captures_of(order: &str) -> usize {
    let path = format!("/v2/checkout/orders/{order}/capture");
    sandbox()
        .requests()
        .into_iter()
        .filter(|(m, p, _)| m == "POST" && *p == path)
        .count()
}

#[tokio::test]
async fn the_payers_return_captures_once_and_webhooks_change_nothing() {
    let h = harness().await;
    let tx = h.transaction(1990).await.unwrap();
    let order = PayPalDriver::order(&h, &tx).await.unwrap();
    let back = sandbox().approve(&order, Buyer::Pays).unwrap();
    let r = h.notify(browser_return(&back)).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{r:?}"
    );
    let paid = h.reload(&tx).await.unwrap();
    let capture = sandbox().state(|s| s.capture_of_order(&order)).unwrap();
    assert_eq!(paid.authorisation.as_deref(), Some(capture.as_str()));
    for kind in ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"] {
        let r = h
            .notify(PayPalDriver::signed(&h, kind, &order).unwrap())
            .await
            .unwrap();
        assert!(
            matches!(r.effect, Effect::NoOp { status: Status::Ok }),
            "{kind}: {r:?}"
        );
    }
    // The payer reloading the return page: nothing captured again, nothing written.
    let r = h.notify(browser_return(&back)).await.unwrap();
    assert!(matches!(r.effect, Effect::NoOp { .. }), "{r:?}");
    assert_eq!(
        captures_of(&order),
        1,
        "the order was read back as completed, never captured twice"
    );
    h.deliver().await.unwrap();
    assert_eq!(
        h.hooks
            .count_for(bank_core::HookName::TraiterReglement, &tx.reference),
        1
    );
}

#[tokio::test]
async fn a_lost_capture_answer_is_read_back_before_deciding() {
    let h = harness().await;
    let tx = h.transaction(2500).await.unwrap();
    let order = PayPalDriver::order(&h, &tx).await.unwrap();
    let back = sandbox().approve(&order, Buyer::Pays).unwrap();
    sandbox().inject(Fault {
        path_prefix: format!("/v2/checkout/orders/{order}/capture"),
        status: 0,
        after_executing: true,
        remaining: 1,
    });
    let r = h.notify(browser_return(&back)).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{r:?}"
    );
    assert_eq!(captures_of(&order), 1);
}

#[tokio::test]
async fn a_pending_capture_waits_and_late_events_do_not_move_it_back() {
    let h = harness().await;
    let tx = h.transaction(3000).await.unwrap();
    let order = PayPalDriver::order(&h, &tx).await.unwrap();
    sandbox().approve(&order, Buyer::Pending).unwrap();
    let r = h
        .notify(PayPalDriver::signed(&h, "CHECKOUT.ORDER.APPROVED", &order).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                to: Status::Attente,
                ..
            }
        ),
        "{r:?}"
    );
    let pending = PayPalDriver::signed(&h, "PAYMENT.CAPTURE.PENDING", &order).unwrap();
    let capture = sandbox().state(|s| s.capture_of_order(&order)).unwrap();
    sandbox().settle_pending(&capture, true).unwrap();
    let r = h
        .notify(PayPalDriver::signed(&h, "PAYMENT.CAPTURE.COMPLETED", &capture).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(
            r.effect,
            Effect::Transitioned {
                from: Status::Attente,
                to: Status::Ok
            }
        ),
        "{r:?}"
    );
    // The PENDING event arriving late (or replayed): PayPal's capture is completed now.
    let r = h.notify(pending).await.unwrap();
    assert!(
        matches!(r.effect, Effect::NoOp { status: Status::Ok }),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_payment_to_another_merchant_never_settles() {
    let h = harness().await;
    let tx = h.transaction(1990).await.unwrap();
    // An order made by someone else's app for the same amount, naming our reference, paid
    // to their account, then brought back to our return URL.
    let (_, order) = sandbox()
        .state(|s| {
            s.create_order(&json!({
                "intent": "CAPTURE",
                "purchase_units": [{
                    "custom_id": tx.reference, "invoice_id": tx.reference,
                    "amount": {"currency_code": "EUR", "value": "19.90"},
                    "payee": {"merchant_id": "SOMEONEELSE01"},
                }],
                "payment_source": {"paypal": {"experience_context": {
                    "return_url": "https://shop.example/bank/paypal-test/retour?ref=x",
                    "cancel_url": "https://shop.example/bank/paypal-test/cancel"}}},
            }))
        })
        .unwrap();
    let id = order["id"].as_str().unwrap().to_string();
    let back = sandbox().approve(&id, Buyer::Pays).unwrap();
    let r = h.notify(browser_return(&back)).await.unwrap();
    assert_eq!(
        h.reload(&tx).await.unwrap().status,
        Status::Commande,
        "{r:?}"
    );
    assert_eq!(captures_of(&id), 0, "never captured");
    let r = h
        .notify(PayPalDriver::signed(&h, "CHECKOUT.ORDER.APPROVED", &id).unwrap())
        .await
        .unwrap();
    assert!(matches!(r.effect, Effect::Rejected { .. }), "{r:?}");
    assert_eq!(h.reload(&tx).await.unwrap().status, Status::Commande);
}

#[tokio::test]
async fn a_refund_from_paypals_dashboard_is_recorded_with_its_total() {
    let h = harness().await;
    let tx = h.transaction(4000).await.unwrap();
    let order = PayPalDriver::order(&h, &tx).await.unwrap();
    let back = sandbox().approve(&order, Buyer::Pays).unwrap();
    h.notify(browser_return(&back)).await.unwrap();
    let capture = sandbox().state(|s| s.capture_of_order(&order)).unwrap();
    sandbox()
        .refund_from_dashboard(
            &capture,
            Some(json!({"currency_code": "EUR", "value": "15.00"})),
        )
        .unwrap();
    let r = h
        .notify(PayPalDriver::signed(&h, "PAYMENT.CAPTURE.REFUNDED", &capture).unwrap())
        .await
        .unwrap();
    assert_eq!(
        r.effect,
        Effect::PartiallyRefunded { total_minor: 1500 },
        "{r:?}"
    );
    sandbox().refund_from_dashboard(&capture, None).unwrap();
    let r = h
        .notify(PayPalDriver::signed(&h, "PAYMENT.CAPTURE.REFUNDED", &capture).unwrap())
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
        "{r:?}"
    );
}
