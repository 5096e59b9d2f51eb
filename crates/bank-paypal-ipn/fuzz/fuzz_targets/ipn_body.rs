//! Any IPN body never panics the parser, and what parses has unique names and no NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ipn) = bank_paypal_ipn::Ipn::parse(data) {
        let names: std::collections::BTreeSet<&str> = ipn.fields().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), ipn.fields().len(), "a field twice");
        assert!(ipn.fields().iter().all(|(_, v)| !v.contains('\0')));
    }
});
