//! [`SessionReading`]: one session read at one instant, as plain data.

use crate::{MetricsSnapshot, SessionId, TenantId};

/// One session read at one instant: who it is (id, tenant, pattern) and a
/// [`MetricsSnapshot`] of its counters and lifecycle.
///
/// It is what passes over many sessions hand out when they need values, not handles (a
/// session table's `for_each_reading`, the aggregator): a plain `Copy` value, so handing it
/// out costs no reference count, holding it keeps no session alive, and it can be taken
/// under a lock and used after the lock is released.
///
/// ```
/// use autonomic_core::{CaseId, SessionHandle, SessionState, TenantId};
///
/// let tenant = TenantId::new();
/// let h = SessionHandle::builder(CaseId::new(), tenant).pattern(7).build().start()?;
/// h.record_task_execution_us(250);
/// let r = h.reading_at(h.context().clock().now_nanos());
/// assert_eq!((r.id, r.tenant_id, r.pattern), (h.id(), tenant, Some(7)));
/// assert_eq!(r.snapshot.state, SessionState::Active);
/// assert_eq!(r.snapshot.avg_latency_us(), Some(250.0));
/// # Ok::<(), autonomic_core::TransitionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionReading {
    /// The session's id.
    pub id: SessionId,
    /// The session's tenant.
    pub tenant_id: TenantId,
    /// Its workflow pattern, if one was set.
    pub pattern: Option<u8>,
    /// Its counters and lifecycle at the instant it was read.
    pub snapshot: MetricsSnapshot,
}
