//! The HTTP service: payers, providers, the API and staff; its edges; connections on real sockets; a browser; e-mail; signed callbacks.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod browser;
mod callbacks;
mod connections;
mod edges;
mod email;
mod http;
mod independent_ipn;
mod payzen_demo;
