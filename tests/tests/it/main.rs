//! End to end across crates: the store suite, concurrency, crashes, the engine, conformance, and the tidy checks.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod concurrency;
mod conformance;
mod crash;
mod engine;
mod store;
mod terminal_conformance;
mod tidy;
