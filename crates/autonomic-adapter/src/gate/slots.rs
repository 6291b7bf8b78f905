//! [`SlotCounter`]: the number of admitted, unfinished adaptations.

use crate::sync::{AtomicU64, Ordering};

/// Counts admitted, unfinished adaptations; never above the bound it is asked to respect.
///
/// Only a [`Permit`](super::Permit) gives a slot back, once; a release with nothing held is
/// refused (the count never wraps).
#[derive(Debug)]
pub(crate) struct SlotCounter {
    in_use: AtomicU64,
}

impl SlotCounter {
    /// No slot in use.
    pub(crate) fn new() -> Self {
        SlotCounter { in_use: AtomicU64::new(0) }
    }

    /// Takes a slot if fewer than `bound` are in use: `Ok(count after)` or `Err(count seen)`.
    #[inline]
    pub(crate) fn try_acquire(&self, bound: u64) -> Result<u64, u64> {
        // Relaxed: only a first guess for the compare-and-swap below, which re-checks it.
        let mut current = self.in_use.load(Ordering::Relaxed);
        loop {
            if current >= bound {
                return Err(current);
            }
            // (`would_acquire` reads the same rule without taking.)
            // Acquire on success: pairs with the Release in `release`, so the previous
            // holder's work happens-before ours. Relaxed on failure: we only retry with the
            // value seen (the bound is re-checked against it).
            match self.in_use.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(current + 1),
                Err(seen) => current = seen,
            }
        }
    }

    /// Whether [`try_acquire`](Self::try_acquire) would find a slot now: `Ok(count seen)` or
    /// `Err(count seen)`. Takes nothing.
    #[inline]
    pub(crate) fn would_acquire(&self, bound: u64) -> Result<u64, u64> {
        let current = self.in_use();
        if current >= bound { Err(current) } else { Ok(current) }
    }

    /// Gives one slot back; `false` (and nothing changes) if none was in use.
    #[inline]
    pub(crate) fn release(&self) -> bool {
        // Release on success: pairs with the Acquire of the next successful `try_acquire`.
        // Relaxed on the read and on failure: the update re-checks the value it replaces.
        let released = self
            .in_use
            .fetch_update(Ordering::Release, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !released {
            tracing::error!("adaptation slot released with none in use; the count is kept");
        }
        released
    }

    /// Slots in use now.
    #[inline]
    pub(crate) fn in_use(&self) -> u64 {
        // Relaxed: a statistic; admission decisions use the compare-and-swap, not this.
        self.in_use.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    #[test]
    fn never_passes_its_bound_and_never_wraps() {
        let slots = SlotCounter::new();
        assert_eq!(slots.try_acquire(2), Ok(1));
        assert_eq!(slots.try_acquire(2), Ok(2));
        assert_eq!(slots.try_acquire(2), Err(2)); // full: the count seen is returned
        assert!(slots.release());
        assert!(slots.release());
        assert!(!slots.release()); // nothing held: refused, not wrapped
        assert_eq!(slots.in_use(), 0);
        assert_eq!(slots.try_acquire(1), Ok(1));
    }
}
