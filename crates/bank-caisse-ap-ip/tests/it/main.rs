//! The counter terminal: codec vectors, the client against misbehaving terminals, the service behind an engine, the command line.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod cli;
mod client;
mod engine;
mod properties;
mod vectors;
