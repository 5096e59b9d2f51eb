//! Posts to our own action endpoint come from anyone: never a panic, never accepted
//! without the right token.
#![no_main]

use bank_core::{own_form, Channel, FormSigner, HttpMethod, Notification, VerifyContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    let mut n = Notification::new(Channel::Browser, HttpMethod::Post, now);
    n.body = data.to_vec();
    let ctx = VerifyContext {
        installation: "fuzz".into(),
        now,
        signer: FormSigner::new(secrecy::SecretString::from("fuzz-secret-0123456789")),
        counters: None,
    };
    if let Ok(post) = own_form::verify(&n, &ctx, "simu") {
        // Only possible if the fuzzer forged an HMAC-SHA256: report it.
        panic!("accepted a forged form: {post:?}");
    }
});
