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

/// Runs `f` on every one of `parts` at once: the first on the calling thread, each other on
/// a [`std::thread::scope`] thread; hands each result to `merge` once every part has ended
/// (a part's panic is raised again then). Under loom, which has no scoped threads, the parts
/// run one after the other on the calling thread: the models explore them against the other
/// model threads, and parts against each other as two sweeps at once.
pub(crate) fn in_parallel<S: Send, R: Send>(
    parts: &mut [S],
    f: impl Fn(usize, &mut S) -> R + Sync,
    mut merge: impl FnMut(R),
) {
    let Some((first, rest)) = parts.split_first_mut() else { return };
    #[cfg(not(autonomic_loom))]
    std::thread::scope(|scope| {
        let f = &f;
        let others: Vec<_> =
            (1..).zip(rest).map(|(i, part)| scope.spawn(move || f(i, part))).collect();
        merge(f(0, first));
        for other in others {
            merge(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
    });
    #[cfg(autonomic_loom)]
    {
        merge(f(0, first));
        for (i, part) in (1..).zip(rest) {
            merge(f(i, part));
        }
    }
}
