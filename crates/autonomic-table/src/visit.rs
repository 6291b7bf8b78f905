//! Visiting and listing sessions: every session, a tenant's, a pattern's, the active ones.
//!
//! # What a visit sees
//! A visit is not a consistent cut of the table, and sessions keep running while they are
//! visited (read a [`snapshot`](autonomic_core::SessionHandle::snapshot) for a coherent view
//! of one session). What it guarantees:
//! * a session that is in the visited index for the whole visit is seen exactly once (the
//!   index does not move sessions while it is being visited);
//! * a session created or removed during the visit may or may not be seen, and is never
//!   seen twice.
//!
//! The whole-table visits ([`for_each`](crate::SessionTable::for_each),
//! [`for_each_reading`](crate::SessionTable::for_each_reading), [`stats`],
//! [`active_sessions`], cleanup) walk the index of all sessions, which holds them in about
//! the order they were created, so they read session memory in about the order it was
//! allocated. Sessions are separate allocations all the same, and a reading spans two or three
//! of a session's cache lines, so every visit also asks for each session's lines a few
//! callbacks before its own (a prefetch): the misses of a large table overlap the work on the
//! sessions before them instead of stalling it.
//!
//! # Calling back into the table
//! The callback runs with no lock held: a visit copies up to 64 handles out of an index at a
//! time and releases its lock before calling back. So the callback may call any table
//! method, including removing the session it is visiting or creating new ones; it cannot
//! deadlock the table. The copies are borrowed, not cloned: no session's reference count is
//! touched (an index keeps every session it lets go of during a visit alive until the visit
//! ends). The `for_each*` visitors allocate nothing; the `sessions_by_*`, `sessions` and
//! `active_sessions` lists allocate the `Vec` they return (and clone what they return).
//!
//! [`stats`]: crate::SessionTable::stats
//! [`active_sessions`]: crate::SessionTable::active_sessions

use autonomic_core::{SessionHandle, SessionReading, TenantId, marker::AnyState};

use crate::SessionTable;
use crate::slab::{Order, Slab};

/// A visit of `slab` that hands out a reading of each session taken at `now_nanos`.
fn readings(slab: &Slab, now_nanos: u64, mut f: impl FnMut(&SessionReading)) {
    slab.visit(Order::Up, |h| f(&h.reading_at(now_nanos)));
}

impl SessionTable {
    /// Calls `f` with every session in the table, without allocating (see the
    /// [module docs](crate::visit) for what a visit sees).
    ///
    /// ```
    /// use autonomic_core::{CaseId, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// for _ in 0..3 {
    ///     table.create_session(CaseId::new(), TenantId::new()).start()?;
    /// }
    /// let mut retries = 0;
    /// table.for_each(|handle| retries += handle.snapshot().retry_count);
    /// assert_eq!(retries, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each(&self, f: impl FnMut(&SessionHandle<(), AnyState>)) {
        self.all.visit(Order::Up, f);
    }

    /// Calls `f` with a [`SessionReading`] of every session in the table, all read at
    /// `now_nanos` (on the table's [clock](SessionTable::clock)): what a pass that needs values,
    /// not handles (an aggregation), should use. Visits as [`for_each`](Self::for_each) does
    /// (no lock held while `f` runs, nothing allocated, no reference count touched); sessions
    /// seen are as described in the [module docs](crate::visit).
    ///
    /// ```
    /// use autonomic_core::{CaseId, SessionState, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let h = table.create_session(CaseId::new(), TenantId::new()).with_pattern(3).start()?;
    /// h.record_task_execution_us(400);
    /// let mut seen = Vec::new();
    /// table.for_each_reading(table.clock().now_nanos(), |r| seen.push(*r));
    /// assert_eq!(seen.len(), 1);
    /// assert_eq!((seen[0].id, seen[0].pattern), (h.id(), Some(3)));
    /// assert_eq!(seen[0].snapshot.state, SessionState::Active);
    /// assert_eq!(seen[0].snapshot.total_latency_us, 400);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_reading(&self, now_nanos: u64, f: impl FnMut(&SessionReading)) {
        readings(&self.all, now_nanos, f);
    }

    /// As [`for_each_reading`](Self::for_each_reading), over the sessions of `tenant`, in
    /// O(its sessions).
    pub fn for_each_reading_in_tenant(
        &self,
        tenant: TenantId,
        now_nanos: u64,
        f: impl FnMut(&SessionReading),
    ) {
        if let Some(slot) = self.tenants.get(&tenant) {
            readings(&slot.slab, now_nanos, f);
        }
    }

    /// As [`for_each_reading`](Self::for_each_reading), over the sessions carrying `pattern`,
    /// in O(those sessions).
    pub fn for_each_reading_in_pattern(
        &self,
        pattern: u8,
        now_nanos: u64,
        f: impl FnMut(&SessionReading),
    ) {
        readings(self.patterns.slab(pattern), now_nanos, f);
    }

    /// Calls `f` with every session of `tenant`, in O(its sessions), without allocating.
    pub fn for_each_in_tenant(
        &self,
        tenant: TenantId,
        f: impl FnMut(&SessionHandle<(), AnyState>),
    ) {
        if let Some(slot) = self.tenants.get(&tenant) {
            slot.slab.visit(Order::Up, f);
        }
    }

    /// Calls `f` with every session carrying `pattern`, in O(those sessions), without
    /// allocating.
    pub fn for_each_in_pattern(&self, pattern: u8, f: impl FnMut(&SessionHandle<(), AnyState>)) {
        self.patterns.slab(pattern).visit(Order::Up, f);
    }

    /// Calls `f` once per tenant that has sessions, with its id and session count (from a
    /// copy of the tenant list taken first: `f` may do anything).
    pub fn for_each_tenant(&self, mut f: impl FnMut(TenantId, usize)) {
        for (tenant, slot) in self.tenants.slots() {
            let count = slot.slab.len();
            if count > 0 {
                f(tenant, count);
            }
        }
    }

    /// Every session of `tenant`, in O(its sessions).
    ///
    /// ```
    /// use autonomic_core::{CaseId, TenantId};
    /// use autonomic_table::SessionTable;
    ///
    /// let table = SessionTable::new();
    /// let (a, b) = (TenantId::new(), TenantId::new());
    /// let _ha = table.create_session(CaseId::new(), a).start()?;
    /// let _hb = table.create_session(CaseId::new(), b).start()?;
    /// assert_eq!(table.sessions_by_tenant(a).len(), 1);
    /// assert!(table.sessions_by_tenant(a).iter().all(|h| h.tenant_id() == a));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sessions_by_tenant(&self, tenant: TenantId) -> Vec<SessionHandle<(), AnyState>> {
        self.tenants.get(&tenant).map(|slot| slot.slab.to_vec()).unwrap_or_default()
    }

    /// Every session carrying `pattern`, in O(those sessions).
    pub fn sessions_by_pattern(&self, pattern: u8) -> Vec<SessionHandle<(), AnyState>> {
        self.patterns.slab(pattern).to_vec()
    }

    /// Every session that is `Active` or `Adapted` when visited (one pass over the table).
    pub fn active_sessions(&self) -> Vec<SessionHandle<(), AnyState>> {
        let mut out = Vec::with_capacity(self.total_sessions());
        self.for_each(|h| {
            if h.is_active() {
                out.push(h.clone());
            }
        });
        out
    }

    /// How many sessions are `Active` or `Adapted` (one pass over the table, no allocation).
    pub fn active_session_count(&self) -> usize {
        let mut n = 0;
        self.for_each(|h| n += usize::from(h.is_active()));
        n
    }

    /// Every session in the table (one pass).
    pub fn sessions(&self) -> Vec<SessionHandle<(), AnyState>> {
        let mut out = Vec::with_capacity(self.total_sessions());
        self.for_each(|h| out.push(h.clone()));
        out
    }
}
