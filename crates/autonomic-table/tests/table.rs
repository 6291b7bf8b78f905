//! Behaviour of the table: lookups, indexes, counts, cleanup, typed views.

use std::sync::Arc;
use std::time::Duration;

use autonomic_core::{
    CaseId, ClockHandle, ManualClock, MetadataError, SessionId, SessionState, StaticTenant, Tag,
    TenantId, static_tenant,
};
use autonomic_table::{SessionTable, TableError, TableStats};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn manual() -> (Arc<ManualClock>, SessionTable) {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    (clock, table)
}

fn ids(
    handles: &[autonomic_core::SessionHandle<(), autonomic_core::marker::AnyState>],
) -> Vec<SessionId> {
    let mut v: Vec<_> = handles.iter().map(|h| h.id()).collect();
    v.sort();
    v
}

#[test]
fn get_remove_contains_and_not_found() -> Result {
    let table = SessionTable::new();
    let h = table.create_session(CaseId::new(), TenantId::new()).start()?;
    let id = h.id();
    assert!(table.contains(&id));
    assert!(table.get(&id)?.ptr_eq(&h));
    assert_eq!(table.total_sessions(), 1);

    let removed = table.remove(&id)?;
    assert!(removed.ptr_eq(&h));
    assert!(!table.contains(&id));
    assert_eq!(table.total_sessions(), 0);
    assert!(table.is_empty());
    let err = table.get(&id).unwrap_err();
    assert_eq!(err, TableError::NotFound { id });
    assert_eq!(err.to_string(), format!("session {id} not found"));
    assert_eq!(table.remove(&id).unwrap_err(), TableError::NotFound { id });
    // The removed session's handle still works.
    h.record_retry();
    assert_eq!(h.snapshot().retry_count, 1);
    Ok(())
}

#[test]
fn the_session_is_registered_before_it_starts() -> Result {
    let table = SessionTable::new();
    let new = table.create_session(CaseId::new(), TenantId::new());
    assert_eq!(table.get(&new.id())?.state(), SessionState::Created);
    assert_eq!(table.stats().created_sessions, 1);
    let h = new.start()?;
    assert_eq!(table.get(&h.id())?.state(), SessionState::Active);
    Ok(())
}

#[test]
fn pattern_set_at_creation_is_indexed_and_moves() -> Result {
    let table = SessionTable::new();
    let t = TenantId::new();
    let new = table.create_session(CaseId::new(), t).with_pattern(1);
    assert_eq!(ids(&table.sessions_by_pattern(1)), vec![new.id()]);
    assert_eq!(table.pattern_session_count(1), 1);

    let new = new.with_pattern(2);
    assert!(table.sessions_by_pattern(1).is_empty());
    assert_eq!(table.pattern_session_count(1), 0);
    assert_eq!(ids(&table.sessions_by_pattern(2)), vec![new.id()]);
    let new = new.with_pattern(2); // same pattern again: no duplicate
    assert_eq!(table.pattern_session_count(2), 1);
    assert_eq!(table.sessions_by_pattern(2).len(), 1);

    let h = new.start()?;
    assert_eq!(h.pattern(), Some(2));
    table.remove(&h.id())?;
    assert!(table.sessions_by_pattern(2).is_empty());
    assert_eq!(table.pattern_session_count(2), 0);
    Ok(())
}

#[test]
fn pattern_set_after_an_outside_removal_leaves_no_trace() -> Result {
    let table = SessionTable::new();
    let new = table.create_session(CaseId::new(), TenantId::new()).with_pattern(5);
    table.remove(&new.id())?;
    let new = new.with_pattern(6);
    assert_eq!(new.pattern(), Some(6));
    assert!(table.sessions_by_pattern(5).is_empty());
    assert!(table.sessions_by_pattern(6).is_empty());
    assert_eq!(table.pattern_session_count(6), 0);
    assert!(!table.contains(&new.id()));
    Ok(())
}

#[test]
fn tags_are_kept_and_a_refused_tag_cancels_the_session() -> Result {
    let table = SessionTable::new();
    let new = table.create_session(CaseId::new(), TenantId::new()).with_tag("a")?.with_tag("b")?;
    assert_eq!(new.context().tags().len(), 2);
    let id = new.id();
    let err = new.with_tag("").unwrap_err();
    assert_eq!(err, MetadataError::EmptyTag);
    assert_eq!(table.get(&id)?.state(), SessionState::Cancelled);

    let long = "x".repeat(Tag::MAX_LEN + 1);
    let new = table.create_session(CaseId::new(), TenantId::new());
    let id = new.id();
    assert!(matches!(new.with_tag(long), Err(MetadataError::TagTooLong { .. })));
    assert_eq!(table.get(&id)?.state(), SessionState::Cancelled);
    Ok(())
}

#[test]
fn dropping_a_new_session_cancels_it_and_cancel_is_explicit_too() -> Result {
    let table = SessionTable::new();
    let id = table.create_session(CaseId::new(), TenantId::new()).id();
    assert_eq!(table.get(&id)?.state(), SessionState::Cancelled);
    let cancelled = table.create_session(CaseId::new(), TenantId::new()).cancel()?;
    assert_eq!(table.get(&cancelled.id())?.state(), SessionState::Cancelled);
    assert_eq!(table.stats().cancelled_sessions, 2);
    Ok(())
}

#[test]
fn start_fails_if_someone_cancelled_first() -> Result {
    let table = SessionTable::new();
    let new = table.create_session(CaseId::new(), TenantId::new());
    table.get(&new.id())?.cancel()?;
    let err = new.start().unwrap_err();
    assert_eq!(err.found, SessionState::Cancelled);
    Ok(())
}

#[test]
fn tenant_counts_are_exact_and_empty_tenants_are_forgotten() -> Result {
    let table = SessionTable::new();
    let (a, b) = (TenantId::new(), TenantId::new());
    let ha: Vec<_> = (0..3)
        .map(|_| table.create_session(CaseId::new(), a).start())
        .collect::<std::result::Result<_, _>>()?;
    let hb = table.create_session(CaseId::new(), b).start()?;
    assert_eq!(table.tenant_session_count(a), 3);
    assert_eq!(table.tenant_session_count(b), 1);
    assert_eq!(table.tenant_count(), 2);
    assert_eq!(ids(&table.sessions_by_tenant(a)), {
        let mut v: Vec<_> = ha.iter().map(|h| h.id()).collect();
        v.sort();
        v
    });

    table.remove(&hb.id())?;
    assert_eq!(table.tenant_session_count(b), 0);
    assert!(table.sessions_by_tenant(b).is_empty());
    assert_eq!(table.tenant_count(), 1);
    let mut seen = Vec::new();
    table.for_each_tenant(|t, n| seen.push((t, n)));
    assert_eq!(seen, vec![(a, 3)]);

    for h in &ha {
        table.remove(&h.id())?;
    }
    assert_eq!(table.tenant_count(), 0);
    assert_eq!(table.stats(), TableStats::default());

    // A forgotten tenant comes back with a fresh count.
    let _again = table.create_session(CaseId::new(), a).start()?;
    assert_eq!(table.tenant_session_count(a), 1);
    assert_eq!(table.tenant_count(), 1);
    Ok(())
}

#[test]
fn stats_count_every_state() -> Result {
    let table = SessionTable::new();
    let t = TenantId::new();
    let active = table.create_session(CaseId::new(), t).start()?;
    let adapted = table.create_session(CaseId::new(), t).start()?;
    adapted.mark_adapted()?;
    table.create_session(CaseId::new(), t).start()?.complete()?;
    table.create_session(CaseId::new(), t).start()?.fail()?;
    table.create_session(CaseId::new(), t).start()?.cancel()?;
    let _created = table.create_session(CaseId::new(), TenantId::new());
    assert_eq!(
        table.stats(),
        TableStats {
            total_sessions: 6,
            active_sessions: 2,
            created_sessions: 1,
            completed_sessions: 1,
            failed_sessions: 1,
            cancelled_sessions: 1,
            unique_tenants: 2,
        }
    );
    assert_eq!(table.active_session_count(), 2);
    let mut active_ids = ids(&table.active_sessions());
    let mut want = vec![active.id(), adapted.id()];
    want.sort();
    active_ids.sort();
    assert_eq!(active_ids, want);
    Ok(())
}

#[test]
fn cleanup_goes_by_time_since_the_end_not_by_run_time() -> Result {
    let (clock, table) = manual();
    let t = TenantId::new();
    let short = table.create_session(CaseId::new(), t).with_pattern(9).start()?;
    let long = table.create_session(CaseId::new(), t).with_pattern(9).start()?;
    clock.advance(Duration::from_millis(5));
    let short_id = short.complete()?.id(); // ran 5 ms, ends at t = 5 ms
    clock.advance(Duration::from_secs(3600));
    let long_id = long.complete()?.id(); // ran an hour, ends now
    clock.advance(Duration::from_secs(60));

    let mut removed = Vec::new();
    let n = table.cleanup_terminal_sessions_with(Duration::from_secs(600), |id| removed.push(id));
    assert_eq!(n, 1);
    assert_eq!(removed, vec![short_id]);
    assert!(table.contains(&long_id));
    assert_eq!(ids(&table.sessions_by_pattern(9)), vec![long_id]);
    assert_eq!(table.tenant_session_count(t), 1);

    // Exactly at the boundary counts as old enough.
    clock.advance(Duration::from_secs(540));
    assert_eq!(table.cleanup_terminal_sessions(Duration::from_secs(600)), 1);
    assert!(table.is_empty());
    assert_eq!(table.tenant_count(), 0);
    assert_eq!(table.pattern_session_count(9), 0);
    Ok(())
}

#[test]
fn cleanup_never_removes_running_or_unstarted_sessions() -> Result {
    let (clock, table) = manual();
    let t = TenantId::new();
    let running = table.create_session(CaseId::new(), t).start()?;
    let adapted = table.create_session(CaseId::new(), t).start()?;
    adapted.mark_adapted()?;
    let created = table.create_session(CaseId::new(), t);
    clock.advance(Duration::from_secs(1_000_000));
    assert_eq!(table.cleanup_terminal_sessions(Duration::ZERO), 0);
    assert_eq!(table.total_sessions(), 3);
    drop((running, adapted, created));
    Ok(())
}

#[test]
fn visitors_may_call_back_into_the_table() -> Result {
    let table = SessionTable::new();
    let t = TenantId::new();
    let handles: Vec<_> = (0..200)
        .map(|i| table.create_session(CaseId::new(), t).with_pattern((i % 3) as u8).start())
        .collect::<std::result::Result<_, _>>()?;
    // Remove every visited session from inside the visit, and read the table too.
    let mut visited = 0;
    table.for_each(|h| {
        visited += 1;
        assert!(table.get(&h.id()).is_ok());
        table.remove(&h.id()).expect("visited session is present");
        let _ = table.stats();
    });
    assert_eq!(visited, 200);
    assert!(table.is_empty());
    assert_eq!(table.tenant_count(), 0);
    for p in 0..3 {
        assert_eq!(table.pattern_session_count(p), 0);
    }

    // Same within a tenant and a pattern, creating new sessions from inside the visit.
    let _more: Vec<_> = (0..50)
        .map(|_| table.create_session(CaseId::new(), t).with_pattern(1).start())
        .collect::<std::result::Result<_, _>>()?;
    let mut created = Vec::new();
    table.for_each_in_pattern(1, |h| {
        table.remove(&h.id()).expect("present");
        created.push(table.create_session(CaseId::new(), TenantId::new()).start().expect("new"));
    });
    table.for_each_in_tenant(t, |h| {
        let _ = table.remove(&h.id());
    });
    assert_eq!(table.tenant_session_count(t), 0);
    assert!(created.len() >= 50);
    assert_eq!(table.total_sessions(), created.len());
    drop(handles);
    Ok(())
}

static_tenant!(Acme = 0xAC);
static_tenant!(Globex = 0x61);

#[test]
fn tenant_views_only_yield_and_accept_their_sessions() -> Result {
    let table = SessionTable::new();
    let acme = table.tenant::<Acme>();
    let globex = table.tenant::<Globex>();
    let a1 = acme.create_session(CaseId::new()).with_pattern(3).start()?;
    let a2 = acme.create_session(CaseId::new()).start()?;
    let g1 = globex.create_session(CaseId::new()).start()?;
    let dynamic = table.create_session(CaseId::new(), Acme::TENANT).start()?; // same tenant, untyped

    assert_eq!(acme.session_count(), 3);
    assert_eq!(globex.session_count(), 1);
    assert_eq!(acme.sessions().len(), 3);
    assert!(acme.get(&a1.id())?.ptr_eq(&a1));
    assert!(acme.get(&dynamic.id()).is_ok());
    assert!(matches!(acme.get(&g1.id()), Err(TableError::WrongTenant(_))));
    assert!(!acme.contains(&g1.id()));
    assert!(globex.contains(&g1.id()));

    // Removing another tenant's session through a view is refused and changes nothing.
    match acme.remove(&g1.id()) {
        Err(TableError::WrongTenant(m)) => {
            assert_eq!(m.found, Globex::TENANT);
            assert_eq!(m.expected, Acme::TENANT);
        }
        other => panic!("expected WrongTenant, got {other:?}"),
    }
    assert!(table.contains(&g1.id()));
    let missing = SessionId::from_raw(u64::MAX);
    assert_eq!(acme.remove(&missing).unwrap_err(), TableError::NotFound { id: missing });

    let gone = acme.remove_handle(&a1)?;
    assert!(gone.ptr_eq(&a1));
    assert_eq!(acme.session_count(), 2);
    assert!(table.sessions_by_pattern(3).is_empty());

    a2.complete()?;
    assert_eq!(acme.active_sessions().len(), 1);
    let mut n = 0;
    acme.for_each(|h| {
        assert_eq!(h.tenant_id(), Acme::TENANT);
        n += 1;
    });
    assert_eq!(n, 2);
    Ok(())
}

#[test]
fn the_table_and_its_handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SessionTable>();
    send_sync::<autonomic_table::NewSession<'static>>();
    send_sync::<autonomic_table::TenantView<'static, Acme>>();
    send_sync::<TableError>();
    send_sync::<TableStats>();
}

#[test]
fn cleanup_keeps_a_just_ended_session_after_years_of_uptime() -> Result {
    const DAY: Duration = Duration::from_secs(86_400);
    let hour = Duration::from_secs(3600);
    for uptime in [418 * DAY, 20 * 365 * DAY] {
        let (clock, table) = manual();
        clock.advance(uptime);
        let h = table.create_session(CaseId::new(), TenantId::new()).start()?;
        clock.advance(Duration::from_secs(5));
        h.complete()?;
        clock.advance(Duration::from_secs(60));
        assert_eq!(table.cleanup_terminal_sessions(hour), 0, "ended a minute ago ({uptime:?})");
        clock.advance(hour);
        assert_eq!(table.cleanup_terminal_sessions(hour), 1, "ended an hour ago ({uptime:?})");
    }
    Ok(())
}
