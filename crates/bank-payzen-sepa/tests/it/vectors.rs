//! Every vector of the research notes (payzen.md §3 and §4.4), copied here: signatures of
//! forms and of responses, with both algorithms and both keys.

use bank_payzen_sepa::signature::{sign, signed_string, verify, Algorithm};
use bank_payzen_sepa::{PayzenError, Response};

const KEY: &str = "1122334455667788";

fn pairs<'a>(f: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    f.iter().copied()
}

/// S1: eopayment's test form.
const S1: &[(&str, &str)] = &[
    ("vads_version", "V2"),
    ("vads_page_action", "PAYMENT"),
    ("vads_action_mode", "INTERACTIVE"),
    ("vads_payment_config", "SINGLE"),
    ("vads_site_id", "12345678"),
    ("vads_ctx_mode", "TEST"),
    ("vads_trans_id", "654321"),
    ("vads_trans_date", "20090501193530"),
    ("vads_amount", "1524"),
    ("vads_currency", "978"),
    ("vads_cust_first_name", "Jean Michél"),
    ("vads_cust_last_name", "Mihaï"),
];

#[test]
fn s1_both_algorithms() {
    assert_eq!(
        signed_string(pairs(S1), KEY),
        "INTERACTIVE+1524+TEST+978+Jean Michél+Mihaï+PAYMENT+SINGLE+12345678+20090501193530+654321+V2+1122334455667788"
    );
    assert_eq!(
        sign(Algorithm::Sha1, pairs(S1), KEY),
        "cf1ccac335590a33d6c243345c4f4531a0316b7f"
    );
    assert_eq!(
        sign(Algorithm::HmacSha256, pairs(S1), KEY),
        "aHrJ7IzSGFa4pcYA8kh99+M/xBzoQ4Odnu3f4BUrpIA="
    );
}

/// The form eopayment's `request()` writes (S2, S3), without its signature.
#[allow(clippy::too_many_arguments)]
fn eopayment_request(
    amount: &str,
    names: &[(&str, &str)],
    order_id: &str,
    trans_id: &str,
    date: &str,
    cards: &str,
    check: &str,
    ret: &str,
) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("vads_action_mode".into(), "INTERACTIVE".into()),
        ("vads_amount".into(), amount.into()),
        ("vads_capture_delay".into(), String::new()),
        ("vads_contrib".into(), "eopayment".into()),
        ("vads_ctx_mode".into(), "TEST".into()),
        ("vads_currency".into(), "978".into()),
        ("vads_cust_country".into(), "FR".into()),
        ("vads_language".into(), "fr".into()),
        ("vads_order_id".into(), order_id.into()),
        ("vads_page_action".into(), "PAYMENT".into()),
        ("vads_payment_cards".into(), cards.into()),
        ("vads_payment_config".into(), "SINGLE".into()),
        ("vads_return_mode".into(), "GET".into()),
        ("vads_site_id".into(), "12345678".into()),
        ("vads_trans_date".into(), date.into()),
        ("vads_trans_id".into(), trans_id.into()),
        ("vads_url_check".into(), check.into()),
        ("vads_url_return".into(), ret.into()),
        ("vads_validation_mode".into(), String::new()),
        ("vads_version".into(), "V2".into()),
    ];
    f.extend(names.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    f
}

fn refs(f: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    f.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

#[test]
fn s2_eopayment_request_sha1_keeps_the_slots_of_empty_values() {
    let f = eopayment_request(
        "1524",
        &[
            ("vads_cust_first_name", "Jean Michél"),
            ("vads_cust_last_name", "Mihaï"),
        ],
        "654321",
        "123456",
        "20090501193530",
        "",
        "https://site.example.net/callback/",
        "https://site.example.net/return/",
    );
    assert_eq!(
        signed_string(refs(&f), KEY),
        "INTERACTIVE+1524++eopayment+TEST+978+FR+Jean Michél+Mihaï+fr+654321+PAYMENT++SINGLE+GET+12345678+20090501193530+123456+https://site.example.net/callback/+https://site.example.net/return/++V2+1122334455667788"
    );
    assert_eq!(
        sign(Algorithm::Sha1, refs(&f), KEY),
        "247b1adfccb56cbde4c1f3e397e83340da32ab07"
    );
}

#[test]
fn s3_sdd_payment_hmac() {
    let f = eopayment_request(
        "4990",
        &[
            ("vads_cust_email", "jean@example.com"),
            ("vads_cust_first_name", "Jean"),
            ("vads_cust_last_name", "Dupont"),
        ],
        "ORD-42",
        "a1B2c3",
        "20240501102030",
        "SDD",
        "https://shop.example/ipn",
        "https://shop.example/return",
    );
    assert_eq!(
        signed_string(refs(&f), KEY),
        "INTERACTIVE+4990++eopayment+TEST+978+FR+jean@example.com+Jean+Dupont+fr+ORD-42+PAYMENT+SDD+SINGLE+GET+12345678+20240501102030+a1B2c3+https://shop.example/ipn+https://shop.example/return++V2+1122334455667788"
    );
    assert_eq!(
        sign(Algorithm::HmacSha256, refs(&f), KEY),
        "z1e4Laghi13Sj6s6pbXaeyIbh1fz9qtQckYz/a3EySw="
    );
}

#[test]
fn s4_subscription_form() {
    let f: &[(&str, &str)] = &[
        ("vads_action_mode", "INTERACTIVE"),
        ("vads_amount", "4990"),
        ("vads_ctx_mode", "TEST"),
        ("vads_currency", "978"),
        ("vads_page_action", "REGISTER_PAY_SUBSCRIBE"),
        ("vads_payment_cards", "SDD"),
        ("vads_payment_config", "SINGLE"),
        ("vads_site_id", "12345678"),
        ("vads_sub_amount", "4990"),
        ("vads_sub_currency", "978"),
        ("vads_sub_desc", "RRULE:FREQ=MONTHLY;BYMONTHDAY=10"),
        ("vads_sub_effect_date", "20240610"),
        ("vads_trans_date", "20240501102030"),
        ("vads_trans_id", "123456"),
        ("vads_version", "V2"),
    ];
    assert_eq!(
        sign(Algorithm::HmacSha256, pairs(f), KEY),
        "44d8cbki51pmqOby11mYdtTHaV4rGU6ykVn6RHHodhc="
    );
}

#[test]
fn s5_production_key_and_s6_manual_validation() {
    // S5: one cent, PRODUCTION, signed with the production key.
    let mut f = eopayment_request("1", &[], "", "000001", "20240501102030", "", "", "");
    f.retain(|(k, _)| !matches!(k.as_str(), "vads_order_id" | "vads_url_check"));
    for (k, v) in f.iter_mut() {
        match k.as_str() {
            "vads_ctx_mode" => *v = "PRODUCTION".into(),
            "vads_url_return" => *v = "https://shop.example/return".into(),
            _ => {}
        }
    }
    assert_eq!(
        sign(Algorithm::Sha1, refs(&f), "9988776655443322"),
        "d624fb4a3111d3c718a5e910f64c25a2fe18bf7c"
    );
    assert_ne!(
        sign(Algorithm::Sha1, refs(&f), KEY),
        "d624fb4a3111d3c718a5e910f64c25a2fe18bf7c",
        "the test key gives another signature"
    );
    // S6: the eopayment transaction id, manual validation, a capture delay.
    let mut f = eopayment_request("1000", &[], "", "Zz9876", "20240501102030", "", "", "");
    f.retain(|(k, _)| !matches!(k.as_str(), "vads_order_id" | "vads_url_check"));
    for (k, v) in f.iter_mut() {
        match k.as_str() {
            "vads_url_return" => *v = "https://shop.example/return".into(),
            "vads_validation_mode" => *v = "1".into(),
            "vads_capture_delay" => *v = "3".into(),
            _ => {}
        }
    }
    f.push(("vads_ext_info_eopayment_trans_id".into(), "MYTX-1".into()));
    assert_eq!(
        sign(Algorithm::HmacSha256, refs(&f), KEY),
        "oYhqpzvxWeOTlU8ZLfIr+PNyVzffMnBmwRt3CV9j7oU="
    );
}

/// §4.4: eopayment's test response.
const EO_RESPONSE: &str = "vads_amount=1042&vads_auth_mode=FULL&vads_auth_number=3feadf&vads_auth_result=00&vads_capture_delay=0&vads_card_brand=CB&vads_result=00&vads_card_number=497010XXXXXX0000&vads_payment_certificate=582ba2b725057618706d7a06e9e59acdbf69ff53&vads_ctx_mode=TEST&vads_currency=978&vads_effective_amount=1042&vads_site_id=70168983&vads_trans_date=20161013101355&vads_trans_id=226787&vads_trans_uuid=4b5053b3b1fe4b02a07753e7a&vads_effective_creation_date=20200330162530&signature=c17fab393f94dc027dc029510c85d5fc46c4710f";

#[test]
fn eopayments_response_verifies_with_sha1_and_its_hmac_twin() {
    let r = Response::parse(EO_RESPONSE.as_bytes()).unwrap();
    r.verify(Algorithm::Sha1, "TEST", KEY, "70168983").unwrap();
    let hmac = EO_RESPONSE.replace(
        "signature=c17fab393f94dc027dc029510c85d5fc46c4710f",
        "signature=Wbz3bP6R6wDvAwb2HnSiH9%2FiUUoRVCxK7mdLtCMz8Xw%3D",
    );
    let r = Response::parse(hmac.as_bytes()).unwrap();
    r.verify(Algorithm::HmacSha256, "TEST", KEY, "70168983")
        .unwrap();
    // The SHA-1 form on a shop set to HMAC-SHA-256, and the reverse: refused.
    let sha1 = Response::parse(EO_RESPONSE.as_bytes()).unwrap();
    assert!(matches!(
        sha1.verify(Algorithm::HmacSha256, "TEST", KEY, "70168983"),
        Err(PayzenError::Signature { .. })
    ));
    assert!(matches!(
        r.verify(Algorithm::Sha1, "TEST", KEY, "70168983"),
        Err(PayzenError::Signature { .. })
    ));
    // Another shop, another mode.
    assert!(matches!(
        sha1.verify(Algorithm::Sha1, "TEST", KEY, "12345678"),
        Err(PayzenError::Shop { .. })
    ));
    assert!(matches!(
        sha1.verify(Algorithm::Sha1, "PRODUCTION", KEY, "70168983"),
        Err(PayzenError::Mode { .. })
    ));
}

/// §4.4's base fields of the oracle's HMAC IPNs, in order.
pub const BASE: &[(&str, &str)] = &[
    ("vads_amount", "4990"),
    ("vads_ctx_mode", "TEST"),
    ("vads_currency", "978"),
    ("vads_site_id", "12345678"),
    ("vads_trans_date", "20240501102030"),
    ("vads_trans_id", "123456"),
    ("vads_trans_uuid", "0123456789abcdef0123456789abcdef"),
    ("vads_effective_creation_date", "20240501102035"),
    ("vads_url_check_src", "PAY"),
    ("vads_version", "V2"),
    ("vads_page_action", "PAYMENT"),
    ("vads_operation_type", "DEBIT"),
];

/// An oracle IPN: the base fields, then the case's, then its signature.
pub fn oracle(case: &[(&str, &str)], signature: &str) -> String {
    let mut q: Vec<String> = BASE
        .iter()
        .chain(case.iter())
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    q.push(format!("signature={}", percent_encode(signature)));
    q.join("&")
}

pub fn percent_encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The oracle's cases whose fields are all in the notes: (case, fields, signature).
pub type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// The oracle's cases.
pub const CASES: &[Case] = &[
    (
        "card OK",
        &[
            ("vads_result", "00"),
            ("vads_auth_result", "00"),
            ("vads_trans_status", "AUTHORISED"),
            ("vads_card_brand", "CB"),
        ],
        "Q9smHb8KCLoZ+Zbb3FCc4byXz1ahW39VmEZRXXrUB+g=",
    ),
    (
        "refused",
        &[
            ("vads_result", "05"),
            ("vads_auth_result", "05"),
            ("vads_trans_status", "REFUSED"),
        ],
        "NXoWGczO8OJhMDVTV96Zly9qciaM/Vs3LDlWhiZmNwM=",
    ),
    (
        "refused, funds",
        &[
            ("vads_result", "05"),
            ("vads_auth_result", "51"),
            ("vads_trans_status", "REFUSED"),
        ],
        "sty7WyO2M0quFV+EDIe/404oP9gjPb9HQ8aNSfette4=",
    ),
    (
        "abandoned",
        &[
            ("vads_result", "17"),
            ("vads_auth_result", ""),
            ("vads_trans_status", "ABANDONED"),
        ],
        "zEGQnYMLNnIBP5PU038QtICeiHydJpegMZ1ryopgKEw=",
    ),
    (
        "technical",
        &[
            ("vads_result", "96"),
            ("vads_auth_result", ""),
            ("vads_trans_status", "NOT_CREATED"),
        ],
        "UNXrq34WB1fgOQ+a9hnKrbV8/oxtARe/tbIHaFS+I74=",
    ),
    (
        "to validate",
        &[
            ("vads_result", "00"),
            ("vads_auth_result", "00"),
            ("vads_trans_status", "AUTHORISED_TO_VALIDATE"),
        ],
        "zKH1u8n6J+sJW168qnaAV5xR7oSIBFYWE7Y7/FJ2ZyM=",
    ),
];

#[test]
fn the_oracles_ipns_verify_and_a_changed_amount_does_not() {
    for (name, case, sig) in CASES {
        let q = oracle(case, sig);
        let r = Response::parse(q.as_bytes()).unwrap();
        r.verify(Algorithm::HmacSha256, "TEST", KEY, "12345678")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let changed = q.replace("vads_amount=4990", "vads_amount=4991");
        let r = Response::parse(changed.as_bytes()).unwrap();
        assert!(
            matches!(
                r.verify(Algorithm::HmacSha256, "TEST", KEY, "12345678"),
                Err(PayzenError::Signature { .. })
            ),
            "{name}"
        );
        assert!(verify(
            Algorithm::HmacSha256,
            BASE.iter().chain(case.iter()).copied(),
            KEY,
            sig
        ));
    }
}

#[test]
fn a_response_without_auth_result_or_with_a_field_twice_is_malformed() {
    let (_, case, sig) = CASES[0];
    let without: Vec<(&str, &str)> = case
        .iter()
        .copied()
        .filter(|(k, _)| *k != "vads_auth_result")
        .collect();
    let q = oracle(&without, sig);
    let r = Response::parse(q.as_bytes()).unwrap();
    assert!(matches!(
        r.verify(Algorithm::HmacSha256, "TEST", KEY, "12345678"),
        Err(PayzenError::Malformed { .. })
    ));
    let twice = format!("{}&vads_amount=1", oracle(case, sig));
    assert!(matches!(
        Response::parse(twice.as_bytes()),
        Err(PayzenError::Malformed { .. })
    ));
}
