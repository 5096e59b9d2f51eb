//! The PayPal sandbox (written next).
