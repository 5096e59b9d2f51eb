//! The PayPal conformance driver (written next).
