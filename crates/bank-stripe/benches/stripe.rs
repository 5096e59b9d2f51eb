//! Per-call cost of webhook verification + decoding and of building a Checkout Session
//! request, each beside a baseline measured in the same run:
//! - verification + decoding vs a bare HMAC-SHA256 (hex) over the same signed payload;
//! - the session request vs `serde_urlencoded` of a flat list with as many pairs.
//!
//! `cargo bench -p bank-stripe --bench stripe` (CARGO_TARGET_DIR as usual). Prints a
//! Markdown table.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bank_core::{
    Channel, Currency, FormSigner, HttpMethod, InstanceInfo, InstanceUrls, Mode, Money,
    Notification, Options, PaymentContext, Status, Transaction,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_bench_0123456789abcdef";

fn event_body() -> Vec<u8> {
    let e = serde_json::json!({
        "id": "evt_1PQrStUvWxYz0123456789ab", "object": "event", "api_version": "2026-10-28.endive",
        "created": 1_700_000_000, "livemode": false, "pending_webhooks": 1,
        "request": {"id": "req_abcdefghijklmn", "idempotency_key": "bank-checkout-shop-ABCDEFGHJKMNPQRS-1250EUR-0123456789abcdef"},
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_a1B2c3D4e5F6g7H8i9J0k1L2", "object": "checkout.session", "amount_subtotal": 1250,
            "amount_total": 1250, "cancel_url": "https://shop.example/bank/stripe/cancel?ref=shop-ABCDEFGHJKMNPQRS",
            "client_reference_id": "shop-ABCDEFGHJKMNPQRS", "created": 1_700_000_000, "currency": "eur",
            "customer": null, "customer_email": "payer@example.org", "expires_at": 1_700_086_400, "invoice": null,
            "livemode": false, "metadata": {"bank_reference": "shop-ABCDEFGHJKMNPQRS", "bank_installation": "shop", "bank_instance": "stripe"},
            "mode": "payment", "payment_intent": "pi_3PQrStUvWxYz0123456789ab", "payment_status": "paid", "status": "complete",
            "subscription": null, "success_url": "https://shop.example/bank/stripe/retour?ref=shop-ABCDEFGHJKMNPQRS&session_id={CHECKOUT_SESSION_ID}",
            "url": null, "payment_method_types": ["card"], "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
        }}
    });
    serde_json::to_vec_pretty(&e).unwrap()
}

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
    let t = 1_700_000_000i64;
    let body = event_body();
    let header = bank_stripe::signature::header(&[SECRET], t, &body);
    let opts = Options::from_pairs(
        "stripe",
        &[("secret_key", "sk_test_bench"), ("webhook_secrets", SECRET)],
    );
    let info = InstanceInfo {
        id: "stripe".into(),
        provider: "stripe".into(),
        mode: Mode::Test,
        order: 0,
        caption: "Stripe".into(),
    };
    let acq = bank_stripe::Stripe::new(info, &opts).unwrap();
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    n.headers.push(("stripe-signature".into(), header.clone()));
    n.body = body.clone();

    let verify = per_call(20_000, || {
        let e = acq.check(black_box(&n), t + 10).unwrap();
        black_box(bank_stripe::event::decode(&e).unwrap());
    });
    let hmac_only = per_call(20_000, || {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(black_box(&body));
        black_box(hex::encode(mac.finalize().into_bytes()));
    });

    let now = chrono::Utc::now();
    let tx = Transaction {
        id: 1,
        reference: "shop-ABCDEFGHJKMNPQRS".into(),
        status: Status::Commande,
        version: 1,
        amount: Money::from_minor(1250, Currency::EUR).unwrap(),
        amount_ht: None,
        refunded: Money::zero(Currency::EUR),
        refund_pending: Money::zero(Currency::EUR),
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
    };
    let ctx = PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "stripe", &tx.reference),
        now,
        billing: None,
        echeance: None,
        signer: FormSigner::new(secrecy::SecretString::from(
            "bench-secret-0123456789".to_string(),
        )),
        counters: None,
    };
    let req = bank_stripe::checkout::build(&tx, &ctx, "stripe").unwrap();
    let flat: Vec<(String, String)> = req.body.pairs().to_vec();
    let build = per_call(20_000, || {
        let r = bank_stripe::checkout::build(black_box(&tx), black_box(&ctx), "stripe").unwrap();
        black_box(r.body.encode());
    });
    let urlencoded = per_call(20_000, || {
        black_box(serde_urlencoded::to_string(black_box(&flat)).unwrap());
    });

    println!("| operation | ns/call | baseline | baseline ns/call | ratio |");
    println!("| --- | ---: | --- | ---: | ---: |");
    println!("| webhook verify + decode ({} B event) | {verify:.0} | bare HMAC-SHA256 + hex, same bytes | {hmac_only:.0} | {:.2} |", body.len(), verify / hmac_only);
    println!("| Checkout Session request ({} params, key included) | {build:.0} | serde_urlencoded, same {} pairs | {urlencoded:.0} | {:.2} |", flat.len(), flat.len(), build / urlencoded);
}
