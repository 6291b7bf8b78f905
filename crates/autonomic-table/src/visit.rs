//! Visiting and listing sessions: every session, a tenant's, a pattern's, the active ones.
//!
//! # What a visit sees
//! A visit is not a consistent cut of the table, and sessions keep running while they are
//! visited (read a [`snapshot`](autonomic_core::SessionHandle::snapshot) for a coherent view
//! of one session). What it guarantees:
//! * a session that is in the visited index for the whole visit is seen exactly once (the
//!   index does not move sessions while it is being visited);
//! * a session created or removed during the visit may or may not be seen, and is never
//!   seen twice;
//! * the whole-table visits ([`for_each`](crate::SessionTable::for_each), [`stats`],
//!   [`active_sessions`]) go through the pattern index: a session whose pattern is set *while*
//!   such a visit runs (possible only before it starts, through
//!   [`NewSession::with_pattern`](crate::NewSession::with_pattern)) may be missed or seen
//!   twice by that visit.
//!
//! # Calling back into the table
//! The callback runs with no lock held: visits copy up to 32 handles out of an index at a
//! time and release its lock before calling back. So the callback may call any table method,
//! including removing the session it is visiting or creating new ones; it cannot deadlock the
//! table. The `for_each*` visitors allocate nothing (each visited handle is cloned, an atomic
//! increment); the `sessions_by_*`, `sessions` and `active_sessions` lists allocate the
//! `Vec` they return.
//!
//! [`stats`]: crate::SessionTable::stats
//! [`active_sessions`]: crate::SessionTable::active_sessions

use autonomic_core::{SessionHandle, TenantId, marker::AnyState};

use crate::SessionTable;
use crate::patterns;
use crate::slab::{Handle, Order};

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
    pub fn for_each(&self, mut f: impl FnMut(&SessionHandle<(), AnyState>)) {
        for slab in 0..patterns::SLABS {
            self.patterns.slab(slab).visit(Order::Up, |_| true, |h| f(&h));
        }
    }

    /// Reads every session under the slabs' locks (`pick` must not touch the table).
    pub(crate) fn scan(&self, mut pick: impl FnMut(&Handle)) {
        for slab in 0..patterns::SLABS {
            self.patterns.slab(slab).visit(
                Order::Up,
                |h| {
                    pick(h);
                    false
                },
                |_| {},
            );
        }
    }

    /// Calls `f` with every session of `tenant`, in O(its sessions), without allocating.
    pub fn for_each_in_tenant(
        &self,
        tenant: TenantId,
        mut f: impl FnMut(&SessionHandle<(), AnyState>),
    ) {
        if let Some(slot) = self.tenants.get(&tenant) {
            slot.slab.visit(Order::Up, |_| true, |h| f(&h));
        }
    }

    /// Calls `f` with every session carrying `pattern`, in O(those sessions), without
    /// allocating.
    pub fn for_each_in_pattern(
        &self,
        pattern: u8,
        mut f: impl FnMut(&SessionHandle<(), AnyState>),
    ) {
        self.patterns.slab(usize::from(pattern)).visit(Order::Up, |_| true, |h| f(&h));
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
        self.patterns.slab(usize::from(pattern)).to_vec()
    }

    /// Every session that is `Active` or `Adapted` when visited (one pass over the table).
    pub fn active_sessions(&self) -> Vec<SessionHandle<(), AnyState>> {
        let mut out = Vec::with_capacity(self.total_sessions());
        self.scan(|h| {
            if h.is_active() {
                out.push(h.clone());
            }
        });
        out
    }

    /// How many sessions are `Active` or `Adapted` (one pass over the table, no allocation).
    pub fn active_session_count(&self) -> usize {
        let mut n = 0;
        self.scan(|h| n += usize::from(h.is_active()));
        n
    }

    /// Every session in the table (one pass).
    pub fn sessions(&self) -> Vec<SessionHandle<(), AnyState>> {
        let mut out = Vec::with_capacity(self.total_sessions());
        self.scan(|h| out.push(h.clone()));
        out
    }
}
