//! Atomics shim: `std` atomics normally, loom's under `cfg(autonomic_loom)`.
//!
//! The doctrine's counters ([`gate`](crate::gate)) go through this module, so the loom model
//! (`src/gate/tests/loom_gate.rs`) explores the very code users run. The cfg is namespaced
//! (`autonomic_loom`) so that turning it on does not switch tokio's own loom code paths.
//! The gate and the event buffer (`EventBuffer`, modelled in
//! `src/event/tests/loom_events.rs`) use it; the rest of the crate (statistics) uses `std`
//! directly and is not part of the models.

#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(autonomic_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
