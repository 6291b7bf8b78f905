//! Atomics and locks shim: `std` normally, loom's under `cfg(autonomic_loom)`.
//!
//! The table's own protocols (tenant slot lifetimes, slab positions, the counters) go
//! through this module so that `tests/loom_table.rs` explores the very code users run.

#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(autonomic_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: every critical section of this crate leaves its data
/// consistent before it can panic (they only move handles and adjust counts).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
