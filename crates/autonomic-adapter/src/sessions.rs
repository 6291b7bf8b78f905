//! Per-session state the adapter keeps: a bounded ring of executed decisions and the resource
//! units granted to the session. Sharded mutexes, touched only when a decision is executed,
//! a session is released, or history is read: never on the analysis path.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use autonomic_core::SessionId;
use crossbeam_utils::CachePadded;

use crate::SessionDecision;
use crate::policy::mix64;

/// Number of shards (a power of two): enough that two threads rarely meet on one lock.
const SHARDS: usize = 64;

/// Hashes the 64-bit session id with SplitMix64 (ids are sequential; SipHash would cost more
/// than the whole lookup).
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix64(n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Default)]
struct Entry {
    history: VecDeque<SessionDecision>,
    granted_units: u64,
}

type Shard = HashMap<SessionId, Entry, BuildHasherDefault<IdHasher>>;

pub(crate) struct SessionStore {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    tracked: AtomicUsize,
    history_cap: usize,
    max_tracked: usize,
}

impl SessionStore {
    pub(crate) fn new(history_cap: usize, max_tracked: usize) -> Self {
        SessionStore {
            shards: (0..SHARDS).map(|_| CachePadded::new(Mutex::new(Shard::default()))).collect(),
            tracked: AtomicUsize::new(0),
            history_cap: history_cap.max(1),
            max_tracked: max_tracked.max(1),
        }
    }

    fn shard(&self, id: SessionId) -> MutexGuard<'_, Shard> {
        // A different multiplier from the map's own hash, so the shard choice does not eat
        // the bits the map uses.
        let index = (id.as_u64().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS;
        // A panic while holding a shard cannot leave an entry half-written (every update is
        // a single push or field write), so a poisoned lock is safe to keep using.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an executed decision (dropping the oldest past the ring's size) and adds
    /// `grant_units` to the session's grant. Returns `false` if the session was not tracked
    /// and the tracking bound was reached: the decision was then not recorded. A grant is
    /// always recorded (grants are bounded by the ledger's capacity).
    pub(crate) fn record(&self, decision: SessionDecision, grant_units: u64) -> bool {
        let id = decision.session_id;
        let mut shard = self.shard(id);
        let entry = match shard.entry(id) {
            std::collections::hash_map::Entry::Occupied(occupied) => occupied.into_mut(),
            std::collections::hash_map::Entry::Vacant(vacant) => {
                // Relaxed (both): the count is only a bound on memory; exactness comes from
                // the RMW (each insertion takes one ticket), not from ordering with other
                // memory.
                let ticket = self.tracked.fetch_add(1, Ordering::Relaxed);
                if ticket >= self.max_tracked && grant_units == 0 {
                    self.tracked.fetch_sub(1, Ordering::Relaxed);
                    return false;
                }
                vacant.insert(Entry::default())
            }
        };
        if entry.history.len() >= self.history_cap {
            entry.history.pop_front();
        }
        entry.history.push_back(decision);
        entry.granted_units = entry.granted_units.saturating_add(grant_units);
        true
    }

    /// Takes the session's grant (the caller returns it to the ledger); history stays.
    pub(crate) fn release(&self, id: SessionId) -> u64 {
        self.shard(id).get_mut(&id).map_or(0, |entry| std::mem::take(&mut entry.granted_units))
    }

    /// Drops everything kept for the session; returns its grant (for the ledger).
    pub(crate) fn forget(&self, id: SessionId) -> u64 {
        let removed = self.shard(id).remove(&id);
        removed.map_or(0, |entry| {
            // Relaxed: see `record`.
            self.tracked.fetch_sub(1, Ordering::Relaxed);
            entry.granted_units
        })
    }

    /// Drops everything kept for every session; returns the sum of their grants.
    pub(crate) fn clear(&self) -> u64 {
        let mut units = 0u64;
        for index in 0..SHARDS {
            let drained: Vec<Entry> = {
                let mut shard = self.shards[index].lock().unwrap_or_else(PoisonError::into_inner);
                shard.drain().map(|(_, entry)| entry).collect()
            };
            // Relaxed: see `record`.
            self.tracked.fetch_sub(drained.len(), Ordering::Relaxed);
            units = units.saturating_add(drained.iter().map(|e| e.granted_units).sum());
        }
        units
    }

    /// The session's decisions, oldest first.
    pub(crate) fn history(&self, id: SessionId) -> Vec<SessionDecision> {
        self.shard(id)
            .get(&id)
            .map(|entry| entry.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The units granted to the session.
    pub(crate) fn granted_units(&self, id: SessionId) -> u64 {
        self.shard(id).get(&id).map_or(0, |entry| entry.granted_units)
    }

    /// The sessions holding a grant, with their units (each shard locked in turn).
    pub(crate) fn granted(&self) -> Vec<(SessionId, u64)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            out.extend(
                shard
                    .iter()
                    .filter(|(_, entry)| entry.granted_units > 0)
                    .map(|(id, entry)| (*id, entry.granted_units)),
            );
        }
        out
    }

    /// Sessions tracked.
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a statistic.
        self.tracked.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("tracked", &self.len())
            .field("history_cap", &self.history_cap)
            .field("max_tracked", &self.max_tracked)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionAction;

    fn decision(id: u64, n: u64) -> SessionDecision {
        SessionDecision {
            session_id: SessionId::from_raw(id),
            timestamp_ms: n,
            monotonic_ms: n,
            action: SessionAction::CancelOptionalTasks,
            reason: "test".into(),
            expected_impact: 0.5,
            global_q_verified: true,
        }
    }

    #[test]
    fn history_is_a_bounded_ring() {
        let store = SessionStore::new(3, 10);
        for n in 0..7 {
            assert!(store.record(decision(1, n), 0));
        }
        let kept: Vec<u64> =
            store.history(SessionId::from_raw(1)).iter().map(|d| d.timestamp_ms).collect();
        assert_eq!(kept, vec![4, 5, 6]);
    }

    #[test]
    fn tracking_is_bounded_but_grants_are_kept() {
        let store = SessionStore::new(4, 2);
        assert!(store.record(decision(1, 0), 0));
        assert!(store.record(decision(2, 0), 0));
        assert!(!store.record(decision(3, 0), 0));
        assert_eq!(store.len(), 2);
        assert!(store.history(SessionId::from_raw(3)).is_empty());
        assert!(store.record(decision(4, 0), 500)); // a grant is always tracked
        assert_eq!(store.granted_units(SessionId::from_raw(4)), 500);
        assert_eq!(store.granted(), vec![(SessionId::from_raw(4), 500)]);
        assert_eq!(store.release(SessionId::from_raw(4)), 500);
        assert_eq!(store.release(SessionId::from_raw(4)), 0);
        assert_eq!(store.history(SessionId::from_raw(4)).len(), 1); // history stays
        assert_eq!(store.forget(SessionId::from_raw(1)), 0);
        assert_eq!(store.len(), 2);
        store.record(decision(5, 0), 7);
        assert_eq!(store.clear(), 7);
        assert_eq!(store.len(), 0);
    }
}
