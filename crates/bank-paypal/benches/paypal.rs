//! Per-call cost of webhook verification + decoding with the certificate cached, and of
//! building a create-order request, each beside a baseline measured in the same run:
//! - verification + decoding vs a bare RSA-2048 SHA-256 verification plus CRC-32 over the
//!   same bytes (PayPal's real signed webhook, certificate checked once, clock pinned);
//! - the create-order request vs `serde_json` serialising the same JSON.
//!
//! `cargo bench -p bank-paypal --bench paypal`. Prints a Markdown table.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bank_core::{
    Channel, Currency, FormSigner, HttpMethod, InstanceUrls, Mode, Money, Notification,
    PaymentContext,
};
use bank_paypal::order::{self, Experience, Intent};
use bank_paypal::webhook::{self, CertCache, CertPolicy, WebhookHeaders};
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use serde_json::Value;

const SIGNED_AT: i64 = 1_431_963_913;

fn per_call(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    best
}

fn main() {
    let raw: Value = serde_json::from_str(include_str!(
        "../tests/fixtures/paypal-webhook-vectors.json"
    ))
    .unwrap();
    let v = &raw["webhook_vectors"][0];
    let webhook_id = v["webhook_id"].as_str().unwrap();
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    for (k, val) in v["headers"].as_object().unwrap() {
        n.headers
            .push((k.clone(), val.as_str().unwrap().to_string()));
    }
    n.body = v["body"].as_str().unwrap().as_bytes().to_vec();
    let policy = CertPolicy::paypal(Mode::Test);
    let h = WebhookHeaders::from_notification(&n).unwrap();
    let cert = policy
        .check_pem(
            &h.cert_url,
            v["cert_pem"].as_str().unwrap().as_bytes(),
            SIGNED_AT,
        )
        .unwrap();
    let cache = CertCache::default();
    cache.put(&h.cert_url, cert.clone());

    let verify = per_call(2_000, || {
        let h = WebhookHeaders::from_notification(black_box(&n)).unwrap();
        let c = cache.get(&h.cert_url, SIGNED_AT).unwrap();
        webhook::verify_offline(&h, &c, webhook_id, &n.body, SIGNED_AT).unwrap();
        let e = bank_paypal::Event::parse(&n.body).unwrap();
        black_box(bank_paypal::event::subject(&e).unwrap());
    });
    let message = h.signed_message(webhook_id, &n.body);
    let bare = per_call(2_000, || {
        let crc = crc32fast::hash(black_box(&n.body));
        let m = format!(
            "{}|{}|{}|{crc}",
            h.transmission_id, h.transmission_time, webhook_id
        );
        debug_assert_eq!(m, message);
        let mut ver = Verifier::new(MessageDigest::sha256(), &cert.key).unwrap();
        ver.update(m.as_bytes()).unwrap();
        assert!(ver.verify(black_box(&h.signature)).unwrap());
    });

    let now = chrono::Utc::now();
    let tx = bank_core::testing::transaction(
        "shop-ABCDEFGHJKMNPQRS",
        Money::from_minor(1250, Currency::EUR).unwrap(),
    );
    let ctx = PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "paypal", &tx.reference),
        now,
        billing: None,
        echeance: None,
        signer: FormSigner::new(secrecy::SecretString::from(
            "bench-secret-0123456789".to_string(),
        )),
        counters: None,
    };
    let exp = Experience::default();
    let body = order::build(&tx, &ctx, Intent::Capture, &exp).unwrap().body;
    let build = per_call(20_000, || {
        let r = order::build(black_box(&tx), black_box(&ctx), Intent::Capture, &exp).unwrap();
        black_box(r.body.to_string());
    });
    let serialise = per_call(20_000, || {
        black_box(serde_json::to_string(black_box(&body)).unwrap());
    });

    println!("| operation | ns/call | baseline | baseline ns/call | ratio |");
    println!("| --- | ---: | --- | ---: | ---: |");
    println!("| webhook verify + decode, certificate cached ({} B event) | {verify:.0} | bare RSA-2048 SHA-256 verify + CRC-32, same bytes | {bare:.0} | {:.2} |", n.body.len(), verify / bare);
    println!("| create-order request (body, request id) | {build:.0} | serde_json of the same body | {serialise:.0} | {:.2} |", build / serialise);
}
