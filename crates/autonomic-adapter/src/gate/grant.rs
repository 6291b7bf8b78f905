//! [`Grant`]: resource units booked to a session, returned to the ledger exactly once.

use std::fmt;

use super::Gate;
use crate::sync::{Arc, AtomicU64, Ordering};

/// The grant has been released: it holds nothing and takes nothing more.
const RELEASED: u64 = 1 << 63;

/// Resource units granted to one session, moved out of an executed decision's
/// [`Permit`](super::Permit). The adapter shares it between its session store and the
/// session's end hook (`SessionHandle::on_end`): whichever releases it first returns the
/// units to the ledger, the other finds nothing left. Dropping it releases it (RAII).
pub(crate) struct Grant {
    gate: Arc<Gate>,
    /// `RELEASED | units`.
    word: AtomicU64,
}

impl Grant {
    /// A grant of `units` already reserved in `gate`'s ledger.
    pub(super) fn new(gate: &Arc<Gate>, units: u64) -> Self {
        Grant { gate: gate.clone(), word: AtomicU64::new(units & !RELEASED) }
    }

    /// Units held now (zero once released).
    pub(crate) fn units(&self) -> u64 {
        // Relaxed: a statistic; `release` and `absorb` decide with RMWs.
        self.word.load(Ordering::Relaxed) & !RELEASED
    }

    /// Moves `other`'s units into this grant (one grant per session, however many it was
    /// given), unless this one was released already: then `other` comes back unchanged.
    pub(crate) fn absorb(&self, other: Grant) -> Result<(), Grant> {
        if !Arc::ptr_eq(&self.gate, &other.gate) {
            return Err(other);
        }
        let units = other.units();
        // Relaxed (both): an RMW on one word decides against a concurrent `release`; the
        // units stay in the ledger throughout, so no other memory is published here.
        let added = self.word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            (w & RELEASED == 0).then(|| w + units).filter(|n| n & RELEASED == 0)
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
        let units = self.word.swap(RELEASED, Ordering::Relaxed) & !RELEASED;
        if self.gate.ledger.release(units) { units } else { 0 }
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
