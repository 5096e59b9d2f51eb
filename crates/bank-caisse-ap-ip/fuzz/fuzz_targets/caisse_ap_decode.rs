//! Caisse-AP frames come from a terminal on the network: the decoder and the incremental
//! scanner never panic, agree with each other, and what decodes re-encodes to the same bytes.
#![no_main]

use bank_caisse_ap_ip::codec::{Frame, Scan, Scanner};
use bank_caisse_ap_ip::protocol::redact_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The evidence kept of an answer has the same bytes but masked card numbers.
    assert_eq!(redact_answer(data).len(), data.len());
    let decoded = Frame::decode(data);
    if let Ok(f) = &decoded {
        for field in f.fields() {
            if field.tag.is_constructed() {
                let _ = field.children();
            }
        }
        // Zero-length fields are read but never sent; everything else round-trips.
        if let Ok(bytes) = f.encode() {
            assert_eq!(bytes, data, "decode then encode changed the bytes");
        }
    }
    // Fed in two reads split at every 7th byte, the scanner ends where the decoder does.
    let mut s = Scanner::new();
    let mut last = Scan::Empty;
    for n in (0..data.len()).step_by(7).chain(std::iter::once(data.len())) {
        last = s.scan(&data[..n]);
        if matches!(last, Scan::Invalid(_)) {
            break;
        }
    }
    match last {
        Scan::Complete { .. } => assert!(decoded.is_ok(), "scanner complete, decoder refused"),
        Scan::Invalid(_) | Scan::Partial => assert!(decoded.is_err(), "decoder accepted what the scanner refused"),
        Scan::Empty => assert!(data.is_empty()),
    }
});
