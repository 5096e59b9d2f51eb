//! The examples a host copies, run.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod examples;
