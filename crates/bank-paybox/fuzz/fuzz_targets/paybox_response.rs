//! Paybox IPNs and returns come from anyone: parsing and verifying arbitrary queries never
//! panics, and nothing is accepted without a signature by the configured key.
#![no_main]

use bank_paybox::response;
use bank_paybox::settings::parse_public_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(split) = response::split(query) {
        let _ = response::decode_signature(split.signature);
        if let Ok(vars) = response::variables(split.signed) {
            if let Ok(a) = response::Answer::from_variables(vars) {
                let _ = a.amount_minor();
                let _ = a.card();
                let _ = response::eopayment_ipn_string(&a);
            }
        }
    }
    let key = parse_public_key(bank_paybox::PAYBOX_PUBLIC_KEY_PEM).expect("embedded key");
    if let Ok(a) = response::verify(&key, query) {
        // Only possible if the fuzzer forged an RSA signature by Paybox: report it.
        panic!("accepted a forged IPN: {a:?}");
    }
});
