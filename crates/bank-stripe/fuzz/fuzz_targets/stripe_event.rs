//! Event bodies (after a valid signature: the fuzzer signs them) never panic the decoder
//! or the acquirer's check, and anything settling carries an amount.
#![no_main]

use bank_core::{Channel, HttpMethod, InstanceInfo, Mode, Notification, Options, Outcome};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz_0123456789";
static ACQUIRER: std::sync::OnceLock<bank_stripe::Stripe> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = bank_stripe::Event::parse(data) {
        if let Ok(d) = bank_stripe::event::decode(&e) {
            if matches!(d.outcome, Outcome::Paid | Outcome::Waiting | Outcome::InstalmentPaid) {
                assert!(d.amount.is_some(), "settling outcome without an amount");
            }
        }
    }
    let acq = ACQUIRER.get_or_init(|| {
        let opts = Options::from_pairs("stripe", &[("secret_key", "sk_test_fuzz"), ("webhook_secrets", SECRET)]);
        let info = InstanceInfo { id: "stripe".into(), provider: "stripe".into(), mode: Mode::Test, order: 0, caption: "Stripe".into() };
        bank_stripe::Stripe::new(info, &opts).expect("valid options")
    });
    let t = 1_700_000_000;
    let mut n = Notification::new(Channel::Server, HttpMethod::Post, chrono::Utc::now());
    n.headers.push(("stripe-signature".into(), bank_stripe::signature::header(&[SECRET], t, data)));
    n.body = data.to_vec();
    let _ = acq.check(&n, t);
});
