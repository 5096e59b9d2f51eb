//! Engine behaviour across crates: payment choices, notification path edge cases, late
//! failure and refunds notified by a provider, instalments, staff actions, installation
//! ownership, configuration errors. Run on both stores where the store matters.

use std::sync::Arc;

use bank_core::config::{Config, ProcessEnv};
use bank_core::testing::RecordingHooks;
use bank_core::{
    async_trait, Acquirer, Capabilities, Currency, Effect, Engine, EngineSettings, Error, HookName,
    InstanceInfo, Mode, Money, NewTransaction, Notification, Outcome, PaymentContext,
    PaymentRequest, RefundSupport, Registry, Reply, Status, Transaction, Verified, VerifyContext,
};
use bank_e2e::{backend_test, Backend, Setup, TestStore};

/// A provider double whose notifications say, in clear, what to do: `ref`, `outcome`,
/// `amount` (it trusts them; it exists to drive the engine, not to verify).
#[derive(Debug)]
struct Scripted(InstanceInfo, std::sync::atomic::AtomicUsize);

#[async_trait]
impl Acquirer for Scripted {
    fn info(&self) -> &InstanceInfo {
        &self.0
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::new();
        c.hosted_payment = true;
        c.server_notifications = true;
        c.recurring = true;
        c.refund = RefundSupport::Partial;
        c
    }
    async fn payment_request(
        &self,
        _tx: &Transaction,
        _ctx: &PaymentContext,
    ) -> Result<PaymentRequest, Error> {
        Ok(PaymentRequest::Redirect {
            url: "https://psp.invalid/pay".into(),
        })
    }
    async fn verify(&self, n: &Notification, _ctx: &VerifyContext) -> Result<Verified, Error> {
        if n.field("sig").as_deref() != Some("good") {
            return Err(Error::verification("scripted", "bad signature"));
        }
        let outcome = match n.field("outcome").as_deref() {
            Some("paid") => Outcome::Paid,
            Some("late") => Outcome::LateFailure,
            Some("refunded") => Outcome::Refunded {
                total: Money::from_minor(n.field("total").unwrap().parse().unwrap(), Currency::EUR)
                    .unwrap(),
            },
            Some("instalment") => Outcome::InstalmentPaid,
            Some("refund") => Outcome::RefundedAmount {
                amount: Money::from_minor(
                    n.field("refund").unwrap().parse().unwrap(),
                    Currency::EUR,
                )
                .unwrap(),
            },
            Some("subscription_payment") => Outcome::SubscriptionPayment,
            Some("ended") => Outcome::SubscriptionEnded,
            _ => Outcome::Nothing,
        };
        let mut v = Verified::new(n.field("ref"), outcome);
        v.amount = n
            .field("amount")
            .map(|a| Money::from_minor(a.parse().unwrap(), Currency::EUR).unwrap());
        v.amount_chosen_by_payer = n.field("chosen").is_some();
        v.event_id = n.field("event");
        v.authorisation = n.field("auth");
        v.subscription_id = n.field("token");
        v.reply = Reply::ok_text("OK");
        Ok(v)
    }
    async fn charge_instalment(
        &self,
        first: &Transaction,
        instalment: &Transaction,
        key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<Verified, Error> {
        assert_eq!(
            key, instalment.reference,
            "the instalment's key is its reference"
        );
        assert_eq!(first.subscription_id.as_deref(), Some("card_1"));
        let paid = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let mut v = Verified::new(
            None,
            if paid {
                Outcome::InstalmentPaid
            } else {
                Outcome::InstalmentFailed
            },
        );
        v.amount = Some(instalment.amount);
        v.authorisation = Some("auth-2".into());
        v.detail = serde_json::json!({ "answer": if paid { "00000" } else { "00021" } });
        Ok(v)
    }
    fn refund_event_id(&self, provider_reference: &str) -> Option<String> {
        Some(format!("{provider_reference}:notice"))
    }
    async fn cancel_subscription(
        &self,
        _first: &Transaction,
        _ctx: &bank_core::OperationContext,
    ) -> Result<bank_core::OperationResult, Error> {
        Ok(bank_core::OperationResult {
            provider_reference: Some("sub_deleted".into()),
            manual: false,
        })
    }
    async fn refund(
        &self,
        _tx: &Transaction,
        amount: Money,
        _key: &str,
        _ctx: &bank_core::OperationContext,
    ) -> Result<bank_core::OperationResult, Error> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Long enough for a concurrent refund to arrive while this one is at the provider.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if amount.minor() == 777 {
            return Err(Error::provider(
                "psp",
                bank_core::ProviderFailure::OutcomeUnknown,
                "timed out",
            ));
        }
        if amount.minor() == 999 {
            return Err(Error::provider(
                "psp",
                bank_core::ProviderFailure::Refused,
                "refund refused",
            )
            .with_code("refused"));
        }
        Ok(bank_core::OperationResult {
            provider_reference: Some("re_1".into()),
            manual: false,
        })
    }
}

fn scripted_post(fields: &[(&str, &str)]) -> Notification {
    let mut n = Notification::form_post(fields, chrono::Utc::now());
    n.channel = bank_core::Channel::Server;
    n
}

async fn scripted_engine(ts: &TestStore, hooks: Arc<RecordingHooks>) -> Engine {
    scripted_engine_with(ts, hooks, Arc::new(scripted())).await
}

fn scripted() -> Scripted {
    Scripted(
        InstanceInfo {
            id: "psp".into(),
            provider: "scripted".into(),
            mode: Mode::Test,
            order: 0,
            caption: "PSP".into(),
        },
        std::sync::atomic::AtomicUsize::new(0),
    )
}

async fn scripted_engine_with(
    ts: &TestStore,
    hooks: Arc<dyn bank_core::Hooks>,
    psp: Arc<Scripted>,
) -> Engine {
    let config = bank_e2e::config();
    let registry = Registry::from_acquirers(vec![psp]);
    Engine::open(
        ts.store.clone(),
        registry,
        hooks,
        &config.installation,
        EngineSettings::default(),
    )
    .await
    .unwrap()
}

async fn eur(engine: &Engine, minor: i64, recurring: bool) -> Transaction {
    let mut t = NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap());
    t.force = true;
    t.recurring = recurring;
    engine.inserer_transaction(t).await.unwrap()
}

// spip_bank_sepa_rejected_after_ok: a late failure after `ok` is a real transition with
// its own hook (traiter_impaye), not reglement_en_echec.
backend_test!(late_failure_after_ok, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let hooks = Arc::new(RecordingHooks::new());
    let engine = scripted_engine(&ts, hooks.clone()).await;
    let tx = eur(&engine, 3000, false).await;
    let paid = [
        ("ref", tx.reference.as_str()),
        ("outcome", "paid"),
        ("amount", "3000"),
        ("sig", "good"),
    ];
    engine
        .handle_notification("psp", scripted_post(&paid))
        .await
        .unwrap();
    let r = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", tx.reference.as_str()),
                ("outcome", "late"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        r.effect,
        Effect::Transitioned {
            from: Status::Ok,
            to: Status::Echec
        }
    );
    engine.deliver_pending().await.unwrap();
    assert_eq!(hooks.count(HookName::TraiterImpaye), 1);
    assert_eq!(hooks.count(HookName::ReglementEnEchec), 0);
    ts.cleanup().await;
});

backend_test!(refunds_notified_by_the_provider, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let hooks = Arc::new(RecordingHooks::new());
    let engine = scripted_engine(&ts, hooks.clone()).await;
    let tx = eur(&engine, 3000, false).await;
    let r = tx.reference.as_str();
    engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "paid"),
                ("amount", "3000"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    let part = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "refunded"),
                ("total", "1000"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(part.effect, Effect::PartiallyRefunded { total_minor: 1000 });
    let stale = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "refunded"),
                ("total", "1000"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        stale.effect,
        Effect::NoOp { status: Status::Ok },
        "the same total again changes nothing"
    );
    let over = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "refunded"),
                ("total", "3001"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert!(matches!(over.effect, Effect::AmountMismatch { .. }));
    let full = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "refunded"),
                ("total", "3000"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        full.effect,
        Effect::Transitioned {
            from: Status::Ok,
            to: Status::Rembourse
        }
    );
    let replay = engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "paid"),
                ("amount", "3000"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        replay.effect,
        Effect::NoOp {
            status: Status::Rembourse
        },
        "a replayed payment never un-refunds"
    );
    engine.deliver_pending().await.unwrap();
    assert_eq!(hooks.count(HookName::TraiterRemboursement), 2);
    assert_eq!(hooks.count(HookName::TraiterReglement), 1);
    ts.cleanup().await;
});

backend_test!(
    rejected_notifications_are_stored_and_change_nothing,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", tx.reference.as_str()),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                    ("sig", "bad"),
                ]),
            )
            .await
            .unwrap();
        assert!(matches!(r.effect, Effect::Rejected { .. }));
        assert_eq!(r.reply.status, 400);
        assert_eq!(
            engine.transaction(&tx.reference).await.unwrap().status,
            Status::Commande
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_notifications WHERE verdict = 'rejected'")
                .await,
            1
        );
        assert!(matches!(
            engine.handle_notification("nope", scripted_post(&[])).await,
            Err(Error::UnknownInstance { .. })
        ));
        ts.cleanup().await;
    }
);

backend_test!(
    duplicate_provider_events_are_dropped,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let n = scripted_post(&[
            ("ref", tx.reference.as_str()),
            ("outcome", "paid"),
            ("amount", "3000"),
            ("sig", "good"),
            ("event", "evt_1"),
        ]);
        engine.handle_notification("psp", n.clone()).await.unwrap();
        let again = engine.handle_notification("psp", n).await.unwrap();
        assert_eq!(again.effect, Effect::Duplicate);
        assert_eq!(again.reply.status, 200, "a duplicate is acknowledged");
        ts.cleanup().await;
    }
);

backend_test!(subscription_instalments, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let hooks = Arc::new(RecordingHooks::new());
    let engine = scripted_engine(&ts, hooks.clone()).await;
    let first = eur(&engine, 1500, true).await;
    let r = first.reference.as_str();
    engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "paid"),
                ("amount", "1500"),
                ("sig", "good"),
            ]),
        )
        .await
        .unwrap();
    let inst = scripted_post(&[
        ("ref", r),
        ("outcome", "instalment"),
        ("amount", "1500"),
        ("sig", "good"),
        ("event", "in_1"),
    ]);
    let res = engine
        .handle_notification("psp", inst.clone())
        .await
        .unwrap();
    assert_eq!(
        res.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
    let child = engine
        .transaction(res.reference.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(child.parent_reference.as_deref(), Some(r));
    let dup = engine.handle_notification("psp", inst).await.unwrap();
    assert_eq!(dup.effect, Effect::Duplicate);
    engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "ended"),
                ("sig", "good"),
                ("event", "end_1"),
            ]),
        )
        .await
        .unwrap();
    engine.deliver_pending().await.unwrap();
    assert_eq!(hooks.count(HookName::ActiverAbonnement), 1);
    assert_eq!(hooks.count(HookName::RenouvelerAbonnement), 1);
    assert_eq!(hooks.count(HookName::TraiterReglement), 2);
    assert_eq!(hooks.count(HookName::Resilier), 1);
    ts.cleanup().await;
});

backend_test!(
    a_payer_chosen_amount_settles_at_what_was_paid_never_below_the_least,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let gift = |tx: &Transaction, amount: &str, chosen: bool| {
            let mut all = vec![
                ("ref", tx.reference.as_str()),
                ("sig", "good"),
                ("outcome", "paid"),
                ("amount", amount),
            ];
            if chosen {
                all.push(("chosen", "1"));
            }
            scripted_post(&all)
        };
        // At least 5.00 asked, 20.00 given.
        let tx = eur(&engine, 500, false).await;
        let paid = engine
            .handle_notification("psp", gift(&tx, "2000", true))
            .await
            .unwrap();
        assert!(
            matches!(paid.effect, Effect::Transitioned { to: Status::Ok, .. }),
            "{paid:?}"
        );
        let stored = engine.transaction(&tx.reference).await.unwrap();
        assert_eq!(stored.amount.minor(), 2000, "worth what was given");
        let history = ts.store.history(stored.id).await.unwrap();
        assert!(
            history
                .iter()
                .any(|h| h.detail.to_string().contains("amount_chosen_by_payer")),
            "both figures kept: {history:?}"
        );
        let again = engine
            .handle_notification("psp", gift(&tx, "2000", true))
            .await
            .unwrap();
        assert!(
            !matches!(again.effect, Effect::Transitioned { .. }),
            "{again:?}"
        );
        engine.deliver_pending().await.unwrap();
        let calls = hooks.calls();
        let settled: Vec<_> = calls
            .iter()
            .filter(|c| c.hook == HookName::TraiterReglement)
            .collect();
        assert_eq!(settled.len(), 1);
        assert_eq!(
            settled[0].transaction.amount.minor(),
            2000,
            "hooks see 20.00"
        );
        // The whole gift refunded: rembourse.
        let refunded = engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", tx.reference.as_str()),
                    ("sig", "good"),
                    ("outcome", "refunded"),
                    ("total", "2000"),
                ]),
            )
            .await
            .unwrap();
        assert!(
            matches!(
                refunded.effect,
                Effect::Transitioned {
                    to: Status::Rembourse,
                    ..
                }
            ),
            "{refunded:?}"
        );
        // Below the least, or an exact amount required and another given: nothing marked.
        for (amount, chosen) in [("499", true), ("2000", false)] {
            let tx = eur(&engine, 500, false).await;
            let r = engine
                .handle_notification("psp", gift(&tx, amount, chosen))
                .await
                .unwrap();
            assert!(matches!(r.effect, Effect::AmountMismatch { .. }), "{r:?}");
            let stored = engine.transaction(&tx.reference).await.unwrap();
            assert_eq!(
                (stored.status, stored.amount.minor()),
                (Status::Commande, 500)
            );
        }
        ts.cleanup().await;
    }
);

backend_test!(
    a_refund_made_through_the_api_is_counted_once_whichever_of_answer_and_notice_comes_first,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = Arc::new(scripted_engine(&ts, hooks.clone()).await);
        let notice = |r: &str| {
            scripted_post(&[
                ("ref", r),
                ("sig", "good"),
                ("outcome", "refund"),
                ("refund", "1000"),
                ("event", "re_1:notice"),
            ])
        };
        let ten = Money::from_minor(1000, Currency::EUR).unwrap();
        // The API's answer first, then the provider's notice of the same refund.
        let tx = eur(&engine, 3000, false).await;
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", &tx.reference),
                    ("sig", "good"),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                ]),
            )
            .await
            .unwrap();
        let after = engine
            .refund(&tx.reference, Some(ten), "staff")
            .await
            .unwrap();
        assert_eq!(after.refunded.minor(), 1000);
        let r = engine
            .handle_notification("psp", notice(&tx.reference))
            .await
            .unwrap();
        assert_eq!(r.effect, Effect::Duplicate);
        let now = engine.transaction(&tx.reference).await.unwrap();
        assert_eq!(
            (now.refunded.minor(), now.refund_pending.minor()),
            (1000, 0)
        );
        ts.cleanup().await;

        // The notice first, while the API call is under way (the scripted refund takes 50 ms;
        // a store of its own: the scripted provider names every refund re_1).
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let engine = Arc::new(scripted_engine(&ts, hooks.clone()).await);
        let tx = eur(&engine, 3000, false).await;
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", &tx.reference),
                    ("sig", "good"),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                ]),
            )
            .await
            .unwrap();
        let staff = {
            let engine = engine.clone();
            let reference = tx.reference.clone();
            tokio::spawn(async move { engine.refund(&reference, Some(ten), "staff").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = engine
            .handle_notification("psp", notice(&tx.reference))
            .await
            .unwrap();
        assert_eq!(r.effect, Effect::PartiallyRefunded { total_minor: 1000 });
        staff.await.unwrap().unwrap();
        let now = engine.transaction(&tx.reference).await.unwrap();
        assert_eq!(
            (now.refunded.minor(), now.refund_pending.minor()),
            (1000, 0),
            "counted once, the reservation released"
        );
        ts.cleanup().await;
    }
);

backend_test!(
    refunds_notified_one_by_one_add_up_once_each,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = tx.reference.as_str();
        let post = |fields: &[(&str, &str)]| {
            let mut all = vec![("ref", r), ("sig", "good")];
            all.extend_from_slice(fields);
            scripted_post(&all)
        };
        engine
            .handle_notification("psp", post(&[("outcome", "paid"), ("amount", "3000")]))
            .await
            .unwrap();
        let first = post(&[("outcome", "refund"), ("refund", "1000"), ("event", "R1")]);
        let r1 = engine
            .handle_notification("psp", first.clone())
            .await
            .unwrap();
        assert_eq!(r1.effect, Effect::PartiallyRefunded { total_minor: 1000 });
        let again = engine.handle_notification("psp", first).await.unwrap();
        assert_eq!(
            again.effect,
            Effect::Duplicate,
            "the same refund is not added twice"
        );
        let r2 = engine
            .handle_notification(
                "psp",
                post(&[("outcome", "refund"), ("refund", "1000"), ("event", "R2")]),
            )
            .await
            .unwrap();
        assert_eq!(
            r2.effect,
            Effect::PartiallyRefunded { total_minor: 2000 },
            "a second refund of the same amount adds up"
        );
        let over = engine
            .handle_notification(
                "psp",
                post(&[("outcome", "refund"), ("refund", "1500"), ("event", "R3")]),
            )
            .await
            .unwrap();
        assert!(
            matches!(over.effect, Effect::AmountMismatch { .. }),
            "more than was paid: {over:?}"
        );
        let rest = engine
            .handle_notification(
                "psp",
                post(&[("outcome", "refund"), ("refund", "1000"), ("event", "R4")]),
            )
            .await
            .unwrap();
        assert_eq!(
            rest.effect,
            Effect::Transitioned {
                from: Status::Ok,
                to: Status::Rembourse
            }
        );
        engine.deliver_pending().await.unwrap();
        assert_eq!(hooks.count(HookName::TraiterRemboursement), 3);
        ts.cleanup().await;
    }
);

backend_test!(
    a_subscription_payment_pays_the_first_then_instalments,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let first = eur(&engine, 1500, true).await;
        let r = first.reference.as_str();
        let payment = |event: &'static str| {
            scripted_post(&[
                ("ref", r),
                ("outcome", "subscription_payment"),
                ("amount", "1500"),
                ("sig", "good"),
                ("event", event),
                ("token", "I-SUB1"),
            ])
        };
        let one = engine
            .handle_notification("psp", payment("S1"))
            .await
            .unwrap();
        assert_eq!(
            one.effect,
            Effect::Transitioned {
                from: Status::Commande,
                to: Status::Ok
            }
        );
        assert_eq!(
            one.reference.as_deref(),
            Some(r),
            "the first payment pays the first transaction"
        );
        let again = engine
            .handle_notification("psp", payment("S1"))
            .await
            .unwrap();
        assert_eq!(again.effect, Effect::Duplicate);
        let two = engine
            .handle_notification("psp", payment("S2"))
            .await
            .unwrap();
        assert_eq!(
            two.effect,
            Effect::Transitioned {
                from: Status::Commande,
                to: Status::Ok
            }
        );
        let child = engine
            .transaction(two.reference.as_deref().unwrap())
            .await
            .unwrap();
        assert_eq!(
            child.parent_reference.as_deref(),
            Some(r),
            "the second is an instalment"
        );
        let replay = engine
            .handle_notification("psp", payment("S1"))
            .await
            .unwrap();
        assert_eq!(
            replay.effect,
            Effect::Duplicate,
            "the first payment again, once settled: no instalment"
        );

        // Two payments of a new subscription at the same moment: one pays the first
        // transaction, the other is an instalment (decided under the row lock).
        let other = eur(&engine, 1500, true).await;
        let o = other.reference.clone();
        let at_once = |event: &'static str| {
            let o = o.clone();
            let engine = &engine;
            async move {
                engine
                    .handle_notification(
                        "psp",
                        scripted_post(&[
                            ("ref", o.as_str()),
                            ("outcome", "subscription_payment"),
                            ("amount", "1500"),
                            ("sig", "good"),
                            ("event", event),
                        ]),
                    )
                    .await
                    .unwrap()
            }
        };
        let (a, b) = tokio::join!(at_once("T1"), at_once("T2"));
        let mut refs = vec![a.reference.unwrap(), b.reference.unwrap()];
        refs.sort();
        refs.dedup();
        assert_eq!(
            refs.len(),
            2,
            "one paid the first transaction, one made an instalment"
        );
        assert!(refs.contains(&o));
        for rf in &refs {
            assert_eq!(engine.transaction(rf).await.unwrap().status, Status::Ok);
        }
        engine.deliver_pending().await.unwrap();
        // Each subscription: activated by its first payment, renewed by its second.
        assert_eq!(hooks.count(HookName::ActiverAbonnement), 2);
        assert_eq!(hooks.count(HookName::RenouvelerAbonnement), 2);
        assert_eq!(
            engine
                .transaction(r)
                .await
                .unwrap()
                .subscription_id
                .as_deref(),
            Some("I-SUB1")
        );
        ts.cleanup().await;
    }
);

backend_test!(staff_actions_and_stale_abandon, |b: Backend| async move {
    let Some(s) = Setup::new(b).await else { return };
    let tx = s.tx(4200).await;
    assert!(matches!(
        s.engine.refund(&tx.reference, None, "staff").await,
        Err(Error::NotAllowed { .. })
    ));
    assert!(matches!(
        s.engine
            .mark_received(&tx.reference, Some("simu"), "staff", "")
            .await,
        Err(Error::Unsupported { .. })
    ));
    let t = s
        .engine
        .mark_received(&tx.reference, Some("cheque"), "staff", "cheque 42")
        .await
        .unwrap();
    assert_eq!((t.status, t.mode.as_deref()), (Status::Ok, Some("cheque")));
    assert!(matches!(
        s.engine.abandon(&tx.reference, "staff").await,
        Err(Error::NotAllowed { .. })
    ));
    let old = s.tx(100).await;
    s.clock.advance(chrono::Duration::hours(49));
    let fresh = s.tx(200).await;
    assert_eq!(s.engine.abandon_stale().await.unwrap(), 1);
    assert_eq!(
        s.engine.transaction(&old.reference).await.unwrap().status,
        Status::Abandon
    );
    assert_eq!(
        s.engine.transaction(&fresh.reference).await.unwrap().status,
        Status::Commande
    );
    let h = s.engine.store().history(t.id).await.unwrap();
    assert!(
        h.iter().any(|e| e.detail["staff"] == "staff"),
        "staff action recorded: {h:?}"
    );
    s.ts.cleanup().await;
});

backend_test!(
    payment_choices_follow_order_and_amount,
    |b: Backend| async move {
        let Some(s) = Setup::new(b).await else { return };
        let tx = s.tx(1000).await;
        let ids: Vec<_> = s
            .engine
            .payment_choices(&tx.reference)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.instance.id)
            .collect();
        assert_eq!(
            ids,
            ["simu", "cheque", "virement"],
            "configured order, no gratuit for a real amount"
        );
        let zero = s.tx(0).await;
        let ids: Vec<_> = s
            .engine
            .payment_choices(&zero.reference)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.instance.id)
            .collect();
        assert_eq!(ids, ["gratuit"]);
        let r = s
            .engine
            .handle_notification("simu", s.simu_post(&tx, "ok").await)
            .await
            .unwrap();
        assert_eq!(r.status, Some(Status::Ok));
        assert!(
            matches!(
                s.engine.payment_choices(&tx.reference).await,
                Err(Error::NotAllowed { .. })
            ),
            "a paid transaction is not offered again"
        );
        s.ts.cleanup().await;
    }
);

backend_test!(
    a_copied_database_refuses_another_installation,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let _ = scripted_engine(&ts, hooks.clone()).await;
        let mut other = bank_e2e::config();
        other.installation.id = "devcopy".into();
        let e = Engine::open(
            ts.reopen().await,
            Registry::default(),
            hooks,
            &other.installation,
            EngineSettings::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::InstallationMismatch { .. }), "{e}");
        ts.cleanup().await;
    }
);

#[test]
fn configuration_errors_name_file_key_and_reason() {
    let base = "[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n";
    let unknown = format!("{base}[[instance]]\nid = \"x\"\nprovider = \"bitcoin\"\n");
    let cfg = Config::parse(&unknown, "shop.toml", &ProcessEnv).unwrap();
    let e = bank::Registry::from_config(&cfg, &ProcessEnv)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bitcoin") && e.contains("cheque") && e.contains("simu"),
        "{e}"
    );
    let missing = format!("{base}[[instance]]\nid = \"chq\"\nprovider = \"cheque\"\n[instance.options]\npayee = \"A\"\n");
    let cfg = Config::parse(&missing, "shop.toml", &ProcessEnv).unwrap();
    let e = bank::Registry::from_config(&cfg, &ProcessEnv)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shop.toml")
            && e.contains("instance.chq.options.address")
            && e.contains("missing"),
        "{e}"
    );
    let live_simu =
        format!("{base}[[instance]]\nid = \"s\"\nprovider = \"simu\"\nmode = \"live\"\n").replace(
            "secret = \"0123456789abcdef0123\"",
            "secret = { env = \"BANK_E2E_UNSET_SECRET\" }",
        );
    let e = Config::parse(&live_simu, "shop.toml", &ProcessEnv)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("installation.secret") && e.contains("BANK_E2E_UNSET_SECRET"),
        "{e}"
    );
    let bad_iban = format!("{base}[[instance]]\nid = \"v\"\nprovider = \"virement\"\n[instance.options]\nholder = \"A\"\niban = \"FR76 0000\"\nbic = \"BNPAFRPP\"\n");
    let cfg = Config::parse(&bad_iban, "shop.toml", &ProcessEnv).unwrap();
    let e = bank::Registry::from_config(&cfg, &ProcessEnv)
        .unwrap_err()
        .to_string();
    assert!(e.contains("instance.v.options.iban"), "{e}");
}

#[test]
fn simulation_refuses_live_mode() {
    let text = "[installation]\nid = \"shop\"\nsecret = { env = \"BANK_E2E_SECRET\" }\nbase_url = \"https://shop.example\"\n[[instance]]\nid = \"s\"\nprovider = \"simu\"\nmode = \"live\"\n";
    let env: std::collections::BTreeMap<String, String> = [(
        "BANK_E2E_SECRET".to_string(),
        "0123456789abcdef0123".to_string(),
    )]
    .into();
    let cfg = Config::parse(text, "shop.toml", &env).unwrap();
    let e = bank::Registry::from_config(&cfg, &env).unwrap_err();
    assert!(matches!(e, Error::SimulationInLive { .. }), "{e}");
}

backend_test!(
    concurrent_staff_refunds_refund_once,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let psp = Arc::new(scripted());
        let engine = Arc::new(scripted_engine_with(&ts, hooks.clone(), psp.clone()).await);
        let tx = eur(&engine, 3000, false).await;
        let r = tx.reference.clone();
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", r.as_str()),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                    ("sig", "good"),
                ]),
            )
            .await
            .unwrap();
        let (a, b2) = tokio::join!(
            engine.refund(&r, None, "alice"),
            engine.refund(&r, None, "bob")
        );
        assert!(
            a.is_ok() != b2.is_ok(),
            "exactly one refund succeeds: {a:?} {b2:?}"
        );
        let refused = [a, b2].into_iter().find_map(Result::err).unwrap();
        assert!(
            matches!(refused, Error::AmountNotAllowed { .. }),
            "{refused}"
        );
        assert_eq!(
            psp.1.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the provider was asked once"
        );
        let after = engine.transaction(&r).await.unwrap();
        assert_eq!(
            (after.status, after.refunded.minor()),
            (Status::Rembourse, 3000)
        );
        engine.deliver_pending().await.unwrap();
        assert_eq!(hooks.count(HookName::TraiterRemboursement), 1);
        ts.cleanup().await;
    }
);

backend_test!(
    a_refund_refused_by_the_provider_changes_nothing,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = tx.reference.as_str();
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", r),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                    ("sig", "good"),
                ]),
            )
            .await
            .unwrap();
        let e = engine
            .refund(
                r,
                Some(Money::from_minor(999, Currency::EUR).unwrap()),
                "alice",
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Provider { .. }), "{e}");
        let after = engine.transaction(r).await.unwrap();
        assert_eq!(
            (after.status, after.refunded.minor()),
            (Status::Ok, 0),
            "reservation released"
        );
        let part = engine
            .refund(
                r,
                Some(Money::from_minor(1000, Currency::EUR).unwrap()),
                "alice",
            )
            .await
            .unwrap();
        assert_eq!((part.status, part.refunded.minor()), (Status::Ok, 1000));
        engine.deliver_pending().await.unwrap();
        assert_eq!(hooks.count(HookName::TraiterRemboursement), 1);
        ts.cleanup().await;
    }
);

backend_test!(
    a_refund_with_an_unknown_outcome_stays_pending_until_resolved,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = tx.reference.as_str();
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", r),
                    ("outcome", "paid"),
                    ("amount", "3000"),
                    ("sig", "good"),
                ]),
            )
            .await
            .unwrap();
        let e = engine
            .refund(
                r,
                Some(Money::from_minor(777, Currency::EUR).unwrap()),
                "alice",
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::RefundOutcomeUnknown { .. }), "{e}");
        let t = engine.transaction(r).await.unwrap();
        assert_eq!(
            (
                t.refunded.minor(),
                t.refund_pending.minor(),
                t.refundable().minor()
            ),
            (0, 777, 2223)
        );
        let e = engine
            .refund(
                r,
                Some(Money::from_minor(3000, Currency::EUR).unwrap()),
                "bob",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3000") || e.contains("30.00"),
            "the pending amount cannot be refunded again: {e}"
        );
        let t = engine
            .resolve_pending_refund(r, true, "alice")
            .await
            .unwrap();
        assert_eq!(
            (t.status, t.refunded.minor(), t.refund_pending.minor()),
            (Status::Ok, 777, 0)
        );
        assert!(
            engine
                .resolve_pending_refund(r, true, "alice")
                .await
                .is_err(),
            "nothing left pending"
        );
        engine.deliver_pending().await.unwrap();
        assert_eq!(hooks.count(HookName::TraiterRemboursement), 1);
        ts.cleanup().await;
    }
);

backend_test!(
    a_second_payment_by_other_means_is_recorded_not_absorbed,
    |b: Backend| async move {
        let Some(s) = Setup::new(b).await else { return };
        let tx = s.tx(2500).await;
        s.engine
            .handle_notification("simu", s.simu_post(&tx, "ok").await)
            .await
            .unwrap();
        let e = s
            .engine
            .mark_received(&tx.reference, Some("cheque"), "staff", "cheque 99")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotAllowed { .. }), "{e}");
        let r = s
            .engine
            .handle_notification(
                "cheque",
                bank_e2e::own_post(&s.engine, "cheque", &tx, "attente").await,
            )
            .await
            .unwrap();
        assert_eq!(
            r.effect,
            Effect::NoOp { status: Status::Ok },
            "a waiting notice after payment is stale, not a payment"
        );
        s.ts.cleanup().await;
    }
);

backend_test!(
    double_payment_from_the_provider_is_flagged,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = tx.reference.as_str();
        let paid = |auth: &str| {
            scripted_post(&[
                ("ref", r),
                ("outcome", "paid"),
                ("amount", "3000"),
                ("sig", "good"),
                ("auth", auth),
            ])
        };
        engine.handle_notification("psp", paid("A1")).await.unwrap();
        let replay = engine.handle_notification("psp", paid("A1")).await.unwrap();
        assert_eq!(
            replay.effect,
            Effect::NoOp { status: Status::Ok },
            "the same payment again is a quiet replay"
        );
        let second = engine.handle_notification("psp", paid("B2")).await.unwrap();
        assert_eq!(
            second.effect,
            Effect::DoublePayment,
            "another authorisation is another payment"
        );
        assert_eq!(second.reply.status, 200);
        let t = engine.transaction(r).await.unwrap();
        assert_eq!(
            (t.status, t.authorisation.as_deref()),
            (Status::Ok, Some("A1"))
        );
        let h = engine.store().history(t.id).await.unwrap();
        assert!(h
            .iter()
            .any(|e| e.kind == bank_core::HistoryKind::DoublePayment));
        engine.deliver_pending().await.unwrap();
        assert_eq!(hooks.count(HookName::TraiterReglement), 1);
        ts.cleanup().await;
    }
);

backend_test!(
    a_payment_without_amount_settles_nothing,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let hooks = Arc::new(RecordingHooks::new());
        let engine = scripted_engine(&ts, hooks.clone()).await;
        let tx = eur(&engine, 3000, false).await;
        let r = engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", tx.reference.as_str()),
                    ("outcome", "paid"),
                    ("sig", "good"),
                ]),
            )
            .await
            .unwrap();
        assert!(
            matches!(r.effect, Effect::Rejected { .. }),
            "{:?}",
            r.effect
        );
        assert_eq!(
            engine.transaction(&tx.reference).await.unwrap().status,
            Status::Commande
        );
        ts.cleanup().await;
    }
);

struct NoInstalments;

#[async_trait]
impl bank_core::Hooks for NoInstalments {
    async fn preparer_echeance(&self, _first: &Transaction) -> Option<NewTransaction> {
        None
    }
}

backend_test!(
    an_instalment_the_host_cannot_prepare_is_not_acknowledged,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let engine = scripted_engine_with(&ts, Arc::new(NoInstalments), Arc::new(scripted())).await;
        let first = eur(&engine, 1500, true).await;
        let r = first.reference.as_str();
        engine
            .handle_notification(
                "psp",
                scripted_post(&[
                    ("ref", r),
                    ("outcome", "paid"),
                    ("amount", "1500"),
                    ("sig", "good"),
                ]),
            )
            .await
            .unwrap();
        let inst = scripted_post(&[
            ("ref", r),
            ("outcome", "instalment"),
            ("amount", "1500"),
            ("sig", "good"),
            ("event", "in_1"),
        ]);
        let e = engine.handle_notification("psp", inst).await.unwrap_err();
        assert!(
            matches!(e, Error::Hook { .. }),
            "answered 5xx so the provider retries: {e}"
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_notifications WHERE event_id = 'in_1'")
                .await,
            0,
            "not stored: a retry is not a duplicate"
        );
        ts.cleanup().await;
    }
);

/// A host whose first `traiter_reglement` panics and second hangs.
struct Unruly(std::sync::atomic::AtomicUsize);

#[async_trait]
impl bank_core::Hooks for Unruly {
    async fn traiter_reglement(&self, _call: &bank_core::HookCall) -> Result<(), Error> {
        match self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => panic!("host bug"),
            1 => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

backend_test!(
    a_hook_that_panics_or_hangs_is_retried,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let settings = EngineSettings {
            hook_timeout_seconds: 1,
            hook_lease_seconds: 5,
            ..EngineSettings::default()
        };
        let clock = Arc::new(bank_core::ManualClock::new(chrono::Utc::now()));
        let host = Arc::new(Unruly(std::sync::atomic::AtomicUsize::new(0)));
        let engine =
            bank_e2e::engine_with(ts.store.clone(), host.clone(), settings, clock.clone()).await;
        let tx = {
            let mut t = NewTransaction::new(Money::from_minor(500, Currency::EUR).unwrap());
            t.force = true;
            engine.inserer_transaction(t).await.unwrap()
        };
        engine
            .handle_notification("simu", bank_e2e::own_post(&engine, "simu", &tx, "ok").await)
            .await
            .unwrap();
        let first = engine.deliver_pending().await.unwrap();
        assert_eq!(
            (first.delivered, first.retried),
            (0, 1),
            "a panic is a failure, the worker lives on"
        );
        clock.advance(chrono::Duration::minutes(1));
        let second = engine.deliver_pending().await.unwrap();
        assert_eq!(
            (second.delivered, second.retried),
            (0, 1),
            "a hang times out"
        );
        clock.advance(chrono::Duration::minutes(5));
        let third = engine.deliver_pending().await.unwrap();
        assert_eq!(
            third.delivered, 4,
            "then all four settlement hooks, in order"
        );
        ts.cleanup().await;
    }
);

#[tokio::test]
async fn a_live_installation_offers_no_test_instance_and_refuses_a_simulation() {
    let env: std::collections::BTreeMap<String, String> =
        [("S".to_string(), "0123456789abcdef0123".to_string())].into();
    let base = "[installation]\nid = \"shop\"\nsecret = { env = \"S\" }\nbase_url = \"https://shop.example\"\n";
    let cheque = "[[instance]]\nid = \"cheque\"\nprovider = \"cheque\"\nmode = \"live\"\n[instance.options]\npayee = \"A\"\naddress = \"B\"\n";
    let simu = "[[instance]]\nid = \"simu\"\nprovider = \"simu\"\n";
    let cfg = Config::parse(&format!("{base}{cheque}{simu}"), "shop.toml", &env).unwrap();
    let e = bank::Registry::from_config(&cfg, &env).unwrap_err();
    assert!(
        matches!(e, Error::SimulationInLive { ref instance } if instance == "simu"),
        "{e}"
    );
    let test_virement = "[[instance]]\nid = \"vir\"\nprovider = \"virement\"\n[instance.options]\nholder = \"A\"\niban = \"FR76 3000 6000 0112 3456 7890 189\"\nbic = \"BNPAFRPP\"\n";
    let cfg = Config::parse(&format!("{base}{cheque}{test_virement}"), "shop.toml", &env).unwrap();
    let reg = bank::Registry::from_config(&cfg, &env).unwrap();
    let offered: Vec<_> = reg.enabled().map(|a| a.info().id.clone()).collect();
    assert_eq!(
        offered,
        ["cheque"],
        "the test instance is not offered beside a live one"
    );
}

backend_test!(
    credentials_in_headers_are_not_stored,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let engine = scripted_engine(&ts, Arc::new(RecordingHooks::new())).await;
        let tx = eur(&engine, 3000, false).await;
        let mut n = scripted_post(&[
            ("ref", tx.reference.as_str()),
            ("outcome", "paid"),
            ("amount", "3000"),
            ("sig", "good"),
        ]);
        n.headers.push(("Cookie".into(), "session=s3cr3t".into()));
        n.headers
            .push(("authorization".into(), "Bearer s3cr3t".into()));
        n.headers.push(("user-agent".into(), "PSP/1.0".into()));
        engine.handle_notification("psp", n).await.unwrap();
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_notifications WHERE headers LIKE '%s3cr3t%'")
                .await,
            0
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_notifications WHERE headers LIKE '%PSP/1.0%'")
                .await,
            1
        );
        ts.cleanup().await;
    }
);

// Merchant-initiated debits (Paybox Direct Plus): the engine asks the host for the
// instalment, the acquirer debits the registered card, the answer takes the notification
// path; a refusal ends the subscription; cancelling calls resilier.
backend_test!(merchant_initiated_instalments, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let hooks = Arc::new(RecordingHooks::new());
    let engine = scripted_engine(&ts, hooks.clone()).await;
    let first = eur(&engine, 1500, true).await;
    let r = first.reference.as_str();
    assert!(
        matches!(
            engine.charge_instalment(r).await,
            Err(Error::NotAllowed { .. })
        ),
        "nothing to debit before the first payment registered a card"
    );
    engine
        .handle_notification(
            "psp",
            scripted_post(&[
                ("ref", r),
                ("outcome", "paid"),
                ("amount", "1500"),
                ("sig", "good"),
                ("token", "card_1"),
            ]),
        )
        .await
        .unwrap();
    let paid = engine.charge_instalment(r).await.unwrap();
    assert_eq!(
        paid.effect,
        Effect::Transitioned {
            from: Status::Commande,
            to: Status::Ok
        }
    );
    let child = engine
        .transaction(paid.reference.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(child.parent_reference.as_deref(), Some(r));
    assert_eq!(child.authorisation.as_deref(), Some("auth-2"));
    let refused = engine.charge_instalment(r).await.unwrap();
    assert_eq!(refused.status, Some(Status::Echec));
    let ended = engine.cancel_subscription(r, "staff").await.unwrap();
    assert_eq!(ended.status, Status::Ok, "the first payment stays paid");
    engine.deliver_pending().await.unwrap();
    assert_eq!(hooks.count(HookName::RenouvelerAbonnement), 1);
    assert_eq!(hooks.count(HookName::ReglementEnEchec), 1);
    assert_eq!(hooks.count(HookName::Resilier), 2, "refusal, then cancel");
    let plain = eur(&engine, 900, false).await;
    assert!(matches!(
        engine.cancel_subscription(&plain.reference, "staff").await,
        Err(Error::NotAllowed { .. })
    ));
    ts.cleanup().await;
});

// A failing hook keeps the hooks delivered before it: the retry starts at the failed one.
backend_test!(
    hook_failure_keeps_earlier_hooks_delivered,
    |b: Backend| async move {
        let Some(s) = Setup::new(b).await else { return };
        s.hooks.fail(HookName::Facturer, 1);
        let tx = s.tx(1000).await;
        s.engine
            .handle_notification("simu", s.simu_post(&tx, "ok").await)
            .await
            .unwrap();
        let first = s.engine.deliver_pending().await.unwrap();
        assert_eq!((first.delivered, first.retried), (2, 1));
        s.clock.advance(chrono::Duration::minutes(10));
        let second = s.engine.deliver_pending().await.unwrap();
        assert_eq!(second.delivered, 2, "facturer and notifier only");
        assert_eq!(s.hooks.count(HookName::TraiterReglement), 1);
        assert_eq!(s.hooks.count(HookName::PreFacturer), 1);
        let facturer: Vec<u32> = s
            .hooks
            .calls()
            .into_iter()
            .filter(|c| c.hook == HookName::Facturer)
            .map(|c| c.attempt)
            .collect();
        assert_eq!(
            facturer,
            vec![2],
            "the failed call is not recorded; the retry is attempt 2"
        );
        s.ts.cleanup().await;
    }
);
