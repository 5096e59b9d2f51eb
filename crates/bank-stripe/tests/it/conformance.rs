//! The conformance scenarios for Stripe, against its sandbox, and the Stripe-specific
//! ones: replayed and stale webhooks, secret rotation, another installation's events, and
//! a development copy receiving production's events.

bank_conformance::conformance_tests!(stripe, bank_stripe::conformance::driver());

mod specific {
    use bank_conformance::{Harness, PayerAction};
    use bank_core::{Effect, HookName, Reference, Status};
    use bank_stripe::conformance::{driver, sandbox, StripeDriver};

    const SANDBOX_SECRET: &str = "whsec_bank_sandbox_0123456789";

    async fn paid(
        h: &Harness,
        d: &StripeDriver,
    ) -> (bank_core::Transaction, bank_core::Notification) {
        let tx = h.transaction(1250).await.unwrap();
        let n = bank_conformance::Driver::notification(d, h, &tx, PayerAction::Pay)
            .await
            .unwrap();
        (tx, n)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replayed_webhook_changes_nothing_twice() {
        let d = driver();
        let h = Harness::new(&d).await.unwrap();
        let (tx, n) = paid(&h, &d).await;
        let first = h.notify(n.clone()).await.unwrap();
        assert!(matches!(
            first.effect,
            Effect::Transitioned { to: Status::Ok, .. }
        ));
        // Stripe redelivers the same event: a new signature, a new `t`, the same event id.
        h.clock.advance(chrono::Duration::seconds(30));
        let again = StripeDriver::signed(&h, "checkout.session.completed", &tx.reference).unwrap();
        assert_ne!(
            again.header("stripe-signature"),
            n.header("stripe-signature")
        );
        let r = h.notify(again).await.unwrap();
        assert_eq!(r.effect, Effect::Duplicate);
        assert_eq!(r.reply.status, 200);
        h.deliver().await.unwrap();
        assert_eq!(h.hooks.count(HookName::TraiterReglement), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_webhook_is_rejected_with_400_and_changes_nothing() {
        let d = driver();
        let h = Harness::new(&d).await.unwrap();
        let (tx, _) = paid(&h, &d).await;
        let now = h.engine.now().timestamp();
        let stale =
            StripeDriver::signed_at(&h, "checkout.session.completed", &tx.reference, now - 301)
                .unwrap();
        let r = h.notify(stale).await.unwrap();
        assert!(
            matches!(r.effect, Effect::Rejected { ref reason } if reason.contains("tolerance")),
            "{:?}",
            r.effect
        );
        assert_eq!(r.reply.status, 400);
        assert_eq!(h.reload(&tx).await.unwrap().status, Status::Commande);
        // At exactly the tolerance it still passes, as in the official libraries.
        let edge =
            StripeDriver::signed_at(&h, "checkout.session.completed", &tx.reference, now - 300)
                .unwrap();
        let r = h.notify(edge).await.unwrap();
        assert!(
            matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }),
            "{:?}",
            r.effect
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn secret_rotation_accepts_either_secret_and_refuses_others() {
        let d = StripeDriver::with_options(vec![(
            "webhook_secrets",
            format!("whsec_next_0123456789, {SANDBOX_SECRET}"),
        )]);
        let h = Harness::new(&d).await.unwrap();
        // Signed with the current secret (what the sandbox signs with).
        let (tx, n) = paid(&h, &d).await;
        assert!(matches!(
            h.notify(n.clone()).await.unwrap().effect,
            Effect::Transitioned { .. }
        ));
        // Signed with the next secret only, then with neither.
        let t = h.engine.now().timestamp();
        for (secret, accepted) in [
            ("whsec_next_0123456789", true),
            ("whsec_someone_else", false),
        ] {
            let mut m = n.clone();
            let header = bank_stripe::signature::header(&[secret], t, &m.body);
            m.headers.retain(|(k, _)| k != "stripe-signature");
            m.headers.push(("stripe-signature".into(), header));
            let r = h.notify(m).await.unwrap();
            if accepted {
                assert_eq!(
                    r.effect,
                    Effect::Duplicate,
                    "verified, then dropped as a replay"
                );
            } else {
                assert!(
                    matches!(r.effect, Effect::Rejected { .. }),
                    "{:?}",
                    r.effect
                );
                assert_eq!(r.reply.status, 400);
            }
        }
        assert_eq!(h.reload(&tx).await.unwrap().status, Status::Ok);
    }

    /// The SPIP Bank bug: a development copy sharing production's Stripe account received
    /// production's events, answered errors, and Stripe retried for days. Here every event
    /// of the other installation is acknowledged with 200 and changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dev_copy_acknowledges_production_events() {
        let d = driver();
        let dev = Harness::new(&d).await.unwrap(); // installation "conf"
        let ours = dev.transaction(1250).await.unwrap();
        // Production ("prod") opens a session on the shared account and is paid, refunded,
        // disputed.
        let mut prod_tx = ours.clone();
        prod_tx.reference = Reference::generate("prod");
        let mut ctx = dev.engine.payment_context(&prod_tx, &dev.instance).await;
        ctx.installation = "prod".into();
        let cs = d.session_in(&dev, &prod_tx, ctx).await.unwrap();
        let completed = d.act(&dev, &prod_tx, &cs, PayerAction::Pay).unwrap();
        let pi = sandbox().object(&cs).unwrap()["payment_intent"]
            .as_str()
            .unwrap()
            .to_string();
        sandbox().refund_from_dashboard(&pi, Some(100)).unwrap();
        let refunded = StripeDriver::signed(&dev, "charge.refunded", &pi).unwrap();
        sandbox().dispute(&pi).unwrap();
        let disputed = StripeDriver::signed(&dev, "charge.dispute.created", &pi).unwrap();
        for n in [completed, refunded, disputed] {
            let r = dev.notify(n).await.unwrap();
            assert_eq!(r.effect, Effect::Foreign);
            assert_eq!(r.reply.status, 200);
        }
        assert_eq!(dev.reload(&ours).await.unwrap().status, Status::Commande);
        dev.deliver().await.unwrap();
        assert!(dev.hooks.calls().is_empty());
    }

    /// An installation id in the metadata that is not ours is foreign even when the
    /// reference looks like ours (a copied database's references).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metadata_of_another_installation_is_foreign() {
        let d = driver();
        let h = Harness::new(&d).await.unwrap();
        let tx = h.transaction(1250).await.unwrap();
        let mut ctx = h.engine.payment_context(&tx, &h.instance).await;
        ctx.installation = "staging".into();
        let cs = d.session_in(&h, &tx, ctx).await.unwrap();
        let n = d.act(&h, &tx, &cs, PayerAction::Pay).unwrap();
        let r = h.notify(n).await.unwrap();
        assert_eq!(r.effect, Effect::Foreign);
        assert_eq!(h.reload(&tx).await.unwrap().status, Status::Commande);
    }

    /// Events about objects that carry no reference of ours (a payment made elsewhere on
    /// the account, an event type we do not act on) are acknowledged, never 5xx.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_objects_are_acknowledged() {
        let d = driver();
        let h = Harness::new(&d).await.unwrap();
        let (tx, n) = paid(&h, &d).await;
        h.notify(n).await.unwrap();
        for kind in ["charge.succeeded", "payment_intent.succeeded"] {
            let n = StripeDriver::signed(&h, kind, &tx.reference).unwrap();
            let r = h.notify(n).await.unwrap();
            assert_eq!(r.reply.status, 200, "{kind}");
            assert_eq!(r.effect, Effect::Unknown, "{kind}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sepa_waits_then_the_async_success_settles() {
        let d = driver();
        let h = Harness::new(&d).await.unwrap();
        let tx = h.transaction(1250).await.unwrap();
        let n = bank_conformance::Driver::notification(&d, &h, &tx, PayerAction::Wait)
            .await
            .unwrap();
        let r = h.notify(n).await.unwrap();
        assert_eq!(
            r.effect,
            Effect::Transitioned {
                from: Status::Commande,
                to: Status::Attente
            }
        );
        let cs = sandbox().events_about("checkout.session.completed", &tx.reference)[0]["data"]
            ["object"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        sandbox().settle_async(&cs, true).unwrap();
        let n = StripeDriver::signed(&h, "checkout.session.async_payment_succeeded", &cs).unwrap();
        let r = h.notify(n).await.unwrap();
        assert_eq!(
            r.effect,
            Effect::Transitioned {
                from: Status::Attente,
                to: Status::Ok
            }
        );
    }
}
