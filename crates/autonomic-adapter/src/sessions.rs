//! Per-session state the adapter keeps: a bounded ring of executed decisions and the
//! session's resource [`Grant`] (shared with the session's end hook, which returns it when the
//! session ends). Sharded mutexes, touched only when a decision is executed, a session is
//! released, or history is read: never on the analysis path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use autonomic_core::SessionId;
use crossbeam_utils::CachePadded;

use crate::SessionDecision;
use crate::gate::Grant;
use crate::policy::mix64;
use crate::sync::Arc;

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
    /// The executed decisions: a ring of at most `history_cap`, filled by pushes, then
    /// overwritten in place from `oldest` on (no move out of the decision it replaces).
    history: Vec<SessionDecision>,
    /// Where the oldest decision sits once the ring is full (0 until then).
    oldest: usize,
    /// The session's grant; released (holding nothing) once the session ended.
    grant: Option<Arc<Grant>>,
}

impl Entry {
    fn granted_units(&self) -> u64 {
        self.grant.as_ref().map_or(0, |g| g.units())
    }

    /// Releases the grant (the units go back to the ledger); the units returned.
    fn release(&mut self) -> u64 {
        self.grant.take().map_or(0, |g| g.release())
    }
}

/// What [`SessionStore::record`] did.
pub(crate) struct Booking {
    /// The decision went into the session's history (`false`: the tracking bound was hit).
    pub(crate) tracked: bool,
    /// A new grant, to attach to the session's end; `None` if there was no grant or it joined
    /// the session's live one (already attached).
    pub(crate) new_grant: Option<Arc<Grant>>,
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

    /// Appends an executed decision (dropping the oldest past the ring's size) and books
    /// `grant` to the session: it joins the session's live grant, or becomes it. If the
    /// session was not tracked and the tracking bound was reached, nothing is kept: the
    /// decision is dropped and a grant is handed back as new, to be held by the session's end
    /// hook alone (so the store stays bounded, and the grant still comes back).
    pub(crate) fn record(&self, decision: SessionDecision, grant: Option<Grant>) -> Booking {
        let id = decision.session_id;
        let mut shard = self.shard(id);
        let entry = match shard.entry(id) {
            std::collections::hash_map::Entry::Occupied(occupied) => occupied.into_mut(),
            std::collections::hash_map::Entry::Vacant(vacant) => {
                // Relaxed (both): the count is only a bound on memory; exactness comes from
                // the RMW (each insertion takes one ticket), not from ordering with other
                // memory.
                let ticket = self.tracked.fetch_add(1, Ordering::Relaxed);
                if ticket >= self.max_tracked {
                    self.tracked.fetch_sub(1, Ordering::Relaxed);
                    return Booking { tracked: false, new_grant: grant.map(Arc::new) };
                }
                vacant.insert(Entry::default())
            }
        };
        if entry.history.len() < self.history_cap {
            entry.history.push(decision);
        } else {
            // Full: the newest overwrites the oldest in place, and the next one becomes oldest.
            let oldest = entry.oldest;
            entry.history[oldest] = decision;
            entry.oldest = if oldest + 1 == entry.history.len() { 0 } else { oldest + 1 };
        }
        let new_grant = grant.and_then(|grant| {
            let unjoined = match &entry.grant {
                Some(live) => live.absorb(grant).err(),
                None => Some(grant),
            };
            unjoined.map(|grant| {
                let grant = Arc::new(grant);
                // A released grant left in the entry holds nothing: replacing it loses nothing.
                entry.grant = Some(grant.clone());
                grant
            })
        });
        Booking { tracked: true, new_grant }
    }

    /// Releases the session's grant (its units go back to the ledger); history stays. The
    /// units this call returned: zero if the session's end returned them already.
    pub(crate) fn release(&self, id: SessionId) -> u64 {
        self.shard(id).get_mut(&id).map_or(0, Entry::release)
    }

    /// Drops everything kept for the session, releasing its grant; the units returned.
    pub(crate) fn forget(&self, id: SessionId) -> u64 {
        let removed = self.shard(id).remove(&id);
        removed.map_or(0, |mut entry| {
            // Relaxed: see `record`.
            self.tracked.fetch_sub(1, Ordering::Relaxed);
            entry.release()
        })
    }

    /// Drops everything kept for every session, releasing their grants; the units returned.
    pub(crate) fn clear(&self) -> u64 {
        let mut units = 0u64;
        for index in 0..SHARDS {
            let drained: Vec<Entry> = {
                let mut shard = self.shards[index].lock().unwrap_or_else(PoisonError::into_inner);
                shard.drain().map(|(_, entry)| entry).collect()
            };
            // Relaxed: see `record`.
            self.tracked.fetch_sub(drained.len(), Ordering::Relaxed);
            units = drained.into_iter().fold(units, |sum, mut e| sum.saturating_add(e.release()));
        }
        units
    }

    /// The session's decisions, oldest first.
    pub(crate) fn history(&self, id: SessionId) -> Vec<SessionDecision> {
        self.shard(id)
            .get(&id)
            .map(|entry| {
                let (newer, older) = entry.history.split_at(entry.oldest);
                older.iter().chain(newer).cloned().collect()
            })
            .unwrap_or_default()
    }

    /// The units granted to the session.
    pub(crate) fn granted_units(&self, id: SessionId) -> u64 {
        self.shard(id).get(&id).map_or(0, Entry::granted_units)
    }

    /// The sessions holding a grant, with their units (each shard locked in turn).
    pub(crate) fn granted(&self) -> Vec<(SessionId, u64)> {
        self.granted_first(usize::MAX).0
    }

    /// The first `limit` sessions holding a grant, with their units, and how many hold one
    /// in all (each shard locked in turn; nothing past `limit` is collected).
    pub(crate) fn granted_first(&self, limit: usize) -> (Vec<(SessionId, u64)>, usize) {
        let mut out = Vec::new();
        let mut holding = 0;
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, entry) in shard.iter() {
                let units = entry.granted_units();
                if units > 0 {
                    holding += 1;
                    if out.len() < limit {
                        out.push((*id, units));
                    }
                }
            }
        }
        (out, holding)
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

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;
    use crate::SessionAction;
    use crate::gate::Gate;

    fn decision(id: u64, n: u64) -> SessionDecision {
        SessionDecision {
            session_id: SessionId::from_raw(id),
            timestamp_ms: n,
            monotonic_ms: n,
            action: SessionAction::CancelOptionalTasks,
            reason: "test".into(),
            expected_impact: 0.5,
            global_q_verified: true,
            knowledge: Default::default(),
        }
    }

    fn grant(gate: &Arc<Gate>, units: u64) -> Option<Grant> {
        Gate::admit(gate, 1, u64::MAX >> 2, units).unwrap().take_grant()
    }

    #[test]
    fn history_is_a_bounded_ring() {
        let store = SessionStore::new(3, 10);
        for n in 0..7 {
            assert!(store.record(decision(1, n), None).tracked);
            // Oldest first at every fill and every position of the ring's oldest.
            let kept: Vec<u64> =
                store.history(SessionId::from_raw(1)).iter().map(|d| d.timestamp_ms).collect();
            assert_eq!(kept, (n.saturating_sub(2)..=n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn tracking_is_bounded_and_an_untracked_grant_is_handed_back() {
        let gate = Arc::new(Gate::new());
        let store = SessionStore::new(4, 2);
        let booked = store.record(decision(1, 0), grant(&gate, 500));
        assert!(booked.tracked && booked.new_grant.is_some());
        assert!(store.record(decision(2, 0), None).tracked);
        assert!(!store.record(decision(3, 0), None).tracked);
        assert_eq!(store.len(), 2);
        assert!(store.history(SessionId::from_raw(3)).is_empty());
        // Past the bound a grant is not stored, but handed back whole (for the end hook).
        let untracked = store.record(decision(4, 0), grant(&gate, 70));
        assert!(!untracked.tracked);
        assert_eq!(untracked.new_grant.as_ref().map(|g| g.units()), Some(70));
        assert_eq!(store.granted_units(SessionId::from_raw(4)), 0);
        assert_eq!(store.len(), 2);
        drop(untracked); // its last holder: the units go back
        assert_eq!(gate.units_granted(), 500);
        assert_eq!(store.granted(), vec![(SessionId::from_raw(1), 500)]);
        assert_eq!(store.release(SessionId::from_raw(1)), 500);
        assert_eq!(store.release(SessionId::from_raw(1)), 0);
        assert_eq!(store.history(SessionId::from_raw(1)).len(), 1); // history stays
        assert_eq!(store.forget(SessionId::from_raw(2)), 0);
        assert_eq!(store.len(), 1);
        drop(store.record(decision(5, 0), grant(&gate, 7)));
        assert_eq!(store.clear(), 7);
        assert_eq!(store.len(), 0);
        assert_eq!(gate.units_granted(), 0);
    }

    #[test]
    fn a_second_grant_joins_the_live_one_and_a_released_one_is_replaced() {
        let gate = Arc::new(Gate::new());
        let store = SessionStore::new(4, 4);
        let first = store.record(decision(1, 0), grant(&gate, 100)).new_grant.unwrap();
        assert!(store.record(decision(1, 1), grant(&gate, 50)).new_grant.is_none());
        assert_eq!(store.granted_units(SessionId::from_raw(1)), 150);
        // The session ends: its end hook releases the shared grant; the store finds it empty.
        assert_eq!(first.release(), 150);
        assert_eq!(store.release(SessionId::from_raw(1)), 0);
        let second = store.record(decision(1, 2), grant(&gate, 30)).new_grant;
        assert!(second.is_some(), "a released grant takes nothing more");
        assert_eq!(store.forget(SessionId::from_raw(1)), 30);
        assert_eq!(gate.units_granted(), 0);
    }
}
