//! Per-call cost of building a Paybox form and of verifying a signed IPN, beside the bare
//! cryptography each needs (one HMAC-SHA512 over the same bytes; one SHA-1 + RSA-1024
//! PKCS#1 v1.5 verification), measured in the same run.
//!
//! `cargo bench -p bank-paybox --bench paybox` prints a table; with `-- --line` it prints
//! one `key=value` line for `bench/eopayment.sh`, which adds eopayment 3.15.

use std::hint::black_box;
use std::time::Instant;

use bank_core::{
    Acquirer, Billing, Channel, Currency, FormSigner, HttpMethod, InstanceInfo, InstanceUrls, Mode,
    Money, Notification, Options, PaymentContext, Status, Transaction, VerifyContext,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};
use sha2::Sha512;

const TEST_KEY: &str = include_str!("../src/sandbox/test_key.pem");
const TEST_PUB: &str = include_str!("../src/sandbox/test_key.pub.pem");
const HMAC_HEX: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\
0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";

/// The IPN of paybox.md R2, signed by the sandbox key (eopayment verifies it too once
/// given that key).
const IPN_VARS: &str = "montant=4242&reference=1234%2120160216&code_autorisation=XXXXXX&erreur=00000&numero_appel=30310733&numero_transaction=13957441&date_transaction=20200101&heure_transaction=01%3A01%3A01";

/// Best per-call time in microseconds over `repeats` runs of `n` calls.
fn measure(n: u32, repeats: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    best
}

fn transaction() -> Transaction {
    let now = chrono::Utc::now();
    Transaction {
        id: 1,
        reference: "shop-0123456789abcdef".into(),
        status: Status::Commande,
        version: 1,
        amount: Money::from_minor(1999, Currency::EUR).unwrap(),
        amount_ht: None,
        refunded: Money::zero(Currency::EUR),
        refund_pending: Money::zero(Currency::EUR),
        id_auteur: None,
        auteur_id: None,
        auteur: Some("bdauvergne@entrouvert.com".into()),
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

fn main() {
    let line = std::env::args().any(|a| a == "--line");
    let options = Options::from_pairs(
        "bench",
        &[
            ("site", "1999888"),
            ("rang", "001"),
            ("identifiant", "12345678"),
            ("hmac_key", HMAC_HEX),
            ("public_key", TEST_PUB),
        ],
    );
    let info = InstanceInfo {
        id: "bench".into(),
        provider: "paybox".into(),
        mode: Mode::Test,
        order: 0,
        caption: "Paybox".into(),
    };
    let paybox = bank_paybox::Paybox::new(info, &options).unwrap();
    let tx = transaction();
    // The request of eopayment's test: e-mail, 3-D Secure billing and cart.
    let ctx = PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("http://example.com", "bench", &tx.reference),
        now: chrono::Utc::now(),
        billing: Some(Billing {
            first_name: Some("Kyan <oo>".into()),
            last_name: Some("Khojandi".into()),
            address1: Some("169 rue du Château".into()),
            postal_code: Some("75014".into()),
            city: Some("Paris".into()),
            country: Some("FR".into()),
            email: Some("bdauvergne@entrouvert.com".into()),
            ..Billing::default()
        }),
        echeance: None,
        signer: FormSigner::new(secrecy::SecretString::from("x".repeat(32))),
        counters: None,
    };
    let fields = paybox.form_fields(&tx, &ctx).unwrap();
    let signed = bank_paybox::form::signed_string(&fields[..fields.len() - 1]);

    let n = 20_000;
    let request_us = measure(n, 7, || {
        black_box(paybox.form_fields(black_box(&tx), black_box(&ctx)).unwrap());
    });
    let key_bytes = hex::decode(HMAC_HEX).unwrap();
    let keyed = Hmac::<Sha512>::new_from_slice(&key_bytes).unwrap();
    let hmac_us = measure(n, 7, || {
        let mut m = keyed.clone();
        m.update(black_box(signed.as_bytes()));
        black_box(m.finalize().into_bytes());
    });

    let private = RsaPrivateKey::from_pkcs8_pem(TEST_KEY).unwrap();
    let sig = private
        .sign(
            Pkcs1v15Sign::new::<Sha1>(),
            &Sha1::digest(IPN_VARS.as_bytes()),
        )
        .unwrap();
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(&sig);
    let query = format!(
        "{IPN_VARS}&signature={}",
        sig_b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let mut ipn = Notification::new(Channel::Server, HttpMethod::Get, chrono::Utc::now());
    ipn.query = query.clone();
    let vctx = VerifyContext {
        installation: "shop".into(),
        now: chrono::Utc::now(),
        signer: FormSigner::new(secrecy::SecretString::from("x".repeat(32))),
        counters: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let m = 4_000;
    let verify_us = measure(m, 7, || {
        let v = rt.block_on(paybox.verify(black_box(&ipn), &vctx)).unwrap();
        assert!(v.amount.is_some());
        black_box(v);
    });
    let public = RsaPublicKey::from_public_key_pem(TEST_PUB).unwrap();
    let rsa_us = measure(m, 7, || {
        let d = Sha1::digest(black_box(IPN_VARS.as_bytes()));
        public
            .verify(Pkcs1v15Sign::new::<Sha1>(), &d, black_box(&sig))
            .unwrap();
    });

    if line {
        println!(
            "request_us={request_us:.3} hmac_us={hmac_us:.3} verify_us={verify_us:.3} rsa_us={rsa_us:.3} query={query} sig={sig_b64}"
        );
        return;
    }
    println!("| operation | bank-paybox | bare cryptography | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| build a request (form + PBX_HMAC) | {request_us:.2} µs | {hmac_us:.2} µs (HMAC-SHA512) | {:.2}× |",
        request_us / hmac_us
    );
    println!(
        "| verify a signed IPN | {verify_us:.2} µs | {rsa_us:.2} µs (SHA-1 + RSA-1024) | {:.2}× |",
        verify_us / rsa_us
    );
}
