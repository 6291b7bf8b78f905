//! The quick reference's patterns 1, 3, 5 and 6, with the minimal typestate changes
//! (`let handle = handle.start()?;`, `.with_tag("x")?`).

use std::sync::Arc;
use std::time::Duration;

use autonomic_core::{CaseId, ClockHandle, ManualClock, SessionState, TenantId};
use autonomic_table::SessionTable;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

#[test]
fn pattern_1_basic_session_tracking() -> Result {
    let (case_id, tenant_id) = (CaseId::new(), TenantId::new());

    let table = SessionTable::new();
    let handle = table.create_session(case_id, tenant_id);

    let handle = handle.start()?;
    // ... execute workflow ...
    handle.record_task_execution(Duration::from_millis(3));
    let handle = handle.complete()?;

    assert_eq!(handle.state(), SessionState::Completed);
    assert_eq!(table.get(&handle.id())?.state(), SessionState::Completed);
    assert_eq!(table.get(&handle.id())?.case_id(), case_id);
    assert_eq!(table.stats().completed_sessions, 1);
    Ok(())
}

#[test]
fn pattern_3_multi_tenant() -> Result {
    let table = SessionTable::new();
    let (case1, case2) = (CaseId::new(), CaseId::new());

    // Create sessions for different tenants
    let tenant_a = TenantId::new();
    let tenant_b = TenantId::new();

    let handle_a = table.create_session(case1, tenant_a);
    let handle_b = table.create_session(case2, tenant_b);

    // Filter by tenant
    let tenant_a_sessions = table.sessions_by_tenant(tenant_a);
    let count = table.tenant_session_count(tenant_a);

    assert_eq!(count, 1);
    assert_eq!(tenant_a_sessions.len(), 1);
    assert_eq!(tenant_a_sessions[0].id(), handle_a.id());
    assert_eq!(table.sessions_by_tenant(tenant_b)[0].id(), handle_b.id());
    assert_eq!(table.stats().unique_tenants, 2);
    Ok(())
}

#[test]
fn pattern_5_pattern_based_filtering() -> Result {
    let table = SessionTable::new();
    let (case_id, tenant_id) = (CaseId::new(), TenantId::new());
    let _other = table.create_session(CaseId::new(), tenant_id).with_pattern(7);

    // Create with pattern
    let handle =
        table.create_session(case_id, tenant_id).with_pattern(42).with_tag("high-priority")?;

    // Filter by pattern
    let pattern_sessions = table.sessions_by_pattern(42);

    assert_eq!(pattern_sessions.len(), 1);
    assert_eq!(pattern_sessions[0].id(), handle.id());
    assert_eq!(pattern_sessions[0].pattern(), Some(42));
    assert!(pattern_sessions[0].context().has_tag("high-priority"));
    let handle = handle.start()?;
    assert!(table.sessions_by_pattern(42)[0].is_active());
    drop(handle);
    Ok(())
}

#[test]
fn pattern_6_session_cleanup() -> Result {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    let tenant = TenantId::new();
    let old = table.create_session(CaseId::new(), tenant).start()?;
    let running = table.create_session(CaseId::new(), tenant).start()?;
    old.complete()?;
    clock.advance(Duration::from_secs(2 * 3600));
    let recent = table.create_session(CaseId::new(), tenant).start()?;
    recent.fail()?;

    // Cleanup terminal sessions older than 1 hour
    let removed = table.cleanup_terminal_sessions(Duration::from_secs(3600));
    println!("Removed {} old sessions", removed);

    assert_eq!(removed, 1);
    assert_eq!(table.total_sessions(), 2);
    assert!(table.contains(&running.id()));
    Ok(())
}
