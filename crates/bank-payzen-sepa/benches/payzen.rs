//! Per-call cost of building a PayZen form and of verifying an IPN, beside the bare
//! HMAC-SHA-256 over the same bytes, measured in the same run.
//!
//! `cargo bench -p bank-payzen-sepa --bench payzen` prints a table; with `-- --line` it
//! prints one `key=value` line for `bench/eopayment.sh`, which adds eopayment 3.15.

use std::hint::black_box;
use std::time::Instant;

use bank_core::{
    Billing, Currency, FormSigner, InstanceInfo, InstanceUrls, Mode, Money, PaymentContext,
};
use bank_payzen_sepa::signature::{sign, signed_string, Algorithm};
use bank_payzen_sepa::{Payzen, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY: &str = "1122334455667788";

/// The oracle's "card OK" IPN of payzen.md §4.4 (HMAC-SHA-256, 17 `vads_*` fields).
pub const IPN: &str = "vads_amount=4990&vads_ctx_mode=TEST&vads_currency=978&vads_site_id=12345678&vads_trans_date=20240501102030&vads_trans_id=123456&vads_trans_uuid=0123456789abcdef0123456789abcdef&vads_effective_creation_date=20240501102035&vads_url_check_src=PAY&vads_version=V2&vads_page_action=PAYMENT&vads_operation_type=DEBIT&vads_result=00&vads_auth_result=00&vads_trans_status=AUTHORISED&vads_card_brand=CB&signature=Q9smHb8KCLoZ%2BZbb3FCc4byXz1ahW39VmEZRXXrUB%2Bg%3D";

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

fn hmac(message: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn main() {
    let line = std::env::args().any(|a| a == "--line");
    let text = "[installation]\nid = \"shop\"\nsecret = \"0123456789abcdef0123\"\n[[instance]]\nid = \"payzen\"\nprovider = \"payzen-sepa\"\n[instance.options]\nsite_id = \"12345678\"\nkey_test = \"1122334455667788\"\n";
    let config = bank_core::Config::parse(text, "<bench>", &bank_core::config::ProcessEnv).unwrap();
    let info = InstanceInfo {
        id: "payzen".into(),
        provider: "payzen-sepa".into(),
        mode: Mode::Test,
        order: 1,
        caption: "PayZen".into(),
    };
    let acq = Payzen::new(info, &config.instances[0].options).unwrap();
    // eopayment's request of payzen.md S3: names, e-mail, order id.
    let tx =
        bank_core::testing::transaction("ORD-42", Money::from_minor(4990, Currency::EUR).unwrap());
    let ctx = PaymentContext {
        installation: "shop".into(),
        urls: InstanceUrls::standard("https://shop.example", "payzen", "ORD-42"),
        now: chrono::Utc::now(),
        billing: Some(Billing {
            first_name: Some("Jean".into()),
            last_name: Some("Dupont".into()),
            email: Some("jean@example.com".into()),
            ..Billing::default()
        }),
        echeance: None,
        signer: FormSigner::new(secrecy::SecretString::from(
            "0123456789abcdef0123".to_string(),
        )),
        counters: None,
    };
    let form = acq.form(&tx, &ctx, "000042").unwrap();
    let form_string = signed_string(
        form.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        KEY,
    );
    let r = Response::parse(IPN.as_bytes()).unwrap();
    let ipn_string = signed_string(
        r.fields().iter().map(|(k, v)| (k.as_str(), v.as_str())),
        KEY,
    );
    assert!(acq.check(&r).is_ok());

    let n = 20_000;
    let request = measure(n, 7, || {
        black_box(acq.form(black_box(&tx), &ctx, "000042").unwrap());
    });
    let request_bare = measure(n, 7, || {
        black_box(hmac(black_box(&form_string)));
    });
    let verify = measure(n, 7, || {
        let r = Response::parse(black_box(IPN.as_bytes())).unwrap();
        acq.check(black_box(&r)).unwrap();
    });
    let decode = measure(n, 7, || {
        black_box(acq.decode(black_box(&r)).unwrap());
    });
    let verify_bare = measure(n, 7, || {
        black_box(hmac(black_box(&ipn_string)));
    });
    let _ = sign(Algorithm::HmacSha256, std::iter::empty(), KEY);
    if line {
        println!("request_us={request:.2} request_bare_us={request_bare:.2} verify_us={verify:.2} verify_bare_us={verify_bare:.2} decode_us={decode:.2}");
    } else {
        println!("| operation | bank-payzen-sepa | bare HMAC-SHA-256 | ratio |");
        println!("|---|---|---|---|");
        println!("| build a request (form + signature) | {request:.2} µs | {request_bare:.2} µs | {:.2}× |", request / request_bare);
        println!("| verify an IPN (parse, signature, mode, shop) | {verify:.2} µs | {verify_bare:.2} µs | {:.2}× |", verify / verify_bare);
        println!("| decode it (status, history detail) | {decode:.2} µs | | |");
    }
}
