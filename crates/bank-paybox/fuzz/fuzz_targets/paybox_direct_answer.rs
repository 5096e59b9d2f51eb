//! Paybox Direct answers are read from the network: decoding and interpreting arbitrary
//! bytes never panics, and only an answer echoing our question can succeed.
#![no_main]

use bank_paybox::direct::{self, DirectRequest, Operation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = direct::parse_answer(data) else {
        return;
    };
    let _ = answer.message();
    let req = DirectRequest {
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
    };
    if direct::interpret(&req, data).is_ok() {
        assert!(direct::check_echo(&req, &answer).is_ok());
        assert_eq!(answer.code(), "00000");
    }
});
