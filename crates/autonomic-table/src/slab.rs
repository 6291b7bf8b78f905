//! [`Slab`]: the sessions of one index entry (the all-sessions list, one tenant, or one
//! pattern), as a vector of slots.
//!
//! A session's position in each slab it is in is recorded in its by-id entry, so removal is
//! O(1) with no hashing, and visiting a slab is a scan of a dense vector. Freed slots are
//! reused (most recently freed first), trailing free slots are dropped at once, and a slab
//! that is more than half holes is compacted a few moves at a time: its last session moves
//! into its lowest hole, after the by-id entry has been told the new position (`relocate`, which
//! refuses if the entry is gone or does not name that position any more; the move is then
//! simply not made). So a slab holds at most about two slots per session, and a scan costs
//! O(sessions in it).
//!
//! A slab does not own its sessions: a slot holds a [`Member`], a bit copy of a handle that
//! takes no strong reference (so putting a session in a slab, and taking it out, touches no
//! reference count). Whoever puts a session in a slab keeps a strong reference to it until it
//! has taken it out again (the table: the session's by-id entry, then whoever removed that
//! entry; see [`Slab::try_insert`]'s contract).
//!
//! Visits copy up to [`HANDLES_PER_LOCK`] members out under the lock and call back with the lock
//! released, so a visitor may call anything on the table. The copies are *borrowed* too. They
//! stay valid because a session that leaves a slab with visitors gets a strong reference in
//! its *graveyard* (the remover's, cloned, or handed over through [`Slab::bury`]) until its last
//! visitor leaves (see [`Visiting`]). While a slab has visitors it is not compacted either: a
//! session stays at one position for the whole visit, so a visit sees every session that stays
//! in the slab throughout exactly once.

use std::mem::ManuallyDrop;
use std::ops::Range;

use autonomic_core::{SessionHandle, SessionId, marker::AnyState};

use crate::lock_order::{LockLevel, lock_in_order};
use crate::sync::{AtomicUsize, Mutex, Ordering};

/// What every index holds.
pub(crate) type Handle = SessionHandle<(), AnyState>;

/// A slot position in a slab.
pub(crate) type Pos = u32;

/// What a slot holds: a bit copy of a session's handle that is never dropped, so it takes and
/// gives back no strong reference. The session is kept alive by whoever put it in the slab
/// (see [`Slab::try_insert`]).
type Member = ManuallyDrop<Handle>;

/// Handles a visit copies out per lock hold, at most (512 bytes of stack): small enough to
/// stay in L1 between the copy and the callbacks (`docs/performance.md` has the measurement).
const HANDLES_PER_LOCK: usize = 64;
/// How many callbacks ahead a visit fetches a session's lines (see [`fetch_ahead`]): far enough
/// for a miss to memory (~100 ns) to complete during the callbacks before it, near enough that
/// the lines are still in L1 when their callback runs.
const FETCH_AHEAD: usize = 8;
/// Slabs shorter than this are visited without fetching ahead: their sessions (a few hundred
/// bytes each) mostly sit in the caches already, where the fetches only add instructions
/// (about 25 a session: `docs/performance.md`, the loop's section).
const FETCH_FROM_LEN: usize = 1 << 18;
/// Slabs shorter than this are never compacted.
#[cfg(not(autonomic_loom))]
const MIN_COMPACT_SLOTS: usize = 64;
#[cfg(autonomic_loom)]
const MIN_COMPACT_SLOTS: usize = 2;
/// Moves one removal may make while compacting.
const COMPACT_STEPS: usize = 2;

/// The order a visit walks a slab in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Lowest position first.
    Up,
    /// Highest position first (removals then mostly shorten the slab instead of making
    /// holes).
    Down,
}

/// The sessions of one index entry: all sessions, one tenant's, or one pattern's.
pub(crate) struct Slab {
    inner: Mutex<Slots>,
    /// Sessions in the slab, mirrored for lock-free reads.
    len: AtomicUsize,
    /// Whether the slab retires when its last session leaves (a tenant's slab does).
    retires: bool,
}

/// What [`Slab::remove_all`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Removals {
    /// Sessions found at their positions and removed.
    pub(crate) count: usize,
    /// The slab retired (see [`Removal::retired`]).
    pub(crate) retired: bool,
}

/// What [`Slab::remove`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Removal {
    /// The session was at the position given and is gone from it.
    pub(crate) removed: bool,
    /// That was the last session of a retiring slab: it is retired now.
    pub(crate) retired: bool,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Option<Member>>,
    /// Freed positions, most recent last. Entries may be stale (past the end after a
    /// truncation, or filled by compaction); they are skipped when popped, and the list is
    /// rebuilt from the slots if it grows past twice their number.
    free: Vec<Pos>,
    /// No hole below this position (where compaction looks for the lowest hole).
    low: usize,
    /// Occupied slots; the last slot is never empty.
    live: usize,
    /// Visits in progress; no compaction while there are any.
    visitors: usize,
    /// Strong references to sessions that left the slab while it had visitors, dropped when
    /// the last one leaves: the visitors' borrowed copies may still point at them.
    graveyard: Vec<Handle>,
    /// A retired slab takes no session any more (see `tenants.rs`).
    retired: bool,
}

impl Slots {
    fn holes(&self) -> usize {
        self.slots.len() - self.live
    }

    /// A free position below `end`, dropping the stale entries met on the way.
    fn pop_hole(&mut self, end: usize) -> Option<Pos> {
        while let Some(pos) = self.free.pop() {
            if (pos as usize) < end && self.slots[pos as usize].is_none() {
                return Some(pos);
            }
        }
        None
    }

    /// Records a freed position that is not the last.
    fn push_hole(&mut self, pos: Pos) {
        self.low = self.low.min(pos as usize);
        self.free.push(pos);
        if self.free.len() > 2 * self.slots.len() + 64 {
            self.free.clear();
            let holes = self.slots.iter().enumerate().filter(|(_, s)| s.is_none());
            // Positions below `slots.len()`, which fits `Pos` (see `Slab::insert`).
            self.free.extend(holes.map(|(i, _)| i as Pos));
        }
    }

    /// The lowest hole below `end`, if any.
    fn lowest_hole(&mut self, end: usize) -> Option<usize> {
        while self.low < end {
            if self.slots[self.low].is_none() {
                return Some(self.low);
            }
            self.low += 1;
        }
        None
    }

    /// Drops trailing empty slots, keeping the last slot occupied.
    fn truncate(&mut self) {
        self.drop_trailing();
        self.release_spare();
    }

    /// Drops trailing empty slots (the cheap half of `truncate`, for each of many removals).
    fn drop_trailing(&mut self) {
        let end = self.slots.iter().rposition(Option::is_some).map_or(0, |last| last + 1);
        // Only `None`s are cut off: nothing is dropped.
        self.slots.truncate(end);
        self.low = self.low.min(end);
    }

    /// Gives back memory once the slab has shrunk to a quarter of its capacity.
    fn release_spare(&mut self) {
        if self.slots.capacity() >= 2 * MIN_COMPACT_SLOTS
            && self.slots.len() * 4 <= self.slots.capacity()
        {
            self.slots.shrink_to(self.slots.len() * 2);
        }
        if self.slots.is_empty() {
            self.free = Vec::new();
        }
    }

    /// Moves up to `steps` sessions from the end into holes while the slab is more than half
    /// holes. Stops at the first move `relocate` refuses.
    fn compact(&mut self, steps: usize, relocate: &mut impl FnMut(SessionId, Pos, Pos) -> bool) {
        for _ in 0..steps {
            if self.visitors > 0
                || self.slots.len() < MIN_COMPACT_SLOTS
                || self.holes() <= self.live
            {
                return;
            }
            let Some(last) = self.slots.len().checked_sub(1) else { return };
            let Some(id) = self.slots[last].as_deref().map(Handle::id) else { return };
            let Some(hole) = self.lowest_hole(last) else { return };
            if !relocate(id, last as Pos, hole as Pos) {
                return;
            }
            self.slots[hole] = self.slots[last].take();
            self.truncate();
        }
    }
}

/// Keeps a slab's visitor count up for the length of a visit (even if the visitor panics).
///
/// While the count is up, every session that leaves the slab gets a strong reference in its
/// graveyard, so every session that was in the slab when the visit began, or entered it
/// since, keeps at least one strong reference until the visit ends (while it is in the slab,
/// its inserter's contract keeps one). That is what makes the visit's borrowed copies sound.
/// The last visitor to leave empties the graveyard (after releasing the lock: dropping a
/// handle may free its session).
pub(crate) struct Visiting<'a>(&'a Slab);

impl<'a> Visiting<'a> {
    fn enter(slab: &'a Slab) -> Self {
        lock_in_order(&slab.inner, LockLevel::Slab).visitors += 1;
        Visiting(slab)
    }
}

impl Drop for Visiting<'_> {
    fn drop(&mut self) {
        let dead = {
            let mut s = lock_in_order(&self.0.inner, LockLevel::Slab);
            s.visitors -= 1;
            if s.visitors == 0 { std::mem::take(&mut s.graveyard) } else { Vec::new() }
        };
        drop(dead);
    }
}

impl Slots {
    /// `session` just left the slab: while there are visitors (see [`Visiting`]), the
    /// graveyard takes a strong reference to it (the caller's `session` is one, so this one is
    /// never the last); otherwise there is nothing to do (the slot took no reference).
    #[inline]
    fn release(&mut self, session: &Handle) {
        if self.visitors > 0 {
            self.graveyard.push(session.clone());
        }
    }
}

impl Slab {
    /// A slab that lives as long as its owner (a pattern's).
    pub(crate) fn new() -> Self {
        Slab { inner: Mutex::new(Slots::default()), len: AtomicUsize::new(0), retires: false }
    }

    /// A slab that retires when its last session leaves (a tenant's).
    pub(crate) fn new_retiring() -> Self {
        Slab { retires: true, ..Slab::new() }
    }

    /// Sessions in the slab.
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a size; each store below publishes the count its critical section left.
        self.len.load(Ordering::Relaxed)
    }

    fn publish_len(&self, slots: &Slots) {
        // Relaxed: see `len`.
        self.len.store(slots.live, Ordering::Relaxed);
    }

    /// Adds a session to a slab that never retires; returns its position.
    ///
    /// # Safety
    /// As [`try_insert`](Self::try_insert).
    ///
    /// # Panics
    /// If the slab already holds `u32::MAX` sessions (about 800 GB of sessions).
    pub(crate) unsafe fn insert(&self, handle: &Handle) -> Pos {
        // SAFETY: the caller's contract is `try_insert`'s.
        match unsafe { self.try_insert(handle) } {
            Some(pos) => pos,
            None => unreachable!("only retiring slabs refuse sessions"),
        }
    }

    /// Adds a session unless the slab is retired; returns its position. The slab takes no
    /// strong reference (see [`Member`]).
    ///
    /// # Safety
    /// Unless this returns `None`, a strong reference to the session must be kept alive (by
    /// the caller, or by whoever it hands the duty to: the table's by-id entry, then the
    /// remover that takes that entry) until the session has been taken out of this slab by
    /// [`remove`](Self::remove), [`remove_all`](Self::remove_all), or
    /// [`remove_all_kept`](Self::remove_all_kept) followed by [`bury`](Self::bury).
    ///
    /// # Panics
    /// If the slab already holds `u32::MAX` sessions (about 800 GB of sessions).
    pub(crate) unsafe fn try_insert(&self, handle: &Handle) -> Option<Pos> {
        // SAFETY: a bit copy that is never dropped (see `Member`); the caller keeps the
        // session alive while it is in the slab (this function's contract).
        let handle: Member = ManuallyDrop::new(unsafe { std::ptr::read(handle) });
        let mut s = lock_in_order(&self.inner, LockLevel::Slab);
        if s.retired {
            return None;
        }
        let end = s.slots.len();
        let pos = match s.pop_hole(end) {
            Some(pos) => {
                s.slots[pos as usize] = Some(handle);
                pos
            }
            None => {
                let pos = Pos::try_from(s.slots.len())
                    .unwrap_or_else(|_| panic!("a slab holds at most {} sessions", Pos::MAX));
                s.slots.push(Some(handle));
                pos
            }
        };
        s.live += 1;
        self.publish_len(&s);
        Some(pos)
    }

    /// Removes `session` from position `pos` (compared by pointer: no session memory is
    /// read). Unless `compaction_paused`, then makes a few compaction moves (see the module
    /// docs). A retiring slab whose last session this was retires, in the same critical
    /// section.
    pub(crate) fn remove(
        &self,
        pos: Pos,
        session: &Handle,
        compaction_paused: bool,
        mut relocate: impl FnMut(SessionId, Pos, Pos) -> bool,
    ) -> Removal {
        let mut s = lock_in_order(&self.inner, LockLevel::Slab);
        let i = pos as usize;
        match s.slots.get_mut(i) {
            Some(slot) if slot.as_deref().is_some_and(|h| h.ptr_eq(session)) => *slot = None,
            _ => return Removal { removed: false, retired: false },
        };
        s.live -= 1;
        let retired = self.retires && s.live == 0;
        s.retired |= retired;
        if i + 1 == s.slots.len() {
            s.truncate();
        } else {
            s.push_hole(pos);
        }
        if !compaction_paused {
            s.compact(COMPACT_STEPS, &mut relocate);
        }
        self.publish_len(&s);
        s.release(session);
        Removal { removed: true, retired }
    }

    /// Removes many sessions in one critical section, without compacting; best given highest
    /// position first (each removal at the end then just shortens the slab).
    pub(crate) fn remove_all<'h>(
        &self,
        sessions: impl IntoIterator<Item = (Pos, &'h Handle)>,
    ) -> Removals {
        self.remove_all_with(sessions, Slots::release)
    }

    /// As [`remove_all`](Self::remove_all), without giving the graveyard a reference: the
    /// caller must hand its strong reference to each session removed to [`bury`](Self::bury)
    /// (rather than drop it) once it is done with it. Moving the caller's reference there
    /// instead of cloning one saves a reference count per session (the sweep's way).
    pub(crate) fn remove_all_kept<'h>(
        &self,
        sessions: impl IntoIterator<Item = (Pos, &'h Handle)>,
    ) -> Removals {
        self.remove_all_with(sessions, |_, _| {})
    }

    /// Gives the slab the strong references to sessions taken out by
    /// [`remove_all_kept`](Self::remove_all_kept): kept in the graveyard while the slab has
    /// visitors (whose borrowed copies may point at them), otherwise dropped, outside the lock.
    pub(crate) fn bury(&self, sessions: impl Iterator<Item = Handle>) {
        let mut s = lock_in_order(&self.inner, LockLevel::Slab);
        if s.visitors > 0 {
            s.graveyard.extend(sessions);
            return;
        }
        // No visitor now: any visitor that began before these sessions left has ended, and
        // one that began since cannot have copied them.
        drop(s);
        sessions.for_each(drop);
    }

    fn remove_all_with<'h>(
        &self,
        sessions: impl IntoIterator<Item = (Pos, &'h Handle)>,
        mut release: impl FnMut(&mut Slots, &Handle),
    ) -> Removals {
        let mut s = lock_in_order(&self.inner, LockLevel::Slab);
        let mut count = 0;
        for (pos, session) in sessions {
            let i = pos as usize;
            match s.slots.get_mut(i) {
                Some(slot) if slot.as_deref().is_some_and(|h| h.ptr_eq(session)) => {
                    *slot = None;
                    release(&mut s, session);
                }
                _ => continue,
            }
            count += 1;
            s.live -= 1;
            if i + 1 == s.slots.len() {
                s.drop_trailing();
            } else {
                s.push_hole(pos);
            }
        }
        s.release_spare();
        let retired = count > 0 && self.retires && s.live == 0;
        s.retired |= retired;
        self.publish_len(&s);
        Removals { count, retired }
    }

    /// Whether the slab has retired.
    pub(crate) fn is_retired(&self) -> bool {
        lock_in_order(&self.inner, LockLevel::Slab).retired
    }

    /// Compacts until the slab is at most half holes (or a move is refused).
    pub(crate) fn compact(&self, mut relocate: impl FnMut(SessionId, Pos, Pos) -> bool) {
        let mut s = lock_in_order(&self.inner, LockLevel::Slab);
        s.compact(usize::MAX, &mut relocate);
    }

    /// Calls `f` with every session in the slab, in `order`, with the lock released: `f` may
    /// call anything on the table, including adding to or removing from this slab. Handles
    /// are copied out [`HANDLES_PER_LOCK`] at a time as borrowed copies (no reference count touched;
    /// see [`Visiting`]).
    pub(crate) fn visit(&self, order: Order, f: impl FnMut(&Handle)) {
        // An empty slab has nothing that was there before the visit began (a session added
        // before it happens-before this load, which then reads its count or a later one).
        let len = self.len();
        if len == 0 {
            return;
        }
        // Fetching ahead pays only when the sessions do not fit in the caches.
        self.visit_fetching(order, 0..usize::MAX, len >= FETCH_FROM_LEN, f);
    }

    /// Pins the slab for as long as the guard lives (no compaction: every session that stays
    /// in the slab stays at its position; see [`Visiting`]) and returns its slot count then:
    /// what a split visit ([`visit_part`](Self::visit_part)) cuts into parts.
    pub(crate) fn pin(&self) -> (Visiting<'_>, usize) {
        let visiting = Visiting::enter(self);
        let slots = lock_in_order(&self.inner, LockLevel::Slab).slots.len();
        (visiting, slots)
    }

    /// As [`visit`](Self::visit), over the positions in `part` only (its end may lie past
    /// the slab's). Under a [`pin`](Self::pin), visits of disjoint parts that together cover
    /// `0..usize::MAX` see every session that stays in the slab throughout exactly once
    /// between them, whichever threads run them: nothing moves while the slab is pinned.
    pub(crate) fn visit_part(&self, order: Order, part: Range<usize>, f: impl FnMut(&Handle)) {
        let len = self.len();
        if len == 0 {
            return;
        }
        self.visit_fetching(order, part, len >= FETCH_FROM_LEN, f);
    }

    /// [`visit`](Self::visit) of the positions in `part`, fetching each session's lines
    /// ahead of its callback if `fetch`.
    fn visit_fetching(
        &self,
        order: Order,
        part: Range<usize>,
        fetch: bool,
        mut f: impl FnMut(&Handle),
    ) {
        let _visiting = Visiting::enter(self);
        let mut batch: [Option<ManuallyDrop<Handle>>; HANDLES_PER_LOCK] =
            std::array::from_fn(|_| None);
        // The next position to read (Up), or one past it (Down).
        let mut cursor = match order {
            Order::Up => part.start,
            Order::Down => part.end,
        };
        loop {
            let mut n = 0;
            let done = {
                let s = lock_in_order(&self.inner, LockLevel::Slab);
                let end = s.slots.len().min(part.end);
                loop {
                    let i = match order {
                        Order::Up if cursor < end => cursor,
                        Order::Down if cursor.min(end) > part.start => {
                            cursor = cursor.min(end) - 1;
                            cursor
                        }
                        _ => break true,
                    };
                    if order == Order::Up {
                        cursor += 1;
                    }
                    if let Some(h) = &s.slots[i] {
                        // SAFETY: a bit copy of a member, itself a bit copy that is never
                        // dropped (it is wrapped in `ManuallyDrop` and only ever overwritten),
                        // so it neither takes nor gives back a strong reference. It is only
                        // used until this visit ends, and until then the session keeps a
                        // strong reference: its inserter's (see `try_insert`) while it is in
                        // the slab, then, once it leaves, the one in the graveyard, which is
                        // not emptied while `_visiting` keeps the visitor count up (see
                        // `Visiting`). So it points to a live session for as long as it is used.
                        batch[n] = Some(unsafe { std::ptr::read(h) });
                        if fetch && n < FETCH_AHEAD {
                            // The batch's first sessions are fetched while the rest is
                            // copied (a hint: it does not lengthen the lock hold by a miss).
                            fetch_ahead(h);
                        }
                        n += 1;
                        if n == HANDLES_PER_LOCK {
                            break false;
                        }
                    }
                }
            };
            // The callbacks read sessions scattered in memory: each one's lines are fetched
            // `FETCH_AHEAD` callbacks early (the first ones during the copy), so that the
            // misses overlap the work on the sessions before them instead of stalling it.
            let batch = &batch[..n];
            // One call site for `f`, so that it is inlined (two cost a call per session).
            for (i, h) in batch.iter().enumerate() {
                if fetch && let Some(Some(later)) = batch.get(i + FETCH_AHEAD) {
                    fetch_ahead(later);
                }
                if let Some(h) = h {
                    f(h);
                }
            }
            if done {
                return;
            }
        }
    }

    /// Every session in the slab, cloned.
    pub(crate) fn to_vec(&self) -> Vec<Handle> {
        let mut out = Vec::with_capacity(self.len());
        self.visit(Order::Up, |h| out.push(h.clone()));
        out
    }
}

/// Asks the processor to fetch the cache lines a visitor of `h` reads first: those of a
/// [`reading`](SessionHandle::reading_at), from the session's counters and lifecycle word to
/// its tenant and pattern (two or three lines of its allocation). A hint only: it reads
/// nothing the program sees and cannot fault; a no-op off x86_64.
#[inline(always)]
fn fetch_ahead(h: &Handle) {
    // Addresses only (no load from the session): the counters start the session's
    // allocation after the reference count, the tenant and pattern start its context.
    let counters = std::ptr::from_ref(h.metrics()).cast::<u8>();
    let context = std::ptr::from_ref(h.context()).cast::<u8>();
    fetch_line(counters);
    fetch_line(counters.wrapping_add(64));
    // The pattern's word, just after the tenant id.
    fetch_line(context.wrapping_add(std::mem::size_of::<autonomic_core::TenantId>()));
}

/// A prefetch of the line holding `p` into every cache level.
#[inline(always)]
fn fetch_line(p: *const u8) {
    // SAFETY: `prefetch` needs SSE, which every x86_64 processor has (it is in the target's
    // baseline); it is a hint that accesses no memory the program sees and never faults,
    // whatever the address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;
    use crate::sync::lock;
    use autonomic_core::{CaseId, TenantId};
    use std::collections::HashMap;

    /// Inserts a session the test keeps a handle to until it ends.
    fn put(slab: &Slab, h: &Handle) -> Pos {
        // SAFETY: every test holds its handles to the end, past every removal and visit (a
        // slab dropped after them drops no member).
        unsafe { slab.insert(h) }
    }

    /// As `put`, into a slab that may have retired.
    fn try_put(slab: &Slab, h: &Handle) -> Option<Pos> {
        // SAFETY: as in `put`.
        unsafe { slab.try_insert(h) }
    }

    fn handle() -> Handle {
        SessionHandle::new(CaseId::new(), TenantId::default_tenant()).erased()
    }

    #[test]
    fn sessions_removed_during_a_visit_live_until_it_ends() {
        use autonomic_core::{ClockHandle, ManualClock, SessionBuilder};
        use std::sync::Arc;

        // Each session holds a clone of the clock, so its strong count is 1 + live sessions.
        let clock = Arc::new(ManualClock::new());
        let live = || Arc::strong_count(&clock) - 1;
        let slab = Slab::new();
        let mut owners = Vec::new();
        for _ in 0..10 {
            let h = SessionBuilder::new(CaseId::new(), TenantId::default_tenant())
                .clock(ClockHandle::custom(clock.clone()))
                .build()
                .erased();
            // SAFETY: `owners` keeps `h` until it is removed from the slab.
            let pos = unsafe { slab.insert(&h) };
            owners.push((pos, h));
        } // `owners` holds the only strong reference of each session
        assert_eq!(live(), 10);
        let mut visited = Vec::new();
        slab.visit(Order::Up, |h| {
            if visited.is_empty() {
                // Remove every session and drop its owner's reference, including the nine
                // this visit has copied but not handed out yet: none of them may be freed
                // before the visit ends.
                for (pos, session) in owners.drain(..) {
                    assert!(slab.remove(pos, &session, false, |_, _, _| true).removed);
                }
                assert_eq!(slab.len(), 0);
            }
            assert_eq!(live(), 10, "a session was freed while a visit could still read it");
            visited.push((h.id(), h.snapshot_at(0).task_completions));
        });
        assert_eq!(visited.len(), 10);
        assert_eq!(live(), 0, "the graveyard is emptied when the last visitor leaves");
    }

    #[test]
    fn nested_visits_keep_the_graveyard_until_the_outer_one_ends() {
        use autonomic_core::{ClockHandle, ManualClock, SessionBuilder};
        use std::sync::Arc;

        let clock = Arc::new(ManualClock::new());
        let live = || Arc::strong_count(&clock) - 1;
        let slab = Slab::new();
        let mut owners = Vec::new();
        for _ in 0..3 {
            let h = SessionBuilder::new(CaseId::new(), TenantId::default_tenant())
                .clock(ClockHandle::custom(clock.clone()))
                .build()
                .erased();
            // SAFETY: `owners` keeps `h` until it is removed from the slab (or for good).
            let pos = unsafe { slab.insert(&h) };
            owners.push((pos, h));
        }
        let mut outer = 0;
        slab.visit(Order::Up, |h| {
            outer += 1;
            if outer == 1 {
                let at = owners.iter().position(|(_, x)| x.ptr_eq(h)).unwrap();
                let mut inner = 0;
                slab.visit(Order::Up, |_| inner += 1);
                assert_eq!(inner, 3);
                // Removed during the outer visit, after the inner one ended, its owner's
                // reference dropped: still alive.
                let (pos, session) = owners.swap_remove(at);
                assert!(slab.remove(pos, &session, false, |_, _, _| true).removed);
            }
            assert_eq!(live(), 3);
        });
        assert_eq!((outer, live()), (3, 2));
    }

    fn ids(slab: &Slab) -> Vec<SessionId> {
        let mut v: Vec<_> = slab.to_vec().iter().map(Handle::id).collect();
        v.sort();
        v
    }

    #[test]
    fn insert_remove_reuse_and_truncate() {
        let slab = Slab::new();
        let hs: Vec<Handle> = (0..4).map(|_| handle()).collect();
        let pos: Vec<Pos> = hs.iter().map(|h| put(&slab, h)).collect();
        assert_eq!(pos, vec![0, 1, 2, 3]);
        assert!(slab.remove(1, &hs[1], false, |_, _, _| unreachable!("too small")).removed);
        assert!(!slab.remove(1, &hs[1], false, |_, _, _| true).removed, "already gone");
        assert!(!slab.remove(2, &hs[3], false, |_, _, _| true).removed, "wrong position");
        assert_eq!(slab.len(), 3);
        let again = handle();
        assert_eq!(put(&slab, &again), 1, "the hole is reused");
        assert!(slab.remove(3, &hs[3], false, |_, _, _| true).removed);
        assert!(slab.remove(2, &hs[2], false, |_, _, _| true).removed);
        assert_eq!(lock(&slab.inner).slots.len(), 2, "trailing holes are dropped");
        assert_eq!(ids(&slab), {
            let mut v = vec![hs[0].id(), again.id()];
            v.sort();
            v
        });
    }

    #[test]
    fn sparse_slabs_compact_through_relocate() {
        let slab = Slab::new();
        let hs: Vec<Handle> = (0..200).map(|_| handle()).collect();
        let mut at: HashMap<SessionId, Pos> = hs.iter().map(|h| (h.id(), put(&slab, h))).collect();
        // Remove the first 150 (holes at the front); moves must be reported and honoured.
        let mut moves = 0;
        for h in &hs[..150] {
            let pos = at.remove(&h.id()).unwrap();
            let removal = slab.remove(pos, h, false, |id, from, to| {
                assert_eq!(at.get(&id), Some(&from));
                at.insert(id, to);
                moves += 1;
                true
            });
            assert_eq!(removal, Removal { removed: true, retired: false });
        }
        assert!(moves > 0);
        let s = lock(&slab.inner);
        assert!(s.holes() <= s.live || s.slots.len() < MIN_COMPACT_SLOTS);
        assert_eq!(s.live, 50);
        for (id, pos) in &at {
            assert_eq!(s.slots[*pos as usize].as_deref().map(Handle::id), Some(*id));
        }
    }

    #[test]
    fn a_refused_move_stops_compaction_and_visits_pin_positions() {
        let slab = Slab::new();
        let hs: Vec<Handle> = (0..100).map(|_| handle()).collect();
        for h in &hs {
            put(&slab, h);
        }
        for (i, h) in hs.iter().enumerate().take(80) {
            assert!(slab.remove(i as Pos, h, false, |_, _, _| false).removed);
        }
        assert_eq!(lock(&slab.inner).slots.len(), 100, "nothing moved");
        // During a visit nothing moves, whatever relocate says.
        let mut seen = 0;
        slab.visit(Order::Up, |_| {
            seen += 1;
            slab.compact(|_, _, _| panic!("no compaction during a visit"));
        });
        assert_eq!(seen, 20);
        let mut moves = 0;
        slab.compact(|_, _, _| {
            moves += 1;
            true
        });
        assert_eq!(moves, 20, "each session moves once, into the lowest holes");
        let s = lock(&slab.inner);
        assert_eq!((s.slots.len(), s.live), (20, 20));
    }

    #[test]
    fn a_retiring_slab_retires_with_its_last_session() {
        let slab = Slab::new_retiring();
        let (a, b) = (handle(), handle());
        let pa = try_put(&slab, &a).unwrap();
        let pb = try_put(&slab, &b).unwrap();
        assert_eq!(
            slab.remove(pa, &a, false, |_, _, _| true),
            Removal { removed: true, retired: false }
        );
        assert_eq!(
            slab.remove(pb, &b, false, |_, _, _| true),
            Removal { removed: true, retired: true }
        );
        assert!(slab.is_retired());
        assert_eq!(try_put(&slab, &a), None);
        assert_eq!(slab.len(), 0);
        // A slab that does not retire keeps taking sessions.
        let patterns = Slab::new();
        let p = put(&patterns, &a);
        assert!(!patterns.remove(p, &a, false, |_, _, _| true).retired);
        assert_eq!(put(&patterns, &a), 0);
    }

    #[test]
    fn visits_call_back_without_the_lock_in_either_order() {
        let slab = Slab::new();
        let hs: Vec<Handle> = (0..100).map(|_| handle()).collect();
        for h in &hs {
            put(&slab, h);
        }
        let mut order = Vec::new();
        slab.visit(Order::Down, |h| {
            // The callback may change the slab it visits.
            let pos = hs.iter().position(|x| x.id() == h.id()).unwrap() as Pos;
            assert!(slab.remove(pos, h, false, |_, _, _| true).removed);
            order.push(pos);
        });
        assert_eq!(order, (0..100).rev().collect::<Vec<_>>());
        assert_eq!(slab.len(), 0);
    }

    /// The fetches ahead run past a batch's end or a short slab's without skipping or
    /// repeating a session: every size around the batch and fetch distances, both orders.
    #[test]
    fn a_visit_calls_back_once_per_session_in_order_whatever_the_size() {
        for size in [1, FETCH_AHEAD - 1, FETCH_AHEAD, HANDLES_PER_LOCK, HANDLES_PER_LOCK + 1, 200] {
            let slab = Slab::new();
            let hs: Vec<Handle> = (0..size).map(|_| handle()).collect();
            for h in &hs {
                put(&slab, h);
            }
            let ids: Vec<SessionId> = hs.iter().map(Handle::id).collect();
            for fetch in [false, true] {
                let mut up = Vec::new();
                slab.visit_fetching(Order::Up, 0..usize::MAX, fetch, |h| up.push(h.id()));
                assert_eq!(up, ids, "{size} sessions, up, fetching {fetch}");
                let mut down = Vec::new();
                slab.visit_fetching(Order::Down, 0..usize::MAX, fetch, |h| down.push(h.id()));
                down.reverse();
                assert_eq!(down, ids, "{size} sessions, down, fetching {fetch}");
            }
        }
    }

    /// Parts that tile the positions (the last one open-ended) see every session once
    /// between them, in either order, with holes and whatever the cut points.
    #[test]
    fn visits_of_parts_see_each_session_once_between_them() {
        let slab = Slab::new();
        let hs: Vec<Handle> = (0..300).map(|_| handle()).collect();
        let pos: Vec<Pos> = hs.iter().map(|h| put(&slab, h)).collect();
        // Holes, including at the cut points below.
        for i in [0, 1, 63, 64, 100, 150, 299] {
            slab.remove(pos[i], &hs[i], true, |_, _, _| false);
        }
        let mut expected: Vec<SessionId> = hs
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 1, 63, 64, 100, 150, 299].contains(i))
            .map(|(_, h)| h.id())
            .collect();
        expected.sort();
        let (_pinned, slots) = slab.pin();
        for cuts in [
            vec![0, usize::MAX],
            vec![0, 100, usize::MAX],
            vec![0, 1, 64, 150, 290, usize::MAX],
            vec![0, 0, 500, usize::MAX],
        ] {
            for order in [Order::Up, Order::Down] {
                let mut seen = Vec::new();
                for part in cuts.windows(2) {
                    slab.visit_part(order, part[0]..part[1], |h| seen.push(h.id()));
                }
                seen.sort();
                assert_eq!(seen, expected, "cuts {cuts:?} of {slots} slots");
            }
        }
    }
}
