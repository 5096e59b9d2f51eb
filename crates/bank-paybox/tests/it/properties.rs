//! Properties of the codecs: no panic on arbitrary input, nothing accepted without the
//! right signature, round trips of what we write. (The same bodies as the fuzz targets
//! `paybox_response` and `paybox_direct_answer`, run briefly on every `cargo test`.)

use bank_paybox::direct::{self, DirectRequest, Operation};
use bank_paybox::form::{self, FormRequest, RETOUR};
use bank_paybox::response;
use bank_paybox::settings::parse_public_key;
use bank_paybox::{HmacKey, PAYBOX_PUBLIC_KEY_PEM};
use base64::Engine as _;
use proptest::prelude::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::{Digest, Sha1};

const TEST_KEY: &str = include_str!("../../src/sandbox/test_key.pem");
const TEST_PUB: &str = include_str!("../../src/sandbox/test_key.pub.pem");

fn request() -> DirectRequest {
    DirectRequest {
        operation: Operation::Refund,
        site: "1999888".into(),
        rang: "32".into(),
        cle: secrecy::SecretString::from("1999888I"),
        numquestion: 42,
        montant: Some(100),
        devise: Some(978),
        reference: Some("shop-x".into()),
        numtrans: Some("1".into()),
        numappel: Some("1".into()),
        dateq: "01052024102030".into(),
        activite: None,
        refabonne: None,
        porteur: None,
        dateval: None,
    }
}

fn query_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("montant=".to_string()),
        Just("&signature=".to_string()),
        Just("&reference=".to_string()),
        Just("&erreur=00000".to_string()),
        Just("%".to_string()),
        Just("%2B".to_string()),
        Just("&".to_string()),
        "[A-Za-z0-9+/=]{0,12}",
        ".{0,6}",
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn responses_never_panic_nor_pass_unsigned(q in query_like()) {
        let key = parse_public_key(PAYBOX_PUBLIC_KEY_PEM).unwrap();
        if let Ok(split) = response::split(&q) {
            prop_assert!(q.ends_with(split.signature));
            let _ = response::decode_signature(split.signature);
            if let Ok(vars) = response::variables(split.signed) {
                if let Ok(a) = response::Answer::from_variables(vars) {
                    let _ = a.amount_minor();
                    let _ = a.card();
                }
            }
        }
        prop_assert!(response::verify(&key, &q).is_err());
    }

    #[test]
    fn direct_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), q in query_like()) {
        let req = request();
        for data in [&bytes[..], q.as_bytes()] {
            if let Ok(a) = direct::parse_answer(data) {
                let _ = a.message();
                if direct::interpret(&req, data).is_ok() {
                    prop_assert!(direct::check_echo(&req, &a).is_ok());
                    prop_assert_eq!(a.code(), "00000");
                }
            }
        }
    }

    #[test]
    fn direct_requests_round_trip(
        reference in "[ -~]{1,40}",
        porteur in "[A-Za-z0-9+/= ]{1,24}",
        numquestion in 1i64..=2_147_483_647,
        montant in 1i64..=99_999_999,
    ) {
        let mut r = request();
        r.reference = Some(reference);
        r.porteur = Some(porteur);
        r.numquestion = numquestion;
        r.montant = Some(montant);
        let body = r.encode();
        let decoded: Vec<(String, String)> =
            url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let expected: Vec<(String, String)> =
            r.pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn signed_ipns_verify_and_any_change_breaks_them(
        montant in 0i64..=999_999_999,
        reference in "[ -~]{1,30}",
        flip in 0usize..200,
    ) {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let vars = format!(
            "montant={montant}&reference={}&code_autorisation=XXXXXX&erreur=00000&numero_appel=1&numero_transaction=2&date_transaction=01012024&heure_transaction=01%3A01%3A01",
            enc(&reference)
        );
        let key = RsaPrivateKey::from_pkcs8_pem(TEST_KEY).unwrap();
        let sig = key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(vars.as_bytes())).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(sig);
        let q = format!("{vars}&signature={}", sig.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"));
        let public = parse_public_key(TEST_PUB).unwrap();
        let a = response::verify(&public, &q).unwrap();
        prop_assert_eq!(a.amount_minor().unwrap(), montant);
        prop_assert_eq!(&a.reference, &reference);
        // Change one byte of the signed part: refused.
        let i = flip % vars.len();
        let mut bytes = q.clone().into_bytes();
        bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
        if let Ok(t) = String::from_utf8(bytes) {
            if t != q {
                prop_assert!(response::verify(&public, &t).is_err());
            }
        }
    }

    #[test]
    fn forms_sign_what_they_show(
        total in 0i64..=9_999_999_999,
        cmd in "[ -~]{1,40}",
        email in "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}",
    ) {
        let key = HmacKey::from_hex(&"0123456789ABCDEF".repeat(8)).unwrap();
        let r = FormRequest {
            total_minor: total,
            currency: 978,
            cmd: &cmd,
            porteur: &email,
            retour: RETOUR,
            time: "2024-05-01T10:20:30+00:00",
            archivage: None,
            effectue: None,
            refuse: None,
            annule: None,
            attente: None,
            deferred_days: None,
            authorisation_only: false,
            repondre_a: None,
            refabonne: None,
            cart_quantity: None,
            billing: None,
        };
        let fields = form::signed_fields("1999888", "32", "107904482", &key, &r);
        let (last, mac) = fields.last().unwrap();
        prop_assert_eq!(last.as_str(), "PBX_HMAC");
        let body = form::signed_string(&fields[..fields.len() - 1]);
        prop_assert!(key.verify_hex(body.as_bytes(), mac));
        let t = &fields.iter().find(|(k, _)| k == "PBX_TOTAL").unwrap().1;
        prop_assert!(t.len() >= 3);
        prop_assert_eq!(t.parse::<i64>().unwrap(), total);
    }
}
