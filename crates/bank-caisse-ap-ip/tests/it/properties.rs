//! Property tests: the codec round-trips, the scanner agrees with the decoder, and no
//! input, however mangled, panics or turns into an approval it does not say.

use std::borrow::Cow;

use bank_caisse_ap_ip::codec::{Field, Frame, Scan, Scanner, Tag};
use bank_caisse_ap_ip::protocol::same_amount;
use bank_caisse_ap_ip::{
    validate_answer, Action, AnswerVerdict, PaymentMethod, Request, RequestHeader,
};
use bank_core::{Currency, Money};
use proptest::prelude::*;

fn tag() -> impl Strategy<Value = Tag> {
    (b'A'..=b'Z', b'A'..=b'Z').prop_map(|(a, b)| Tag::from_bytes([a, b]).unwrap())
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[ -~]{1,40}",
        1 => "[A-Za-z0-9+/=]{900,999}",
    ]
}

/// Frames to send: `CZ` first, distinct tags, values of 1 to 999 ASCII characters.
fn frame() -> impl Strategy<Value = Frame<'static>> {
    (
        "[0-9]{4}",
        prop::collection::btree_map(tag(), value(), 0..12),
    )
        .prop_map(|(version, fields)| {
            let mut f = Frame::new(version);
            for (t, v) in fields {
                if t != Tag::CZ {
                    f.push(t, v);
                }
            }
            f
        })
}

fn request(minor: i64, refund: bool) -> Request {
    Request::new(
        &RequestHeader::default(),
        Money::from_minor(minor, Currency::EUR).unwrap(),
        if refund {
            Action::Refund
        } else {
            Action::Debit
        },
        PaymentMethod::Card,
    )
    .unwrap()
}

/// An answer approving `req`, as a terminal would send it.
fn approval(req: &Request) -> Vec<u8> {
    let mut f = Frame::new("0300");
    f.push(Tag::CJ, "012345678901")
        .push(Tag::CA, req.pos_number().to_string())
        .push(Tag::CE, req.currency_field())
        .push(Tag::CD, req.action().code())
        .push(Tag::CB, req.amount_field())
        .push(Tag::AE, "10")
        .push(Tag::AC, "123456")
        .push(Tag::AA, "497010######0014");
    f.encode().unwrap()
}

/// If an answer is approved, the answer itself says so without ambiguity.
fn approval_is_justified(req: &Request, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let AnswerVerdict::Approved(a) = validate_answer(req, bytes) {
        let f = Frame::decode(bytes).expect("an approval decodes");
        prop_assert_eq!(f.count(Tag::AE), 1);
        prop_assert_eq!(f.get(Tag::AE), Some("10"));
        prop_assert_eq!(f.count(Tag::CB), 1);
        prop_assert!(same_amount(f.get(Tag::CB).unwrap(), &req.amount_field()));
        prop_assert_eq!(f.get(Tag::CA), Some(req.pos_number()));
        prop_assert_eq!(f.get(Tag::CD), Some(req.action().code()));
        let ce = req.currency_field();
        prop_assert_eq!(f.get(Tag::CE), Some(ce.as_str()));
        prop_assert!(f.get(Tag::AF).is_none_or(|af| af.starts_with("01")));
        prop_assert_eq!(a.amount, req.amount());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_encode_is_the_frame(f in frame()) {
        let bytes = f.encode().unwrap();
        prop_assert_eq!(bytes.len(), f.encoded_len());
        let back = Frame::decode(&bytes).unwrap();
        // Decoding borrows from the buffer: no copies.
        prop_assert!(back.fields().iter().all(|x| matches!(x.value, Cow::Borrowed(_))));
        prop_assert_eq!(back, f);
    }

    #[test]
    fn scanner_agrees_with_decoder_on_every_prefix(f in frame()) {
        let bytes = f.encode().unwrap();
        let mut s = Scanner::new();
        let boundaries: Vec<usize> = f.fields().iter()
            .scan(0, |at, x| { *at += 5 + x.value.len(); Some(*at) })
            .collect();
        for n in 0..=bytes.len() {
            match s.scan(&bytes[..n]) {
                Scan::Empty => prop_assert_eq!(n, 0),
                Scan::Partial => prop_assert!(!boundaries.contains(&n)),
                Scan::Complete { fields, .. } => {
                    prop_assert_eq!(boundaries.iter().position(|b| *b == n).map(|i| i + 1), Some(fields));
                }
                Scan::Invalid(e) => prop_assert!(false, "prefix {} invalid: {}", n, e),
            }
        }
    }

    #[test]
    fn constructed_values_round_trip(kids in prop::collection::btree_map(tag(), "[ -~]{1,30}", 1..6)) {
        let fields: Vec<Field<'_>> = kids.iter().map(|(t, v)| Field::new(*t, v.as_str())).collect();
        let zt = Field::constructed(Tag::ZT, &fields).unwrap();
        prop_assert_eq!(zt.children().unwrap(), fields);
    }

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Frame::decode(&bytes);
        let _ = Scanner::new().scan(&bytes);
        approval_is_justified(&request(1245, false), &bytes)?;
    }

    #[test]
    fn mangled_approvals_are_never_false(
        minor in 1i64..=999_999_999_999,
        refund in any::<bool>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let req = request(minor, refund);
        let mut bytes = approval(&req);
        prop_assert!(matches!(validate_answer(&req, &bytes), AnswerVerdict::Approved(_)));
        for (at, b, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = b,
                1 => bytes.insert(at, b),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        approval_is_justified(&req, &bytes)?;
        // The approval of another amount never approves this one.
        let other = request(minor % 999_999_999_999 + 1, refund);
        approval_is_justified(&other, &bytes)?;
    }

    #[test]
    fn requests_encode_every_amount(minor in 1i64..=999_999_999_999, refund in any::<bool>(), cheque in any::<bool>()) {
        let req = Request::new(
            &RequestHeader::default(),
            Money::from_minor(minor, Currency::EUR).unwrap(),
            if refund { Action::Refund } else { Action::Debit },
            if cheque { PaymentMethod::Cheque } else { PaymentMethod::Card },
        ).unwrap();
        let bytes = req.encode();
        let f = Frame::decode(&bytes).unwrap();
        let cb = f.get(Tag::CB).unwrap();
        prop_assert!(cb.len() >= 2 && cb.len() <= 12);
        prop_assert_eq!(cb.parse::<i64>().unwrap(), minor);
        prop_assert_eq!(f.get(Tag::CC).is_some(), cheque);
        prop_assert!(f.get(Tag::BF).is_none());
        prop_assert!(!bytes.contains(&b'\r') && !bytes.contains(&b'\n'));
    }
}
