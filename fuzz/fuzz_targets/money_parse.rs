//! Amounts typed by people and sent by hosts: never a panic, and what parses round-trips.
#![no_main]

use bank_core::{Currency, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for code in ["EUR", "JPY", "BHD"] {
        let currency = Currency::from_code(code).unwrap();
        if let Ok(m) = Money::parse(s, currency) {
            assert!(m.minor() >= 0);
            assert_eq!(Money::parse(&m.to_decimal_string(), currency).unwrap(), m);
        }
    }
});
