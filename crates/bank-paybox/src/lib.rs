//! # bank-paybox
//!
//! Paybox for the bank payments workspace (work in progress).

#![forbid(unsafe_code)]
