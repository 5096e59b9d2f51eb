//! The store suite: every test runs on SQLite and on PostgreSQL.

use bank_core::store::{
    Applied, Change, ListFilter, NewHistory, NewHook, NewNotification, Patch, TxKey, Verdict,
};
use bank_core::{
    Channel, Currency, HistoryKind, HookName, HttpMethod, Money, NewTransaction, Notification,
    Status,
};
use bank_e2e::{backend_test, Backend, TestStore};
use chrono::{Duration, Utc};

fn new_tx(minor: i64) -> NewTransaction {
    NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap())
}

fn note(event: Option<&str>) -> NewNotification {
    let mut raw = Notification::new(Channel::Server, HttpMethod::Post, Utc::now());
    raw.body = b"a=1&b=2".to_vec();
    raw.headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    NewNotification {
        instance: "simu".into(),
        raw,
        verdict: Verdict::Accepted,
        reason: None,
        event_id: event.map(str::to_string),
    }
}

fn pay_change(tx: &bank_core::Transaction, n: Option<NewNotification>) -> Change {
    Change {
        notification: n,
        patch: Patch {
            status: Some(Status::Ok),
            mode: Some("simu".into()),
            ..Patch::default()
        },
        history: Some(NewHistory {
            kind: HistoryKind::Transition,
            from: Some(tx.status),
            to: Some(Status::Ok),
            instance: Some("simu".into()),
            detail: serde_json::json!({}),
        }),
        hooks: vec![
            NewHook {
                hook: HookName::TraiterReglement,
                detail: serde_json::json!({}),
            },
            NewHook {
                hook: HookName::Facturer,
                detail: serde_json::json!({}),
            },
        ],
    }
}

/// Applies `change` to the transaction `id` whatever its state.
async fn apply(ts: &TestStore, id: i64, change: Change) -> Applied {
    let mut planner = move |_: &bank_core::Transaction| change.clone();
    ts.store
        .apply(TxKey::Id(id), Utc::now(), &mut planner)
        .await
        .unwrap()
}

backend_test!(
    recycles_identical_commande_unless_forced,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let now = Utc::now();
        let since = Some(now - Duration::hours(1));
        let (a, recycled) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", now, since)
            .await
            .unwrap();
        assert!(!recycled);
        let (b2, recycled) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-bbbbbbbbbbbbbbbb", now, since)
            .await
            .unwrap();
        assert!(recycled);
        assert_eq!(a.id, b2.id);
        let (c, recycled) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-cccccccccccccccc", now, None)
            .await
            .unwrap();
        assert!(!recycled, "force creates a new one");
        assert_ne!(a.id, c.id);
        let (d, recycled) = ts
            .store
            .insert_transaction(&new_tx(1001), "test-dddddddddddddddd", now, since)
            .await
            .unwrap();
        assert!(!recycled, "another amount is another transaction");
        assert_ne!(d.id, a.id);
        let later = now + Duration::hours(2);
        let (_, recycled) = ts
            .store
            .insert_transaction(
                &new_tx(1000),
                "test-eeeeeeeeeeeeeeee",
                later,
                Some(later - Duration::hours(1)),
            )
            .await
            .unwrap();
        assert!(!recycled, "outside the window");
        ts.cleanup().await;
    }
);

backend_test!(
    apply_plans_against_the_locked_row,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let (tx, _) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
            .await
            .unwrap();
        // The planner sees the row as it is under the lock, and only pays a `commande` one.
        let plan = |seen: &bank_core::Transaction| {
            if seen.status == Status::Commande {
                pay_change(seen, Some(note(None)))
            } else {
                Change {
                    notification: Some(note(None)),
                    ..Change::default()
                }
            }
        };
        let mut p1 = plan;
        let first = ts
            .store
            .apply(TxKey::Reference(tx.reference.clone()), Utc::now(), &mut p1)
            .await
            .unwrap();
        let Applied::Done {
            transaction,
            notification_id,
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!((transaction.status, transaction.version), (Status::Ok, 1));
        assert!(notification_id.is_some());
        let mut p2 = plan;
        let second = ts
            .store
            .apply(TxKey::Id(tx.id), Utc::now(), &mut p2)
            .await
            .unwrap();
        let Applied::Done { transaction, .. } = second else {
            panic!("{second:?}")
        };
        assert_eq!(
            transaction.version, 1,
            "a record-only change does not bump the version"
        );
        let mut p3 = plan;
        assert_eq!(
            ts.store
                .apply(
                    TxKey::Reference("test-zzzzzzzzzzzzzzzz".into()),
                    Utc::now(),
                    &mut p3
                )
                .await
                .unwrap(),
            Applied::NotFound
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_notifications")
                .await,
            2
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_history WHERE kind = 'transition'")
                .await,
            1
        );
        assert_eq!(
            ts.raw_count("SELECT COUNT(*) FROM bank_outbox").await,
            1,
            "one outbox row per change"
        );
        ts.cleanup().await;
    }
);

backend_test!(duplicate_event_ids_write_nothing, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let (tx, _) = ts
        .store
        .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
        .await
        .unwrap();
    let first = apply(&ts, tx.id, pay_change(&tx, Some(note(Some("evt_1"))))).await;
    assert!(matches!(first, Applied::Done { .. }));
    let dup = apply(&ts, tx.id, pay_change(&tx, Some(note(Some("evt_1"))))).await;
    assert_eq!(dup, Applied::Duplicate);
    assert_eq!(
        ts.store
            .record_notification(&note(Some("evt_1")))
            .await
            .unwrap(),
        None
    );
    assert!(
        ts.store
            .record_notification(&note(None))
            .await
            .unwrap()
            .is_some(),
        "no event id: never a duplicate"
    );
    assert!(ts
        .store
        .record_notification(&note(None))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        ts.store
            .transaction_by_id(tx.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    ts.cleanup().await;
});

backend_test!(
    history_and_notifications_are_append_only,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let (tx, _) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
            .await
            .unwrap();
        apply(&ts, tx.id, pay_change(&tx, Some(note(None)))).await;
        assert!(ts
            .raw_execute("UPDATE bank_history SET kind = 'x'")
            .await
            .is_err());
        assert!(ts.raw_execute("DELETE FROM bank_history").await.is_err());
        assert!(ts
            .raw_execute("UPDATE bank_notifications SET verdict = 'x'")
            .await
            .is_err());
        assert!(ts
            .raw_execute("DELETE FROM bank_notifications")
            .await
            .is_err());
        let h = ts.store.history(tx.id).await.unwrap();
        assert_eq!(
            h.iter().map(|e| e.kind).collect::<Vec<_>>(),
            vec![HistoryKind::Created, HistoryKind::Transition]
        );
        let stored = ts
            .store
            .notification(h[1].notification_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.raw.body, b"a=1&b=2", "raw body kept byte for byte");
        assert_eq!(stored.transaction_id, Some(tx.id));
        ts.cleanup().await;
    }
);

backend_test!(keyset_pagination_and_filters, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else {
        return;
    };
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..25 {
        let (tx, _) = ts
            .store
            .insert_transaction(&new_tx(100 + i), &format!("test-{:016}", i), now, None)
            .await
            .unwrap();
        if i % 5 == 0 {
            let mut c = pay_change(&tx, None);
            c.patch.authorisation = Some(format!("AUTH{i}"));
            apply(&ts, tx.id, c).await;
        }
        ids.push(tx.id);
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = ts
            .store
            .list_transactions(&ListFilter::default(), before, 10)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|t| t.id));
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let paid = ts
        .store
        .list_transactions(
            &ListFilter {
                status: Some(Status::Ok),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(paid.items.len(), 5);
    assert!(paid.next.is_none());
    let by_auth = ts
        .store
        .list_transactions(
            &ListFilter {
                authorisation: Some("AUTH10".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_auth.items.len(), 1);
    assert_eq!(by_auth.items[0].amount.minor(), 110);
    let by_mode = ts
        .store
        .list_transactions(
            &ListFilter {
                mode: Some("simu".into()),
                status: Some(Status::Commande),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert!(by_mode.items.is_empty());
    ts.cleanup().await;
});

backend_test!(
    outbox_delivers_in_order_with_leases,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let (t1, _) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
            .await
            .unwrap();
        let (t2, _) = ts
            .store
            .insert_transaction(&new_tx(2000), "test-bbbbbbbbbbbbbbbb", Utc::now(), None)
            .await
            .unwrap();
        apply(&ts, t1.id, pay_change(&t1, None)).await;
        apply(&ts, t2.id, pay_change(&t2, None)).await;
        // A later change of t1: waits until t1's first row is done.
        let mut later = pay_change(&t1, None);
        later.hooks = vec![NewHook {
            hook: HookName::TraiterRemboursement,
            detail: serde_json::json!({}),
        }];
        apply(&ts, t1.id, later).await;
        let now = Utc::now() + Duration::seconds(1);
        let lease = now + Duration::seconds(30);
        let first = ts.store.claim_hooks(now, lease, 10).await.unwrap();
        assert_eq!(first.len(), 2, "one row per transaction");
        assert!(first.iter().all(
            |i| i.hooks == [HookName::TraiterReglement, HookName::Facturer]
                && i.next == 0
                && i.attempt == 1
        ));
        assert_eq!(first[0].key_prefix, "test-aaaaaaaaaaaaaaaa:v1");
        assert_eq!(first[0].snapshot.status, Status::Ok);
        assert!(
            ts.store
                .claim_hooks(now, lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "leased rows are not claimed twice"
        );
        assert!(ts.store.hook_delivered(&first[0], 0, lease).await.unwrap());
        assert_eq!(ts.store.rows_delivered(&[&first[0]], now).await.unwrap(), 1);
        let next = ts.store.claim_hooks(now, lease, 10).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].transaction_id, next[0].hooks.clone()),
            (t1.id, vec![HookName::TraiterRemboursement])
        );
        assert_eq!(next[0].key_prefix, "test-aaaaaaaaaaaaaaaa:v2");
        // t2's row: first hook delivered, then the worker stalls past its lease. Another worker
        // claims the row again from its second hook; the stalled worker's writes are refused.
        let t2_row = first.iter().find(|i| i.transaction_id == t2.id).unwrap();
        assert!(ts.store.hook_delivered(t2_row, 0, lease).await.unwrap());
        let after = lease + Duration::seconds(1);
        let again = ts
            .store
            .claim_hooks(after, after + Duration::seconds(30), 10)
            .await
            .unwrap();
        let t2_again = again
            .iter()
            .find(|i| i.transaction_id == t2.id)
            .expect("reclaimed");
        assert_eq!((t2_again.next, t2_again.attempt), (1, 2));
        assert_eq!(
            ts.store.rows_delivered(&[t2_row], after).await.unwrap(),
            0,
            "stale claim refused"
        );
        assert!(
            !ts.store.hook_delivered(t2_row, 1, after).await.unwrap(),
            "stale claim refused"
        );
        assert!(!ts.store.renew_claim(t2_row, after).await.unwrap());
        assert!(!ts.store.hook_failed(t2_row, 0, "late", None).await.unwrap());
        assert!(ts
            .store
            .hook_failed(t2_again, 0, "boom", None)
            .await
            .unwrap());
        assert_eq!(ts.store.outbox_stats().await.unwrap().dead, 1);
        ts.cleanup().await;
    }
);

backend_test!(
    dead_hooks_keep_later_ones_waiting_until_requeued,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let (t1, _) = ts
            .store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
            .await
            .unwrap();
        apply(&ts, t1.id, pay_change(&t1, None)).await;
        let mut refund = pay_change(&t1, None);
        refund.hooks = vec![NewHook {
            hook: HookName::TraiterRemboursement,
            detail: serde_json::json!({}),
        }];
        apply(&ts, t1.id, refund).await;
        let now = Utc::now() + Duration::seconds(1);
        let claimed = ts
            .store
            .claim_hooks(now, now + Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(ts
            .store
            .hook_failed(&claimed[0], 0, "host down", None)
            .await
            .unwrap());
        let later = now + Duration::hours(1);
        assert!(
            ts.store
                .claim_hooks(later, later + Duration::seconds(30), 10)
                .await
                .unwrap()
                .is_empty(),
            "the refund hook never reaches a host that did not see the payment"
        );
        assert_eq!(ts.store.requeue_dead(later).await.unwrap(), 1);
        let back = ts
            .store
            .claim_hooks(later, later + Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(
            (back.len(), back[0].hooks[0], back[0].attempt),
            (1, HookName::TraiterReglement, 1)
        );
        ts.cleanup().await;
    }
);

backend_test!(
    database_refuses_impossible_values,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        ts.store
            .insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None)
            .await
            .unwrap();
        assert!(ts
            .raw_execute("UPDATE bank_transactions SET status = 'paid'")
            .await
            .is_err());
        assert!(ts
            .raw_execute("UPDATE bank_transactions SET refunded_minor = 1001")
            .await
            .is_err());
        assert!(ts
            .raw_execute(
                "UPDATE bank_transactions SET refunded_minor = 600, refund_pending_minor = 401"
            )
            .await
            .is_err());
        assert!(ts
            .raw_execute("UPDATE bank_transactions SET amount_minor = -1")
            .await
            .is_err());
        ts.cleanup().await;
    }
);

backend_test!(
    counters_never_repeat_under_concurrency,
    |b: Backend| async move {
        let Some(ts) = TestStore::new(b).await else {
            return;
        };
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = ts.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..25 {
                    got.push(store.next_counter("paybox:1999888:20261124").await.unwrap());
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (1..=200).collect::<Vec<i64>>(),
            "each value handed out once"
        );
        assert_eq!(
            ts.store
                .next_counter("paybox:1999888:20261125")
                .await
                .unwrap(),
            1,
            "counters are independent by name"
        );
        ts.cleanup().await;
    }
);
