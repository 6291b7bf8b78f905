//! The session-scoped autonomic runtime: one import for every layer.
//!
//! Depend on this crate for the whole runtime, or on a single layer
//! (`autonomic-core` alone has no async dependency).

pub use autonomic_core::*;
