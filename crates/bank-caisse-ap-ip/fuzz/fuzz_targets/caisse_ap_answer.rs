//! The answer check decides whether a card was charged: no input makes it panic, and it
//! never calls an answer approved unless the answer says so without ambiguity.
#![no_main]

use bank_caisse_ap_ip::codec::{Frame, Tag};
use bank_caisse_ap_ip::protocol::same_amount;
use bank_caisse_ap_ip::{
    validate_answer, Action, AnswerVerdict, PaymentMethod, Request, RequestHeader,
};
use bank_core::{Currency, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    // The first bytes choose the request, the rest is the answer.
    let minor = 1 + (u64::from_le_bytes([data[0], data[1], data[2], data[3], data[4], 0, 0, 0])
        % 999_999_999_999) as i64;
    let flags = data[5];
    let currency = if flags & 4 == 0 { Currency::EUR } else { Currency::from_numeric(953).unwrap() };
    let req = Request::new(
        &RequestHeader::default(),
        Money::from_minor(minor, currency).unwrap(),
        if flags & 1 == 0 { Action::Debit } else { Action::Refund },
        if flags & 2 == 0 { PaymentMethod::Card } else { PaymentMethod::Cheque },
    )
    .unwrap();
    let answer = &data[6..];
    if let AnswerVerdict::Approved(a) = validate_answer(&req, answer) {
        let f = Frame::decode(answer).expect("an approval decodes");
        assert_eq!(f.count(Tag::AE), 1);
        assert_eq!(f.get(Tag::AE), Some("10"));
        assert_eq!(f.count(Tag::CB), 1);
        assert!(same_amount(f.get(Tag::CB).unwrap(), &req.amount_field()));
        assert_eq!(f.get(Tag::CA), Some(req.pos_number()));
        assert_eq!(f.get(Tag::CD), Some(req.action().code()));
        assert_eq!(f.get(Tag::CE), Some(req.currency_field().as_str()));
        assert!(f.get(Tag::AF).is_none_or(|af| af.starts_with("01")));
        assert_eq!(a.amount, req.amount());
        if let Some(card) = &a.card {
            // At most the first six and last four digits show.
            assert!(card.bytes().filter(u8::is_ascii_digit).count() <= 10);
        }
    }
});
