//! Event bodies (after a valid signature) and the API answers read back never panic the
//! decoders, and ids taken from them are safe to put in a path.
#![no_main]

use bank_paypal::event::{self, is_paypal_id, Subject};
use bank_paypal::order::{OrderView, PaymentView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = bank_paypal::Event::parse(data) {
        match event::subject(&e) {
            Ok(Subject::Order { order_id: id })
            | Ok(Subject::Capture { capture_id: id })
            | Ok(Subject::Reversal { capture_id: id })
            | Ok(Subject::Subscription { subscription_id: id }) => assert!(is_paypal_id(&id)),
            Ok(Subject::Refund { capture_id: Some(id), .. }) => assert!(is_paypal_id(&id)),
            _ => {}
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = OrderView::read(&v);
        let _ = PaymentView::read(&v);
        let _ = bank_paypal::subscription::payments(&v);
        let _ = bank_paypal::subscription::SubscriptionView::read(&v);
    }
});
