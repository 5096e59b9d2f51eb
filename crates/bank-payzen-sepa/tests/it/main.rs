//! bank-payzen-sepa: the shared vectors, the form against eopayment, responses and what
//! they mean, the REST answers.

mod eopayment;
mod meaning;
mod vectors;
