//! The integration tests of bank-paypal-ipn: one binary, one module per subject.

mod decode;
#[cfg(feature = "conformance")]
mod listener;
mod rest_refund;
