//! The session table of the session autonomic runtime: every live workflow session of a
//! service, by id, by tenant and by workflow pattern, at millions of sessions.
//!
//! # The model
//! A [`SessionTable`] holds sessions (see [`autonomic_core`]); a session is *in the table*
//! from [`create_session`](SessionTable::create_session) until it is removed, by id or by
//! [cleanup](SessionTable::cleanup_terminal_sessions) once it has been finished for long
//! enough. The table is shared (`&self` everywhere, `Send + Sync`); no lock is held between
//! calls or while a visitor runs. Beside the sessions by id it keeps three indexes, exact at
//! every quiescent moment:
//! * **all sessions**, in about the order they were created: what whole-table passes walk,
//!   so they read session memory in the order it was allocated;
//! * **by tenant**: each tenant's sessions and their count; a tenant whose last session
//!   leaves is forgotten, so tenant bookkeeping is bounded by the sessions present;
//! * **by pattern**: for each of the 256 pattern ids, the sessions that carry it.
//!
//! The pattern and tags of a session are set before it starts, through the [`NewSession`]
//! that `create_session` returns, which updates the session and the index together; the
//! table never hands out a session's raw `Created` handle, so its index cannot go stale.
//! Sessions change state on their own handles; the table reads their state when asked
//! ([`stats`](SessionTable::stats), [`active_sessions`](SessionTable::active_sessions),
//! cleanup). A [`TenantView`] is the table seen through one static tenant's type.
//!
//! # The API
//! * create: [`SessionTable::create_session`] -> [`NewSession`] (`with_pattern`,
//!   `with_tag`, `start`, `cancel`); [`SessionTable::tenant`] -> [`TenantView`];
//! * by id: [`get`](SessionTable::get) (a [`TableError`] if absent),
//!   [`remove`](SessionTable::remove), [`contains`](SessionTable::contains);
//! * lists and counts: [`sessions_by_tenant`](SessionTable::sessions_by_tenant),
//!   [`sessions_by_pattern`](SessionTable::sessions_by_pattern),
//!   [`active_sessions`](SessionTable::active_sessions),
//!   [`total_sessions`](SessionTable::total_sessions),
//!   [`tenant_session_count`](SessionTable::tenant_session_count),
//!   [`stats`](SessionTable::stats) -> [`TableStats`];
//! * visits without allocation (for aggregation): [`for_each`](SessionTable::for_each),
//!   [`for_each_in_tenant`](SessionTable::for_each_in_tenant),
//!   [`for_each_in_pattern`](SessionTable::for_each_in_pattern); what a visit sees is
//!   described in [`visit`];
//! * the sweep: [`sweep`](SessionTable::sweep), one pass that visits every session and
//!   removes those that ended at least a retention ago ([`ended_long_enough_ago`], the one
//!   owner of that rule), reporting each removed session's final reading; cleanup
//!   ([`cleanup_terminal_sessions`](SessionTable::cleanup_terminal_sessions),
//!   [`cleanup_terminal_sessions_with`](SessionTable::cleanup_terminal_sessions_with)) is a
//!   sweep that visits nothing.
//!
//! ```
//! use std::time::Duration;
//! use autonomic_core::{CaseId, TenantId};
//! use autonomic_table::SessionTable;
//!
//! let table = SessionTable::new();
//! let tenant = TenantId::new();
//! let handle = table.create_session(CaseId::new(), tenant).with_pattern(42).start()?;
//! handle.record_task_execution(Duration::from_millis(10));
//! assert_eq!(table.sessions_by_pattern(42).len(), 1);
//! assert_eq!(table.active_sessions().len(), 1);
//!
//! handle.complete()?;
//! assert_eq!(table.cleanup_terminal_sessions(Duration::ZERO), 1);
//! assert_eq!(table.tenant_session_count(tenant), 0);
//! assert_eq!(table.stats().unique_tenants, 0); // the tenant is forgotten
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things are
//! * `table.rs`: [`SessionTable`], lookups by id, and the protocol that keeps one
//!   session's map entry and index memberships in step;
//! * `new_session.rs`: [`NewSession`];
//! * `view.rs`: [`TenantView`];
//! * [`visit`]: visiting and listing (`for_each*`, `sessions_by_*`, `active_sessions`);
//! * `cleanup.rs`: the sweep, and cleanup by time since a session ended;
//! * `stats.rs`: [`TableStats`];
//! * `tenants.rs`: the tenant index and its slot lifetime protocol (loom-checked);
//! * `patterns.rs`: the pattern index;
//! * `slab.rs`: the vector of slots each index entry is (positions, reuse, compaction, and
//!   the graveyard that lets visits borrow handles);
//! * `map.rs`: the concurrent hash map behind lookups by id and the tenant registry;
//! * `lock_order.rs`: the order the table's locks nest in (registry, slab, by-id map),
//!   checked in debug builds;
//! * `error.rs`: [`TableError`]; `sync.rs`: the loom shim.

mod cleanup;
mod error;
mod lock_order;
mod map;
mod new_session;
mod patterns;
mod slab;
mod stats;
mod sync;
mod table;
mod tenants;
mod view;
pub mod visit;

pub use autonomic_core::StaticTenant;
pub use cleanup::{SweepReport, ended_long_enough_ago, ended_long_enough_ago_at};
pub use error::TableError;
pub use new_session::NewSession;
pub use stats::TableStats;
pub use table::SessionTable;
pub use view::TenantView;
