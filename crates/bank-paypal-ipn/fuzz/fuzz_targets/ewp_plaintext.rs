//! The EWP plaintext of any fields: one line per field after `cert_id`, so no value can
//! add a field of its own (the encryptor refuses line breaks; the builder never panics).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fields: Vec<(String, String)> = text
        .split('\u{1f}')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    let plain = bank_paypal_ipn::button::plaintext("CERT1", &fields);
    let clean = fields.iter().all(|(k, v)| !k.contains(['\n', '\r', '=']) && !v.contains(['\n', '\r']));
    if clean {
        assert_eq!(plain.lines().count(), fields.len() + 1);
    }
});
