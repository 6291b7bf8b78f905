//! Cleanup: removing sessions that ended long enough ago.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Duration;

use autonomic_core::{SessionId, TenantId};

use crate::SessionTable;
use crate::map::TenantHasher;
use crate::slab::{Handle, Order, Pos};
use crate::table::Entry;

impl SessionTable {
    /// Removes every terminal session (completed, failed or cancelled) that *ended* at least
    /// `older_than` ago on the table's clock, and returns how many it removed.
    ///
    /// The age is the time since the session ended, not how long it ran: a long session that
    /// just ended stays, a short one that ended long ago goes. A session that is `Created`,
    /// `Active` or `Adapted` is never removed, even if it races the cleanup: only sessions
    /// seen terminal are candidates, and a terminal state (and its end time) is final. Every
    /// index and count is kept exact. `Duration::ZERO` removes every terminal session. (A
    /// session cancelled from outside while its [`NewSession`](crate::NewSession) owner is
    /// still setting its pattern may be left for the next pass; see [`visit`](crate::visit).)
    ///
    /// Cost: one pass over the table plus, per removed session, one removal from the by-id
    /// map and one from each index (O(1) each, no hashing for the indexes).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use autonomic_core::{CaseId, ClockHandle, ManualClock, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    /// let short = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// let long = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// short.complete()?;                          // short: ends at t = 0
    /// clock.advance(Duration::from_secs(7200));
    /// long.complete()?;                           // long: ran two hours, ends now
    /// assert_eq!(table.cleanup_terminal_sessions(Duration::from_secs(3600)), 1);
    /// assert_eq!(table.total_sessions(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cleanup_terminal_sessions(&self, older_than: Duration) -> usize {
        self.cleanup_terminal_sessions_with(older_than, |_| {})
    }

    /// As [`cleanup_terminal_sessions`](Self::cleanup_terminal_sessions), calling `removed`
    /// with the id of each session it removes (for example to drop per-session state kept
    /// elsewhere). `removed` runs with no lock held.
    ///
    /// The pass walks the all-sessions slab once, highest position first. A removed session
    /// leaves the by-id map at once and the indexes in batches: the all-sessions slab and its
    /// pattern's slab with every 1024 removals (one critical section per slab per batch),
    /// its tenant's slab once per tenant at the end of the pass (so concurrent listings may
    /// still show it until then). Compaction waits for the end of the pass.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_core::{CaseId, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let h = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// let id = h.id();
    /// h.fail()?;
    /// let mut gone = Vec::new();
    /// table.cleanup_terminal_sessions_with(Duration::ZERO, |id| gone.push(id));
    /// assert_eq!(gone, vec![id]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cleanup_terminal_sessions_with(
        &self,
        older_than: Duration,
        mut removed: impl FnMut(SessionId),
    ) -> usize {
        let now = self.clock().now_nanos();
        let expired = |h: &Handle| {
            // The state check is one load; only terminal sessions pay for the snapshot that
            // carries their end time.
            h.is_terminal()
                && h.snapshot_at(now).ended_for(now).is_some_and(|age| age >= older_than)
        };
        let mut count = 0;
        // The removed sessions' tenant slab positions, by tenant: each tenant's slab is then
        // cleaned in one critical section, highest positions first (so removals shorten the
        // slab instead of recording holes; see `docs/performance.md`), instead of one lock,
        // one registry lookup and one random access per session.
        let mut by_tenant: HashMap<TenantId, Vec<(Pos, Handle)>, TenantHasher> = HashMap::default();
        {
            // Removals during the pass leave the slabs' compaction to its end (most of what
            // they would move is about to be removed too).
            let _pause = self.pause_compaction();
            let mut batch = Vec::new();
            // Highest positions first, so removals mostly shorten the slab instead of holing
            // it. Each removed entry moves from batch to batch (no clone).
            self.all.visit(Order::Down, |h| {
                if !expired(h) {
                    return;
                }
                let Some((entry, pattern)) = self.take_entry(&h.id(), |e| e.ptr_eq(h)) else {
                    return;
                };
                count += 1;
                removed(h.id());
                batch.push(Taken { entry, pattern });
                if batch.len() == ENTRIES_PER_UNINDEX {
                    self.unindex_batch(&mut batch, &mut by_tenant);
                }
            });
            self.unindex_batch(&mut batch, &mut by_tenant);
            for (tenant, mut sessions) in by_tenant {
                // Visiting order is about highest position first already; sort only if not.
                if !sessions.is_sorted_by(|a, b| a.0 >= b.0) {
                    sessions.sort_unstable_by_key(|s| Reverse(s.0));
                }
                let gone = self.tenants.unregister_all(tenant, &sessions);
                debug_assert_eq!(gone, sessions.len(), "tenant slab of {tenant}");
            }
        }
        if count > 0 {
            self.compact_indexes();
        }
        count
    }

    /// Takes a batch of removed entries out of the all-sessions slab and their pattern slabs,
    /// one critical section per slab, and moves them to their tenants' batches.
    fn unindex_batch(
        &self,
        batch: &mut Vec<Taken>,
        by_tenant: &mut HashMap<TenantId, Vec<(Pos, Handle)>, TenantHasher>,
    ) {
        // Visited highest position first: already in the best order.
        let gone = self.all.remove_all(batch.iter().map(|t| (t.entry.all_pos, &t.entry.handle)));
        debug_assert_eq!(gone.count, batch.len(), "all-sessions slab");
        // Grouped by pattern through per-pattern lists threaded through the batch, not by
        // sorting it (a sort cost more than all the removals; see `docs/performance.md`).
        // Each list keeps visiting order, which is about highest position first in the
        // pattern's slab too.
        let mut first = [NONE; 256];
        let mut last = [NONE; 256];
        let mut next = [NONE; ENTRIES_PER_UNINDEX];
        for (i, t) in batch.iter().enumerate() {
            if let Some(p) = t.pattern {
                let p = usize::from(p);
                // `i < ENTRIES_PER_UNINDEX`, which fits a `u16`.
                let i = i as u16;
                match last[p] {
                    NONE => first[p] = i,
                    tail => next[usize::from(tail)] = i,
                }
                last[p] = i;
            }
        }
        for (pattern, &head) in (0..=u8::MAX).zip(&first) {
            if head == NONE {
                continue;
            }
            let members = std::iter::successors(Some(head), |&i| {
                let n = next[usize::from(i)];
                (n != NONE).then_some(n)
            })
            .map(|i| &batch[usize::from(i)].entry);
            let gone =
                self.patterns.slab(pattern).remove_all(members.map(|e| (e.pattern_pos, &e.handle)));
            debug_assert!(gone.count > 0, "pattern slab {pattern}");
        }
        for Taken { entry, .. } in batch.drain(..) {
            by_tenant
                .entry(entry.handle.tenant_id())
                .or_default()
                .push((entry.tenant_pos, entry.handle));
        }
    }
}

/// Removed entries a cleanup pass unindexes at a time (positions in a batch fit a `u16`).
const ENTRIES_PER_UNINDEX: usize = 1024;
/// End of a list threaded through a batch.
const NONE: u16 = u16::MAX;

/// An entry a cleanup pass removed from the map, with the pattern read under its lock.
struct Taken {
    entry: Entry,
    pattern: Option<u8>,
}
