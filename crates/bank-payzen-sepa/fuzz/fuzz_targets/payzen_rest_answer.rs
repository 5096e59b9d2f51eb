//! Any REST answer never panics its reader: a SUCCESS with an object, or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = bank_payzen_sepa::rest::parse_answer("Transaction/Get", data) {
        assert!(a.0.is_object());
        let _ = a.str("uuid");
    }
});
