//! Atomics shim: `std` normally, loom's under `cfg(autonomic_loom)`.
//!
//! The table's own protocols (tenant slot lifetimes, the counters) go through this module so
//! that `tests/loom_table.rs` explores the very code users run.

#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(autonomic_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
