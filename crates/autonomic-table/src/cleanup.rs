//! The sweep: the table's one pass that visits every session and removes those that ended
//! long enough ago; cleanup is a sweep that visits nothing.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use autonomic_core::{
    Lifecycle, MetricsSnapshot, SessionHandle, SessionId, SessionReading, TenantId, TenantTag,
};

use crate::SessionTable;
use crate::map::TenantHasher;
use crate::slab::{Handle, Order, Pos};
use crate::sync::{AtomicUsize, Ordering, in_parallel};
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
    /// leaves the by-id map at once and the indexes in batches: the all-sessions slab, its
    /// pattern's slab and its tenant's slab with every 1024 removals (one critical section
    /// per slab per batch; concurrent listings may still show it until then). Compaction
    /// waits for the end of the pass.
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
        self.sweep(older_than, |_| {}, |gone| removed(gone.id)).removed
    }

    /// The table's one pass over every session: hands each session to `visit` (borrowed,
    /// no lock held), then removes it if it ended at least `retention` ago, and hands its
    /// final reading to `removed` (no lock held; the reading is taken once the session has
    /// left the table, so it holds everything recorded through the table). Cleanup, the
    /// runtime's loop and the rolling windows all go through here: "ended long enough ago"
    /// has this one owner ([`ended_long_enough_ago`]).
    ///
    /// Every session present for the whole pass is visited exactly once; a session created
    /// or removed by someone else during the pass may or may not be (see [`visit`](crate::visit)).
    /// Removal is the table's batched, checked removal: it leaves the by-id map at once, the
    /// indexes in batches, and every index and count stays exact. `visit` and `removed` may
    /// call the table.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_core::{CaseId, SessionState, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let done = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// done.record_task_execution_us(40);
    /// let _running = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// done.complete()?;
    /// let (mut seen, mut gone) = (0, Vec::new());
    /// let report = table.sweep(Duration::ZERO, |_| seen += 1, |r| gone.push(*r));
    /// assert_eq!((seen, report.visited, report.removed), (2, 2, 1));
    /// assert_eq!(gone[0].snapshot.state, SessionState::Completed);
    /// assert_eq!(gone[0].snapshot.task_completions, 1);
    /// assert_eq!(table.total_sessions(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep(
        &self,
        retention: Duration,
        mut visit: impl FnMut(&Handle),
        removed: impl FnMut(&SessionReading),
    ) -> SweepReport {
        let now = self.clock().now_nanos();
        self.sweep_deciding(
            now,
            |h| {
                visit(h);
                ended_long_enough_ago(h, now, retention)
            },
            removed,
        )
    }

    /// As [`sweep`](Self::sweep), handing `visit` a [`SessionReading`] of each session taken
    /// at `now_ns` (on the table's clock) instead of its handle: each session is read once,
    /// and the same reading decides whether it leaves ([`ended_long_enough_ago_at`]), so a
    /// pass that needs values (the runtime's loop) does not read a finished session twice.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_core::{CaseId, SessionState, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let done = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// let _running = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// done.complete()?;
    /// let now = table.clock().now_nanos();
    /// let (mut states, mut gone) = (Vec::new(), 0);
    /// let report = table.sweep_readings(now, Duration::ZERO, |r| states.push(r.snapshot.state), |_| gone += 1);
    /// assert_eq!((report.visited, report.removed, gone), (2, 1, 1));
    /// assert!(states.contains(&SessionState::Completed) && states.contains(&SessionState::Active));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep_readings(
        &self,
        now_ns: u64,
        retention: Duration,
        mut visit: impl FnMut(&SessionReading),
        removed: impl FnMut(&SessionReading),
    ) -> SweepReport {
        let retention = RetentionNs::of(retention);
        self.sweep_deciding(
            now_ns,
            |h| {
                let reading = h.reading_at(now_ns);
                visit(&reading);
                retention.ended_long_enough_ago(&reading.snapshot, now_ns)
            },
            removed,
        )
    }

    /// As [`sweep_readings`](Self::sweep_readings), split into `parts.len()` parts that run at
    /// once, one thread each (the calling thread runs the first, [`std::thread::scope`]
    /// threads the others). The all-sessions index is cut into chunks of consecutive
    /// positions, and each part takes the next chunk not yet taken until none is left: it
    /// hands each reading of its chunks to `visit` with its own state (`&mut parts[i]`),
    /// removes its sessions that ended at least `retention` ago, and hands their final
    /// readings to `removed`, with its own state too. So a caller folds each part into its own
    /// state, with no sharing while the parts run, and merges the states once this returns.
    /// Taking chunks as they come (rather than a fixed share each) keeps the parts balanced
    /// when one thread starts late or is descheduled: the others take its chunks, so a split
    /// sweep is never much slower than one thread doing it all. An empty `parts` sweeps
    /// nothing.
    ///
    /// The guarantees are [`sweep_readings`](Self::sweep_readings)': every session present for
    /// the whole sweep is visited exactly once, by one part (the index is pinned for the whole
    /// sweep, so nothing moves between the chunks: removals only empty slots, and compaction
    /// waits for the end; each chunk is taken by one part); every removed session is removed
    /// and reported exactly once (by the part that takes it out of the by-id map, as for two
    /// sweeps at once); every index and count stays exact. The work and the CPU time are a
    /// single sweep's (plus a thread start per extra part, tens of µs); the sweep takes about
    /// its share of the parts' time on as many cores. A panic in a part is raised again here,
    /// after every part has ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autonomic_core::{CaseId, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let mut keep = Vec::new();
    /// for i in 0..100 {
    ///     let h = table.create_session(CaseId::new(), TenantId::new()).start()?;
    ///     if i % 4 == 0 { h.complete()?; } else { keep.push(h); }
    /// }
    /// let now = table.clock().now_nanos();
    /// // Per part: sessions seen, sessions removed.
    /// let mut parts = [(0, 0); 3];
    /// let report = table.sweep_readings_split(
    ///     now,
    ///     Duration::ZERO,
    ///     &mut parts,
    ///     |(seen, _), _| *seen += 1,
    ///     |(_, gone), _| *gone += 1,
    /// );
    /// assert_eq!((report.visited, report.removed), (100, 25));
    /// assert_eq!(parts.iter().map(|p| p.0).sum::<usize>(), 100);
    /// assert_eq!(parts.iter().map(|p| p.1).sum::<usize>(), 25);
    /// assert_eq!(table.total_sessions(), 75);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep_readings_split<V: Send>(
        &self,
        now_ns: u64,
        retention: Duration,
        parts: &mut [V],
        visit: impl Fn(&mut V, &SessionReading) + Sync,
        removed: impl Fn(&mut V, &SessionReading) + Sync,
    ) -> SweepReport {
        let retention = RetentionNs::of(retention);
        let sweep_part = |part: Range<usize>, state: &mut V| {
            self.sweep_part(
                now_ns,
                part,
                state,
                |state, h| {
                    let reading = h.reading_at(now_ns);
                    visit(state, &reading);
                    retention.ended_long_enough_ago(&reading.snapshot, now_ns)
                },
                &removed,
            )
        };
        let mut report = SweepReport::default();
        {
            let _pause = self.pause_compaction();
            // Pinned from before the chunks are cut to after the last part ends.
            let (_pinned, slots) = self.all.pin();
            let chunks = Chunks::of(slots);
            in_parallel(
                parts,
                |_, state| {
                    let mut report = SweepReport::default();
                    while let Some(chunk) = chunks.take() {
                        let part = sweep_part(chunk, state);
                        report.visited += part.visited;
                        report.removed += part.removed;
                    }
                    report
                },
                |part| {
                    report.visited += part.visited;
                    report.removed += part.removed;
                },
            );
        }
        if report.removed > 0 {
            self.compact_indexes();
        }
        report
    }

    /// The sweep itself: `leaves` visits a session and says whether it ended long enough ago.
    fn sweep_deciding(
        &self,
        now: u64,
        mut leaves: impl FnMut(&Handle) -> bool,
        mut removed: impl FnMut(&SessionReading),
    ) -> SweepReport {
        let report = {
            // Removals during the pass leave the slabs' compaction to its end (most of what
            // they would move is about to be removed too).
            let _pause = self.pause_compaction();
            self.sweep_part(now, 0..usize::MAX, &mut (), |_, h| leaves(h), |_, r| removed(r))
        };
        if report.removed > 0 {
            self.compact_indexes();
        }
        report
    }

    /// One part of a sweep, over the all-sessions index's positions in `part` (compaction
    /// held back by the caller): `leaves` visits a session and says whether it ended long
    /// enough ago; both callbacks get the part's `state`.
    fn sweep_part<V>(
        &self,
        now: u64,
        part: Range<usize>,
        state: &mut V,
        mut leaves: impl FnMut(&mut V, &Handle) -> bool,
        mut removed: impl FnMut(&mut V, &SessionReading),
    ) -> SweepReport {
        let mut visited = 0;
        let mut removal = Removal {
            table: self,
            now,
            removed: 0,
            batch: Vec::new(),
            by_tenant: ByTenant::default(),
        };
        // Highest positions first, so removals mostly shorten the slab instead of holing it.
        self.all.visit_part(Order::Down, part, |h| {
            visited += 1;
            if leaves(state, h) {
                removal.take(h, |r| removed(state, r));
            }
        });
        removal.unindex();
        SweepReport { visited, removed: removal.removed }
    }

    /// Takes a batch of removed entries out of the all-sessions slab, their pattern slabs and
    /// their tenants' slabs, one critical section per slab; the batch's handles, the
    /// entries' strong references, go last to the all-sessions slab's [`bury`] (its graveyard
    /// while the pass's own visit or another is under way: no reference count is taken for
    /// it), and are dropped with no lock held (most are the sessions' last ones).
    ///
    /// [`bury`]: crate::slab::Slab::bury
    fn unindex_batch(&self, batch: &mut Vec<Taken>, by_tenant: &mut ByTenant) {
        // Visited highest position first: already in the best order. Every handle of the
        // batch reaches `bury` below (through `by_tenant`), none is dropped before.
        let gone =
            self.all.remove_all_kept(batch.iter().map(|t| (t.entry.all_pos, &t.entry.handle)));
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
            by_tenant.push(entry.handle.tenant_id(), entry.tenant_pos, entry.handle);
        }
        by_tenant.drain(|tenant, sessions| {
            // Visiting order is about highest position first already; sort only if not.
            if !sessions.is_sorted_by(|a, b| a.0 >= b.0) {
                sessions.sort_unstable_by_key(|s| Reverse(s.0));
            }
            let gone = self.tenants.unregister_all(tenant, sessions);
            debug_assert_eq!(gone, sessions.len(), "tenant slab of {tenant}");
            self.all.bury(sessions.drain(..).map(|(_, h)| h));
        });
    }
}

/// A sweep's removals. Kept out of the visiting closure: most sessions a sweep visits stay,
/// and [`take`](Self::take) out of line leaves the visit of a staying session its registers.
struct Removal<'t> {
    table: &'t SessionTable,
    /// The sweep's instant, for the final readings.
    now: u64,
    /// Sessions removed so far.
    removed: usize,
    /// Removed entries not yet unindexed; each moves from batch to batch (no clone).
    batch: Vec<Taken>,
    /// A batch's removed sessions' tenant slab positions, by tenant: each tenant's slab is
    /// then cleaned in one critical section per batch, highest positions first (so removals
    /// shorten the slab instead of recording holes; see `docs/performance.md`), instead of
    /// one lock, one registry lookup and one random access per session. Its lists are reused
    /// from batch to batch.
    by_tenant: ByTenant,
}

impl Removal<'_> {
    /// Removes `h` (which ended long enough ago) from the by-id map, reports its final
    /// reading to `report`, and unindexes a full batch.
    #[cold]
    #[inline(never)]
    fn take(&mut self, h: &Handle, report: impl FnOnce(&SessionReading)) {
        let Some((entry, pattern)) = self.table.take_entry(&h.id(), |e| e.ptr_eq(h)) else {
            return;
        };
        self.removed += 1;
        // Read once the session has left the by-id map: nothing recorded through the table
        // can reach it after this reading.
        report(&h.reading_at(self.now));
        self.batch.push(Taken { entry, pattern });
        if self.batch.len() == ENTRIES_PER_UNINDEX {
            self.unindex();
        }
    }

    /// Unindexes the batch.
    fn unindex(&mut self) {
        self.table.unindex_batch(&mut self.batch, &mut self.by_tenant);
    }
}

/// Whether `session` ended at least `retention` before `now_ns`: the one rule for when a
/// finished session may leave the table. Only terminal sessions qualify (a terminal state and
/// its end time are final, so the answer cannot go stale); the state check is one load, and
/// only terminal sessions pay for the snapshot that carries their end time.
pub fn ended_long_enough_ago<T: TenantTag, S: Lifecycle>(
    session: &SessionHandle<T, S>,
    now_ns: u64,
    retention: Duration,
) -> bool {
    session.is_terminal()
        && ended_long_enough_ago_at(&session.snapshot_at(now_ns), now_ns, retention)
}

/// [`ended_long_enough_ago`] for a session already read: whether the session `snapshot` was
/// taken of is terminal and ended at least `retention` before `now_ns`.
pub fn ended_long_enough_ago_at(
    snapshot: &MetricsSnapshot,
    now_ns: u64,
    retention: Duration,
) -> bool {
    RetentionNs::of(retention).ended_long_enough_ago(snapshot, now_ns)
}

/// A retention in nanoseconds, converted once per sweep: [`ended_long_enough_ago_at`]'s
/// rule without a `Duration` per finished session (`ended_for`'s would divide by 10^9 for
/// each, and a sweep asks this of every one).
#[derive(Clone, Copy)]
struct RetentionNs(Option<u64>);

impl RetentionNs {
    /// No age reaches a retention past `u64::MAX` ns (`None`).
    fn of(retention: Duration) -> Self {
        RetentionNs(u64::try_from(retention.as_nanos()).ok())
    }

    #[inline]
    fn ended_long_enough_ago(self, snapshot: &MetricsSnapshot, now_ns: u64) -> bool {
        let (Some(retention), Some(end)) = (self.0, snapshot.ended_at_ns) else {
            return false;
        };
        snapshot.is_terminal() && now_ns.saturating_sub(end) >= retention
    }
}

/// What one [`sweep`](SessionTable::sweep) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Sessions handed to the visitor.
    pub visited: usize,
    /// Sessions removed (ended at least the retention ago).
    pub removed: usize,
}

/// Positions a chunk of a split sweep covers: big enough that taking a chunk (one RMW, a
/// pin of the slab's visitor count) is nothing next to visiting it, small enough that a
/// table of 100K sessions makes two dozen chunks to share out. Under loom, two, so that the
/// models cross chunk boundaries.
#[cfg(not(autonomic_loom))]
const CHUNK: usize = 4096;
#[cfg(autonomic_loom)]
const CHUNK: usize = 2;

/// The chunks of a split sweep over a pinned index of `slots` positions, handed out once
/// each, highest positions first (the order of a sweep: removals then mostly shorten the
/// index instead of holing it). They tile every position: chunk 0 also takes any position
/// past `slots` (sessions added during the sweep), the last one goes down to 0.
struct Chunks {
    slots: usize,
    count: usize,
    next: AtomicUsize,
}

impl Chunks {
    fn of(slots: usize) -> Self {
        Chunks { slots, count: slots.div_ceil(CHUNK).max(1), next: AtomicUsize::new(0) }
    }

    /// The next chunk nobody has taken, if any is left.
    fn take(&self) -> Option<Range<usize>> {
        // Relaxed: the counter only has to hand each number out once, which any RMW does;
        // nothing is published through it (each part folds into its own state, and the
        // states are read after the parts are joined, which orders them).
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if k >= self.count {
            return None;
        }
        // `k < count = ceil(slots / CHUNK)`: both bounds are at most `slots`, no overflow.
        let end = if k == 0 { usize::MAX } else { self.slots - k * CHUNK };
        let start = if k + 1 == self.count { 0 } else { self.slots - (k + 1) * CHUNK };
        Some(start..end)
    }
}

/// Removed entries a cleanup pass unindexes at a time (positions in a batch fit a `u16`).
const ENTRIES_PER_UNINDEX: usize = 1024;
/// End of a list threaded through a batch.
const NONE: u16 = u16::MAX;

/// Removed sessions' tenant slab positions, by tenant, in the order the tenants were met.
#[derive(Default)]
struct ByTenant {
    lists: Vec<(TenantId, Vec<(Pos, Handle)>)>,
    /// Where each tenant's list is in `lists`.
    index: HashMap<TenantId, usize, TenantHasher>,
    /// The list pushed to last: runs of one tenant's sessions (a table with few tenants has
    /// long ones) skip the hash lookup.
    last: usize,
    /// Emptied lists, kept for the next batch (at most as many as tenants met in one batch).
    spare: Vec<Vec<(Pos, Handle)>>,
}

impl ByTenant {
    #[inline]
    fn push(&mut self, tenant: TenantId, pos: Pos, handle: Handle) {
        let i = match self.lists.get(self.last) {
            Some((t, _)) if *t == tenant => self.last,
            _ => *self.index.entry(tenant).or_insert_with(|| {
                self.lists.push((tenant, self.spare.pop().unwrap_or_default()));
                self.lists.len() - 1
            }),
        };
        self.last = i;
        self.lists[i].1.push((pos, handle));
    }

    /// Hands each tenant's list to `f`, then empties it (dropping its handles) into `spare`.
    fn drain(&mut self, mut f: impl FnMut(TenantId, &mut Vec<(Pos, Handle)>)) {
        for (tenant, mut sessions) in self.lists.drain(..) {
            f(tenant, &mut sessions);
            sessions.clear();
            self.spare.push(sessions);
        }
        self.index.clear();
        self.last = 0;
    }
}

/// An entry a cleanup pass removed from the map, with the pattern read under its lock.
struct Taken {
    entry: Entry,
    pattern: Option<u8>,
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::{CHUNK, Chunks};

    /// The chunks tile every position once, highest first, the first open-ended, whatever
    /// the slot count (none, less than a chunk, a chunk exactly, a partial last chunk).
    #[test]
    fn chunks_tile_the_positions_once() {
        for slots in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let chunks = Chunks::of(slots);
            let mut taken = Vec::new();
            while let Some(chunk) = chunks.take() {
                taken.push(chunk);
            }
            assert_eq!(chunks.take(), None, "{slots}: none after the last");
            assert_eq!(taken.len(), slots.div_ceil(CHUNK).max(1), "{slots}");
            assert_eq!(taken[0].end, usize::MAX, "{slots}: the first is open-ended");
            assert_eq!(taken.last().map(|c| c.start), Some(0), "{slots}: the last starts at 0");
            for pair in taken.windows(2) {
                assert_eq!(pair[1].end, pair[0].start, "{slots}: adjacent, highest first");
                assert!(pair[1].start < pair[1].end, "{slots}: none empty");
            }
            assert!(taken.iter().all(|c| c.start <= slots), "{slots}");
        }
    }
}
