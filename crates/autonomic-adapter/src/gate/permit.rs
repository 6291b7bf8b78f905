//! [`Permit`]: what one admitted decision took from the gate, returned when it is dropped.

use std::fmt;
use std::sync::Arc as StdArc;

use super::Gate;
use super::grant::Grant;
use super::ledger::units_to_amount;
use super::shares::ShareIndex;
use crate::sync::{Arc, AtomicU64, Ordering};

/// The permit holds a slot.
const SLOT: u64 = 1 << 63;
/// The decision holding the permit has been executed (set once).
const EXECUTED: u64 = 1 << 62;
/// The permit holds a retry token (fixed at admission; returned with the slot).
pub(super) const RETRY: u64 = 1 << 61;
/// The slot was borrowed from the tenant pool (fixed at admission).
const BORROWED_SLOT: u64 = 1 << 60;
/// The permit took from a tenant class of its index (tenant shares on; fixed at admission).
const CLASSED: u64 = 1 << 59;
/// Reserved units still held by the permit (20 bits: any capacity the ledger has, a million
/// units, fits).
pub(super) const UNITS: u64 = (1 << 20) - 1;
/// Of the units, those borrowed from the tenant pool (fixed at admission).
const BORROWED_SHIFT: u32 = 20;
/// The tenant class (fixed at admission; 13 bits hold every class an index can have).
const CLASS_SHIFT: u32 = 40;
const CLASS: u64 = (1 << 13) - 1;
// Every class of an index (the listed tenants and the default class) fits.
const _: () = assert!((crate::TenantShares::MAX_LISTED_TENANTS as u64) < CLASS);

/// What a permit took from its tenant's class (when tenant shares are on; packed into the
/// permit, beside the index it holds): returned by the same releases that return the global
/// slot and units.
#[derive(Debug)]
pub(crate) struct ShareClaim {
    pub(super) class: usize,
    /// The slot was borrowed from the pool.
    pub(super) borrowed_slot: bool,
    /// Units borrowed from the pool (the rest of the permit's units are guaranteed).
    pub(super) borrowed_units: u64,
}

/// What one admitted decision holds from the doctrine gate: one adaptation slot and the
/// resources it reserved. Dropping it returns whatever it still holds (RAII).
///
/// A permit can be looked at, not used: the adapter returns its slot when the decision is
/// executed and turns its resources into a grant that follows the session; nothing outside
/// the adapter can give back what a permit holds, so nothing outside it can break the bounds.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{Analysis, SessionAdapter};
/// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
///
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// let slow = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// for _ in 0..12 {
///     slow.record_task_execution_us(150_000); // over max_latency_us: asks for resources
/// }
/// let Analysis::Admitted(decision) = adapter.evaluate(&slow)? else { unreachable!() };
/// let permit = decision.permit();
/// assert!(permit.holds_slot() && !permit.is_executed());
/// assert!((permit.reserved_resources() - 0.05).abs() < 1e-12);
/// drop(decision); // returns the slot and the reservation
/// assert_eq!((adapter.active_adaptations(), adapter.granted_resources()), (0, 0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The gate behind a permit is out of reach, so its counters cannot be released from
/// outside (this once let a second adaptation through with `max_concurrent_adaptations = 1`):
/// ```compile_fail,E0599
/// # use std::sync::Arc;
/// # use autonomic_adapter::{Analysis, SessionAdapter};
/// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
/// # let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// # let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
/// # for _ in 0..5 { h.record_retry(); }
/// # let Ok(Analysis::Admitted(decision)) = adapter.evaluate(&h) else { unreachable!() };
/// decision.permit().gate().slots().release(); // no `gate` on `Permit`
/// ```
/// ```compile_fail,E0599
/// # use std::sync::Arc;
/// # use autonomic_adapter::{Analysis, SessionAdapter};
/// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
/// # let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// # let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
/// # for _ in 0..5 { h.record_retry(); }
/// # let Ok(Analysis::Admitted(decision)) = adapter.evaluate(&h) else { unreachable!() };
/// decision.permit().release_slot(); // private to the adapter
/// ```
/// ```
/// # use std::sync::Arc;
/// # use autonomic_adapter::{Analysis, SessionAdapter};
/// # use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
/// # let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// # let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
/// # for _ in 0..5 { h.record_retry(); }
/// # let Ok(Analysis::Admitted(decision)) = adapter.evaluate(&h) else { unreachable!() };
/// assert!(decision.permit().holds_slot()); // reading is fine
/// ```
pub struct Permit {
    /// The share index admitted against, which holds the gate: the one reference count the
    /// permit holds; the parts go back to both.
    index: StdArc<ShareIndex>,
    /// `SLOT | EXECUTED | RETRY | BORROWED_SLOT | CLASSED | class << 40 | borrowed << 20 |
    /// units`:
    /// the flags and the parts fixed at admission packed with the units, so the permit (and
    /// every decision) stays small.
    word: AtomicU64,
}

impl Permit {
    /// A permit holding a slot and `units` (which must fit [`UNITS`]; the gate checks it) of
    /// `index`'s gate, a retry token if `retry`, and what it took from its tenant's class of
    /// `index`.
    pub(super) fn new(
        index: StdArc<ShareIndex>,
        units: u64,
        retry: bool,
        share: Option<ShareClaim>,
    ) -> Self {
        debug_assert!(units <= UNITS);
        let mut word = SLOT | (units & UNITS);
        if retry {
            word |= RETRY;
        }
        if let Some(claim) = share {
            debug_assert!(claim.class as u64 <= CLASS && claim.borrowed_units <= units);
            word |= CLASSED
                | ((claim.class as u64 & CLASS) << CLASS_SHIFT)
                | ((claim.borrowed_units & UNITS) << BORROWED_SHIFT);
            if claim.borrowed_slot {
                word |= BORROWED_SLOT;
            }
        }
        Permit { index, word: AtomicU64::new(word) }
    }

    /// Whether the permit holds a retry token (a `RetryTask` decision under a retry budget,
    /// until its slot is returned).
    pub fn holds_retry_token(&self) -> bool {
        // Relaxed: see `holds_slot`.
        self.word.load(Ordering::Relaxed) & (SLOT | RETRY) == SLOT | RETRY
    }

    /// Whether the permit still holds its adaptation slot (it does until its decision has
    /// been executed).
    pub fn holds_slot(&self) -> bool {
        // Relaxed: the permit word carries no other memory; see `release_slot`.
        self.word.load(Ordering::Relaxed) & SLOT != 0
    }

    /// Resources the permit still holds, as a fraction of capacity (a `RequestResources`
    /// decision's reservation until it is executed; zero for every other kind).
    pub fn reserved_resources(&self) -> f64 {
        units_to_amount(self.units())
    }

    /// Whether the permit's decision has been executed.
    pub fn is_executed(&self) -> bool {
        // Relaxed: see `holds_slot`.
        self.word.load(Ordering::Relaxed) & EXECUTED != 0
    }

    /// Units the permit still holds.
    pub(crate) fn units(&self) -> u64 {
        // Relaxed: see `holds_slot`.
        self.word.load(Ordering::Relaxed) & UNITS
    }

    /// Whether the permit came from `gate`.
    pub(crate) fn is_from(&self, gate: &Arc<Gate>) -> bool {
        Arc::ptr_eq(self.index.gate(), gate)
    }

    /// Marks the permit's decision executed; `true` the first time only.
    pub(crate) fn mark_executed(&self) -> bool {
        // Relaxed (all): a compare-and-swap on one word, so exactly one caller sets the bit;
        // the gate's counters, not this word, carry the synchronisation between holders. A
        // compare-and-swap, not a `fetch_or`: a loser writes nothing (a failed exchange is a
        // read), so the winner's `Executor` may clear the slot and units with plain stores.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & EXECUTED != 0 {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word | EXECUTED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => word = seen,
            }
        }
    }

    /// Marks the permit's decision executed and, the first time only, hands the caller the
    /// [`Executor`] that alone gives back the slot and the units from then on.
    pub(crate) fn execute(&self) -> Option<Executor<'_>> {
        self.mark_executed().then_some(Executor(self))
    }

    /// Returns the slot now; `false` if it was already returned. (Not while an [`Executor`]
    /// of this permit lives: that one gives the parts back; this is for the drop and tests.)
    pub(crate) fn release_slot(&self) -> bool {
        self.return_slot(self.take_bits(SLOT, Taking::Shared))
    }

    /// Moves the units out of the permit into a [`Grant`] that keeps them granted until it
    /// is released or dropped; `None` if the permit holds none. (Execution takes them
    /// through its [`Executor`].)
    #[cfg(test)]
    pub(crate) fn take_grant(&self) -> Option<Grant> {
        self.grant_units(self.take_bits(UNITS, Taking::Shared))
    }

    /// Returns the units to the ledger (and to the tenant's class) now; the units returned.
    pub(crate) fn release_units(&self) -> u64 {
        self.return_units(self.take_bits(UNITS, Taking::Shared))
    }

    /// Clears `bits` in the word; the word as it was (what it held of `bits` is the caller's,
    /// the parts fixed at admission come with them).
    fn take_bits(&self, bits: u64, taking: Taking) -> u64 {
        // Relaxed (all): the load only skips the write when the bits are already clear (the
        // slot and the units never come back once taken out). Shared: the RMW on one word
        // lets exactly one caller receive them. Exclusive (an `Executor`): nobody else
        // writes the word meanwhile (a losing `mark_executed` only reads it; `Drop` and the
        // shared takers are not called while an executor borrows the permit), so a plain
        // store loses nothing. The gate's counters, not this word, order the holder's work.
        let word = self.word.load(Ordering::Relaxed);
        if word & bits == 0 {
            return word;
        }
        match taking {
            Taking::Shared => self.word.fetch_and(!bits, Ordering::Relaxed),
            Taking::Exclusive => {
                self.word.store(word & !bits, Ordering::Relaxed);
                word
            }
        }
    }

    /// Returns the slot `word` held (if it held it): `false` if there was none.
    fn return_slot(&self, word: u64) -> bool {
        if word & SLOT == 0 {
            return false;
        }
        // The reverse of the order of admission: the global slot first, then the tenant
        // class's (and the pool's). Released the other way round, the pool could lend the
        // slot again while it still counts globally, and a class asking within its
        // guarantee could find the global cap full (the loom model finds that interleaving).
        let gate = self.index.gate();
        let released = gate.slots.release();
        if word & CLASSED != 0 {
            self.index.release_slot(class_of(word), word & BORROWED_SLOT != 0);
        }
        if word & RETRY != 0 {
            gate.retries.release();
        }
        released
    }

    /// The units `word` held, as a grant.
    fn grant_units(&self, word: u64) -> Option<Grant> {
        let units = word & UNITS;
        (units > 0).then(|| {
            let class = (word & CLASSED != 0).then(|| class_of(word));
            // Without a class the borrowed bits are zero.
            Grant::new(self.index.clone(), class, units, borrowed_of(word))
        })
    }

    /// Returns the units `word` held; the units returned.
    fn return_units(&self, word: u64) -> u64 {
        let units = word & UNITS;
        if units == 0 {
            return 0;
        }
        // The global ledger first, as in `return_slot`.
        let released = self.index.gate().ledger.release(units);
        if word & CLASSED != 0 {
            self.index.release_units(class_of(word), units, borrowed_of(word));
        }
        if released { units } else { 0 }
    }
}

/// How [`Permit::take_bits`] writes the word.
#[derive(Clone, Copy)]
enum Taking {
    /// Others may take from the word at the same time: an RMW.
    Shared,
    /// The caller is the permit's [`Executor`]: a load and a store.
    Exclusive,
}

/// The winner of [`Permit::execute`]: while it lives, only it gives back the permit's slot
/// and units (a second `execute` finds the decision executed, and the permit's own drop
/// needs the permit, which this borrows), so it clears them with a plain store instead of
/// an RMW: one RMW less per executed decision.
pub(crate) struct Executor<'a>(&'a Permit);

impl Executor<'_> {
    /// As [`Permit::release_slot`].
    pub(crate) fn release_slot(&self) -> bool {
        self.0.return_slot(self.0.take_bits(SLOT, Taking::Exclusive))
    }

    /// As [`Permit::take_grant`].
    pub(crate) fn take_grant(&self) -> Option<Grant> {
        self.0.grant_units(self.0.take_bits(UNITS, Taking::Exclusive))
    }

    /// As [`Permit::release_units`].
    pub(crate) fn release_units(&self) -> u64 {
        self.0.return_units(self.0.take_bits(UNITS, Taking::Exclusive))
    }
}

/// The tenant class packed in a permit's word.
fn class_of(word: u64) -> usize {
    ((word >> CLASS_SHIFT) & CLASS) as usize
}

/// The borrowed units packed in a permit's word.
fn borrowed_of(word: u64) -> u64 {
    (word >> BORROWED_SHIFT) & UNITS
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Relaxed: as in `release_slot`; the slot and the units never come back once taken
        // out, so a word showing neither holds nothing. An executed decision's permit (the
        // common case) is dropped with this one load.
        if self.word.load(Ordering::Relaxed) & (SLOT | UNITS) == 0 {
            return;
        }
        self.release_slot();
        self.release_units();
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("holds_slot", &self.holds_slot())
            .field("reserved_resources", &self.reserved_resources())
            .field("executed", &self.is_executed())
            .field("retry_token", &self.holds_retry_token())
            .finish()
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    #[test]
    fn each_part_is_returned_exactly_once() {
        let gate = Arc::new(Gate::new());
        let permit = Gate::admit(&gate, 1, 1_000, 300).unwrap();
        assert!(permit.release_slot());
        assert!(!permit.release_slot());
        let grant = permit.take_grant().expect("units held");
        assert!(permit.take_grant().is_none());
        drop(permit);
        // The slot came back once; the units moved to the grant, so the ledger still holds
        // them until the grant goes.
        assert_eq!((gate.slots.in_use(), gate.ledger.granted()), (0, 300));
        assert_eq!(grant.release(), 300);
        assert_eq!(grant.release(), 0);
        assert_eq!(gate.ledger.granted(), 0);
    }

    #[test]
    fn executed_flag_is_set_once() {
        let gate = Arc::new(Gate::new());
        let permit = Gate::admit(&gate, 1, 0, 0).unwrap();
        assert!(permit.mark_executed());
        assert!(!permit.mark_executed());
        assert!(permit.holds_slot() && permit.is_executed());
        assert_eq!(permit.release_units(), 0);
    }
}
