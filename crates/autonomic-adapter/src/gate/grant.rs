//! [`Grant`]: resource units booked to a session, returned to the ledger exactly once.

use std::fmt;

use super::source::Source;
use crate::sync::{AtomicU64, Ordering};

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
    /// The gate (and the share index, tenant shares on) the units go back to.
    source: Source,
    /// The tenant class the units were taken from (tenant shares on; else zero).
    class: usize,
    /// `RELEASED | borrowed << 32 | units`: one word, so a release returns both parts of
    /// what it finds, and an absorption adds both, atomically.
    word: AtomicU64,
}

impl Grant {
    /// A grant of `units` already reserved in `source`'s ledger (and, with its share index,
    /// in `class`, `borrowed` of them from the pool; without, both are zero).
    pub(super) fn new(source: Source, class: usize, units: u64, borrowed: u64) -> Self {
        debug_assert!(units <= UNITS && borrowed <= units);
        debug_assert!(source.shares().is_some() || (class, borrowed) == (0, 0));
        let word = (units & UNITS) | ((borrowed & UNITS) << BORROWED_SHIFT);
        Grant { source, class, word: AtomicU64::new(word) }
    }

    /// Units held now (zero once released).
    pub(crate) fn units(&self) -> u64 {
        // Relaxed: a statistic; `release` and `absorb` decide with RMWs.
        self.word.load(Ordering::Relaxed) & UNITS
    }

    /// Moves `other`'s units into this grant (one grant per session, however many it was
    /// given), unless this one was released already: then `other` comes back unchanged.
    pub(crate) fn absorb(&self, other: Grant) -> Result<(), Grant> {
        if !self.source.same_as(&other.source) || self.class != other.class {
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
        let released = self.source.gate().ledger.release(units);
        if let Some(index) = self.source.shares() {
            index.release_units(self.class, units, word >> BORROWED_SHIFT & UNITS);
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
