//! The pattern index: for each of the 256 pattern ids, the set of sessions that carry it.
//!
//! A session enters its pattern's set when its pattern is set through the table (see
//! `NewSession::with_pattern`) and leaves it when it leaves the table; sessions without a
//! pattern are in no set. Which set a session is in is recorded in its table entry, so the
//! entry, not the session's own context, decides what removal cleans up (see `table.rs`).

use autonomic_core::{SessionHandle, SessionId, marker::AnyState};

use crate::map::Map;
use crate::sync::{AtomicUsize, Ordering};

/// One pattern's sessions.
pub(crate) struct PatternSlot {
    /// Size of `sessions`, kept so that counting and presizing cost O(1).
    count: AtomicUsize,
    pub(crate) sessions: Map<SessionId, SessionHandle<(), AnyState>>,
}

/// The 256 pattern sets.
pub(crate) struct Patterns {
    slots: Box<[PatternSlot]>,
}

impl Patterns {
    pub(crate) fn new() -> Self {
        Patterns {
            slots: (0..=u8::MAX)
                .map(|_| PatternSlot { count: AtomicUsize::new(0), sessions: Map::new() })
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn slot(&self, pattern: u8) -> &PatternSlot {
        // 256 slots, indexed by a u8: never out of bounds.
        &self.slots[usize::from(pattern)]
    }

    /// Adds `handle` to `pattern`'s set (no change if it is already there).
    pub(crate) fn insert(&self, pattern: u8, handle: &SessionHandle<(), AnyState>) {
        let slot = self.slot(pattern);
        // Counted before the insert, so that a concurrent removal of the same entry (which
        // can only follow the insert) never takes the count below zero. Relaxed: a size,
        // exact at quiescence; the map orders the set operations themselves.
        slot.count.fetch_add(1, Ordering::Relaxed);
        if !slot.sessions.insert(handle.id(), handle.clone()) {
            // Relaxed: as above.
            slot.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes session `id` from `pattern`'s set, if it is there.
    pub(crate) fn remove(&self, pattern: u8, id: SessionId) {
        let slot = self.slot(pattern);
        if slot.sessions.remove(&id).is_some() {
            // Relaxed: see `insert`.
            slot.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl PatternSlot {
    /// Sessions in this pattern's set.
    pub(crate) fn count(&self) -> usize {
        // Relaxed: see `Patterns::insert`.
        self.count.load(Ordering::Relaxed)
    }
}
