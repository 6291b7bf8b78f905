//! Loom models of the table's protocols, run over the loom stand-in map (see `src/map.rs`;
//! under loom, slabs compact from two slots up, so tiny tables exercise compaction):
//!
//! ```text
//! RUSTFLAGS="--cfg autonomic_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release -p autonomic-table --test loom_table
//! ```
#![cfg(autonomic_loom)]

use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autonomic_core::{CaseId, ClockHandle, ManualClock, SessionState, TenantId};
use autonomic_table::SessionTable;
use loom::sync::Arc;
use loom::thread;

/// Runs a model with more branches than loom's default allows (some operations touch all
/// 256 pattern slabs).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(f);
}

fn table() -> SessionTable {
    SessionTable::with_clock(ClockHandle::custom(StdArc::new(ManualClock::new())))
}

/// The last session of a tenant leaves while a new one arrives: the tenant is registered
/// exactly once, with exactly the new session.
#[test]
fn tenant_retired_while_a_session_arrives() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(1);
        let old = table.create_session(CaseId::new(), tenant).start().unwrap();
        let old_id = old.id();

        let t = table.clone();
        let remover = thread::spawn(move || {
            t.remove(&old_id).unwrap();
        });
        let t = table.clone();
        let creator =
            thread::spawn(move || t.create_session(CaseId::new(), tenant).start().unwrap().id());
        remover.join().unwrap();
        let new_id = creator.join().unwrap();

        assert_eq!(table.tenant_count(), 1);
        assert_eq!(table.tenant_session_count(tenant), 1);
        let listed: Vec<_> = table.sessions_by_tenant(tenant).iter().map(|h| h.id()).collect();
        assert_eq!(listed, vec![new_id]);
        assert_eq!(table.total_sessions(), 1);
    });
}

/// Two sessions of one tenant leave at once: the tenant is forgotten, once.
#[test]
fn concurrent_last_removals_forget_the_tenant_once() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(2);
        let a = table.create_session(CaseId::new(), tenant).start().unwrap().id();
        let b = table.create_session(CaseId::new(), tenant).start().unwrap().id();

        let t = table.clone();
        let ta = thread::spawn(move || t.remove(&a).unwrap());
        let t = table.clone();
        let tb = thread::spawn(move || t.remove(&b).unwrap());
        ta.join().unwrap();
        tb.join().unwrap();

        assert_eq!(table.tenant_count(), 0);
        assert_eq!(table.tenant_session_count(tenant), 0);
        assert!(table.sessions_by_tenant(tenant).is_empty());
        assert!(table.is_empty());
        // And the tenant can come back.
        let _again = table.create_session(CaseId::new(), tenant);
        assert_eq!(table.tenant_count(), 1);
        assert_eq!(table.tenant_session_count(tenant), 1);
    });
}

/// The owner moves a session to another pattern while someone removes it: no pattern set
/// keeps it, and the counts are zero.
#[test]
fn pattern_move_racing_removal_leaves_no_stale_entry() {
    model(|| {
        let table = Arc::new(table());
        let new = table.create_session(CaseId::new(), TenantId::from_u128(3)).with_pattern(1);
        let id = new.id();

        let t = table.clone();
        let remover = thread::spawn(move || {
            t.remove(&id).unwrap();
        });
        let new = new.with_pattern(2);
        remover.join().unwrap();
        drop(new);

        for p in [1, 2] {
            assert!(table.sessions_by_pattern(p).is_empty(), "pattern {p}");
            assert_eq!(table.pattern_session_count(p), 0, "pattern {p}");
        }
        assert!(table.is_empty());
        assert_eq!(table.tenant_count(), 0);
    });
}

/// The owner sets a pattern while a session is still listed; a concurrent removal of another
/// session of the same pattern does not disturb it.
#[test]
fn pattern_set_and_unrelated_removal() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(4);
        let other = table.create_session(CaseId::new(), tenant).with_pattern(7).start().unwrap();
        let other_id = other.id();
        let new = table.create_session(CaseId::new(), tenant);

        let t = table.clone();
        let remover = thread::spawn(move || {
            t.remove(&other_id).unwrap();
        });
        let new = new.with_pattern(7);
        remover.join().unwrap();

        let listed: Vec<_> = table.sessions_by_pattern(7).iter().map(|h| h.id()).collect();
        assert_eq!(listed, vec![new.id()]);
        assert_eq!(table.pattern_session_count(7), 1);
        assert_eq!(table.tenant_session_count(tenant), 1);
    });
}

/// Cleanup races the session's owner finishing it: a session is removed only once it is
/// terminal, and a running one never is.
#[test]
fn cleanup_racing_completion_never_removes_a_running_session() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(5);
        let handle = table.create_session(CaseId::new(), tenant).with_pattern(9).start().unwrap();
        let id = handle.id();

        let t = table.clone();
        let cleaner = thread::spawn(move || {
            let mut states = Vec::new();
            let n = t.cleanup_terminal_sessions_with(Duration::ZERO, |_| {});
            // Whatever it removed must have been terminal (it is final, so still is).
            t.for_each(|h| states.push(h.state()));
            (n, states)
        });
        let done = handle.complete().unwrap();
        let (removed, _) = cleaner.join().unwrap();

        assert_eq!(done.state(), SessionState::Completed);
        if removed == 1 {
            assert!(!table.contains(&id));
            assert_eq!(table.pattern_session_count(9), 0);
            assert_eq!(table.tenant_count(), 0);
        } else {
            assert_eq!(removed, 0);
            assert!(table.contains(&id));
            assert_eq!(table.pattern_session_count(9), 1);
            assert_eq!(table.tenant_session_count(tenant), 1);
        }
    });
}

/// Cleanup never touches an active session, even while it adapts.
#[test]
fn cleanup_leaves_active_sessions_alone() {
    model(|| {
        let table = Arc::new(table());
        let handle = table.create_session(CaseId::new(), TenantId::from_u128(6)).start().unwrap();
        let t = table.clone();
        let cleaner = thread::spawn(move || t.cleanup_terminal_sessions(Duration::ZERO));
        handle.mark_adapted().unwrap();
        assert_eq!(cleaner.join().unwrap(), 0);
        assert!(table.contains(&handle.id()));
    });
}

/// Builds the slabs `[F, A, B, C, D]` (the tenant's and the no-pattern one), removes A and
/// B, and returns F, C and D; removing C then makes the slabs sparse enough to move D.
fn sparse_slabs(
    table: &SessionTable,
    tenant: TenantId,
) -> (autonomic_core::SessionHandle, autonomic_core::SessionId, autonomic_table::NewSession<'_>) {
    let f = table.create_session(CaseId::new(), tenant).start().unwrap();
    let a = table.create_session(CaseId::new(), tenant).start().unwrap().id();
    let b = table.create_session(CaseId::new(), tenant).start().unwrap().id();
    let c = table.create_session(CaseId::new(), tenant).start().unwrap().id();
    let d = table.create_session(CaseId::new(), tenant);
    table.remove(&a).unwrap();
    table.remove(&b).unwrap();
    (f, c, d)
}

/// The owner moves D to a pattern while removing C compacts the slab D is leaving: D is
/// either moved before its pattern changes (and then leaves from its new slot) or not at
/// all; no slab keeps a stale D.
#[test]
fn compaction_racing_a_pattern_move() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(7);
        // E sits at slot 0 of pattern 5, so D lands at slot 1 there: a wrong move would show.
        let e = table.create_session(CaseId::new(), tenant).with_pattern(5).start().unwrap();
        let (f, c, d) = sparse_slabs(&table, tenant);

        let t = table.clone();
        let remover = thread::spawn(move || {
            t.remove(&c).unwrap();
        });
        let d = d.with_pattern(5).start().unwrap();
        remover.join().unwrap();

        let mut in_5: Vec<_> = table.sessions_by_pattern(5).iter().map(|h| h.id()).collect();
        in_5.sort();
        let mut want = vec![e.id(), d.id()];
        want.sort();
        assert_eq!(in_5, want);
        table.remove(&d.id()).unwrap();
        table.remove(&e.id()).unwrap();
        assert!(table.sessions_by_pattern(5).is_empty(), "stale entry in pattern 5");
        assert_eq!(table.pattern_session_count(5), 0);
        let left: Vec<_> = table.sessions().iter().map(|h| h.id()).collect();
        assert_eq!(left, vec![f.id()]);
        assert_eq!(table.sessions_by_tenant(tenant).len(), 1);
    });
}

/// D is removed while removing C compacts the slabs D is in (tenant and no-pattern): either
/// D moves first and is removed from its new slot, or it is not moved.
#[test]
fn compaction_racing_removal_of_the_moved_session() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(8);
        let (f, c, d) = sparse_slabs(&table, tenant);
        let d = d.start().unwrap().id();

        let t = table.clone();
        let remover = thread::spawn(move || {
            t.remove(&c).unwrap();
        });
        table.remove(&d).unwrap();
        remover.join().unwrap();

        // Only F is left, in both indexes, and removing it empties them.
        let by_tenant: Vec<_> = table.sessions_by_tenant(tenant).iter().map(|h| h.id()).collect();
        assert_eq!(by_tenant, vec![f.id()]);
        let all: Vec<_> = table.sessions().iter().map(|h| h.id()).collect();
        assert_eq!(all, vec![f.id()]);
        table.remove(&f.id()).unwrap();
        assert!(table.is_empty());
        assert_eq!(table.tenant_count(), 0);
        assert!(table.sessions().is_empty());
    });
}

/// Cleanup removes a tenant's last session (retiring its slab in the batched tenant step)
/// while a new session of that tenant arrives: the tenant ends with exactly the new session.
#[test]
fn cleanup_retiring_a_tenant_while_a_session_arrives() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(9);
        let old = table.create_session(CaseId::new(), tenant).with_pattern(1).start().unwrap();
        let old_id = old.complete().unwrap().id();

        let t = table.clone();
        let cleaner = thread::spawn(move || t.cleanup_terminal_sessions(Duration::ZERO));
        let new = table.create_session(CaseId::new(), tenant).start().unwrap();
        assert_eq!(cleaner.join().unwrap(), 1);

        assert!(!table.contains(&old_id));
        let listed: Vec<_> = table.sessions_by_tenant(tenant).iter().map(|h| h.id()).collect();
        assert_eq!(listed, vec![new.id()]);
        assert_eq!(table.tenant_session_count(tenant), 1);
        assert_eq!(table.tenant_count(), 1);
        assert_eq!(table.pattern_session_count(1), 0);
        assert_eq!(table.total_sessions(), 1);
    });
}

/// A session is cancelled from outside while its `NewSession` owner moves it to another
/// pattern, and cleanup runs meanwhile: cleanup removes it (wherever it is by then) or, if
/// the move hid it from that pass, the next pass does; no pattern slab keeps it.
#[test]
fn cleanup_of_a_session_whose_owner_moves_it() {
    model(|| {
        let table = Arc::new(table());
        let new = table.create_session(CaseId::new(), TenantId::from_u128(10)).with_pattern(1);
        table.get(&new.id()).unwrap().cancel().unwrap();

        let t = table.clone();
        let cleaner = thread::spawn(move || t.cleanup_terminal_sessions(Duration::ZERO));
        let new = new.with_pattern(2);
        let removed = cleaner.join().unwrap();
        drop(new);
        if removed == 0 {
            assert_eq!(table.sessions_by_pattern(2).len(), 1);
            assert_eq!(table.cleanup_terminal_sessions(Duration::ZERO), 1);
        } else {
            assert_eq!(removed, 1);
        }

        for p in [1, 2] {
            assert!(table.sessions_by_pattern(p).is_empty(), "pattern {p}");
            assert_eq!(table.pattern_session_count(p), 0);
        }
        assert!(table.is_empty());
        assert_eq!(table.tenant_count(), 0);
    });
}

/// A visit borrows handles without counting references: the session it has copied out is
/// removed, and its last other handle dropped, while the visit may still read it. The
/// slab's graveyard must keep it alive until the visit ends, and free it then. The session
/// never ends, so its end action runs exactly when its memory is freed: that tells whether
/// it lives.
#[test]
fn visit_racing_the_removal_of_the_last_reference() {
    model(|| {
        let table = Arc::new(table());
        let freed = StdArc::new(AtomicBool::new(false));
        // SeqCst: a probe read after the fact, not part of the protocol under test.
        let alive = || !freed.load(Ordering::SeqCst);
        let h = table.create_session(CaseId::new(), TenantId::from_u128(1)).start().unwrap();
        let on_free = freed.clone();
        h.on_end(move || on_free.store(true, Ordering::SeqCst));
        h.record_task_execution_us(7);
        let id = h.id();
        drop(h); // only the table holds the session now
        assert!(alive());

        let t = table.clone();
        let remover = thread::spawn(move || drop(t.remove(&id).unwrap()));
        let mut seen = Vec::new();
        table.for_each(|h| {
            // The callback may run as long as it likes: let the remover go first.
            thread::yield_now();
            assert!(alive(), "freed while a visit could read it");
            seen.push((h.id(), h.snapshot_at(0).total_latency_us));
        });
        remover.join().unwrap();

        assert!(seen.is_empty() || seen == vec![(id, 7)], "{seen:?}");
        assert_eq!(table.total_sessions(), 0);
        assert!(!alive(), "freed once the visit ended");
    });
}

/// A sweep split in two parts (the all-sessions index pinned, its positions cut in two)
/// while another thread removes one session and creates another: the session present
/// throughout is visited once, the ended one is removed and reported once, nothing is
/// visited twice, and the counts stay exact.
#[test]
fn split_sweep_racing_a_removal_and_a_creation() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(3);
        let ended = table.create_session(CaseId::new(), tenant).start().unwrap();
        let staying = table.create_session(CaseId::new(), tenant).start().unwrap();
        let leaving = table.create_session(CaseId::new(), tenant).start().unwrap();
        let (ended, staying_id, leaving_id) =
            (ended.complete().unwrap().id(), staying.id(), leaving.id());

        let t = table.clone();
        let churn = thread::spawn(move || {
            drop(t.remove(&leaving_id).unwrap());
            t.create_session(CaseId::new(), tenant).start().unwrap()
        });
        let mut parts = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        let report = table.sweep_readings_split(
            0,
            Duration::ZERO,
            &mut parts,
            |(seen, _), r| seen.push(r.id),
            |(_, gone), r| gone.push(r.id),
        );
        let created = churn.join().unwrap();

        let seen: Vec<_> = parts.iter().flat_map(|(s, _)| s.iter().copied()).collect();
        let gone: Vec<_> = parts.iter().flat_map(|(_, g)| g.iter().copied()).collect();
        assert_eq!(seen.iter().filter(|id| **id == staying_id).count(), 1, "{seen:?}");
        assert_eq!(gone, vec![ended]);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "visited twice: {seen:?}");
        assert_eq!((report.visited, report.removed), (seen.len(), 1));
        assert!(table.contains(&staying_id) && table.contains(&created.id()));
        assert_eq!(table.total_sessions(), 2);
        assert_eq!(table.tenant_session_count(tenant), 2);
        drop(staying);
    });
}

/// Two sweeps at once (what the parts of a split sweep are to each other: each takes
/// sessions out of the by-id map and unindexes its own batches): each ended session is
/// removed and reported by exactly one of them, the running one stays, the counts are exact.
#[test]
fn two_sweeps_at_once_remove_each_session_once() {
    model(|| {
        let table = Arc::new(table());
        let tenant = TenantId::from_u128(4);
        let running = table.create_session(CaseId::new(), tenant).with_pattern(2).start().unwrap();
        for _ in 0..2 {
            let h = table.create_session(CaseId::new(), tenant).with_pattern(2).start().unwrap();
            drop(h.complete().unwrap());
        }
        let sweep = |t: &SessionTable| {
            let mut gone = Vec::new();
            t.cleanup_terminal_sessions_with(Duration::ZERO, |id| gone.push(id));
            gone
        };
        let t = table.clone();
        let other = thread::spawn(move || sweep(&t));
        let mut gone = sweep(&table);
        gone.extend(other.join().unwrap());

        gone.sort();
        gone.dedup();
        assert_eq!(gone.len(), 2);
        assert!(!gone.contains(&running.id()));
        assert_eq!(table.total_sessions(), 1);
        assert_eq!(table.tenant_session_count(tenant), 1);
        assert_eq!(table.pattern_session_count(2), 1);
    });
}
