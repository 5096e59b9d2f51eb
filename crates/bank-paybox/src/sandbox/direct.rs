//! The sandbox's Paybox Direct and Direct Plus.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;

use super::{form_pairs, Card, Payment, SandboxState};
use crate::direct::{VERSION_DIRECT, VERSION_DIRECT_PLUS};

#[derive(Default)]
struct Reply {
    numtrans: u64,
    numappel: u64,
    autorisation: &'static str,
    code: &'static str,
    comment: String,
    refabonne: String,
    porteur: String,
    /// The transaction's amount, stated in the answer to an inquiry.
    montant: Option<i64>,
}

fn number(v: Option<&str>) -> Option<i64> {
    let v = v?.trim();
    (!v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

fn refused(code: &'static str, comment: &str) -> Reply {
    Reply {
        code,
        comment: format!("PAYBOX : {comment}"),
        ..Reply::default()
    }
}

/// `POST /PPPS.php`.
pub(super) async fn answer(State(s): State<Arc<SandboxState>>, body: Bytes) -> String {
    let q = form_pairs(&body);
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let numquestion = number(get("NUMQUESTION")).unwrap_or(0);
    let reply = decide(&s, &get, numquestion);
    let montant = reply
        .montant
        .map(|m| format!("&MONTANT={m:010}"))
        .unwrap_or_default();
    format!(
        "NUMTRANS={:010}&NUMAPPEL={:010}&NUMQUESTION={:010}&SITE={}&RANG={}&AUTORISATION={}&CODEREPONSE={}&COMMENTAIRE={}&REFABONNE={}&PORTEUR={}{}",
        reply.numtrans,
        reply.numappel,
        numquestion,
        get("SITE").unwrap_or_default(),
        get("RANG").unwrap_or_default(),
        reply.autorisation,
        reply.code,
        reply.comment,
        reply.refabonne,
        reply.porteur,
        montant,
    )
}

fn decide<'a>(s: &SandboxState, get: &impl Fn(&str) -> Option<&'a str>, numquestion: i64) -> Reply {
    let c = &s.config;
    let version = get("VERSION").unwrap_or_default();
    if version != VERSION_DIRECT && version != VERSION_DIRECT_PLUS {
        return refused("00013", "Version non supportée");
    }
    let same = |a: Option<&str>, b: &str| number(a).is_some() && number(a) == number(Some(b));
    if !same(get("SITE"), &c.site)
        || !same(get("RANG"), &c.rang)
        || get("CLE") != Some(c.cle.as_str())
    {
        return refused("00006", "Accès refusé ou site/rang/clé invalide");
    }
    if !(1..=2_147_483_647).contains(&numquestion) {
        return refused("00005", "Numéro de question invalide");
    }
    let day = get("DATEQ")
        .and_then(|d| d.get(..8))
        .unwrap_or_default()
        .to_string();
    if !s.questions.lock().expect("lock").insert((day, numquestion)) {
        return refused("00005", "Numéro de question déjà utilisé aujourd'hui");
    }
    let montant = number(get("MONTANT"));
    let typ = get("TYPE").unwrap_or_default();
    let plus = version == VERSION_DIRECT_PLUS;
    match (typ, plus) {
        ("00002" | "00005" | "00014" | "00017", false) => on_payment(s, typ, get, montant),
        ("00053", true) => subscriber_debit(s, get, montant),
        ("00058", true) => {
            let refabonne = get("REFABONNE").unwrap_or_default().to_string();
            match s.subscribers.lock().expect("lock").remove(&refabonne) {
                Some(_) => Reply {
                    code: "00000",
                    comment: "Demande traitée avec succès".into(),
                    refabonne,
                    ..Reply::default()
                },
                None => refused("00017", "Abonné inexistant"),
            }
        }
        _ => refused("00009", "Type d'opération invalide"),
    }
}

fn ok(numtrans: u64, p: &Payment) -> Reply {
    Reply {
        numtrans,
        numappel: p.numappel,
        autorisation: "XXXXXX",
        code: "00000",
        comment: "Demande traitée avec succès".into(),
        ..Reply::default()
    }
}

fn on_payment<'a>(
    s: &SandboxState,
    typ: &str,
    get: &impl Fn(&str) -> Option<&'a str>,
    montant: Option<i64>,
) -> Reply {
    let numtrans = number(get("NUMTRANS")).and_then(|n| u64::try_from(n).ok());
    let numappel = number(get("NUMAPPEL")).and_then(|n| u64::try_from(n).ok());
    let mut payments = s.payments.lock().expect("lock");
    let found = numtrans.and_then(|t| payments.get_mut(&t).map(|p| (t, p)));
    let Some((t, p)) = found.filter(|(_, p)| Some(p.numappel) == numappel) else {
        return refused("00015", "Transaction non trouvée");
    };
    if typ == "00017" {
        // Only the payments made on this sandbox's account are known: an IPN signed for
        // another account's payment gets "not found", as on Paybox.
        let mut r = ok(t, p);
        r.montant = Some(p.amount);
        return r;
    }
    if p.cancelled {
        return refused("00015", "Transaction annulée");
    }
    if get("DEVISE") != Some("978") {
        return refused("00010", "Devise inconnue");
    }
    let Some(m) = montant.filter(|m| *m > 0) else {
        return refused("00011", "Montant incorrect");
    };
    match typ {
        "00002" => {
            if p.captured > 0 || m > p.amount {
                return refused("00011", "Montant incorrect ou déjà capturé");
            }
            p.captured = m;
        }
        "00005" => {
            if p.refunded > 0 || m != p.amount {
                return refused("00011", "Montant incorrect");
            }
            p.cancelled = true;
        }
        _ => {
            if m > p.captured - p.refunded {
                return refused("00011", "Montant supérieur au montant remboursable");
            }
            p.refunded += m;
        }
    }
    ok(t, p)
}

fn subscriber_debit<'a>(
    s: &SandboxState,
    get: &impl Fn(&str) -> Option<&'a str>,
    montant: Option<i64>,
) -> Reply {
    let refabonne = get("REFABONNE").unwrap_or_default().to_string();
    let card: Option<Card> = s.subscribers.lock().expect("lock").get(&refabonne).cloned();
    let Some(card) = card else {
        return refused("00017", "Abonné inexistant");
    };
    let dateval = format!(
        "{}{}",
        card.expiry.get(2..).unwrap_or_default(),
        card.expiry.get(..2).unwrap_or_default()
    );
    if get("PORTEUR").map(str::trim) != Some(card.handle.as_str())
        || get("DATEVAL") != Some(dateval.as_str())
    {
        return refused("00004", "Numéro de porteur ou date de validité invalide");
    }
    let Some(m) = montant.filter(|m| *m > 0) else {
        return refused("00011", "Montant incorrect");
    };
    if m % 100 == 3 {
        // Paybox's own failure: nothing about the card, to be tried again.
        return Reply {
            code: "00003",
            comment: "PAYBOX : Erreur Paybox, réessayer".into(),
            refabonne,
            ..Reply::default()
        };
    }
    if m % 100 == 51 {
        return Reply {
            code: "00151",
            comment: "PAYBOX : Autorisation refusée (provision insuffisante)".into(),
            refabonne,
            ..Reply::default()
        };
    }
    let (numtrans, numappel) = s.next_numbers();
    let p = Payment {
        numappel,
        amount: m,
        captured: m,
        refunded: 0,
        cancelled: false,
    };
    let mut r = ok(numtrans, &p);
    r.refabonne = refabonne;
    r.porteur = card.handle;
    s.payments.lock().expect("lock").insert(numtrans, p);
    r
}
