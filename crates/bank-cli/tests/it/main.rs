//! The `bank` binary as a user runs it: exit codes, output, edges, and a SIGKILL under load.
//!
//! One test binary for the crate (it links once); each module is a former test file.

mod cli;
mod edges;
mod kill;
mod payzen;
