//! Every vector of the protocol note (checked there with the official Python and Node
//! libraries and openssl), copied here: signatures, header rules, tolerance, encoding.

use bank_stripe::form::FormBody;
use bank_stripe::signature::{header, sign, SignatureHeader, WebhookSecrets};
use bank_stripe::StripeError;
use secrecy::SecretString;

const T: i64 = 1_700_000_000;
const MAIN_PAYLOAD: &str =
    r#"{"id":"evt_test_webhook","object":"event","type":"checkout.session.completed"}"#;
const MAIN_V1: &str = "1fa73ff7286785daa8168695a709e92ce31d02a9202648cb27a1c5f2e233f517";
const MAIN_HEADER: &str =
    "t=1700000000,v1=1fa73ff7286785daa8168695a709e92ce31d02a9202648cb27a1c5f2e233f517";

const ROTATION_PAYLOAD: &str = r#"{"id":"evt_rotation","object":"event"}"#;
const ROTATION_OLD: &str = "fb94d2e94ae6009d496631b399f730009471707722e32febef1d8783d66d50e9";
const ROTATION_NEW: &str = "edc3b8542f4a63028c522cda0a2d2ee8f6a858e69f8789cd7e16e572736763d8";

fn secrets(s: &[&str]) -> WebhookSecrets {
    WebhookSecrets::new(
        s.iter()
            .map(|x| SecretString::from(x.to_string()))
            .collect(),
    )
}

#[test]
fn main_vector_signature() {
    assert_eq!(
        sign("whsec_test_secret", T, MAIN_PAYLOAD.as_bytes()),
        MAIN_V1
    );
    assert_eq!(
        header(&["whsec_test_secret"], T, MAIN_PAYLOAD.as_bytes()),
        MAIN_HEADER
    );
}

#[test]
fn main_vector_verifies() {
    let s = secrets(&["whsec_test_secret"]);
    assert_eq!(
        s.verify(MAIN_HEADER, MAIN_PAYLOAD.as_bytes(), T, 300)
            .unwrap(),
        T
    );
}

#[test]
fn short_vector() {
    let v1 = "4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021";
    let body = br#"{"id":"evt_1","object":"event"}"#;
    assert_eq!(sign("whsec_test", T, body), v1);
    secrets(&["whsec_test"])
        .verify(&format!("t={T},v1={v1}"), body, T, 300)
        .unwrap();
}

#[test]
fn utf8_vector() {
    let body = r#"{"id":"evt_utf8","object":"event","data":{"object":{"name":"Zürich – 東京 €"}}}"#;
    assert_eq!(
        sign("whsec_test_secret", T, body.as_bytes()),
        "9434b2b8279f513db0e5f88cf8247d92fabafe42c79079a16457516335349dd0"
    );
}

#[test]
fn newlines_vector_needs_the_exact_bytes() {
    let body = "{\n  \"id\": \"evt_pretty\",\n  \"object\": \"event\"\n}";
    let v1 = "7788aeb1cc08717453091255c0bfded8bcc166778f49fe81c7665d41867a51a7";
    assert_eq!(sign("whsec_test_secret", T, body.as_bytes()), v1);
    // Re-serialised JSON is not what was signed.
    let compact: serde_json::Value = serde_json::from_str(body).unwrap();
    let compact = serde_json::to_vec(&compact).unwrap();
    assert!(matches!(
        secrets(&["whsec_test_secret"]).verify(&format!("t={T},v1={v1}"), &compact, T, 300),
        Err(StripeError::BadSignature)
    ));
}

#[test]
fn rotation_vectors() {
    let t = 1_700_000_300;
    assert_eq!(
        sign("whsec_old_secret", t, ROTATION_PAYLOAD.as_bytes()),
        ROTATION_OLD
    );
    assert_eq!(
        sign("whsec_new_secret", t, ROTATION_PAYLOAD.as_bytes()),
        ROTATION_NEW
    );
    let h = format!("t={t},v1={ROTATION_OLD},v1={ROTATION_NEW},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39");
    let body = ROTATION_PAYLOAD.as_bytes();
    for held in [
        &["whsec_old_secret"][..],
        &["whsec_new_secret"][..],
        &["whsec_old_secret", "whsec_new_secret"][..],
        &["whsec_other", "whsec_new_secret"][..],
    ] {
        secrets(held).verify(&h, body, t, 300).unwrap();
    }
    assert!(matches!(
        secrets(&["whsec_other"]).verify(&h, body, t, 300),
        Err(StripeError::BadSignature)
    ));
}

#[test]
fn one_changed_character_fails() {
    let body = MAIN_PAYLOAD.replace("webhook", "webhooK");
    assert!(matches!(
        secrets(&["whsec_test_secret"]).verify(MAIN_HEADER, body.as_bytes(), T, 300),
        Err(StripeError::BadSignature)
    ));
}

#[test]
fn changed_timestamp_fails() {
    let h = MAIN_HEADER.replace("t=1700000000", "t=1700000001");
    assert!(matches!(
        secrets(&["whsec_test_secret"]).verify(&h, MAIN_PAYLOAD.as_bytes(), T + 1, 300),
        Err(StripeError::BadSignature)
    ));
}

#[test]
fn v0_only_fails() {
    let h = format!("t={T},v0={MAIN_V1}");
    assert!(matches!(
        secrets(&["whsec_test_secret"]).verify(&h, MAIN_PAYLOAD.as_bytes(), T, 300),
        Err(StripeError::BadHeader { .. })
    ));
}

#[test]
fn tolerance_300_passes_301_fails() {
    let s = secrets(&["whsec_test_secret"]);
    s.verify(MAIN_HEADER, MAIN_PAYLOAD.as_bytes(), T + 300, 300)
        .unwrap();
    assert!(matches!(
        s.verify(MAIN_HEADER, MAIN_PAYLOAD.as_bytes(), T + 301, 300),
        Err(StripeError::Stale { age: 301, .. })
    ));
    // A tolerance of 0 turns the age check off, as in the official libraries.
    s.verify(MAIN_HEADER, MAIN_PAYLOAD.as_bytes(), T + 100_000, 0)
        .unwrap();
    // Future timestamps are accepted, as the official libraries do.
    s.verify(MAIN_HEADER, MAIN_PAYLOAD.as_bytes(), T - 1000, 300)
        .unwrap();
}

#[test]
fn exactly_one_integer_t() {
    let two = format!("t={T},t={T},v1={MAIN_V1}");
    let none = format!("v1={MAIN_V1}");
    let not_int = format!("t=17e8,v1={MAIN_V1}");
    let negative = format!("t=-1,v1={MAIN_V1}");
    for h in [
        two,
        none,
        not_int,
        negative,
        String::new(),
        "garbage".into(),
    ] {
        assert!(
            matches!(
                SignatureHeader::parse(&h),
                Err(StripeError::BadHeader { .. })
            ),
            "{h:?} accepted"
        );
    }
}

#[test]
fn header_parse_ignores_other_schemes_and_bad_v1() {
    let h = format!("t={T},v0=zz,v1=nothex,v1={MAIN_V1},v2=abc");
    let p = SignatureHeader::parse(&h).unwrap();
    assert_eq!(p.timestamp, T);
    assert_eq!(p.v1, vec![hex::decode(MAIN_V1).unwrap()]);
}

#[test]
fn secrets_list_separated_by_spaces_or_commas() {
    let s = WebhookSecrets::parse("whsec_old_secret, whsec_new_secret").unwrap();
    assert_eq!(s.len(), 2);
    let s2 = WebhookSecrets::parse(" whsec_a  whsec_b,whsec_c ").unwrap();
    assert_eq!(s2.len(), 3);
    assert!(WebhookSecrets::parse(" , ").is_err());
    assert!(!format!("{s:?}").contains("whsec"));
}

#[test]
fn captured_python_body_is_reproduced_byte_for_byte() {
    let expected = "mode=payment&success_url=https%3A%2F%2Fshop.example%2Fok%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D&cancel_url=https%3A%2F%2Fshop.example%2Fcancel&client_reference_id=order-42&metadata[order_id]=42&metadata[plugin]=pay&line_items[0][quantity]=1&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=1999&line_items[0][price_data][product_data][name]=Widget&payment_intent_data[metadata][order_id]=42";
    let mut b = FormBody::new();
    b.push("mode", "payment")
        .push(
            "success_url",
            "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}",
        )
        .push("cancel_url", "https://shop.example/cancel")
        .push("client_reference_id", "order-42")
        .push("metadata[order_id]", "42")
        .push("metadata[plugin]", "pay")
        .push("line_items[0][quantity]", "1")
        .push("line_items[0][price_data][currency]", "eur")
        .push("line_items[0][price_data][unit_amount]", "1999")
        .push("line_items[0][price_data][product_data][name]", "Widget")
        .push("payment_intent_data[metadata][order_id]", "42");
    assert_eq!(b.encode(), expected);
    // The parser reads it back, brackets escaped or not.
    let tree = bank_stripe::form::parse_nested(expected.as_bytes());
    assert_eq!(tree["line_items"][0]["price_data"]["unit_amount"], "1999");
    assert_eq!(tree["metadata"]["plugin"], "pay");
    let escaped = expected.replace('[', "%5B").replace(']', "%5D");
    assert_eq!(bank_stripe::form::parse_nested(escaped.as_bytes()), tree);
    assert_eq!(
        tree["success_url"],
        "https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}"
    );
}

#[test]
fn query_expand_arrays() {
    let tree = bank_stripe::form::parse_nested(
        b"expand%5B0%5D=payment_intent&expand%5B1%5D=line_items&invoice_now=true",
    );
    assert_eq!(
        tree["expand"],
        serde_json::json!(["payment_intent", "line_items"])
    );
    assert_eq!(tree["invoice_now"], "true");
}

#[test]
fn error_json_maps_to_typed_errors() {
    let body = serde_json::json!({"error": {"type": "invalid_request_error", "code": "parameter_missing",
        "param": "payment_intent", "message": "Missing", "doc_url": "https://stripe.com/docs/error-codes/x"}});
    let e = bank_stripe::client::api_error(400, Some(&body), Some("req_1".into())).unwrap();
    assert!(e.is_refusal());
    let core = e.into_core("stripe-test");
    assert!(
        matches!(core, bank_core::Error::Provider { failure: bank_core::ProviderFailure::Refused | bank_core::ProviderFailure::Unavailable, code: Some(ref c), .. } if c == "parameter_missing")
    );
    let e = bank_stripe::client::api_error(
        500,
        Some(&serde_json::json!({"error": {"type": "api_error"}})),
        None,
    )
    .unwrap();
    assert!(!e.is_refusal());
    assert!(matches!(
        e.into_core("x"),
        bank_core::Error::Provider {
            failure: bank_core::ProviderFailure::OutcomeUnknown
                | bank_core::ProviderFailure::Unavailable,
            ..
        }
    ));
    let e = bank_stripe::client::api_error(402, Some(&serde_json::json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}})), None).unwrap();
    assert!(
        matches!(e, StripeError::Api { ref decline_code, .. } if decline_code.as_deref() == Some("insufficient_funds"))
    );
    assert!(e.is_refusal());
    let e = bank_stripe::client::api_error(
        400,
        Some(&serde_json::json!({"error": {"type": "idempotency_error"}})),
        None,
    )
    .unwrap();
    assert!(e.is_refusal());
    assert!(
        bank_stripe::client::api_error(400, Some(&serde_json::json!({"x": 1})), None).is_none()
    );
}
