//! Paybox: vectors, properties, the provider behind an engine, against its sandbox, and the conformance scenarios.
//!
//! One test binary for the crate (it links once); each module is a former test file.

#[cfg(feature = "conformance")]
mod conformance;
mod engine;
mod properties;
mod sandbox;
mod vectors;
