//! Atomics shim: `std` atomics normally, loom's under `cfg(autonomic_loom)`.
//!
//! Every atomic protocol of this crate goes through this module so that the loom model tests
//! (`src/**/tests/loom_*.rs` and `tests/loom_*.rs`, run by `cargo xtask loom`) explore the very
//! code users run. The cfg is namespaced (`autonomic_loom`, not `loom`) so that turning it on
//! does not also switch tokio's or other dependencies' own loom code paths.

#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
/// The reference count of a session's allocation: `triomphe::Arc`, which has no weak count
/// (nothing here holds a `Weak` to a session), so each session is 8 bytes smaller than with
/// `std`'s and fits a 160-byte allocation instead of a 176-byte one.
#[cfg(not(autonomic_loom))]
pub(crate) use triomphe::Arc;

#[cfg(autonomic_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Spin-loop hint that yields to the loom scheduler when model checking.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(autonomic_loom))]
    std::hint::spin_loop();
    #[cfg(autonomic_loom)]
    loom::thread::yield_now();
}
