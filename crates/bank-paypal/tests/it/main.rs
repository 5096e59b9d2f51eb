//! The integration tests of bank-paypal: one binary, one module per subject.

#[cfg(feature = "conformance")]
mod engine;
mod official_client;
#[cfg(feature = "sandbox")]
mod sandbox;
mod vectors;
