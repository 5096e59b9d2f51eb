//! The real PayPal-signed webhook of PayPal's own Node SDK tests (sandbox
//! `PAYMENT.SALE.COMPLETED`, 2015), verified offline the way the provider does, and the
//! ways a forgery or a replay is refused.

use bank_core::{Channel, HttpMethod, Mode, Notification};
use bank_paypal::webhook::{self, CertPolicy, WebhookHeaders};
use bank_paypal::PayPalError;
use serde_json::Value;

struct Vector {
    headers: Vec<(String, String)>,
    webhook_id: String,
    body: Vec<u8>,
    crc32: u64,
    signed_message: String,
    cert_pem: String,
}

fn vector() -> Vector {
    let raw: Value = serde_json::from_str(include_str!("../fixtures/paypal-webhook-vectors.json"))
        .expect("fixture");
    let v = &raw["webhook_vectors"][0];
    Vector {
        headers: v["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("text").to_string()))
            .collect(),
        webhook_id: v["webhook_id"].as_str().expect("id").to_string(),
        body: v["body"].as_str().expect("body").as_bytes().to_vec(),
        crc32: v["crc32_decimal"].as_u64().expect("crc"),
        signed_message: v["signed_message"].as_str().expect("message").to_string(),
        cert_pem: v["cert_pem"].as_str().expect("pem").to_string(),
    }
}

/// 2015-05-18T15:45:13Z, the transmission time.
const SIGNED_AT: i64 = 1_431_963_913;

fn headers(v: &Vector) -> WebhookHeaders {
    WebhookHeaders::from_lookup(|name| {
        v.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    })
    .expect("header set")
}

fn check(
    v: &Vector,
    h: &WebhookHeaders,
    webhook_id: &str,
    body: &[u8],
    now: i64,
) -> Result<(), PayPalError> {
    let policy = CertPolicy::paypal(Mode::Test);
    policy.check_url(&h.cert_url)?;
    let cert = policy.check_pem(&h.cert_url, v.cert_pem.as_bytes(), now)?;
    webhook::verify_offline(h, &cert, webhook_id, body, now)
}

#[test]
fn the_vector_verifies_at_its_transmission_time() {
    let v = vector();
    let h = headers(&v);
    assert_eq!(u64::from(crc32fast::hash(&v.body)), v.crc32);
    assert_eq!(h.signed_message(&v.webhook_id, &v.body), v.signed_message);
    check(&v, &h, &v.webhook_id, &v.body, SIGNED_AT).expect("PayPal's signature verifies");
}

/// Every vector (PayPal's Node SDK's of 2015, its Java SDK's of 2017) verifies at its
/// transmission time, chained to the bundled DigiCert roots, and not with another webhook
/// id. The Java test mocked its certificate URL, so only the certificate is checked here.
#[test]
fn every_vector_verifies_at_its_transmission_time() {
    let raw: Value = serde_json::from_str(include_str!("../fixtures/paypal-webhook-vectors.json"))
        .expect("fixture");
    let vectors = raw["webhook_vectors"].as_array().expect("vectors");
    assert!(
        vectors.len() >= 2,
        "vectors from two independent implementations"
    );
    for v in vectors {
        let get = |name: &str| v["headers"][name].as_str();
        let h = WebhookHeaders::from_lookup(get).expect("header set");
        let at = chrono::DateTime::parse_from_rfc3339(&h.transmission_time)
            .expect("time")
            .timestamp();
        let body = v["body"].as_str().expect("body").as_bytes();
        let webhook_id = v["webhook_id"].as_str().expect("id");
        assert_eq!(h.signed_message(webhook_id, body), v["signed_message"]);
        let cert = CertPolicy::paypal(Mode::Test)
            .check_pem(
                &h.cert_url,
                v["cert_pem"].as_str().expect("pem").as_bytes(),
                at,
            )
            .expect("PayPal's sandbox certificate, valid then");
        webhook::verify_offline(&h, &cert, webhook_id, body, at).expect("verifies");
        assert!(webhook::verify_offline(&h, &cert, "ANOTHERWEBHOOK12", body, at).is_err());
    }
}

#[test]
fn a_changed_byte_id_or_time_is_refused() {
    let v = vector();
    let h = headers(&v);
    let mut body = v.body.clone();
    let i = body
        .iter()
        .position(|&b| b == b'7')
        .expect("a digit to change");
    body[i] = b'8';
    assert!(matches!(
        check(&v, &h, &v.webhook_id, &body, SIGNED_AT),
        Err(PayPalError::BadSignature { .. })
    ));
    assert!(matches!(
        check(&v, &h, "3VB12345BB1234567", &v.body, SIGNED_AT),
        Err(PayPalError::BadSignature { .. })
    ));
    let mut other = h.clone();
    other.transmission_id = "dfb3be50-fd74-11e4-8bf3-77339302725c".into();
    assert!(matches!(
        check(&v, &other, &v.webhook_id, &v.body, SIGNED_AT),
        Err(PayPalError::BadSignature { .. })
    ));
    let mut later = h.clone();
    later.transmission_time = "2015-05-18T15:45:14Z".into();
    assert!(matches!(
        check(&v, &later, &v.webhook_id, &v.body, SIGNED_AT),
        Err(PayPalError::BadSignature { .. })
    ));
}

#[test]
fn the_expired_certificate_is_refused_today() {
    let v = vector();
    let h = headers(&v);
    let today = 1_796_342_400; // 2026-12-03
    match check(&v, &h, &v.webhook_id, &v.body, today) {
        Err(PayPalError::Certificate { reason, .. }) => {
            assert!(reason.contains("expired"), "{reason}")
        }
        other => panic!("an expired certificate passed: {other:?}"),
    }
}

#[test]
fn a_live_instance_does_not_trust_the_sandbox_certificate() {
    let v = vector();
    let h = headers(&v);
    let live = CertPolicy::paypal(Mode::Live);
    assert!(matches!(
        live.check_url(&h.cert_url),
        Err(PayPalError::CertUrl { .. })
    ));
    // Even served from a live host, the sandbox's name is not the live name.
    let r = live.check_pem(
        "https://api.paypal.com/v1/notifications/certs/CERT-1",
        v.cert_pem.as_bytes(),
        SIGNED_AT,
    );
    assert!(matches!(r, Err(PayPalError::Certificate { .. })), "{r:?}");
}

#[test]
fn certificate_urls_outside_paypal_are_never_fetched() {
    let p = CertPolicy::paypal(Mode::Test);
    for url in [
        "https://evil.attacker.com/fake_paypal_cert",
        "https://evil.attacker.com/v1/notifications/certs/CERT-1",
        "http://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://user@api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com.evil.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com/v1/oauth2/token",
        "https://api.sandbox.paypal.com/v1/notifications/certs/../../oauth2/token",
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1?x=1",
        "not a url",
    ] {
        assert!(
            matches!(p.check_url(url), Err(PayPalError::CertUrl { .. })),
            "{url} was accepted"
        );
    }
    for url in [
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
        "https://API-M.sandbox.paypal.com/v1/notifications/certs/CERT-1",
    ] {
        p.check_url(url).expect(url);
    }
    let local = p
        .clone()
        .with_origin("http://127.0.0.1:8089")
        .expect("origin");
    local
        .check_url("http://127.0.0.1:8089/v1/notifications/certs/CERT-1")
        .expect("the sandbox's origin, when added");
    assert!(local
        .check_url("http://127.0.0.1:8090/v1/notifications/certs/CERT-1")
        .is_err());
}

#[test]
fn a_certificate_not_chaining_to_a_trusted_root_is_refused() {
    // A certificate with PayPal's name, made by anyone: no trusted root vouches for it.
    let bare = CertPolicy::paypal(Mode::Test);
    let self_signed = {
        use openssl::{
            asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509,
        };
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("key");
        let mut name = x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "messageverificationcerts.sandbox.paypal.com")
            .expect("cn");
        let name = name.build();
        let mut b = x509::X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        b.set_serial_number(
            &BigNum::from_u32(1)
                .expect("bn")
                .to_asn1_integer()
                .expect("serial"),
        )
        .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::from_unix(SIGNED_AT - 86_400).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::from_unix(SIGNED_AT + 86_400).expect("t"))
            .expect("na");
        let san = x509::extension::SubjectAlternativeName::new()
            .dns("messageverificationcerts.sandbox.paypal.com")
            .build(&b.x509v3_context(None, None))
            .expect("san");
        b.append_extension(san).expect("ext");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        b.build().to_pem().expect("pem")
    };
    let r = bare.check_pem(
        "https://api.sandbox.paypal.com/v1/notifications/certs/X",
        &self_signed,
        SIGNED_AT,
    );
    assert!(matches!(r, Err(PayPalError::Certificate { .. })), "{r:?}");
}

#[test]
fn missing_or_odd_headers_are_refused() {
    let v = vector();
    let base = |skip: &str, replace: Option<(&str, &str)>| {
        let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
        for (k, val) in &v.headers {
            if k.eq_ignore_ascii_case(skip) {
                continue;
            }
            let val = match replace {
                Some((name, new)) if k.eq_ignore_ascii_case(name) => new.to_string(),
                _ => val.clone(),
            };
            n.headers.push((k.to_ascii_uppercase(), val));
        }
        WebhookHeaders::from_notification(&n)
    };
    base("", None).expect("upper-case names are the same headers");
    for h in [
        "paypal-transmission-id",
        "paypal-transmission-time",
        "paypal-transmission-sig",
        "paypal-cert-url",
        "paypal-auth-algo",
    ] {
        assert!(
            matches!(base(h, None), Err(PayPalError::MissingHeader { .. })),
            "{h}"
        );
    }
    assert!(matches!(
        base("", Some(("paypal-auth-algo", "SHA1withRSA"))),
        Err(PayPalError::AuthAlgo { .. })
    ));
    assert!(matches!(
        base("", Some(("paypal-transmission-sig", "not base64!"))),
        Err(PayPalError::BadHeader { .. })
    ));
    assert!(matches!(
        base("", Some(("paypal-transmission-id", "a|b"))),
        Err(PayPalError::BadHeader { .. })
    ));
    assert!(matches!(
        base("", Some(("paypal-transmission-time", "yesterday"))),
        Err(PayPalError::BadHeader { .. })
    ));
}
