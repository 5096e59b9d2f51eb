//! bank-payzen-sepa: the shared vectors, the form against eopayment, responses and what
//! they mean, the REST answers.

#[cfg(feature = "conformance")]
mod conformance;
#[cfg(feature = "conformance")]
mod engine;
mod eopayment;
mod meaning;
mod properties;
mod vectors;
