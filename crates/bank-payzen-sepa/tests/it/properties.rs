//! Properties of the codec: whatever the values, a signed form read back as a response
//! verifies, and changing any one value breaks it.

use bank_payzen_sepa::signature::{sign, Algorithm};
use bank_payzen_sepa::{PayzenError, Response};
use proptest::prelude::*;

fn encode(f: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(f.iter())
        .finish()
}

proptest! {
    #[test]
    fn signed_fields_round_trip_and_any_change_is_caught(
        values in prop::collection::vec("[^\u{0}]{0,24}", 1..12),
        which in any::<prop::sample::Index>(),
        hmac in any::<bool>(),
    ) {
        let algorithm = if hmac { Algorithm::HmacSha256 } else { Algorithm::Sha1 };
        let mut f: Vec<(String, String)> = vec![
            ("vads_ctx_mode".into(), "TEST".into()),
            ("vads_site_id".into(), "12345678".into()),
            ("vads_auth_result".into(), "00".into()),
        ];
        for (i, v) in values.iter().enumerate() {
            f.push((format!("vads_x{i:02}"), v.clone()));
        }
        let sig = sign(algorithm, f.iter().map(|(k, v)| (k.as_str(), v.as_str())), "k3y");
        let mut signed = f.clone();
        signed.push(("signature".into(), sig));
        let r = Response::parse(encode(&signed).as_bytes()).unwrap();
        prop_assert!(r.verify(algorithm, "TEST", "k3y", "12345678").is_ok());
        prop_assert_eq!(r.get("vads_x00"), Some(values[0].as_str()));

        let i = 3 + which.index(values.len());
        let mut changed = signed.clone();
        changed[i].1.push('x');
        let r = Response::parse(encode(&changed).as_bytes()).unwrap();
        prop_assert!(
            matches!(r.verify(algorithm, "TEST", "k3y", "12345678"), Err(PayzenError::Signature { .. })),
            "a changed value must not verify"
        );
    }
}
