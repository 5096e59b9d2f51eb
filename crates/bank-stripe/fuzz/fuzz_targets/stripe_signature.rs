//! `Stripe-Signature` headers and bodies come from anyone: never a panic, never accepted
//! unless signed with the secret.
#![no_main]

use bank_stripe::signature::{SignatureHeader, WebhookSecrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: the header; the rest: the body.
    let (h, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(h);
    let _ = SignatureHeader::parse(&header);
    let secrets = WebhookSecrets::parse("whsec_fuzz_0123456789 whsec_fuzz_other").expect("two secrets");
    if secrets.verify(&header, body, 1_700_000_000, 300).is_ok() {
        panic!("accepted a forged Stripe signature");
    }
});
