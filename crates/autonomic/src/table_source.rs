//! [`TableSource`]: a session table (or one tenant's or one pattern's part of it) as a
//! [`SessionSource`] the aggregator can pass over without allocating.

use std::fmt;

use autonomic_aggregate::SessionSource;
use autonomic_core::{Coverage, SessionHandle, SessionReading, TenantId, marker::AnyState};
use autonomic_table::SessionTable;

/// Which sessions of the table a [`TableSource`] visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Tenant(TenantId),
    Pattern(u8),
}

/// A [`SessionTable`] seen as a [`SessionSource`]: the aggregator visits the table's sessions
/// in place, through the table's allocation-free visitors, with nothing collected first. An
/// aggregation reads each session through
/// [`SessionTable::for_each_reading`](autonomic_table::SessionTable::for_each_reading), which
/// clones no handle and touches no reference count.
///
/// [`all`](Self::all) visits every session; [`tenant`](Self::tenant) and
/// [`pattern`](Self::pattern) visit one tenant's or one pattern's sessions through the
/// table's indexes (O(those sessions), not a scan of the table).
///
/// What a visit of a live table sees is described in [`autonomic_table::visit`]: every session
/// present for the whole pass, each once; a session created or removed during the pass may
/// or may not be seen, and none is seen twice. The runtime's loop aggregates through
/// [`TableSource::all`].
///
/// ```
/// use std::sync::Arc;
/// use autonomic::{CaseId, KnowledgeBase, SessionAggregator, SessionTable, TableSource, TenantId};
///
/// let table = SessionTable::new();
/// let (a, b) = (TenantId::new(), TenantId::new());
/// let h = table.create_session(CaseId::new(), a).with_pattern(3).start()?;
/// h.record_task_execution_us(1_500);
/// let _idle = table.create_session(CaseId::new(), b);
///
/// let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
/// let all = aggregator.aggregate_source(&TableSource::all(&table));
/// assert_eq!((all.total_sessions, all.active_sessions, all.created_sessions), (2, 1, 1));
/// assert_eq!(aggregator.aggregate_source(&TableSource::tenant(&table, a)).total_sessions, 1);
/// assert_eq!(aggregator.aggregate_source(&TableSource::pattern(&table, 3)).latency.p50_us, 1_500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct TableSource<'t> {
    table: &'t SessionTable,
    scope: Scope,
}

impl<'t> TableSource<'t> {
    /// Every session of the table.
    pub fn all(table: &'t SessionTable) -> Self {
        TableSource { table, scope: Scope::All }
    }

    /// The sessions of one tenant (through the tenant index).
    pub fn tenant(table: &'t SessionTable, tenant: TenantId) -> Self {
        TableSource { table, scope: Scope::Tenant(tenant) }
    }

    /// The sessions carrying one workflow pattern (through the pattern index).
    pub fn pattern(table: &'t SessionTable, pattern: u8) -> Self {
        TableSource { table, scope: Scope::Pattern(pattern) }
    }

    /// The table visited.
    pub fn table(&self) -> &'t SessionTable {
        self.table
    }
}

impl SessionSource for TableSource<'_> {
    type Tenant = ();
    type State = AnyState;

    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, f: F) {
        match self.scope {
            Scope::All => self.table.for_each(f),
            Scope::Tenant(tenant) => self.table.for_each_in_tenant(tenant, f),
            Scope::Pattern(pattern) => self.table.for_each_in_pattern(pattern, f),
        }
    }

    /// Readings taken by the table's own visit: no handle is cloned.
    #[inline]
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, f: F) {
        match self.scope {
            Scope::All => self.table.for_each_reading(now_nanos, f),
            Scope::Tenant(tenant) => self.table.for_each_reading_in_tenant(tenant, now_nanos, f),
            Scope::Pattern(pattern) => {
                self.table.for_each_reading_in_pattern(pattern, now_nanos, f)
            }
        }
    }

    /// The whole table is [`Coverage::All`] (its aggregates, published, are what the doctrine
    /// gate reads); a tenant's or a pattern's part says so.
    fn coverage(&self) -> Coverage {
        match self.scope {
            Scope::All => Coverage::All,
            Scope::Tenant(tenant) => Coverage::Tenant(tenant),
            Scope::Pattern(pattern) => Coverage::Pattern(pattern),
        }
    }
}

impl fmt::Debug for TableSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableSource")
            .field("scope", &self.scope)
            .field("table_sessions", &self.table.total_sessions())
            .finish()
    }
}
