//! The borrowed visits' unsafe protocol, through the public API, at sizes small enough for
//! miri (`cargo xtask miri` runs this file under Stacked and Tree Borrows): a visit hands out
//! bit copies of handles that the slab keeps alive, moving the handles that leave it to its
//! graveyard until the last visitor is gone. These tests take every way a handle can leave
//! the table during a visit and then read the visited session, which miri turns into a
//! use-after-free report if the protocol is wrong; each also checks when the sessions are
//! freed, which plain test runs check too.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use autonomic_core::{CaseId, ClockHandle, ManualClock, SessionHandle, TenantId, marker::Active};
use autonomic_table::SessionTable;

/// A liveness probe: every session [`fill`] makes holds a clone of it in an end action,
/// which lives as long as the session's memory unless the session ends first (an ended
/// session's action has run and is gone).
type Probe = Arc<()>;

/// A table on a manual clock, a probe, and the number of unended sessions still allocated.
fn table() -> (SessionTable, Probe, impl Fn() -> usize) {
    let clock = Arc::new(ManualClock::new());
    let table = SessionTable::with_clock(ClockHandle::custom(clock));
    let probe = Probe::default();
    let counted = probe.clone();
    // Ours and the counter's own clone; every other one is a session's.
    let allocated = move || Arc::strong_count(&counted) - 2;
    (table, probe, allocated)
}

fn fill(
    table: &SessionTable,
    probe: &Probe,
    tenant: TenantId,
    n: usize,
) -> Vec<SessionHandle<(), Active>> {
    (0..n)
        .map(|i| {
            let h = table.create_session(CaseId::new(), tenant).with_pattern(i as u8 % 2);
            let h = h.start().expect("nobody else holds it");
            let token = probe.clone();
            h.on_end(move || drop(token));
            h.record_task_execution_us(10);
            h
        })
        .collect()
}

/// Reads the visited session's memory: its id, context and counters.
fn touch(h: &SessionHandle<(), autonomic_core::marker::AnyState>) -> u64 {
    h.snapshot_at(0).task_completions + u64::from(h.context().tenant_id() == h.tenant_id())
}

#[test]
fn every_kind_of_visit_reads_live_sessions() {
    let (table, probe, allocated) = table();
    let tenant = TenantId::new();
    drop(fill(&table, &probe, tenant, 5)); // the table holds the only references
    assert_eq!(allocated(), 5);
    let mut sum = 0;
    table.for_each(|h| sum += touch(h));
    table.for_each_in_tenant(tenant, |h| sum += touch(h));
    table.for_each_in_pattern(1, |h| sum += touch(h));
    table.for_each_reading(0, |r| sum += r.snapshot.task_completions);
    assert_eq!(sum, 2 * 5 + 2 * 5 + 2 * 2 + 5);
    assert_eq!(table.active_sessions().len(), 5);
}

#[test]
fn removing_every_session_from_a_callback_frees_none_before_the_visit_ends() {
    let (table, probe, allocated) = table();
    let tenant = TenantId::new();
    let ids: Vec<_> = fill(&table, &probe, tenant, 5).iter().map(SessionHandle::id).collect();
    let mut visited = 0;
    table.for_each_in_tenant(tenant, |h| {
        if visited == 0 {
            // Takes out the sessions this visit has copied but not yet handed out, too.
            for id in &ids {
                drop(table.remove(id).expect("present"));
            }
            assert!(table.is_empty());
        }
        visited += touch(h);
        assert_eq!(allocated(), 5, "a session was freed during the visit");
    });
    assert_eq!(visited, 2 * 5);
    assert_eq!(allocated(), 0, "the graveyard is emptied when the visit ends");
}

#[test]
fn cleanup_during_a_visit_and_a_visit_during_cleanup() {
    let (table, probe, allocated) = table();
    let tenant = TenantId::new();
    for h in fill(&table, &probe, tenant, 4) {
        h.complete().expect("only holder");
    }
    let mut visited = 0;
    table.for_each(|h| {
        if visited == 0 {
            assert_eq!(table.cleanup_terminal_sessions(std::time::Duration::ZERO), 4);
        }
        visited += touch(h);
    });
    // (Ended sessions have run their end actions: the probe no longer sees them, and miri
    // is what checks that the visit read none of them after it was freed.)
    assert_eq!((visited, allocated()), (2 * 4, 0));
    // And the other way round: cleanup's own visit calls back into a visit.
    drop(fill(&table, &probe, tenant, 3));
    let mut inner = 0;
    table.cleanup_terminal_sessions_with(std::time::Duration::ZERO, |_| {});
    table.for_each(|_| table.for_each_in_pattern(0, |h| inner += touch(h)));
    assert_eq!(inner, 3 * 2 * 2);
}

#[test]
fn a_panicking_callback_leaves_the_table_usable_and_frees_what_left() {
    let (table, probe, allocated) = table();
    let tenant = TenantId::new();
    let ids: Vec<_> = fill(&table, &probe, tenant, 4).iter().map(SessionHandle::id).collect();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        table.for_each(|h| {
            drop(table.remove(&ids[0]));
            drop(table.remove(&ids[3]));
            touch(h);
            panic!("a visitor fails");
        })
    }));
    assert!(outcome.is_err());
    assert_eq!(allocated(), 2, "the unwinding visit still emptied the graveyard");
    assert_eq!(table.total_sessions(), 2);
    let mut seen = 0;
    table.for_each(|h| seen += touch(h));
    assert_eq!(seen, 2 * 2);
    assert_eq!(table.cleanup_terminal_sessions(std::time::Duration::ZERO), 0);
}

#[test]
fn dropping_the_last_other_reference_during_a_visit() {
    let (table, probe, allocated) = table();
    let tenant = TenantId::new();
    let mut mine = fill(&table, &probe, tenant, 3);
    let mut visited = 0;
    table.for_each_in_pattern(0, |h| {
        // The table's reference goes to the graveyard; ours, the last other one, is dropped:
        // the visited session now lives on the graveyard's reference alone.
        let id = h.id();
        drop(table.remove(&id).expect("present"));
        mine.retain(|m| m.id() != id);
        visited += touch(h);
        assert_eq!(h.id(), id);
    });
    assert_eq!(visited, 2 * 2);
    assert_eq!(allocated(), 1, "the visited sessions are freed once the visit ends");
    assert_eq!(mine.len(), 1);
    drop(mine);
    assert_eq!(allocated(), 1, "the table still holds the pattern-1 session");
    assert_eq!(table.total_sessions(), 1);
}
