//! The conformance suite against the sandbox.
#![cfg(feature = "conformance")]

bank_conformance::conformance_tests!(payzen_sepa, bank_payzen_sepa::conformance::driver());
