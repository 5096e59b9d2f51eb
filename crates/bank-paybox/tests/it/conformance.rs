//! The conformance scenarios for Paybox, against its local sandbox.

bank_conformance::conformance_tests!(paybox, bank_paybox::conformance::driver());
