//! [`Grant`]: resource units booked to a session, returned to the ledger exactly once.

use std::fmt;
use std::sync::Arc as StdArc;

use super::shares::ShareIndex;
use crate::sync::{Arc, AtomicU64, Ordering};

/// The grant has been released: it holds nothing and takes nothing more.
const RELEASED: u64 = 1 << 63;
/// The units held (low 32 bits; the ledger's capacity, a million, fits).
const UNITS: u64 = (1 << 32) - 1;
/// Of those, the units borrowed from the tenant pool (bits 32..63).
const BORROWED_SHIFT: u32 = 32;

/// Resource units granted to one session, moved out of an executed decision's
/// [`Permit`](super::Permit). The adapter shares it between its session store and the
/// session's end hook (`SessionHandle::on_end`): whichever releases it first returns the
/// units to the ledger, the other finds nothing left. Dropping it releases it (RAII).
pub(crate) struct Grant {
    /// The share index the units were admitted against, which holds the gate.
    index: StdArc<ShareIndex>,
    /// The tenant class of `index` the units were taken from (tenant shares on).
    class: Option<usize>,
    /// `RELEASED | borrowed << 32 | units`: one word, so a release returns both parts of
    /// what it finds, and an absorption adds both, atomically.
    word: AtomicU64,
}

impl Grant {
    /// A grant of `units` already reserved in the ledger of `index`'s gate (and, with a
    /// `class`, in that class of `index`, `borrowed` of them from the pool; without, none).
    pub(super) fn new(
        index: StdArc<ShareIndex>,
        class: Option<usize>,
        units: u64,
        borrowed: u64,
    ) -> Self {
        debug_assert!(units <= UNITS && borrowed <= units);
        debug_assert!(class.is_some() || borrowed == 0);
        let word = (units & UNITS) | ((borrowed & UNITS) << BORROWED_SHIFT);
        Grant { index, class, word: AtomicU64::new(word) }
    }

    /// Whether `other`'s units go back where this grant's do: the same gate and, with a
    /// class, the same class of the same index.
    fn same_place(&self, other: &Grant) -> bool {
        let same_class = match (self.class, other.class) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b && StdArc::ptr_eq(&self.index, &other.index),
            _ => false,
        };
        same_class && Arc::ptr_eq(self.index.gate(), other.index.gate())
    }

    /// Units held now (zero once released).
    pub(crate) fn units(&self) -> u64 {
        // Relaxed: a statistic; `release` and `absorb` decide with RMWs.
        self.word.load(Ordering::Relaxed) & UNITS
    }

    /// Moves `other`'s units into this grant (one grant per session, however many it was
    /// given), unless this one was released already: then `other` comes back unchanged.
    pub(crate) fn absorb(&self, other: Grant) -> Result<(), Grant> {
        if !self.same_place(&other) {
            return Err(other);
        }
        // Relaxed: `other` is owned here, shared with no one.
        let theirs = other.word.load(Ordering::Relaxed) & !RELEASED;
        // Relaxed (both): an RMW on one word decides against a concurrent `release`; the
        // units stay in the ledger throughout, so no other memory is published here.
        let added = self.word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            let units = (w & UNITS).checked_add(theirs & UNITS).filter(|&u| u <= UNITS)?;
            let borrowed = (w >> BORROWED_SHIFT & UNITS) + (theirs >> BORROWED_SHIFT & UNITS);
            (w & RELEASED == 0 && borrowed <= units).then_some(units | borrowed << BORROWED_SHIFT)
        });
        if added.is_err() {
            return Err(other);
        }
        // The units are this grant's now: `other` (owned here, shared with no one) must not
        // return them when it drops. Relaxed: see above.
        other.word.store(RELEASED, Ordering::Relaxed);
        Ok(())
    }

    /// Returns the units to the ledger; the units returned (zero after the first call).
    pub(crate) fn release(&self) -> u64 {
        // Relaxed: the RMW gives the units to exactly one caller; the ledger's own Release
        // orders the holder's work before the next reservation.
        let word = self.word.swap(RELEASED, Ordering::Relaxed);
        let units = word & UNITS;
        if units == 0 {
            return 0;
        }
        // The global ledger first, then the tenant class (see `Permit::release_slot`).
        let released = self.index.gate().ledger.release(units);
        if let Some(class) = self.class {
            self.index.release_units(class, units, word >> BORROWED_SHIFT & UNITS);
        }
        if released { units } else { 0 }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant").field("units", &self.units()).finish()
    }
}
