//! Shared helpers: transactions, contexts, notifications, an instance on a sandbox.
#![allow(dead_code)]

use bank_core::{
    Acquirer, Channel, Currency, Echeance, FormSigner, HttpMethod, InstanceInfo, InstanceUrls,
    Interval, Mode, Money, Notification, Options, PaymentContext, Status, Transaction,
    VerifyContext,
};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;

pub const INSTALLATION: &str = "shop";

pub fn tx(reference: &str, minor: i64) -> Transaction {
    tx_in(reference, minor, Currency::EUR)
}

pub fn tx_in(reference: &str, minor: i64, currency: Currency) -> Transaction {
    let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    Transaction {
        id: 1,
        reference: reference.into(),
        status: Status::Commande,
        version: 1,
        amount: Money::from_minor(minor, currency).unwrap(),
        amount_ht: None,
        refunded: Money::zero(currency),
        refund_pending: Money::zero(currency),
        id_auteur: None,
        auteur_id: None,
        auteur: Some("payer@example.org".into()),
        parrain: None,
        tracking_id: None,
        champs: Default::default(),
        billing: None,
        recurring: false,
        parent_reference: None,
        mode: None,
        authorisation: None,
        subscription_id: None,
        error_code: None,
        error_message: None,
        created_at: now,
        updated_at: now,
        paid_at: None,
    }
}

pub fn signer() -> FormSigner {
    FormSigner::new(SecretString::from(
        "test-secret-0123456789abcdef".to_string(),
    ))
}

pub fn ctx(tx: &Transaction) -> PaymentContext {
    PaymentContext {
        installation: INSTALLATION.into(),
        urls: InstanceUrls::standard("https://shop.example", "stripe-test", &tx.reference),
        now: Utc::now(),
        billing: None,
        echeance: tx.recurring.then(|| Echeance {
            amount: Money::from_minor(500, tx.amount.currency()).unwrap(),
            interval: Interval::Month,
            count: None,
        }),
        signer: signer(),
        counters: None,
    }
}

pub fn vctx_at(now: chrono::DateTime<Utc>) -> VerifyContext {
    VerifyContext {
        installation: INSTALLATION.into(),
        now,
        signer: signer(),
        counters: None,
    }
}

pub fn vctx() -> VerifyContext {
    vctx_at(Utc::now())
}

pub fn info(mode: Mode) -> InstanceInfo {
    InstanceInfo {
        id: "stripe-test".into(),
        provider: "stripe".into(),
        mode,
        order: 0,
        caption: "Stripe".into(),
    }
}

pub fn webhook(header: &str, body: Vec<u8>) -> Notification {
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, Utc::now());
    n.headers.push(("stripe-signature".into(), header.into()));
    n.headers.push((
        "content-type".into(),
        "application/json; charset=utf-8".into(),
    ));
    n.body = body;
    n
}

pub fn options(pairs: &[(String, String)], extra: &[(&str, &str)]) -> Options {
    let mut all: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    Options::from_pairs("stripe-test", &all)
}

pub fn reference() -> String {
    bank_core::Reference::generate(INSTALLATION)
}

pub fn _unused(_: &dyn Acquirer) {}
