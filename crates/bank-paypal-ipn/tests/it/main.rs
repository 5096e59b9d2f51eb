//! The integration tests of bank-paypal-ipn: one binary, one module per subject.

#[cfg(feature = "conformance")]
mod listener;
