//! Placeholder: the Caisse-AP crate is being written.
