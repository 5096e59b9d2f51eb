//! Every vector of the protocol note (paybox.md §4, §5.4, §7.2), copied here.

use bank_paybox::direct::{self, DirectRequest, Operation};
use bank_paybox::form::{self, BillingXml, FormRequest, RETOUR};
use bank_paybox::response;
use bank_paybox::settings::parse_public_key;
use bank_paybox::{HmacKey, PayboxError, PAYBOX_PUBLIC_KEY_PEM};
use secrecy::SecretString;

const KEY: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\
0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";

fn key() -> HmacKey {
    HmacKey::from_hex(KEY).unwrap()
}

/// eopayment's options of H2–H4.
const SITE: &str = "12345678";
const RANG: &str = "001";
const IDENTIFIANT: &str = "12345678";
const CALLBACK: &str = "http://example.com/callback";

fn base<'a>(
    total_minor: i64,
    cmd: &'a str,
    porteur: &'a str,
    time: &'a str,
    archivage: &'a str,
) -> FormRequest<'a> {
    FormRequest {
        total_minor,
        currency: 978,
        cmd,
        porteur,
        retour: RETOUR,
        time,
        archivage: Some(archivage),
        effectue: None,
        refuse: None,
        annule: None,
        attente: None,
        deferred_days: None,
        authorisation_only: false,
        repondre_a: Some(CALLBACK),
        refabonne: None,
        cart_quantity: None,
        billing: None,
    }
}

fn hmac_of(fields: &[(String, String)]) -> &str {
    let (k, v) = fields.last().unwrap();
    assert_eq!(k, "PBX_HMAC", "PBX_HMAC is last");
    v
}

#[test]
fn h1_eopayment_test_sign() {
    let message = "PBX_SITE=12345678&PBX_RANG=32&PBX_IDENTIFIANT=12345678&PBX_TOTAL=999&PBX_DEVISE=978&PBX_CMD=appel à Paybox&PBX_PORTEUR=test@paybox.com&PBX_RETOUR=Mt:M;Ref:R;Auto:A;Erreur:E&PBX_HASH=SHA512&PBX_TIME=2015-06-08T16:21:16+02:00";
    assert!(message.as_bytes().windows(2).any(|w| w == [0xC3, 0xA0]));
    assert_eq!(
        key().sign_hex(message.as_bytes()),
        "7E74D8E9A0DBB65AAE51C5C50C2668FD98FC99AEDF18244BB1935F602B6C2E953B61FD84364F34FDB88B049901C0A07F6040AF446BBF5589113F48A733D551D4"
    );
}

fn h2_request(total_minor: i64) -> Vec<(String, String)> {
    let mut r = base(
        total_minor,
        "1234!20160216",
        "bdauvergne@entrouvert.com",
        "2015-07-15T18:26:32+02:00",
        "4YQEFSFZSNWA",
    );
    r.cart_quantity = Some(1);
    r.billing = Some(BillingXml {
        first_name: Some("Kyan <oo>"),
        last_name: Some("Khojandi"),
        address1: Some("169 rue du Château"),
        zip_code: Some("75014"),
        city: Some("Paris"),
        country_code: Some(250),
    });
    form::signed_fields(SITE, RANG, IDENTIFIANT, &key(), &r)
}

#[test]
fn h2_eopayment_test_request() {
    let fields = h2_request(1999);
    let signed = form::signed_string(&fields[..fields.len() - 1]);
    assert_eq!(
        signed,
        r#"PBX_SITE=12345678&PBX_RANG=001&PBX_IDENTIFIANT=12345678&PBX_TOTAL=1999&PBX_DEVISE=978&PBX_CMD=1234!20160216&PBX_PORTEUR=bdauvergne@entrouvert.com&PBX_RETOUR=montant:M;reference:R;code_autorisation:A;erreur:E;numero_appel:T;numero_transaction:S;date_transaction:W;heure_transaction:Q;signature:K&PBX_HASH=SHA512&PBX_TIME=2015-07-15T18:26:32+02:00&PBX_ARCHIVAGE=4YQEFSFZSNWA&PBX_AUTOSEULE=N&PBX_REPONDRE_A=http://example.com/callback&PBX_SHOPPINGCART=<?xml version="1.0" encoding="utf-8"?><shoppingcart><total><totalQuantity>1</totalQuantity></total></shoppingcart>&PBX_BILLING=<?xml version="1.0" encoding="utf-8"?><Billing><Address><FirstName>Kyan &lt;oo&gt;</FirstName><LastName>Khojandi</LastName><Address1>169 rue du Château</Address1><ZipCode>75014</ZipCode><City>Paris</City><CountryCode>250</CountryCode></Address></Billing>"#
    );
    assert_eq!(
        hmac_of(&fields),
        "EC9B753691D804F15B3369BEF9CA49F20585BE32E849A9758815903CE5A89822C251C7EBC712145FCA6321C6A6F90EE45EBEC618FFC8B7A69CC23E1BFC6CACC7"
    );
}

#[test]
fn h2_with_25_cents() {
    let fields = h2_request(25);
    assert!(fields.iter().any(|(k, v)| k == "PBX_TOTAL" && v == "025"));
    assert_eq!(
        hmac_of(&fields),
        "C5244DDB62C71D819E50464AD96C8B1AFB423A1A11DC2FE88112EB73FF80E9F46C7E6D047C4B666179653683FE979EED6F42288298F89892C20B7FA0339FBE5C"
    );
}

#[test]
fn h3_defaults_frozen_clock() {
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:20:30.5+00:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let time = bank_paybox::time::pbx_time(now);
    assert_eq!(time, "2024-05-01T10:20:30+00:00");
    let cmd = format!(
        "{}_ABCDEFGHJKMN",
        bank_paybox::time::paris(now).format("%Y-%m-%dT%H%M%S")
    );
    assert_eq!(cmd, "2024-05-01T122030_ABCDEFGHJKMN");
    let r = base(1000, &cmd, "a@example.com", &time, "ABCDEFGHJKMN");
    let fields = form::signed_fields(SITE, RANG, IDENTIFIANT, &key(), &r);
    assert!(fields.iter().any(|(k, v)| k == "PBX_TOTAL" && v == "1000"));
    assert!(fields.iter().any(|(k, v)| k == "PBX_AUTOSEULE" && v == "N"));
    assert_eq!(
        hmac_of(&fields),
        "0D242A728F85948C62EB45490FDAEA523551A5CE8F1B97AB6A7D04C57DE6857F4672EAA2F5CA24AF858A00DE36DBCE0C072744D08110FB14CE0CF8CE3080AC0D"
    );
}

#[test]
fn h4_deferred_authorisation_only_return_urls() {
    let ret = "https://shop.example/return";
    let mut r = base(
        4299,
        "1234!20180821",
        "user@example.com",
        "2018-08-21T10:26:32+02:00",
        "ABCDEFGHJKMN",
    );
    r.effectue = Some(ret);
    r.refuse = Some(ret);
    r.annule = Some(ret);
    r.attente = Some(ret);
    r.deferred_days = Some(7);
    r.authorisation_only = true;
    let fields = form::signed_fields(SITE, RANG, IDENTIFIANT, &key(), &r);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PBX_SITE",
            "PBX_RANG",
            "PBX_IDENTIFIANT",
            "PBX_TOTAL",
            "PBX_DEVISE",
            "PBX_CMD",
            "PBX_PORTEUR",
            "PBX_RETOUR",
            "PBX_HASH",
            "PBX_TIME",
            "PBX_ARCHIVAGE",
            "PBX_EFFECTUE",
            "PBX_REFUSE",
            "PBX_ANNULE",
            "PBX_ATTENTE",
            "PBX_DIFF",
            "PBX_AUTOSEULE",
            "PBX_REPONDRE_A",
            "PBX_HMAC"
        ]
    );
    assert!(fields.iter().any(|(k, v)| k == "PBX_DIFF" && v == "07"));
    assert!(fields.iter().any(|(k, v)| k == "PBX_AUTOSEULE" && v == "O"));
    assert_eq!(
        hmac_of(&fields),
        "7545E0B0FE1D74DED28BEE948AA6DDD6A28478F9B0B2A41CF9066995345BA8CF92F2C35CD3573B27CDB8D75360486F76D8F6D993C405B237CC5A357F0BD6752B"
    );
}

const R1_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDUgYufHuheMztK1LhQSG6xsOzb
UX4D2A/QcMvkEcRVXFx5tQqcE9/JnMqE41TF/ebn7jC/MBxxtPFkUN7+EZoeMN7x
OWzAMDm/xsCWRvvel4GGixgm3aQRUPyTrlm4Ksy32Ya0rNnEDMAvB3dxOn7cp8GR
ZdzrudBlevZXpr6iYwIDAQAB
-----END PUBLIC KEY-----";

const R1_SIG: &str = "VCt3sgT0ecacmDEWWNVXJ+jGmIPBMApK42tBJV0FlDjpllOGPy8MsAmLW4/QjTtxz0Dkz0NjxvU+5WzQZh9Uuxr/egRCwV4NMRWqu0zaVVioeBvl4/5CWm4f4/1L9+0mFBFKOZhgBJnkC+l6+XhT4aYWKaQ4ocmOMV92yjeXTE4=";

#[test]
fn r1_eopayment_rsa_signature_validation() {
    let k = parse_public_key(R1_KEY).unwrap();
    let sig = response::decode_signature(R1_SIG).unwrap();
    assert_eq!(sig.len(), 128);
    response::verify_rsa(&k, b"coin\n", &sig).unwrap();
    // One byte changed, or another key: refused.
    assert!(response::verify_rsa(&k, b"coin", &sig).is_err());
    let paybox = parse_public_key(PAYBOX_PUBLIC_KEY_PEM).unwrap();
    assert!(response::verify_rsa(&paybox, b"coin\n", &sig).is_err());
}

const R2_SIGNED: &str = "montant=4242&reference=1234%2120160216&code_autorisation=XXXXXX&erreur=00000&numero_appel=30310733&numero_transaction=13957441&date_transaction=20200101&heure_transaction=01%3A01%3A01";
const R2_SIG: &str = "PkKEaDQV4DjzkdFzaALKjL1qRtPt4vTR7nCAotTGILPpKq0ZDYB2ciThN51ND+Pt60LvqgcC2yN3r4DqUB0AFu2LzhOQExFDiFf5b3l6Adv5ZdkMyTLKv60PTwam7EHZu3/Q8f8qodOSTQoSdiclj6wPgnSNleL4X4621KTyFgA=";

fn percent_b64(sig: &str) -> String {
    sig.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn r2_signed_ipn_bytes_and_decoding() {
    let query = format!("{R2_SIGNED}&signature={}", percent_b64(R2_SIG));
    let split = response::split(&query).unwrap();
    assert_eq!(split.signed, R2_SIGNED);
    let sig = response::decode_signature(split.signature).unwrap();
    assert_eq!(sig, response::decode_signature(R2_SIG).unwrap());
    assert_eq!(sig.len(), 128);
    // Signed by a throwaway key that the note does not publish: Paybox's real key (and
    // any other) must refuse it, exactly as eopayment reports `signed false` with it.
    let paybox = parse_public_key(PAYBOX_PUBLIC_KEY_PEM).unwrap();
    assert!(matches!(
        response::verify(&paybox, &query),
        Err(PayboxError::Verification { .. })
    ));
    assert!(response::verify(&parse_public_key(R1_KEY).unwrap(), &query).is_err());
    // What the variables say once trusted.
    let a = response::Answer::from_variables(response::variables(split.signed).unwrap()).unwrap();
    assert_eq!(a.reference, "1234!20160216");
    assert_eq!(a.amount_minor().unwrap(), 4242);
    assert_eq!(a.erreur, "00000");
    assert_eq!(a.code_autorisation, "XXXXXX");
    assert_eq!(a.heure_transaction, "01:01:01");
    // eopayment's canonical re-encoding gives the same bytes for this IPN.
    assert_eq!(response::eopayment_ipn_string(&a), R2_SIGNED);
}

const R3_SIGNED: &str = "montant=1999&reference=CMD%2042%21ORDER/1&erreur=00001&code_autorisation=&numero_appel=30310734&numero_transaction=13957442&date_transaction=20240501&heure_transaction=12%3A20%3A30";
const R3_SIG: &str = "qCqgicHw7daq/gIjckeHl1ZCyTjAe2ew2/Z4CHy2IwGeUYWzJxicBCLtpNZ4DrBXools8BpikpypvWmSWEH4tX9Vte5dzZBM3xH2lxT/nLS72SO3yaYR6ASiSdJOesYz1jBKjTuOiFye7r8/kzIoQABERHOKTwXPPzUuAr7TwOg=";

#[test]
fn r3_return_with_encoded_characters() {
    // As a browser return: the merchant's own `ref` parameter comes first, unsigned.
    let query = format!("ref=shop-x&{R3_SIGNED}&signature={}", percent_b64(R3_SIG));
    let split = response::split(&query).unwrap();
    assert_eq!(split.signed, R3_SIGNED);
    let a = response::Answer::from_variables(response::variables(split.signed).unwrap()).unwrap();
    assert_eq!(a.reference, "CMD 42!ORDER/1");
    assert_eq!(a.erreur, "00001");
    assert_eq!(
        bank_paybox::codes::system(&a.erreur).0,
        bank_paybox::codes::Verdict::Cancelled
    );
    // The fixed IPN list of eopayment re-orders the variables: not the bytes signed.
    assert_ne!(response::eopayment_ipn_string(&a), R3_SIGNED);
    let paybox = parse_public_key(PAYBOX_PUBLIC_KEY_PEM).unwrap();
    assert!(response::verify(&paybox, &query).is_err());
}

#[test]
fn direct_eopayment_cancel_vector() {
    // paybox.md §7.2: the parameters eopayment posts (TYPE 00055, NUMQUESTION from
    // NUMTRANS, unpadded MONTANT). We send the same operation data; our differences are
    // deliberate: NUMQUESTION from a counter, MONTANT on 10 digits (Direct manual).
    let r = DirectRequest {
        operation: Operation::Cancel,
        site: SITE.into(),
        rang: RANG.into(),
        cle: SecretString::from("cancelling_key"),
        numquestion: 13957441,
        montant: Some(1050),
        devise: Some(978),
        reference: Some("830657461681".into()),
        numtrans: Some("13957441".into()),
        numappel: Some("30310733".into()),
        dateq: bank_paybox::time::dateq(
            chrono::DateTime::parse_from_rfc3339("2024-05-01T10:20:30+02:00")
                .unwrap()
                .with_timezone(&chrono::Utc),
        ),
        activite: None,
        refabonne: None,
        porteur: None,
        dateval: None,
    };
    let p = r.pairs();
    let get = |n: &str| p.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("VERSION"), Some("00103"));
    assert_eq!(get("TYPE"), Some("00005"));
    assert_eq!(get("SITE"), Some("12345678"));
    assert_eq!(get("RANG"), Some("001"));
    assert_eq!(get("CLE"), Some("cancelling_key"));
    assert_eq!(get("NUMQUESTION"), Some("0013957441"));
    assert_eq!(get("MONTANT"), Some("0000001050"));
    assert_eq!(get("DEVISE"), Some("978"));
    assert_eq!(get("NUMTRANS"), Some("13957441"));
    assert_eq!(get("NUMAPPEL"), Some("30310733"));
    assert_eq!(get("REFERENCE"), Some("830657461681"));
    assert_eq!(get("DATEQ"), Some("01052024102030"));

    // The mocked answer decodes to these fields...
    let answer = "NUMTRANS=0013989865&NUMAPPEL=0030378572&NUMQUESTION=0013989862&SITE=1999888&RANG=32&AUTORISATION=XXXXXX&CODEREPONSE=00000&COMMENTAIRE=Demande traitée avec succès&REFABONNE=&PORTEUR=";
    let a = direct::parse_answer(answer.as_bytes()).unwrap();
    assert_eq!(a.code(), "00000");
    assert_eq!(a.get("NUMTRANS"), Some("0013989865"));
    assert_eq!(a.get("COMMENTAIRE"), Some("Demande traitée avec succès"));
    assert_eq!(a.get("REFABONNE"), Some(""));
    // ...but echoes another site and question: not the answer to this question.
    assert!(direct::check_echo(&r, &a).is_err());
    assert!(matches!(
        direct::interpret(&r, answer.as_bytes()),
        Err(PayboxError::OutcomeUnknown { .. })
    ));

    // The refusal of the note, echoed properly: a definite refusal with its comment.
    let refused = "NUMQUESTION=0013957441&SITE=12345678&RANG=001&CODEREPONSE=00015&COMMENTAIRE=PAYBOX : Transaction non trouvée";
    match direct::interpret(&r, refused.as_bytes()) {
        Err(PayboxError::Refused {
            code,
            message,
            retryable,
        }) => {
            assert_eq!(code, "00015");
            assert_eq!(message, "PAYBOX : Transaction non trouvée");
            assert!(!retryable);
        }
        other => panic!("{other:?}"),
    }
}
