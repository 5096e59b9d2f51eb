//! Stripe: decoding, vectors, properties, against its sandbox, with the official library, and the conformance scenarios.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod common;
#[cfg(feature = "conformance")]
mod conformance;
mod decode;
mod official_client;
mod properties;
mod sandbox;
mod vectors;
