//! 20 identical settlements fired at once for each of 1,000 transactions: exactly 1,000
//! transitions and 1,000 `traiter_reglement` calls, on SQLite and on PostgreSQL.

use bank_core::{Effect, HookName, Status};
use bank_e2e::{backend_test, Backend, Setup};

const TRANSACTIONS: usize = 1_000;
const COPIES: usize = 20;
/// Transactions whose notifications are in flight together (20 × 50 = 1,000 requests).
const WAVE: usize = 50;

backend_test!(
    twenty_identical_settlements_for_each_of_1000_transactions,
    |b: Backend| async move {
        let Some(s) = Setup::new(b).await else { return };
        let mut txs = Vec::with_capacity(TRANSACTIONS);
        for _ in 0..TRANSACTIONS {
            txs.push(s.tx(1990).await);
        }
        let mut transitions = 0usize;
        for wave in txs.chunks(WAVE) {
            let mut tasks = tokio::task::JoinSet::new();
            for tx in wave {
                let n = s.simu_post(tx, "ok").await;
                for _ in 0..COPIES {
                    let engine = s.engine.clone();
                    let n = n.clone();
                    tasks.spawn(async move { engine.handle_notification("simu", n).await });
                }
            }
            while let Some(r) = tasks.join_next().await {
                let r = r.expect("task").expect("notification");
                assert!((200..300).contains(&r.reply.status));
                if matches!(r.effect, Effect::Transitioned { to: Status::Ok, .. }) {
                    transitions += 1;
                }
            }
        }
        assert_eq!(transitions, TRANSACTIONS, "transitions reported");
        assert_eq!(
            s.ts.raw_count("SELECT COUNT(*) FROM bank_history WHERE kind = 'transition'")
                .await,
            TRANSACTIONS as i64,
            "transitions stored"
        );
        // These are our own form posted by browsers: a copy that arrives once the status
        // has changed would change nothing and is not stored (replays write nothing);
        // copies that raced the change are kept with it.
        let stored =
            s.ts.raw_count("SELECT COUNT(*) FROM bank_notifications")
                .await;
        assert!(
            (TRANSACTIONS as i64..=(TRANSACTIONS * COPIES) as i64).contains(&stored),
            "{stored} notifications stored"
        );
        s.engine.deliver_pending().await.unwrap();
        assert_eq!(s.hooks.count(HookName::TraiterReglement), TRANSACTIONS);
        assert_eq!(s.hooks.count(HookName::Facturer), TRANSACTIONS);
        let mut keys: Vec<_> = s
            .hooks
            .calls()
            .into_iter()
            .map(|c| c.idempotency_key)
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(
            keys.len(),
            TRANSACTIONS * 4,
            "one key per hook per transaction"
        );
        s.ts.cleanup().await;
    }
);
