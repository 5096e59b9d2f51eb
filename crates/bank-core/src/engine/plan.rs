//! The planner: what an intent does to a transaction as read under the row lock. Pure: the
//! same row and intent always give the same change. One function per concern, in the
//! order they are decided: the amount, a staff refund's step, a refund the provider
//! notified, then the transition. Every status change, refunds included, comes from
//! [`Status::apply`]: one table decides.

use serde_json::json;

use super::{detail_with, Committed, Intent, StaffRefund};
use crate::hooks::HookName;
use crate::money::Money;
use crate::status::{Event, Status, Transition};
use crate::store::{Change, NewHistory, NewHook};
use crate::transaction::{HistoryKind, Transaction};

/// Turns `intent` into a change against `tx` as read under the lock.
pub(super) fn plan(
    tx: &Transaction,
    intent: &Intent,
    now: chrono::DateTime<chrono::Utc>,
) -> (Change, Committed) {
    if intent.first_payment_only && matches!(tx.status, Status::Ok | Status::Rembourse) {
        return (Change::default(), Committed::AlreadySettled);
    }
    let (change, committed) = decide(tx, intent, now);
    let unchanged = matches!(
        committed,
        Committed::NoOp | Committed::Forbidden | Committed::DoublePayment
    );
    if intent.quiet_if_unchanged && unchanged {
        return (Change::default(), committed);
    }
    (change, committed)
}

fn decide(
    tx: &Transaction,
    intent: &Intent,
    now: chrono::DateTime<chrono::Utc>,
) -> (Change, Committed) {
    if let Some(amount) = intent.refund_amount {
        let total = Money::from_minor(
            tx.refunded.minor().saturating_add(amount.minor()),
            amount.currency(),
        )
        .unwrap_or(amount);
        let with_total = Intent {
            refund_amount: None,
            refund_total: Some(total),
            ..intent.clone()
        };
        return decide(tx, &with_total, now);
    }
    let change = Change {
        notification: intent.notification.clone(),
        ..Change::default()
    };
    if let Some(got) = wrong_amount(tx, intent) {
        return mismatch(tx, intent, change, got);
    }
    if let Some(step) = intent.staff_refund {
        return staff_refund(tx, intent, change, step);
    }
    let mut event = intent.event;
    let mut change = change;
    if let Some(total) = intent.refund_total {
        if total == tx.amount {
            event = Some(Event::Refund);
        } else {
            return provider_partial_refund(tx, intent, change, total);
        }
    }
    match event {
        None => record_only(tx, intent, change),
        Some(event) => {
            let planned = transition(tx, intent, &mut change, event, now);
            (change, planned)
        }
    }
}

/// A history line for `tx` going to `to`.
fn line(
    tx: &Transaction,
    intent: &Intent,
    kind: HistoryKind,
    to: Status,
    extra: serde_json::Value,
) -> NewHistory {
    NewHistory {
        kind,
        from: Some(tx.status),
        to: Some(to),
        instance: intent.instance.clone(),
        detail: detail_with(intent, extra),
    }
}

fn ignored(intent: &Intent, status: Status, reason: &str) -> NewHistory {
    NewHistory {
        kind: HistoryKind::Ignored,
        from: Some(status),
        to: Some(status),
        instance: intent.instance.clone(),
        detail: detail_with(intent, json!({ "event": intent.event, "reason": reason })),
    }
}

/// The amount or currency that does not match the transaction, in minor units, if any:
/// checked before anything can be marked.
fn wrong_amount(tx: &Transaction, intent: &Intent) -> Option<Money> {
    intent
        .check_amount
        .filter(|got| {
            if intent.amount_chosen_by_payer {
                got.currency() != tx.amount.currency() || got.minor() < tx.amount.minor()
            } else {
                *got != tx.amount
            }
        })
        .or_else(|| {
            intent
                .refund_total
                .filter(|t| t.currency() != tx.amount.currency() || t.minor() > tx.amount.minor())
        })
}

fn mismatch(
    tx: &Transaction,
    intent: &Intent,
    mut change: Change,
    got: Money,
) -> (Change, Committed) {
    if let Some(n) = change.notification.as_mut() {
        n.verdict = crate::store::Verdict::Mismatch;
    }
    change.history = Some(line(
        tx,
        intent,
        HistoryKind::AmountMismatch,
        tx.status,
        json!({ "expected": tx.amount.to_string(), "got": got.to_string() }),
    ));
    (
        change,
        Committed::Mismatch {
            expected: tx.amount,
            got,
        },
    )
}

/// One step of a refund made by staff: reserve, confirm or release (see [`StaffRefund`]).
fn staff_refund(
    tx: &Transaction,
    intent: &Intent,
    mut change: Change,
    step: StaffRefund,
) -> (Change, Committed) {
    match step {
        StaffRefund::Reserve(amount) => {
            if tx.status != Status::Ok {
                change.history = Some(ignored(
                    intent,
                    tx.status,
                    "refund of an unpaid transaction",
                ));
                return (change, Committed::Forbidden);
            }
            let refundable = tx.refundable();
            if amount.currency() != tx.amount.currency()
                || amount.minor() <= 0
                || amount.minor() > refundable.minor()
            {
                return (Change::default(), Committed::RefundRefused { refundable });
            }
            change.patch.refund_pending_minor = Some(tx.refund_pending.minor() + amount.minor());
            change.history = Some(line(
                tx,
                intent,
                HistoryKind::Manual,
                tx.status,
                json!({ "step": "refund_requested", "amount_minor": amount.minor() }),
            ));
            (change, Committed::Reserved)
        }
        StaffRefund::Release(amount) => {
            change.patch.refund_pending_minor =
                Some((tx.refund_pending.minor() - amount.minor()).max(0));
            change.history = Some(line(
                tx,
                intent,
                HistoryKind::Manual,
                tx.status,
                json!({ "step": "refund_released", "amount_minor": amount.minor() }),
            ));
            (change, Committed::NoOp)
        }
        StaffRefund::Confirm(amount) => {
            // The money left: record it whatever happened since the reservation.
            let refunded = (tx.refunded.minor() + amount.minor()).min(tx.amount.minor());
            change.patch.refunded_minor = Some(refunded);
            change.patch.refund_pending_minor =
                Some((tx.refund_pending.minor() - amount.minor()).max(0));
            change.hooks.push(NewHook {
                hook: HookName::TraiterRemboursement,
                detail: json!({ "amount_minor": amount.minor(), "refunded_minor": refunded, "detail": intent.detail }),
            });
            if refunded == tx.amount.minor() {
                if let Transition::To(to) = tx.status.apply(Event::Refund) {
                    change.patch.status = Some(to);
                    change.history = Some(line(
                        tx,
                        intent,
                        HistoryKind::Transition,
                        to,
                        json!({ "event": Event::Refund }),
                    ));
                    return (
                        change,
                        Committed::Transitioned {
                            from: tx.status,
                            to,
                        },
                    );
                }
            }
            change.history = Some(line(
                tx,
                intent,
                HistoryKind::PartialRefund,
                tx.status,
                json!({ "refunded_minor": refunded }),
            ));
            (change, Committed::PartialRefund { total: refunded })
        }
    }
}

/// A refund the provider notified that does not cover the whole amount: a partial refund
/// when it adds to what is refunded, otherwise a stale notice.
fn provider_partial_refund(
    tx: &Transaction,
    intent: &Intent,
    mut change: Change,
    total: Money,
) -> (Change, Committed) {
    if tx.status == Status::Ok && total.minor() > tx.refunded.minor() {
        change.patch.refunded_minor = Some(total.minor());
        change.history = Some(line(
            tx,
            intent,
            HistoryKind::PartialRefund,
            tx.status,
            json!({ "refunded_minor": total.minor() }),
        ));
        change.hooks.push(NewHook {
            hook: HookName::TraiterRemboursement,
            detail: json!({ "refunded_minor": total.minor(), "partial": true, "detail": intent.detail }),
        });
        return (
            change,
            Committed::PartialRefund {
                total: total.minor(),
            },
        );
    }
    change.history = Some(ignored(
        intent,
        tx.status,
        "refund total not above what is already refunded, or transaction not paid",
    ));
    (change, Committed::NoOp)
}

/// No event: record only; subscription hooks (resilier) still bump the version for their
/// key.
fn record_only(tx: &Transaction, intent: &Intent, mut change: Change) -> (Change, Committed) {
    change.history = Some(line(
        tx,
        intent,
        intent.origin.unwrap_or(HistoryKind::Notification),
        tx.status,
        json!({}),
    ));
    for hook in &intent.extra_hooks {
        change.hooks.push(NewHook {
            hook: *hook,
            detail: json!({ "detail": intent.detail }),
        });
    }
    (change, Committed::NoOp)
}

/// `event` through the transition table, with the transaction's fields and hooks.
fn transition(
    tx: &Transaction,
    intent: &Intent,
    change: &mut Change,
    event: Event,
    now: chrono::DateTime<chrono::Utc>,
) -> Committed {
    match tx.status.apply(event) {
        Transition::To(to) => {
            let p = &mut change.patch;
            p.status = Some(to);
            if let Some(i) = &intent.instance {
                if matches!(event, Event::Pay | Event::Wait) || tx.mode.is_none() {
                    p.mode = Some(i.clone());
                }
            }
            p.authorisation = intent.authorisation.clone();
            p.subscription_id = intent.subscription_id.clone();
            let mut extra = json!({ "event": event });
            match event {
                Event::Pay => {
                    p.paid_at = Some(now);
                    p.clear_error = true;
                    // A donation: the transaction is worth what the payer gave (at least its
                    // amount, checked above), so refunds and hooks see the real figure.
                    if let Some(got) = intent
                        .check_amount
                        .filter(|got| intent.amount_chosen_by_payer && *got != tx.amount)
                    {
                        p.amount_minor = Some(got.minor());
                        extra["amount_chosen_by_payer"] = json!({
                            "least": tx.amount.to_string(),
                            "paid": got.to_string(),
                        });
                    }
                }
                Event::Fail | Event::LateFailure => {
                    if let Some((code, message)) = &intent.error {
                        p.error_code = code.clone();
                        p.error_message = message.clone();
                    }
                }
                Event::Refund => p.refunded_minor = Some(tx.amount.minor()),
                Event::Wait | Event::Abandon => {}
            }
            change.history = Some(line(tx, intent, HistoryKind::Transition, to, extra));
            let names = intent
                .replace_hooks
                .clone()
                .unwrap_or_else(|| HookName::for_transition(tx.status, to, tx.recurring));
            for hook in names.into_iter().chain(intent.extra_hooks.iter().copied()) {
                change.hooks.push(NewHook {
                    hook,
                    detail: json!({ "from": tx.status, "to": to, "event": event, "detail": intent.detail }),
                });
            }
            Committed::Transitioned {
                from: tx.status,
                to,
            }
        }
        Transition::NoOp => {
            let other_means =
                intent.instance.is_some() && tx.mode.is_some() && intent.instance != tx.mode;
            let other_auth =
                matches!((&intent.authorisation, &tx.authorisation), (Some(a), Some(b)) if a != b);
            if event == Event::Pay
                && matches!(tx.status, Status::Ok | Status::Rembourse)
                && (other_means || other_auth)
            {
                change.history = Some(line(
                    tx,
                    intent,
                    HistoryKind::DoublePayment,
                    tx.status,
                    json!({ "paid_by": tx.mode, "paid_authorisation": tx.authorisation, "reason": "second payment: send it back" }),
                ));
                return Committed::DoublePayment;
            }
            change.history = Some(ignored(
                intent,
                tx.status,
                "replay or stale notice: no change",
            ));
            Committed::NoOp
        }
        Transition::Forbidden => {
            change.history = Some(ignored(intent, tx.status, "transition not allowed"));
            Committed::Forbidden
        }
    }
}
