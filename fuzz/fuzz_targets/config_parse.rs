//! Configuration files: never a panic, whatever the bytes.
#![no_main]

use std::collections::BTreeMap;

use bank_core::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let env: BTreeMap<String, String> = BTreeMap::new();
    let _ = Config::parse(s, "fuzz.toml", &env);
});
