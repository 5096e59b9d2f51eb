//! The integration tests of bank-paypal: one binary, one module per subject.

mod vectors;
