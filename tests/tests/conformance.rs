//! The conformance scenarios, once per offline provider, as ordinary tests.

bank_conformance::conformance_tests!(cheque, bank_conformance::drivers::cheque());
bank_conformance::conformance_tests!(virement, bank_conformance::drivers::virement());
bank_conformance::conformance_tests!(gratuit, bank_conformance::drivers::gratuit());
bank_conformance::conformance_tests!(simu, bank_conformance::drivers::simu());
