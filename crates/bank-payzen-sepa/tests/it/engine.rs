//! The provider behind an engine, against its sandbox: the SEPA lifecycle (waiting,
//! collected, returned), a subscription's first payment, instalments and cancellation,
//! refunds through the REST API, and a form refused when its transaction id comes back.
#![cfg(feature = "conformance")]

use bank_conformance::Harness;
use bank_core::{Effect, HookName, Money, NewTransaction, Status};
use bank_payzen_sepa::conformance::{sandbox, PayzenDriver};
use bank_payzen_sepa::sandbox::TestMeans;

async fn pay(
    h: &Harness,
    tx: &bank_core::Transaction,
    means: TestMeans,
) -> bank_core::NotificationResult {
    let id = PayzenDriver::checkout(h, tx).await.unwrap();
    let m = sandbox().pay(&id, means).unwrap();
    h.notify(PayzenDriver::delivered(&m, h)).await.unwrap()
}

#[tokio::test]
async fn a_sepa_debit_waits_is_collected_then_returned_with_its_hooks() {
    let h = Harness::new(&PayzenDriver::with_options(&[("means", "sdd")]))
        .await
        .unwrap();
    let tx = h.transaction(4990).await.unwrap();
    let r = pay(&h, &tx, TestMeans::SepaReturned).await;
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Attente
        }
    );
    let waiting = h.reload(&tx).await.unwrap();
    assert!(
        waiting
            .subscription_id
            .as_deref()
            .unwrap()
            .starts_with("UMR"),
        "the mandate kept"
    );
    let uuid = waiting.authorisation.clone().unwrap();
    let batch = sandbox().present(&uuid).unwrap();
    assert_eq!(batch.len(), 2, "collected, then returned");
    let r = h
        .notify(PayzenDriver::delivered(&batch[0], &h))
        .await
        .unwrap();
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Attente,
            to: Status::Ok
        }
    );
    // PayZen re-sends the collection: nothing more.
    let again = h
        .notify(PayzenDriver::delivered(&batch[0], &h))
        .await
        .unwrap();
    assert_eq!(again.effect, Effect::Duplicate);
    let r = h
        .notify(PayzenDriver::delivered(&batch[1], &h))
        .await
        .unwrap();
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Ok,
            to: Status::Echec
        }
    );
    h.deliver().await.unwrap();
    assert_eq!(h.hooks.count(HookName::ReglementEnAttente), 1);
    assert_eq!(h.hooks.count(HookName::TraiterReglement), 1);
    assert_eq!(
        h.hooks.count(HookName::TraiterImpaye),
        1,
        "the return has its hook"
    );

    // A debit returned before its collection was heard of still fails the payment.
    let tx = h.transaction(1500).await.unwrap();
    pay(&h, &tx, TestMeans::SepaReturned).await;
    let uuid = h.reload(&tx).await.unwrap().authorisation.unwrap();
    let batch = sandbox().present(&uuid).unwrap();
    let r = h
        .notify(PayzenDriver::delivered(&batch[1], &h))
        .await
        .unwrap();
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Attente,
            to: Status::Echec
        }
    );
}

#[tokio::test]
async fn a_subscription_pays_first_then_instalments_and_is_cancelled_at_payzen() {
    let h = Harness::new(&PayzenDriver::default()).await.unwrap();
    let mut new = NewTransaction::new(Money::from_minor(1500, bank_core::Currency::EUR).unwrap());
    new.recurring = true;
    new.force = true;
    let tx = h.engine.inserer_transaction(new).await.unwrap();
    // The harness's hooks describe no schedule: the form is built with one, as a host's
    // decrire_echeance gives it.
    let mut ctx = h.engine.payment_context(&tx, &h.instance).await;
    ctx.echeance = Some(bank_core::Echeance {
        amount: Money::from_minor(1500, bank_core::Currency::EUR).unwrap(),
        interval: bank_core::Interval::Month,
        count: None,
    });
    let acq = h.engine.registry().get(&h.instance).unwrap();
    let bank_core::PaymentRequest::Form(form) = acq.payment_request(&tx, &ctx).await.unwrap()
    else {
        panic!("a form")
    };
    let id = sandbox().submit(&form.fields).unwrap();
    let m = sandbox().pay(&id, TestMeans::CardApproved).unwrap();
    assert_eq!(m.get("vads_subscription"), Some(tx.reference.as_str()));
    let r = h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
    let paid = h.reload(&tx).await.unwrap();
    assert!(paid.subscription_id.is_some(), "the card's token kept");

    let m = sandbox().instalment(&tx.reference, true).unwrap();
    let r = h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    assert!(
        matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
        "{r:?}"
    );
    let again = h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    assert!(
        !matches!(again.effect, Effect::Transitioned { .. }),
        "one instalment per IPN: {again:?}"
    );
    let m = sandbox().instalment(&tx.reference, false).unwrap();
    h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    h.deliver().await.unwrap();
    assert_eq!(h.hooks.count(HookName::ActiverAbonnement), 1);
    assert_eq!(h.hooks.count(HookName::RenouvelerAbonnement), 1);
    assert_eq!(h.hooks.count(HookName::Resilier), 1);

    h.engine
        .cancel_subscription(&tx.reference, "treasurer")
        .await
        .unwrap();
    assert_eq!(sandbox().subscription_active(&tx.reference), Some(false));
}

#[tokio::test]
async fn refunds_go_through_the_api_and_a_back_office_refund_is_recorded() {
    let h = Harness::new(&PayzenDriver::default()).await.unwrap();
    let tx = h.transaction(3000).await.unwrap();
    pay(&h, &tx, TestMeans::CardApproved).await;
    let after = h
        .engine
        .refund(
            &tx.reference,
            Some(Money::from_minor(1000, bank_core::Currency::EUR).unwrap()),
            "treasurer",
        )
        .await
        .unwrap();
    assert_eq!(after.refunded.minor(), 1000);
    // Were the shop's rules to notify refunds made through the API, that notice changes
    // nothing: the refund was recorded under the credit's id.
    let notice = sandbox()
        .messages()
        .into_iter()
        .rev()
        .find(|m| {
            m.get("vads_operation_type") == Some("CREDIT")
                && m.get("vads_order_id") == Some(tx.reference.as_str())
        })
        .unwrap();
    let r = h
        .notify(PayzenDriver::delivered(&notice, &h))
        .await
        .unwrap();
    assert_eq!(r.effect, Effect::Duplicate, "counted once");
    assert_eq!(h.reload(&tx).await.unwrap().refunded.minor(), 1000);
    // Another 5.00 refunded in PayZen's back office: its IPN adds it once.
    let uuid = after.authorisation.clone().unwrap();
    let m = sandbox().refund_in_back_office(&uuid, Some(500)).unwrap();
    let r = h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    assert_eq!(r.effect, Effect::PartiallyRefunded { total_minor: 1500 });
    let r = h.notify(PayzenDriver::delivered(&m, &h)).await.unwrap();
    assert_eq!(r.effect, Effect::Duplicate);
}

#[tokio::test]
async fn a_form_whose_transaction_id_comes_back_is_refused_by_payzen() {
    let h = Harness::new(&PayzenDriver::default()).await.unwrap();
    let tx = h.transaction(1000).await.unwrap();
    let ctx = h.engine.payment_context(&tx, &h.instance).await;
    let acq = h.engine.registry().get(&h.instance).unwrap();
    let bank_core::PaymentRequest::Form(a) = acq.payment_request(&tx, &ctx).await.unwrap() else {
        panic!()
    };
    let bank_core::PaymentRequest::Form(b) = acq.payment_request(&tx, &ctx).await.unwrap() else {
        panic!()
    };
    let id = |f: &bank_core::Form| {
        f.fields
            .iter()
            .find(|x| x.0 == "vads_trans_id")
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(id(&a), id(&b), "each form takes the next id of the day");
    sandbox().submit(&a.fields).unwrap();
    let err = sandbox().submit(&a.fields).unwrap_err();
    assert!(err.contains("already used"), "{err}");
    // A form signed with another key, or tampered: refused as PayZen does.
    let mut bad = b.fields.clone();
    for f in bad.iter_mut().filter(|f| f.0 == "vads_amount") {
        f.1 = "1".into();
    }
    assert!(sandbox().submit(&bad).unwrap_err().contains("signature"));
}
