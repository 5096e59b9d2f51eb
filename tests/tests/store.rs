//! The store suite: every test runs on SQLite and on PostgreSQL.

use bank_core::store::{Applied, Change, ListFilter, NewHistory, NewHook, NewNotification, Patch, Verdict};
use bank_core::{Channel, Currency, HistoryKind, HookName, HttpMethod, Money, NewTransaction, Notification, Status};
use bank_e2e::{backend_test, Backend, TestStore};
use chrono::{Duration, Utc};

fn new_tx(minor: i64) -> NewTransaction {
    NewTransaction::new(Money::from_minor(minor, Currency::EUR).unwrap())
}

fn note(event: Option<&str>) -> NewNotification {
    let mut raw = Notification::new(Channel::Server, HttpMethod::Post, Utc::now());
    raw.body = b"a=1&b=2".to_vec();
    raw.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
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
        transaction_id: tx.id,
        expect_version: tx.version,
        notification: n,
        patch: Patch { status: Some(Status::Ok), mode: Some("simu".into()), ..Patch::default() },
        history: vec![NewHistory {
            kind: HistoryKind::Transition,
            from: Some(tx.status),
            to: Some(Status::Ok),
            instance: Some("simu".into()),
            link_notification: true,
            detail: serde_json::json!({}),
        }],
        hooks: vec![
            NewHook { hook: HookName::TraiterReglement, detail: serde_json::json!({}) },
            NewHook { hook: HookName::Facturer, detail: serde_json::json!({}) },
        ],
    }
}

backend_test!(recycles_identical_commande_unless_forced, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let now = Utc::now();
    let since = Some(now - Duration::hours(1));
    let (a, recycled) = ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", now, since).await.unwrap();
    assert!(!recycled);
    let (b2, recycled) = ts.store.insert_transaction(&new_tx(1000), "test-bbbbbbbbbbbbbbbb", now, since).await.unwrap();
    assert!(recycled);
    assert_eq!(a.id, b2.id);
    let (c, recycled) = ts.store.insert_transaction(&new_tx(1000), "test-cccccccccccccccc", now, None).await.unwrap();
    assert!(!recycled, "force creates a new one");
    assert_ne!(a.id, c.id);
    let (d, recycled) = ts.store.insert_transaction(&new_tx(1001), "test-dddddddddddddddd", now, since).await.unwrap();
    assert!(!recycled, "another amount is another transaction");
    assert_ne!(d.id, a.id);
    let later = now + Duration::hours(2);
    let (_, recycled) = ts.store.insert_transaction(&new_tx(1000), "test-eeeeeeeeeeeeeeee", later, Some(later - Duration::hours(1))).await.unwrap();
    assert!(!recycled, "outside the window");
    ts.cleanup().await;
});

backend_test!(compare_and_set_refuses_a_stale_version, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let (tx, _) = ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None).await.unwrap();
    let first = ts.store.apply(pay_change(&tx, Some(note(None))), Utc::now()).await.unwrap();
    let Applied::Done { transaction, notification_id } = first else { panic!("{first:?}") };
    assert_eq!(transaction.status, Status::Ok);
    assert_eq!(transaction.version, 1);
    assert!(notification_id.is_some());
    let second = ts.store.apply(pay_change(&tx, Some(note(None))), Utc::now()).await.unwrap();
    assert_eq!(second, Applied::Conflict);
    // The losing change wrote nothing: one notification, one transition, two hooks.
    assert_eq!(ts.raw_count("SELECT COUNT(*) FROM bank_notifications").await, 1);
    assert_eq!(ts.raw_count("SELECT COUNT(*) FROM bank_history WHERE kind = 'transition'").await, 1);
    assert_eq!(ts.raw_count("SELECT COUNT(*) FROM bank_outbox").await, 2);
    ts.cleanup().await;
});

backend_test!(duplicate_event_ids_write_nothing, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let (tx, _) = ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None).await.unwrap();
    let first = ts.store.apply(pay_change(&tx, Some(note(Some("evt_1")))), Utc::now()).await.unwrap();
    assert!(matches!(first, Applied::Done { .. }));
    let again = ts.store.transaction_by_id(tx.id).await.unwrap().unwrap();
    let dup = ts.store.apply(pay_change(&again, Some(note(Some("evt_1")))), Utc::now()).await.unwrap();
    assert_eq!(dup, Applied::Duplicate);
    assert_eq!(ts.store.record_notification(&note(Some("evt_1"))).await.unwrap(), None);
    assert!(ts.store.record_notification(&note(None)).await.unwrap().is_some(), "no event id: never a duplicate");
    assert!(ts.store.record_notification(&note(None)).await.unwrap().is_some());
    assert_eq!(ts.store.transaction_by_id(tx.id).await.unwrap().unwrap().version, 1);
    ts.cleanup().await;
});

backend_test!(history_and_notifications_are_append_only, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let (tx, _) = ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None).await.unwrap();
    ts.store.apply(pay_change(&tx, Some(note(None))), Utc::now()).await.unwrap();
    assert!(ts.raw_execute("UPDATE bank_history SET kind = 'x'").await.is_err());
    assert!(ts.raw_execute("DELETE FROM bank_history").await.is_err());
    assert!(ts.raw_execute("UPDATE bank_notifications SET verdict = 'x'").await.is_err());
    assert!(ts.raw_execute("DELETE FROM bank_notifications").await.is_err());
    let h = ts.store.history(tx.id).await.unwrap();
    assert_eq!(h.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![HistoryKind::Created, HistoryKind::Transition]);
    let stored = ts.store.notification(h[1].notification_id.unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.raw.body, b"a=1&b=2", "raw body kept byte for byte");
    assert_eq!(stored.transaction_id, Some(tx.id));
    ts.cleanup().await;
});

backend_test!(keyset_pagination_and_filters, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..25 {
        let (tx, _) = ts.store.insert_transaction(&new_tx(100 + i), &format!("test-{:016}", i), now, None).await.unwrap();
        if i % 5 == 0 {
            let mut c = pay_change(&tx, None);
            c.patch.authorisation = Some(format!("AUTH{i}"));
            ts.store.apply(c, now).await.unwrap();
        }
        ids.push(tx.id);
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = ts.store.list_transactions(&ListFilter::default(), before, 10).await.unwrap();
        seen.extend(page.items.iter().map(|t| t.id));
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let paid = ts.store.list_transactions(&ListFilter { status: Some(Status::Ok), ..Default::default() }, None, 100).await.unwrap();
    assert_eq!(paid.items.len(), 5);
    assert!(paid.next.is_none());
    let by_auth = ts.store.list_transactions(&ListFilter { authorisation: Some("AUTH10".into()), ..Default::default() }, None, 10).await.unwrap();
    assert_eq!(by_auth.items.len(), 1);
    assert_eq!(by_auth.items[0].amount.minor(), 110);
    let by_mode = ts.store.list_transactions(&ListFilter { mode: Some("simu".into()), status: Some(Status::Commande), ..Default::default() }, None, 10).await.unwrap();
    assert!(by_mode.items.is_empty());
    ts.cleanup().await;
});

backend_test!(outbox_delivers_in_order_with_leases, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    let now = Utc::now();
    let (t1, _) = ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", now, None).await.unwrap();
    let (t2, _) = ts.store.insert_transaction(&new_tx(2000), "test-bbbbbbbbbbbbbbbb", now, None).await.unwrap();
    ts.store.apply(pay_change(&t1, None), now).await.unwrap();
    ts.store.apply(pay_change(&t2, None), now).await.unwrap();
    let lease = now + Duration::seconds(30);
    let first = ts.store.claim_hooks(now, lease, 10).await.unwrap();
    // One per transaction: the second hook of each waits for the first.
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|i| i.hook == HookName::TraiterReglement && i.attempt == 1));
    assert_eq!(first[0].idempotency_key, "test-aaaaaaaaaaaaaaaa:v1:traiter_reglement");
    assert_eq!(first[0].snapshot.status, Status::Ok);
    assert!(ts.store.claim_hooks(now, lease, 10).await.unwrap().is_empty(), "leased rows are not claimed twice");
    ts.store.hook_delivered(first[0].id, now).await.unwrap();
    let next = ts.store.claim_hooks(now, lease, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].hook, HookName::Facturer);
    assert_eq!(next[0].transaction_id, t1.id);
    // The lease of t2's first hook runs out: claimed again, second attempt.
    let later = lease + Duration::seconds(1);
    let again = ts.store.claim_hooks(later, later + Duration::seconds(30), 10).await.unwrap();
    let t2_first = again.iter().find(|i| i.transaction_id == t2.id).expect("reclaimed");
    assert_eq!(t2_first.attempt, 2);
    ts.store.hook_failed(t2_first.id, "boom", None).await.unwrap();
    let stats = ts.store.outbox_stats().await.unwrap();
    assert_eq!(stats.dead, 1);
    // A dead delivery does not block the next one of its transaction forever.
    let after_dead = ts.store.claim_hooks(later + Duration::minutes(5), later + Duration::minutes(6), 10).await.unwrap();
    assert!(after_dead.iter().any(|i| i.transaction_id == t2.id && i.hook == HookName::Facturer));
    ts.cleanup().await;
});

backend_test!(database_refuses_impossible_values, |b: Backend| async move {
    let Some(ts) = TestStore::new(b).await else { return };
    ts.store.insert_transaction(&new_tx(1000), "test-aaaaaaaaaaaaaaaa", Utc::now(), None).await.unwrap();
    assert!(ts.raw_execute("UPDATE bank_transactions SET status = 'paid'").await.is_err());
    assert!(ts.raw_execute("UPDATE bank_transactions SET refunded_minor = 1001").await.is_err());
    assert!(ts.raw_execute("UPDATE bank_transactions SET amount_minor = -1").await.is_err());
    ts.cleanup().await;
});
