//! Every frame of caisse-ap.md §10 (copied into tests/fixtures/vectors.tsv), plus the
//! robustness cases: each vector is checked on its own, and the test lists the failures.

use bank_caisse_ap_ip::codec::{Frame, Scan, Scanner, Tag};
use bank_caisse_ap_ip::{
    validate_answer, Action, AnswerVerdict, PaymentMethod, Request, RequestHeader,
};
use bank_core::{Currency, Money};

const VECTORS: &str = include_str!("fixtures/vectors.tsv");

fn unescape(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() + 1 && b.get(i + 1) == Some(&b'x') {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn request(spec: &str, answer_mode: bool) -> Request {
    let parts: Vec<&str> = spec.split('/').collect();
    let action = match parts[0] {
        "debit" => Action::Debit,
        "refund" => Action::Refund,
        other => panic!("action {other}"),
    };
    let currency = Currency::from_code(parts[2]).unwrap();
    let amount = Money::from_minor(parts[1].parse().unwrap(), currency).unwrap();
    let method = PaymentMethod::parse(parts[3]).unwrap();
    let header = RequestHeader {
        answer_mode,
        ..RequestHeader::default()
    };
    Request::new(&header, amount, action, method).unwrap()
}

fn rows(kind: &str) -> Vec<Vec<&'static str>> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|r| r[0] == kind)
        .collect()
}

#[test]
fn request_encodings() {
    let rows = rows("encode");
    assert_eq!(rows.len(), 6);
    let mut failed = Vec::new();
    for r in rows {
        let req = request(r[2], r[3] == "yes");
        let got = req.encode();
        if got != r[4].as_bytes() {
            failed.push(format!("{}: got {}", r[1], String::from_utf8_lossy(&got)));
        }
        // One buffer, no CR/LF, CZ first.
        assert!(!got.contains(&b'\r') && !got.contains(&b'\n'));
        assert!(got.starts_with(b"CZ0040300"));
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn oca_serialisation_example() {
    // OCA unit test: starts with CZ0040300, contains CB00205 and CE003978.
    let got = request("debit/5/EUR/card", false).encode();
    let s = String::from_utf8(got).unwrap();
    assert!(s.starts_with("CZ0040300"));
    assert!(s.contains("CB00205") && s.contains("CE003978"));
}

#[test]
fn answers() {
    let rows = rows("answer");
    assert!(rows.len() >= 40, "{} answer vectors", rows.len());
    let mut failed = Vec::new();
    for r in rows {
        let req = request(r[2], false);
        let bytes = unescape(r[4]);
        let verdict = validate_answer(&req, &bytes);
        let ok = match (r[3].split_once(':'), &verdict) {
            (None, AnswerVerdict::Approved(a)) if r[3] == "approved" => {
                a.authorisation.is_none() && a.amount == req.amount()
            }
            (Some(("approved", auth)), AnswerVerdict::Approved(a)) => {
                a.authorisation.as_deref() == Some(auth) && a.amount == req.amount()
            }
            (Some(("declined", "-")), AnswerVerdict::Declined(d)) => d.code.is_none(),
            (Some(("declined", code)), AnswerVerdict::Declined(d)) => {
                d.code.as_deref() == Some(code)
            }
            (None, AnswerVerdict::Unknown(_)) => r[3] == "unknown",
            _ => false,
        };
        if !ok {
            failed.push(format!("{}: expected {}, got {verdict:?}", r[1], r[3]));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn s1_details() {
    let row = rows("answer")
        .into_iter()
        .find(|r| r[1] == "S1-cb-contact")
        .unwrap();
    let AnswerVerdict::Approved(a) = validate_answer(&request(row[2], true), row[4].as_bytes())
    else {
        panic!("S1 not approved");
    };
    assert_eq!(a.amount.to_string(), "112.45 EUR");
    assert_eq!(a.card.as_deref(), Some("555069######5170"));
    assert_eq!(a.application.as_deref(), Some("001"));
    assert_eq!(a.application_label(), Some("CB contact"));
    assert_eq!(a.read_mode.as_deref(), Some("1"));
    assert_eq!(a.aid.as_deref(), Some("A00000000934503974528"));
    assert_eq!(a.contract.as_deref(), Some("424242"));
    assert_eq!(a.version, "0300");
}

#[test]
fn nepting_answer_with_other_version_and_ticket() {
    let row = rows("answer")
        .into_iter()
        .find(|r| r[1] == "nepting-success-other-cz-zt")
        .unwrap();
    let bytes = row[4].as_bytes();
    let frame = Frame::decode(bytes).unwrap();
    assert_eq!(frame.version(), Some("0320"));
    let zt = frame.fields().iter().find(|f| f.tag == Tag::ZT).unwrap();
    assert!(zt.tag.is_constructed());
    let kids = zt.children().unwrap();
    assert_eq!(kids[0].tag, Tag::CK);
    assert_eq!(kids[0].value, "100");
    assert_eq!(kids[1].tag, Tag::AK);
    let AnswerVerdict::Approved(a) = validate_answer(&request(row[2], false), bytes) else {
        panic!("not approved");
    };
    assert_eq!(a.version, "0320");
    assert_eq!(a.application_label(), Some("CB contactless"));
}

#[test]
fn declines_in_words() {
    let r = request("debit/1000/EUR/card", false);
    let cases = [
        ("AF00204", "refused"),
        ("AF00211", "cancelled on the terminal (red key)"),
        ("AF00206", "abandoned by the cardholder"),
        (
            "AF00213",
            "not done: currency not supported by the terminal",
        ),
        ("AF00299", "refused (code 99)"),
    ];
    for (af, words) in cases {
        let a = format!("CZ0040300AE00201{af}");
        let AnswerVerdict::Declined(d) = validate_answer(&r, a.as_bytes()) else {
            panic!("{af}");
        };
        assert_eq!(d.reason, words);
    }
    let ext = rows("answer")
        .into_iter()
        .find(|r| r[1] == "nepting-af-extended")
        .unwrap();
    let AnswerVerdict::Declined(d) = validate_answer(&request(ext[2], false), ext[4].as_bytes())
    else {
        panic!("extended AF");
    };
    assert_eq!(d.code.as_deref(), Some("04"));
    assert_eq!(d.extra.as_deref(), Some("51DO NOT HONOUR"));
    let cheque = request("debit/4200/EUR/cheque", false);
    let AnswerVerdict::Declined(d) = validate_answer(&cheque, b"CZ0040300AE00201AF00204") else {
        panic!("cheque");
    };
    assert!(d.reason.contains("cheque"), "{}", d.reason);
}

#[test]
fn decoding() {
    let rows = rows("decode");
    let mut failed = Vec::new();
    for r in rows {
        let bytes = unescape(r[3]);
        let res = Frame::decode(&bytes);
        let ok = match r[2] {
            "ok" => match &res {
                // What decodes re-encodes to the same bytes (except a zero-length field,
                // which is read but never sent).
                Ok(f) => f
                    .encode()
                    .map_or(r[1] == "ok-zero-length-field", |e| e == bytes),
                Err(_) => false,
            },
            _ => res.is_err(),
        };
        if !ok {
            failed.push(format!("{}: {} expected, got {res:?}", r[1], r[2]));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn error_messages_name_the_place() {
    let e = Frame::decode(b"CZ00X0300").unwrap_err().to_string();
    assert!(e.contains("byte 2") && e.contains("\"00X\""), "{e}");
    let e = Frame::decode(b"AE00510").unwrap_err().to_string();
    assert!(e.contains("declares 5") && e.contains("only 2"), "{e}");
    let e = Frame::decode(b"CZ0040300AE002\xc3\xa9")
        .unwrap_err()
        .to_string();
    assert!(e.contains("0xc3") && e.contains("offset 14"), "{e}");
}

#[test]
fn scanning() {
    let rows = rows("scan");
    let mut failed = Vec::new();
    for r in rows {
        let bytes = unescape(r[3]);
        let got = Scanner::new().scan(&bytes);
        let ok = matches!(
            (r[2], &got),
            ("complete", Scan::Complete { .. })
                | ("incomplete", Scan::Partial | Scan::Empty)
                | ("invalid", Scan::Invalid(_))
        );
        if !ok {
            failed.push(format!("{}: {} expected, got {got:?}", r[1], r[2]));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_answer_vector_scans_as_it_decodes() {
    // Fed byte by byte, the scanner never calls a decodable answer invalid, and ends
    // complete exactly when the whole answer decodes.
    for r in rows("answer") {
        let bytes = unescape(r[4]);
        let mut s = Scanner::new();
        let mut last = None;
        for n in 0..=bytes.len() {
            let scan = s.scan(&bytes[..n]);
            if let Scan::Invalid(_) = scan {
                assert!(Frame::decode(&bytes).is_err(), "{}", r[1]);
                last = None;
                break;
            }
            last = Some(scan);
        }
        if let Some(Scan::Complete { .. }) = last {
            assert!(Frame::decode(&bytes).is_ok(), "{}", r[1]);
        }
    }
}
