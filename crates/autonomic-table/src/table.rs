//! [`SessionTable`]: the sessions by id, and the protocol that keeps the indexes exact.
//!
//! # The structures
//! * `sessions`: the by-id map; a session's [`Entry`] holds its handle and its positions in
//!   the slabs it is in;
//! * `all`: one [slab](crate::slab) of every session, in about the order they were created
//!   (freed positions are reused); whole-table passes walk it, which reads session memory
//!   in about the order it was allocated;
//! * `tenants`: per tenant, a slab of its sessions;
//! * `patterns`: per pattern id, a slab of the sessions that carry it.
//!
//! # One session's membership
//! A session is *in the table* while its entry is in the by-id map. That map's per-key
//! atomic operations order everything that happens to one session; the closures they run
//! hold the key locked:
//! * **create** registers the session with its tenant (count, then slab) and in the
//!   all-sessions slab, then inserts the entry with both positions. Nobody can remove what is
//!   not in the map yet.
//! * **set pattern** (only through [`NewSession::with_pattern`](crate::NewSession)) adds the
//!   session to the new pattern's slab, then, under the entry's lock, sets the session's
//!   pattern and its position in the entry and reads the old ones; afterwards it removes the
//!   session from the old pattern's slab, if it had one. If the entry is gone (a racing
//!   removal won), it takes the session back out of the new slab instead.
//! * **remove** (by id, through a tenant view, or by cleanup) removes the entry atomically
//!   and reads, under the same lock, which pattern slab the session is in. Exactly one
//!   remover gets the entry; it alone takes the session out of its slabs and its tenant.
//! * **compaction** moves a session inside a slab only through the entry: under the entry's
//!   lock it checks that the entry still names the old position in that slab and rewrites
//!   it; if the entry is gone or names something else, the session is not moved.
//!
//! So the set-pattern/remove race, and every move, is decided by one atomic operation on
//! the entry. Locks nest in one order only, tenant registry, then a slab, then the by-id
//! map: the registry's closures take their tenant's slab lock, a slab's removals and
//! compaction rewrite positions in the by-id map, and the by-id map's closures take no
//! table lock. `lock_order.rs` defines the order and checks every acquisition against it
//! in debug builds. When no operation is in flight the map, the slabs and every count agree
//! exactly; `tests/loom_table.rs` and `tests/stress.rs` check it.

use std::fmt;

use autonomic_core::{
    CaseId, ClockHandle, SessionBuilder, SessionHandle, SessionId, TenantId, TenantTag,
    TransitionError, marker::Created,
};

use crate::lock_order::LockLevel;
use crate::map::{IdHasher, Map};
use crate::patterns::Patterns;
use crate::slab::{Handle, Pos, Slab};
use crate::sync::{AtomicUsize, Ordering};
use crate::tenants::Tenants;
use crate::{NewSession, StaticTenant, TableError, TenantView};

/// One session's entry in the by-id map.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) handle: Handle,
    /// Position in the all-sessions slab.
    pub(crate) all_pos: Pos,
    /// Position in its tenant's slab.
    pub(crate) tenant_pos: Pos,
    /// Position in the slab of `handle.pattern()` if it has one (the pattern changes only
    /// under this entry's lock while the entry exists); meaningless without a pattern.
    pub(crate) pattern_pos: Pos,
}

/// A concurrent table of sessions, by id, indexed by tenant and by workflow pattern.
///
/// Every method takes `&self`: share the table between threads with an `Arc` (or a
/// reference in scoped threads). Lookups by id are O(1); filtering by tenant or pattern
/// costs O(matching sessions); counts per tenant and pattern are O(1); [`stats`] and
/// [`active_sessions`] visit every session once.
///
/// ```
/// use autonomic_core::{CaseId, TenantId};
/// use autonomic_table::SessionTable;
///
/// let table = SessionTable::new();
/// let tenant = TenantId::new();
/// let handle = table.create_session(CaseId::new(), tenant).with_pattern(42).start()?;
/// assert_eq!(table.get(&handle.id())?.id(), handle.id());
/// assert_eq!(table.tenant_session_count(tenant), 1);
/// assert_eq!(table.sessions_by_pattern(42).len(), 1);
///
/// handle.complete()?;
/// assert_eq!(table.stats().completed_sessions, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`stats`]: SessionTable::stats
/// [`active_sessions`]: SessionTable::active_sessions
pub struct SessionTable {
    pub(crate) sessions: Map<SessionId, Entry, IdHasher>,
    /// Every session, in about the order of creation.
    pub(crate) all: Slab,
    pub(crate) tenants: Tenants,
    pub(crate) patterns: Patterns,
    /// Cleanup passes running: while nonzero, removals leave compaction to the pass's end.
    compaction_paused: AtomicUsize,
    clock: ClockHandle,
}

impl Default for SessionTable {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTable")
            .field("total_sessions", &self.total_sessions())
            .field("tenants", &self.tenants.live())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl SessionTable {
    /// An empty table whose sessions read the process's monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(ClockHandle::monotonic())
    }

    /// An empty table whose sessions, and whose cleanup, read `clock` (a
    /// [`ManualClock`](autonomic_core::ManualClock) makes ages deterministic in tests).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use autonomic_core::{CaseId, ClockHandle, ManualClock, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    /// let h = table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// h.complete()?;
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(table.cleanup_terminal_sessions(Duration::from_secs(60)), 0);
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(table.cleanup_terminal_sessions(Duration::from_secs(60)), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_clock(clock: ClockHandle) -> Self {
        SessionTable {
            sessions: Map::new(LockLevel::Sessions),
            all: Slab::new(),
            tenants: Tenants::new(),
            patterns: Patterns::new(),
            compaction_paused: AtomicUsize::new(0),
            clock,
        }
    }

    /// The clock the table's sessions and its cleanup read.
    pub fn clock(&self) -> &ClockHandle {
        &self.clock
    }

    /// Creates a session for `case_id` owned by `tenant_id` and registers it at once (state
    /// `Created`).
    ///
    /// The returned [`NewSession`] sets the pattern and tags (so that the table's indexes
    /// see them), then `start()`s the session; dropping it unstarted cancels the session.
    pub fn create_session(&self, case_id: CaseId, tenant_id: TenantId) -> NewSession<'_, ()> {
        NewSession::new(self, self.register(case_id, tenant_id))
    }

    /// A view of the table typed by static tenant `T`: it only yields and accepts `T`'s
    /// sessions.
    pub fn tenant<T: StaticTenant>(&self) -> TenantView<'_, T> {
        TenantView::new(self)
    }

    /// Builds a session on the table's clock and registers it: indexes first, entry last.
    pub(crate) fn register(
        &self,
        case_id: CaseId,
        tenant_id: TenantId,
    ) -> SessionHandle<(), Created> {
        let handle = SessionBuilder::new(case_id, tenant_id).clock(self.clock.clone()).build();
        let erased = handle.erased();
        // `erased`, the table's strong reference, is kept until the session leaves both
        // slabs: it moves into the session's by-id entry below (which goes in: the id is
        // fresh), and whoever removes that entry holds it until it has unindexed the session
        // (`unindex`, the sweep's `unindex_batch`).
        // SAFETY: see above.
        let tenant_pos = unsafe { self.tenants.register(tenant_id, &erased) };
        // SAFETY: see above.
        let all_pos = unsafe { self.all.insert(&erased) };
        let entry = Entry { handle: erased, all_pos, tenant_pos, pattern_pos: 0 };
        let inserted = self.sessions.insert(entry.handle.id(), entry);
        debug_assert!(inserted, "a fresh session id was in the table");
        handle
    }

    /// Sets a registered session's pattern and moves it between pattern slabs (see the
    /// module docs).
    pub(crate) fn set_pattern<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Created>,
        pattern: u8,
    ) -> SessionHandle<T, Created> {
        if handle.pattern() == Some(pattern) {
            return handle;
        }
        let id = handle.id();
        let erased = handle.erased().into_dynamic();
        // SAFETY: the session's by-id entry holds a strong reference while it exists, and its
        // remover until it has unindexed the session; if the entry is gone before it names
        // this slab, `erased` (held to the end of this function) is alive while we take the
        // session back out below.
        let new_pos = unsafe { self.patterns.slab(pattern).insert(&erased) };
        let mut owned = Some(handle);
        let old = self.sessions.modify(&id, |e| {
            let old = e.handle.pattern().map(|p| (p, e.pattern_pos));
            owned = owned.take().map(|h| h.with_pattern(pattern));
            e.pattern_pos = new_pos;
            old
        });
        let Some(handle) = owned else {
            unreachable!("the closure puts the handle back");
        };
        match old {
            Some(Some((old_pattern, old_pos))) => {
                self.remove_from_pattern(old_pattern, old_pos, &erased);
                handle
            }
            Some(None) => handle,
            None => {
                // Removed meanwhile: its remover cleaned the slab its entry named, not ours.
                self.remove_from_pattern(pattern, new_pos, &erased);
                handle.with_pattern(pattern)
            }
        }
    }

    fn compaction_paused(&self) -> bool {
        // Relaxed: a hint; compaction is an optimisation whichever value is read.
        self.compaction_paused.load(Ordering::Relaxed) > 0
    }

    /// Moves session `id` from `from` to `to` in the slab of `pattern`, if its entry still
    /// says it is there.
    fn relocate_in_pattern(&self, pattern: u8, id: SessionId, from: Pos, to: Pos) -> bool {
        self.sessions
            .modify(&id, |e| {
                let here = e.handle.pattern() == Some(pattern) && e.pattern_pos == from;
                if here {
                    e.pattern_pos = to;
                }
                here
            })
            .unwrap_or(false)
    }

    /// As `relocate_in_pattern`, in the all-sessions slab.
    fn relocate_in_all(&self, id: SessionId, from: Pos, to: Pos) -> bool {
        self.sessions
            .modify(&id, |e| {
                let here = e.all_pos == from;
                if here {
                    e.all_pos = to;
                }
                here
            })
            .unwrap_or(false)
    }

    /// As `relocate_in_pattern`, in the session's tenant slab. (While the entry exists its
    /// `tenant_pos` is where the session is; the check guards that.)
    fn relocate_in_tenant(&self, id: SessionId, from: Pos, to: Pos) -> bool {
        self.sessions
            .modify(&id, |e| {
                let here = e.tenant_pos == from;
                if here {
                    e.tenant_pos = to;
                }
                here
            })
            .unwrap_or(false)
    }

    pub(crate) fn remove_from_pattern(&self, pattern: u8, pos: Pos, session: &Handle) {
        let paused = self.compaction_paused();
        let removal = self.patterns.slab(pattern).remove(pos, session, paused, |id, from, to| {
            self.relocate_in_pattern(pattern, id, from, to)
        });
        debug_assert!(removal.removed, "{} not at {pos} of pattern slab {pattern}", session.id());
    }

    /// Unregisters a session whose entry this thread removed from the map; `pattern` was
    /// read under the entry's lock.
    fn unindex(&self, entry: &Entry, pattern: Option<u8>) {
        let session = &entry.handle;
        let paused = self.compaction_paused();
        let removal = self.all.remove(entry.all_pos, session, paused, |id, from, to| {
            self.relocate_in_all(id, from, to)
        });
        debug_assert!(removal.removed, "{} not at {} of all sessions", session.id(), entry.all_pos);
        if let Some(pattern) = pattern {
            self.remove_from_pattern(pattern, entry.pattern_pos, session);
        }
        let removed = self.tenants.unregister(
            session.tenant_id(),
            entry.tenant_pos,
            session,
            self.compaction_paused(),
            |id, from, to| self.relocate_in_tenant(id, from, to),
        );
        debug_assert!(removed, "{} not at {} of its tenant slab", session.id(), entry.tenant_pos);
    }

    /// Compacts every slab as far as it goes (after a cleanup pass).
    pub(crate) fn compact_indexes(&self) {
        self.all.compact(|id, from, to| self.relocate_in_all(id, from, to));
        for (pattern, slab) in self.patterns.iter() {
            slab.compact(|id, from, to| self.relocate_in_pattern(pattern, id, from, to));
        }
        for (_, slot) in self.tenants.slots() {
            slot.slab.compact(|id, from, to| self.relocate_in_tenant(id, from, to));
        }
    }

    /// Holds compaction back until dropped.
    pub(crate) fn pause_compaction(&self) -> CompactionPause<'_> {
        // Relaxed: see `compaction_paused`.
        self.compaction_paused.fetch_add(1, Ordering::Relaxed);
        CompactionPause(&self.compaction_paused)
    }

    /// Cancels a session whose `Created` handle was lost (a refused tag), so that cleanup can
    /// reclaim it.
    pub(crate) fn abandon(&self, id: SessionId) -> Result<(), TransitionError> {
        if let Ok(handle) = self.get(&id) {
            handle.cancel()?;
        }
        Ok(())
    }

    /// The session with this id, as a handle whose state is checked at run time.
    ///
    /// ```
    /// use autonomic_core::{CaseId, SessionState, TenantId};
    /// use autonomic_table::{SessionTable, TableError};
    ///
    /// let table = SessionTable::new();
    /// let id = table.create_session(CaseId::new(), TenantId::new()).start()?.id();
    /// let handle = table.get(&id)?;
    /// assert_eq!(handle.state(), SessionState::Active);
    /// let active = handle.into_active()?; // typed access, checked at run time
    /// active.record_retry();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get(&self, id: &SessionId) -> Result<Handle, TableError> {
        self.sessions.read(id, |e| e.handle.clone()).ok_or(TableError::NotFound { id: *id })
    }

    /// Whether a session with this id is in the table.
    #[inline]
    pub fn contains(&self, id: &SessionId) -> bool {
        self.sessions.contains(id)
    }

    /// Removes the session with this id from the table and every index, whatever its state,
    /// and returns it. Handles held elsewhere stay valid; the session simply stops being
    /// listed.
    pub fn remove(&self, id: &SessionId) -> Result<Handle, TableError> {
        self.remove_if(id, |_| true).ok_or(TableError::NotFound { id: *id })
    }

    /// Removes the session if `pred` holds for it, deciding atomically with other removals.
    pub(crate) fn remove_if(
        &self,
        id: &SessionId,
        pred: impl FnOnce(&Handle) -> bool,
    ) -> Option<Handle> {
        let (entry, pattern) = self.take_entry(id, pred)?;
        self.unindex(&entry, pattern);
        Some(entry.handle)
    }

    /// Removes the entry if `pred` holds, returning it with the pattern the session has
    /// (read under the entry's lock). The caller must then unindex it.
    pub(crate) fn take_entry(
        &self,
        id: &SessionId,
        pred: impl FnOnce(&Handle) -> bool,
    ) -> Option<(Entry, Option<u8>)> {
        self.sessions.remove_if(id, |e| pred(&e.handle).then(|| e.handle.pattern()))
    }

    /// Sessions in the table, O(1). Exact when nothing is being created or removed.
    pub fn total_sessions(&self) -> usize {
        self.all.len()
    }

    /// Whether the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.total_sessions() == 0
    }

    /// Sessions of `tenant` in the table, O(1).
    pub fn tenant_session_count(&self, tenant: TenantId) -> usize {
        self.tenants.with(&tenant, |s| s.slab.len()).unwrap_or(0)
    }

    /// Sessions carrying `pattern` in the table, O(1).
    pub fn pattern_session_count(&self, pattern: u8) -> usize {
        self.patterns.slab(pattern).len()
    }

    /// Tenants with at least one session in the table, O(1).
    pub fn tenant_count(&self) -> usize {
        self.tenants.live()
    }
}

/// Compaction held back while this lives (see [`SessionTable::pause_compaction`]).
pub(crate) struct CompactionPause<'a>(&'a AtomicUsize);

impl Drop for CompactionPause<'_> {
    fn drop(&mut self) {
        // Relaxed: see `SessionTable::compaction_paused`.
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
