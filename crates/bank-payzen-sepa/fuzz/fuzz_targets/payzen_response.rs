//! Any response body never panics the parser or the checks; what parses has unique names,
//! and nothing verifies without the key.
#![no_main]

use bank_payzen_sepa::signature::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = bank_payzen_sepa::Response::parse(data) {
        let names: std::collections::BTreeSet<&str> = r.fields().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), r.fields().len(), "a field twice");
        for algorithm in [Algorithm::HmacSha256, Algorithm::Sha1] {
            let _ = r.verify(algorithm, "TEST", "fuzz-key-not-in-the-input", "12345678");
        }
        let _ = r.money("vads_amount", "vads_currency");
    }
});
