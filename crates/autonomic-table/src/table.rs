//! [`SessionTable`]: the sessions by id, and the protocol that keeps the indexes exact.
//!
//! # One session's membership
//! A session is *in the table* while its entry is in the by-id map; that map's per-key
//! atomic operations order everything that happens to one session:
//! * **create** registers the session with its tenant (count, then the tenant's set), then
//!   inserts the entry. Nobody can remove what is not in the map yet, so the tenant
//!   registration is never undone by a racing removal.
//! * **set pattern** (only through [`NewSession::with_pattern`]) adds the session to the
//!   pattern's set, then atomically rewrites the entry's `pattern` field. If the entry is
//!   gone (a racing removal won), it takes the session back out of that set; otherwise it
//!   takes it out of the set the entry named before.
//! * **remove** (by id, through a tenant view, or by cleanup) removes the entry atomically;
//!   exactly one remover gets it, and that remover alone unregisters the session from the
//!   pattern set the entry names and from its tenant.
//!
//! The entry, not the session's own context, records which pattern set the session is in,
//! so the set-pattern/remove race is decided by one atomic map operation on both sides.
//! When no operation is in flight the map, the sets and every count agree exactly; while
//! operations are in flight a reader may see a session in a set a moment before or after it
//! is in the map.

use std::fmt;

use autonomic_core::{
    CaseId, ClockHandle, SessionBuilder, SessionHandle, SessionId, TenantId, TransitionError,
    marker::{AnyState, Created},
};

use crate::map::Map;
use crate::patterns::Patterns;
use crate::sync::{AtomicUsize, Ordering};
use crate::tenants::Tenants;
use crate::{NewSession, StaticTenant, TableError, TenantView};

/// One session's entry in the by-id map.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) handle: SessionHandle<(), AnyState>,
    /// The pattern set the session is in (see the module docs).
    pub(crate) pattern: Option<u8>,
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
    pub(crate) sessions: Map<SessionId, Entry>,
    pub(crate) tenants: Tenants,
    pub(crate) patterns: Patterns,
    /// Sessions in the table: counted before the entry is inserted and after it is removed,
    /// so it never dips below the map's size.
    total: AtomicUsize,
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
            sessions: Map::new(),
            tenants: Tenants::new(),
            patterns: Patterns::new(),
            total: AtomicUsize::new(0),
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

    /// Builds a session on the table's clock and registers it: tenant first, entry last.
    pub(crate) fn register(
        &self,
        case_id: CaseId,
        tenant_id: TenantId,
    ) -> SessionHandle<(), Created> {
        let handle = SessionBuilder::new(case_id, tenant_id).clock(self.clock.clone()).build();
        let erased = handle.erased();
        let slot = self.tenants.acquire(tenant_id);
        slot.sessions.insert(erased.id(), erased.clone());
        // Relaxed: a size, exact at quiescence; counted before the insert so that the
        // removal of this entry (which happens after the insert) can only decrement after it.
        self.total.fetch_add(1, Ordering::Relaxed);
        self.sessions.insert(erased.id(), Entry { handle: erased, pattern: None });
        handle
    }

    /// Puts a registered session into `pattern`'s set (see the module docs).
    pub(crate) fn index_pattern(&self, handle: &SessionHandle<(), AnyState>, pattern: u8) {
        let id = handle.id();
        self.patterns.insert(pattern, handle);
        let previous = self.sessions.update(&id, |e| {
            (Entry { handle: e.handle.clone(), pattern: Some(pattern) }, e.pattern)
        });
        match previous {
            // Removed concurrently: its remover cleaned the set its entry named, not ours.
            None => self.patterns.remove(pattern, id),
            Some(Some(old)) if old != pattern => self.patterns.remove(old, id),
            Some(_) => {}
        }
    }

    /// Unregisters a session whose entry this thread removed from the map.
    pub(crate) fn unindex(&self, entry: &Entry) {
        let id = entry.handle.id();
        if let Some(pattern) = entry.pattern {
            self.patterns.remove(pattern, id);
        }
        let tenant = entry.handle.tenant_id();
        // Present: the session's registration keeps its tenant's slot live and registered.
        if let Some(slot) = self.tenants.get(&tenant) {
            slot.sessions.remove(&id);
            self.tenants.release(tenant, &slot);
        }
        // Relaxed: see `register`.
        self.total.fetch_sub(1, Ordering::Relaxed);
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
    pub fn get(&self, id: &SessionId) -> Result<SessionHandle<(), AnyState>, TableError> {
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
    pub fn remove(&self, id: &SessionId) -> Result<SessionHandle<(), AnyState>, TableError> {
        let entry = self.sessions.remove(id).ok_or(TableError::NotFound { id: *id })?;
        self.unindex(&entry);
        Ok(entry.handle)
    }

    /// Removes the session if `pred` holds for it, deciding atomically with other removals.
    pub(crate) fn remove_if(
        &self,
        id: &SessionId,
        pred: impl FnMut(&SessionHandle<(), AnyState>) -> bool,
    ) -> Option<SessionHandle<(), AnyState>> {
        let mut pred = pred;
        let entry = self.sessions.remove_if(id, |e| pred(&e.handle))?;
        self.unindex(&entry);
        Some(entry.handle)
    }

    /// Sessions in the table, O(1). Exact when no creation or removal is in flight.
    #[inline]
    pub fn total_sessions(&self) -> usize {
        // Relaxed: see `register`.
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.total_sessions() == 0
    }

    /// Sessions of `tenant` in the table, O(1).
    pub fn tenant_session_count(&self, tenant: TenantId) -> usize {
        self.tenants.with(&tenant, |s| s.count()).unwrap_or(0)
    }

    /// Sessions carrying `pattern` in the table, O(1).
    pub fn pattern_session_count(&self, pattern: u8) -> usize {
        self.patterns.slot(pattern).count()
    }

    /// Tenants with at least one session in the table, O(1).
    pub fn tenant_count(&self) -> usize {
        self.tenants.live()
    }
}
