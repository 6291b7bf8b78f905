//! Atomics shim: `std` atomics normally, loom's under `cfg(autonomic_loom)`.
//!
//! Every atomic protocol of this crate goes through this module so that the loom model tests
//! (`tests/loom_*.rs`, run by `cargo xtask loom`) explore the very code users run. The cfg is
//! namespaced (`autonomic_loom`, not `loom`) so that turning it on does not also switch
//! tokio's or other dependencies' own loom code paths.

#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(autonomic_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(autonomic_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(autonomic_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

/// Spin-loop hint that yields to the loom scheduler when model checking.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(autonomic_loom))]
    std::hint::spin_loop();
    #[cfg(autonomic_loom)]
    loom::thread::yield_now();
}

/// Hints the CPU to load the cache lines that hold `len` bytes from `start` (at most a few
/// lines: this is for one small struct). Never faults and reads nothing: any address is fine.
#[inline]
pub(crate) fn prefetch(start: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(autonomic_loom)))]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // From the first byte's line to the last byte's, a line at a time; addresses are
        // derived from `start` (wrapping: they are never dereferenced).
        let first = start as usize & !63;
        let last = (start as usize + len.max(1) - 1) & !63;
        let mut line = first;
        while line <= last {
            let p = start.wrapping_add(line.wrapping_sub(start as usize)).cast::<i8>();
            // SAFETY: `_mm_prefetch` only needs SSE, which every x86_64 CPU has (it is in the
            // target's baseline). A prefetch is a hint: it never faults and never reads memory
            // into the program, so any address, valid or not, is sound.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
            line += 64;
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(autonomic_loom))))]
    let _ = (start, len);
}
