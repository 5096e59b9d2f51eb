//! Properties: codecs round-trip, and nothing from outside makes the crate panic.

use bank_core::{Currency, Money};
use bank_stripe::form::{parse_nested, FormBody};
use bank_stripe::signature::{header, SignatureHeader, WebhookSecrets};
use proptest::prelude::*;
use secrecy::SecretString;

proptest! {
    #[test]
    fn form_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,40}", 0..8),
                       meta in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,40}", 0..5)) {
        let mut b = FormBody::new();
        for (k, v) in &pairs { b.push(k.clone(), v.clone()); }
        for (k, v) in &meta { b.push(format!("metadata[{k}]"), v.clone()); }
        let tree = parse_nested(b.encode().as_bytes());
        for (k, v) in &pairs {
            if k != "metadata" { prop_assert_eq!(tree[k.as_str()].as_str(), Some(v.as_str())); }
        }
        if !pairs.contains_key("metadata") {
            for (k, v) in &meta { prop_assert_eq!(tree["metadata"][k.as_str()].as_str(), Some(v.as_str())); }
        }
    }

    #[test]
    fn parse_nested_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_nested(&raw);
    }

    #[test]
    fn amounts_round_trip(minor in 0i64..1_000_000_000, code in prop::sample::select(vec!["EUR", "JPY", "ISK", "KWD", "MGA", "HUF", "USD", "BHD"])) {
        let c = Currency::from_code(code).unwrap();
        let m = Money::from_minor(minor, c).unwrap();
        if let Ok(s) = bank_stripe::amount::to_stripe(m) {
            prop_assert_eq!(bank_stripe::amount::from_stripe(s, &code.to_ascii_lowercase()).unwrap(), m);
        }
    }

    #[test]
    fn header_parse_never_panics(h in "\\PC{0,120}") {
        let _ = SignatureHeader::parse(&h);
    }

    #[test]
    fn signatures_verify_and_any_change_fails(body in proptest::collection::vec(any::<u8>(), 0..300), t in 0i64..4_000_000_000, flip in any::<usize>()) {
        let s = WebhookSecrets::new(vec![SecretString::from("whsec_prop".to_string())]);
        let h = header(&["whsec_prop"], t, &body);
        prop_assert!(s.verify(&h, &body, t, 300).is_ok());
        if !body.is_empty() {
            let mut b = body.clone();
            let i = flip % b.len();
            b[i] ^= 0x01;
            prop_assert!(s.verify(&h, &b, t, 300).is_err());
        }
    }

    #[test]
    fn event_parse_and_decode_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(e) = bank_stripe::Event::parse(&raw) {
            let _ = bank_stripe::event::decode(&e);
        }
    }

    #[test]
    fn decode_of_arbitrary_objects_never_panics(kind in prop::sample::select(bank_stripe::event::HANDLED.to_vec()),
                                                amount in any::<i64>(), currency in "[a-z]{3}", status in "[a-z_]{0,12}") {
        let ev = serde_json::json!({"id": "evt", "type": kind, "data": {"object": {
            "object": "x", "amount": amount, "amount_total": amount, "amount_paid": amount, "amount_due": amount,
            "amount_refunded": amount, "currency": currency, "payment_status": status, "billing_reason": status,
            "payment_intent": {"id": 5}, "subscription": [1], "metadata": {"bank_reference": 7}, "parent": "x"}}});
        let e: bank_stripe::Event = serde_json::from_value(ev).unwrap();
        let _ = bank_stripe::event::decode(&e);
    }
}
