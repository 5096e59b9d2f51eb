//! The status of a transaction and the one table of allowed transitions.
//!
//! The stored names are SPIP Bank's: `commande`, `attente`, `ok`, `echec`, `abandon`,
//! `rembourse`. Every change of status in `bank` goes through [`Status::apply`]; the store
//! then writes it with a compare-and-set on the status read, so two concurrent
//! notifications cannot both win.
//!
//! | from \ event | Wait     | Pay  | Fail  | Abandon  | LateFailure | Refund    |
//! |--------------|----------|------|-------|----------|-------------|-----------|
//! | commande     | attente  | ok   | echec | abandon  | forbidden   | forbidden |
//! | attente      | no-op    | ok   | echec | abandon  | echec       | forbidden |
//! | ok           | no-op    | no-op| no-op | forbidden| echec       | rembourse |
//! | echec        | attente  | ok   | no-op | abandon  | no-op       | forbidden |
//! | abandon      | attente  | ok   | no-op | no-op    | no-op       | forbidden |
//! | rembourse    | no-op    | no-op| no-op | forbidden| no-op       | no-op     |
//!
//! Why these choices:
//! - A payment after `echec` or `abandon` is accepted: money was taken, and the truth of
//!   the bank wins over a local clean-up. A payer may retry after a refused card, or come
//!   back after cancelling on a hosted page and choose a cheque.
//! - A plain failure, a waiting notice or a replayed payment never undoes `ok`: browser
//!   returns and retries arrive late and out of order. Only [`Event::LateFailure`] (SEPA
//!   debit rejected, chargeback) takes `ok` to `echec`, and it has its own hook.
//! - A late failure of a payment still waiting fails it: a SEPA debit returned before the
//!   notice of its collection arrived (lost, or never sent by the provider's rules) never
//!   brought the money.
//! - Nothing leaves `rembourse`: the money went back.
//! - "No-op" (replay, stale notice) and "forbidden" both change nothing; the difference
//!   tells staff actions (an error to show) from provider notices (acknowledged quietly).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Status of a transaction, with SPIP Bank's stored names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, waiting for the payer (`commande`).
    Commande,
    /// Waiting for an offline payment: cheque, transfer, SEPA not yet debited (`attente`).
    Attente,
    /// Paid (`ok`).
    Ok,
    /// Failed or refused (`echec`).
    Echec,
    /// Abandoned (`abandon`).
    Abandon,
    /// Refunded in full (`rembourse`).
    Rembourse,
}

/// What happened to a transaction, as far as its status is concerned.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The payer chose an offline means, or the provider accepted a payment not yet
    /// collected (SEPA).
    Wait,
    /// The money was collected (or authorised, for card payments captured later).
    Pay,
    /// The attempt failed or was refused.
    Fail,
    /// The payer or staff abandoned the transaction.
    Abandon,
    /// A payment already `ok` was reversed: SEPA debit rejected, chargeback.
    LateFailure,
    /// The whole amount was refunded.
    Refund,
}

/// The result of applying an [`Event`] to a [`Status`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Transition {
    /// The status changes to this one.
    To(Status),
    /// Nothing changes: a replay, or a stale notice that must not undo a later state.
    NoOp,
    /// Nothing changes, and the request was wrong (refunding an unpaid transaction).
    Forbidden,
}

impl Status {
    /// Every status, in the order of the table above.
    pub const ALL: [Status; 6] = [
        Status::Commande,
        Status::Attente,
        Status::Ok,
        Status::Echec,
        Status::Abandon,
        Status::Rembourse,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Commande => "commande",
            Status::Attente => "attente",
            Status::Ok => "ok",
            Status::Echec => "echec",
            Status::Abandon => "abandon",
            Status::Rembourse => "rembourse",
        }
    }

    /// The transition table: the only place where statuses change.
    pub fn apply(self, event: Event) -> Transition {
        use Event as E;
        use Status as S;
        use Transition::{Forbidden, NoOp, To};
        match (self, event) {
            (S::Commande, E::Wait) => To(S::Attente),
            (S::Commande, E::Pay) => To(S::Ok),
            (S::Commande, E::Fail) => To(S::Echec),
            (S::Commande, E::Abandon) => To(S::Abandon),
            (S::Commande, E::LateFailure | E::Refund) => Forbidden,

            (S::Attente, E::Wait) => NoOp,
            (S::Attente, E::Pay) => To(S::Ok),
            (S::Attente, E::Fail) => To(S::Echec),
            (S::Attente, E::Abandon) => To(S::Abandon),
            (S::Attente, E::LateFailure) => To(S::Echec),
            (S::Attente, E::Refund) => Forbidden,

            (S::Ok, E::Wait | E::Pay | E::Fail) => NoOp,
            (S::Ok, E::Abandon) => Forbidden,
            (S::Ok, E::LateFailure) => To(S::Echec),
            (S::Ok, E::Refund) => To(S::Rembourse),

            (S::Echec, E::Wait) => To(S::Attente),
            (S::Echec, E::Pay) => To(S::Ok),
            (S::Echec, E::Fail | E::LateFailure) => NoOp,
            (S::Echec, E::Abandon) => To(S::Abandon),
            (S::Echec, E::Refund) => Forbidden,

            (S::Abandon, E::Wait) => To(S::Attente),
            (S::Abandon, E::Refund) => Forbidden,
            (S::Abandon, E::Pay) => To(S::Ok),
            (S::Abandon, E::Fail | E::Abandon | E::LateFailure) => NoOp,

            (S::Rembourse, E::Abandon) => Forbidden,
            (S::Rembourse, _) => NoOp,
        }
    }

    /// True when the transaction is settled one way or another and the payer cannot pay it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Ok | Status::Rembourse)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::UnknownStatus {
                name: s.to_string(),
            })
    }
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 6] = [
        Event::Wait,
        Event::Pay,
        Event::Fail,
        Event::Abandon,
        Event::LateFailure,
        Event::Refund,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(events: &[Event]) -> Vec<Status> {
        let mut s = Status::Commande;
        let mut seen = vec![s];
        for &e in events {
            if let Transition::To(next) = s.apply(e) {
                s = next;
            }
            seen.push(s);
        }
        seen
    }

    fn any_event() -> impl Strategy<Value = Event> {
        prop::sample::select(Event::ALL.to_vec())
    }

    #[test]
    fn stored_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("paid".parse::<Status>().is_err());
    }

    /// spip_bank_sepa_rejected_after_ok: a SEPA debit rejected after the payment was
    /// marked paid is a real transition, not an ignored notice.
    #[test]
    fn late_failure_after_ok_is_a_real_transition() {
        assert_eq!(
            Status::Ok.apply(Event::LateFailure),
            Transition::To(Status::Echec)
        );
        assert_eq!(Status::Ok.apply(Event::Fail), Transition::NoOp);
    }

    #[test]
    fn refund_needs_a_paid_transaction() {
        assert_eq!(Status::Commande.apply(Event::Refund), Transition::Forbidden);
        assert_eq!(Status::Attente.apply(Event::Refund), Transition::Forbidden);
        assert_eq!(
            Status::Ok.apply(Event::Refund),
            Transition::To(Status::Rembourse)
        );
    }

    proptest! {
        /// Replays are no-ops: an event applied twice in a row changes nothing the second time.
        #[test]
        fn replays_are_noops(events in prop::collection::vec(any_event(), 0..20), last in any_event()) {
            let s = *run(&events).last().unwrap();
            let once = match s.apply(last) { Transition::To(n) => n, _ => s };
            prop_assert!(!matches!(once.apply(last), Transition::To(n) if n != once),
                "{last:?} applied twice moved {once:?}");
        }

        /// No sequence reaches `ok` without a payment, nor `rembourse` without a refund
        /// of a paid transaction; nothing ever leaves `rembourse`.
        #[test]
        fn no_sequence_reaches_a_forbidden_state(events in prop::collection::vec(any_event(), 0..40)) {
            let seen = run(&events);
            for (i, pair) in seen.windows(2).enumerate() {
                let (before, after) = (pair[0], pair[1]);
                let event = events[i];
                if after == Status::Ok && before != Status::Ok {
                    prop_assert_eq!(event, Event::Pay);
                }
                if after == Status::Rembourse && before != Status::Rembourse {
                    prop_assert_eq!((before, event), (Status::Ok, Event::Refund));
                }
                if before == Status::Rembourse {
                    prop_assert_eq!(after, Status::Rembourse);
                }
                if before == Status::Ok && after != Status::Ok {
                    prop_assert!(matches!(event, Event::LateFailure | Event::Refund));
                }
                // A status never goes back to `commande`.
                if before != Status::Commande {
                    prop_assert_ne!(after, Status::Commande);
                }
            }
        }

        /// The table is total: every pair has an answer, and a `To` always changes the status.
        #[test]
        fn transitions_always_change_the_status(s in prop::sample::select(Status::ALL.to_vec()), e in any_event()) {
            if let Transition::To(n) = s.apply(e) {
                prop_assert_ne!(n, s);
            }
        }
    }
}
