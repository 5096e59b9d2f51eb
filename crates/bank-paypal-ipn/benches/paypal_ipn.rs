//! Per-call cost of building a plain and an encrypted (EWP) button, beside the bare PKCS#7
//! sign-and-envelope of the same plaintext, and of parsing an IPN.
//!
//! `cargo bench -p bank-paypal-ipn --features sandbox --bench paypal_ipn`. Prints a Markdown table.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use bank_core::{Currency, FormSigner, InstanceUrls, Money, PaymentContext};
use bank_paypal_ipn::button::{self, ButtonSettings, Ewp, Kind};
use bank_paypal_ipn::sandbox::KeyPair;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::symm::Cipher;

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
    let tx = bank_core::testing::transaction(
        "shop-ABCDEFGHJKMNPQRS",
        Money::from_minor(1250, Currency::EUR).unwrap(),
    );
    let ctx = PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "paypal-ipn", &tx.reference),
        now: chrono::Utc::now(),
        billing: None,
        echeance: None,
        signer: FormSigner::new(secrecy::SecretString::from(
            "bench-secret-0123456789".to_string(),
        )),
        counters: None,
    };
    let settings = ButtonSettings {
        business: "merchant@example.com".into(),
        kind: Kind::BuyNow,
        item_name: None,
    };
    let merchant = KeyPair::generate("merchant").unwrap();
    let paypal = KeyPair::generate("paypal").unwrap();
    let ewp = Ewp::new(
        "CERT123",
        &merchant.cert_pem(),
        &merchant.key_pem(),
        &paypal.cert_pem(),
    )
    .unwrap();
    let plain = per_call(20_000, || {
        black_box(
            button::form(
                black_box(&tx),
                &ctx,
                &settings,
                "https://www.paypal.com/cgi-bin/webscr",
                None,
            )
            .unwrap(),
        );
    });
    let encrypted = per_call(500, || {
        black_box(
            button::form(
                black_box(&tx),
                &ctx,
                &settings,
                "https://www.paypal.com/cgi-bin/webscr",
                Some(&ewp),
            )
            .unwrap(),
        );
    });
    let text = ewp.plaintext(&button::fields(&tx, &ctx, &settings).unwrap());
    let bare = per_call(500, || {
        let signed = Pkcs7::sign(
            &merchant.cert,
            &merchant.key,
            &Stack::new().unwrap(),
            text.as_bytes(),
            Pkcs7Flags::BINARY,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let mut to = Stack::new().unwrap();
        to.push(paypal.cert.clone()).unwrap();
        black_box(
            Pkcs7::encrypt(&to, &signed, Cipher::des_ede3_cbc(), Pkcs7Flags::BINARY)
                .unwrap()
                .to_pem()
                .unwrap(),
        );
    });
    let ipn = b"mc_gross=19.95&protection_eligibility=Eligible&address_status=confirmed&payer_id=LPLWNMTBWMFAY&address_street=1+Main+St&payment_date=20%3A12%3A59+Jan+13%2C+2009+PST&payment_status=Completed&charset=windows-1252&address_zip=95131&first_name=J%F6rg&mc_fee=0.88&address_country_code=US&address_name=Test+User&notify_version=2.6&custom=shop&payer_status=verified&address_country=United+States&address_city=San+Jose&quantity=1&verify_sign=AtkOfCXbDm2hu0ZELryHFjY-Vb7PAUvS6nMXgysbElEn9v-1XcmSoGtf&payer_email=gpmac_1231902590_per%40paypal.com&txn_id=61E67681CH3238416&payment_type=instant&last_name=User&address_state=CA&receiver_email=merchant%40example.com&payment_fee=0.88&receiver_id=BANKSANDBOX01&txn_type=web_accept&item_name=Payment+shop-ABCDEFGHJKMNPQRS&mc_currency=EUR&item_number=&residence_country=US&test_ipn=1&handling_amount=0.00&transaction_subject=&payment_gross=19.95&shipping=0.00&invoice=shop-ABCDEFGHJKMNPQRS";
    let parse = per_call(20_000, || {
        black_box(bank_paypal_ipn::Ipn::parse(black_box(ipn)).unwrap());
    });
    println!("| operation | ns/call | baseline | baseline ns/call | ratio |");
    println!("| --- | ---: | --- | ---: | ---: |");
    println!("| plain button (form fields) | {plain:.0} | — | — | — |");
    println!("| encrypted button (fields, plaintext, sign, envelope, PEM) | {encrypted:.0} | bare PKCS#7 sign + 3DES envelope + PEM of the same plaintext | {bare:.0} | {:.2} |", encrypted / bare);
    println!(
        "| IPN parse ({} B, windows-1252) | {parse:.0} | — | — | — |",
        ipn.len()
    );
}
