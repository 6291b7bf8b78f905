//! Threads create, pattern, start, finish, clean up and remove sessions at once; afterwards
//! the map, the tenant and pattern indexes and every count must agree exactly, and no session
//! that was still running may have been cleaned up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autonomic_core::{CaseId, SessionId, SessionState, TenantId};
use autonomic_table::SessionTable;

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ROUNDS: usize = 6_000;

/// Every cross-check the public API allows.
fn assert_consistent(table: &SessionTable) {
    let mut in_map: BTreeMap<SessionId, (TenantId, Option<u8>)> = BTreeMap::new();
    table.for_each(|h| {
        let dup = in_map.insert(h.id(), (h.tenant_id(), h.pattern()));
        assert!(dup.is_none(), "{} visited twice", h.id());
    });
    assert_eq!(table.total_sessions(), in_map.len());
    for id in in_map.keys() {
        assert!(table.contains(id));
        assert_eq!(table.get(id).expect("listed session").id(), *id);
    }

    let stats = table.stats();
    assert_eq!(stats.total_sessions, in_map.len());
    assert_eq!(
        stats.active_sessions
            + stats.created_sessions
            + stats.completed_sessions
            + stats.failed_sessions
            + stats.cancelled_sessions,
        in_map.len()
    );

    // Tenants: exactly the tenants of the sessions in the map, with exact counts and sets.
    let mut by_tenant: BTreeMap<TenantId, BTreeSet<SessionId>> = BTreeMap::new();
    for (id, (t, _)) in &in_map {
        by_tenant.entry(*t).or_default().insert(*id);
    }
    assert_eq!(table.tenant_count(), by_tenant.len());
    assert_eq!(stats.unique_tenants, by_tenant.len());
    let mut listed = BTreeMap::new();
    table.for_each_tenant(|t, n| {
        assert!(listed.insert(t, n).is_none());
    });
    assert_eq!(listed.len(), by_tenant.len(), "a tenant without sessions is still registered");
    for (t, ids) in &by_tenant {
        assert_eq!(table.tenant_session_count(*t), ids.len());
        assert_eq!(listed.get(t), Some(&ids.len()));
        let got: BTreeSet<_> = table.sessions_by_tenant(*t).iter().map(|h| h.id()).collect();
        assert_eq!(&got, ids, "tenant index of {t}");
        let mut visited = BTreeSet::new();
        table.for_each_in_tenant(*t, |h| {
            visited.insert(h.id());
        });
        assert_eq!(&visited, ids);
    }

    // Patterns: each pattern's set is exactly the sessions in the map carrying it.
    let mut by_pattern: BTreeMap<u8, BTreeSet<SessionId>> = BTreeMap::new();
    for (id, (_, p)) in &in_map {
        if let Some(p) = p {
            by_pattern.entry(*p).or_default().insert(*id);
        }
    }
    for p in 0..=u8::MAX {
        let want = by_pattern.remove(&p).unwrap_or_default();
        let got: BTreeSet<_> = table.sessions_by_pattern(p).iter().map(|h| h.id()).collect();
        assert_eq!(got, want, "pattern index {p}");
        assert_eq!(table.pattern_session_count(p), want.len(), "pattern count {p}");
    }
}

#[test]
fn indexes_and_counts_agree_after_concurrent_churn() {
    let table = SessionTable::new();
    // Few tenants, so that tenants are retired and re-created under contention; one tenant
    // whose sessions the remover may remove at any time, including right after creation.
    let tenants: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
    let victim = TenantId::new();
    let workers_done = AtomicUsize::new(0);
    let victims_removed = AtomicUsize::new(0);
    let stop = || workers_done.load(Ordering::Relaxed) == 2;

    let survivors = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2u64)
            .map(|w| {
                let (table, tenants, workers_done, victims_removed) =
                    (&table, &tenants, &workers_done, &victims_removed);
                s.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
                    let mut running = Vec::new();
                    // At least ROUNDS rounds, and on until the remover has raced a few.
                    for round in 0.. {
                        if round >= ROUNDS && victims_removed.load(Ordering::Relaxed) >= 100 {
                            break;
                        }
                        let victim_session = rng.below(4) == 0;
                        let tenant = if victim_session {
                            victim
                        } else {
                            tenants[rng.below(tenants.len() as u64) as usize]
                        };
                        let mut new = table.create_session(CaseId::new(), tenant);
                        if rng.below(3) != 0 {
                            new = new.with_pattern(rng.below(8) as u8);
                        }
                        if victim_session || rng.below(4) == 0 {
                            std::thread::yield_now(); // give the remover a window
                            new = new.with_pattern(rng.below(8) as u8); // move it
                        }
                        let Ok(handle) = new.start() else {
                            continue; // the remover cancelled it first
                        };
                        match rng.below(6) {
                            0 => drop(handle.complete()),
                            1 => drop(handle.fail()),
                            2 => drop(handle.cancel()),
                            3 => {
                                let _ = table.remove(&handle.id());
                            }
                            _ if !victim_session => running.push(handle),
                            _ => drop(handle.complete()),
                        }
                        // Finish an older running session now and then.
                        if running.len() > 64 {
                            let i = rng.below(running.len() as u64) as usize;
                            let _ = running.swap_remove(i).complete();
                        }
                    }
                    workers_done.fetch_add(1, Ordering::Relaxed);
                    running
                })
            })
            .collect();

        // Cleanup, all the time, with no age limit: only terminal sessions may go.
        let cleaner = s.spawn(|| {
            let mut removed = 0;
            while !stop() {
                removed += table.cleanup_terminal_sessions_with(Duration::ZERO, |id| {
                    assert!(!table.contains(&id));
                });
                std::thread::yield_now();
            }
            removed
        });

        // Removes the victim tenant's sessions in any state, racing their owners' patterns.
        let remover = s.spawn(|| {
            let mut removed = 0;
            while !stop() {
                table.for_each_in_tenant(victim, |h| {
                    if table.remove(&h.id()).is_ok() {
                        removed += 1;
                        victims_removed.fetch_add(1, Ordering::Relaxed);
                    }
                });
                std::thread::yield_now();
            }
            removed
        });

        let running: Vec<_> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
        let cleaned = cleaner.join().expect("cleaner");
        let removed = remover.join().expect("remover");
        assert!(cleaned > 0 && removed > 0, "the threads did race ({cleaned}, {removed})");
        running
    });

    assert_consistent(&table);

    // Every session still running was left in the table by cleanup.
    for h in &survivors {
        assert_eq!(h.state(), SessionState::Active);
        assert!(table.contains(&h.id()), "running session {} was removed", h.id());
    }
    assert!(!survivors.is_empty());

    // Finish and clean up everything: the table and all its bookkeeping return to empty.
    for h in survivors {
        h.complete().expect("still active");
    }
    table.for_each(|h| {
        let _ = h.clone().cancel();
    });
    table.cleanup_terminal_sessions(Duration::ZERO);
    assert_consistent(&table);
    assert!(table.is_empty());
    assert_eq!(table.tenant_count(), 0);
}

#[test]
fn compaction_under_concurrent_removal_keeps_positions_exact() {
    let table = SessionTable::new();
    let tenants = [TenantId::new(), TenantId::new()];
    // Big slabs, then random removals from two threads: the slabs go sparse and compact
    // while visitors pin them and a third thread keeps creating and moving patterns.
    let mut ids: Vec<SessionId> = (0..6_000)
        .map(|i| {
            let new = table.create_session(CaseId::new(), tenants[i % 2]);
            let new = if i % 3 == 0 { new } else { new.with_pattern((i % 5) as u8) };
            new.start().expect("fresh").id()
        })
        .collect();
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let doomed: Vec<SessionId> = ids[..5_000].to_vec();
    let remaining = AtomicUsize::new(2);

    let created = std::thread::scope(|s| {
        for half in doomed.chunks(2_500) {
            let (table, remaining) = (&table, &remaining);
            s.spawn(move || {
                for id in half {
                    table.remove(id).expect("each id is removed once");
                }
                remaining.fetch_sub(1, Ordering::Relaxed);
            });
        }
        s.spawn(|| {
            let mut visits = 0;
            while remaining.load(Ordering::Relaxed) > 0 || visits == 0 {
                for t in tenants {
                    // A visit pins its slab's positions: never the same session twice.
                    let mut seen = BTreeSet::new();
                    table.for_each_in_tenant(t, |h| assert!(seen.insert(h.id()), "twice"));
                }
                visits += 1;
            }
        });
        let creator = s.spawn(|| {
            let mut rng = Rng(7);
            let mut made = Vec::new();
            while remaining.load(Ordering::Relaxed) > 0 || made.is_empty() {
                let new = table
                    .create_session(CaseId::new(), tenants[rng.below(2) as usize])
                    .with_pattern(rng.below(5) as u8)
                    .with_pattern(rng.below(5) as u8);
                made.push(new.start().expect("fresh"));
            }
            made
        });
        creator.join().expect("creator")
    });

    assert_consistent(&table);
    assert_eq!(table.total_sessions(), 1_000 + created.len());
    for id in &ids[5_000..] {
        assert!(table.contains(id));
    }
    for h in &created {
        assert!(table.contains(&h.id()));
    }
}

/// A sweep split in 1 to 4 parts while another thread creates, finishes and removes sessions:
/// every session present for the whole sweep is visited once, by one part; every session
/// that ended is removed and reported once; no session is visited or reported twice; the
/// indexes agree afterwards.
#[test]
fn split_sweeps_under_churn_visit_and_remove_each_session_once() {
    for parts in 1..=4usize {
        let table = SessionTable::new();
        let tenants: Vec<TenantId> = (0..6).map(|_| TenantId::new()).collect();
        let mut rng = Rng(0x5EED ^ parts as u64);
        let (mut staying, mut ending, mut keep) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
        for i in 0..20_000u64 {
            let tenant = tenants[rng.below(tenants.len() as u64) as usize];
            let h = table
                .create_session(CaseId::new(), tenant)
                .with_pattern(rng.below(5) as u8)
                .start()
                .expect("fresh");
            if i % 3 == 0 {
                ending.insert(h.id());
                h.complete().expect("running");
            } else {
                staying.insert(h.id());
                keep.push(h);
            }
        }
        // Holes spread through the positions (removed before the sweep).
        for h in keep.drain(..).step_by(7).collect::<Vec<_>>() {
            staying.remove(&h.id());
            table.remove(&h.id()).expect("in the table");
        }
        let stop = AtomicUsize::new(0);
        let mut states = vec![(Vec::new(), Vec::new()); parts];
        let report = std::thread::scope(|s| {
            s.spawn(|| {
                let mut rng = Rng(0xC0FFEE);
                // Relaxed: a stop flag only; nothing is published through it (the scope's
                // join orders everything the churn did before the checks below).
                while stop.load(Ordering::Relaxed) == 0 {
                    let tenant = tenants[rng.below(tenants.len() as u64) as usize];
                    let h = table.create_session(CaseId::new(), tenant).start().expect("fresh");
                    match rng.below(3) {
                        0 => drop(h.complete()),
                        1 => drop(table.remove(&h.id())),
                        _ => {}
                    }
                }
            });
            let report = table.sweep_readings_split(
                table.clock().now_nanos(),
                Duration::ZERO,
                &mut states,
                |(seen, _), r| seen.push(r.id),
                |(_, gone), r| gone.push(r.id),
            );
            // Relaxed: see the load above.
            stop.store(1, Ordering::Relaxed);
            report
        });
        let mut seen = BTreeSet::new();
        let mut gone = BTreeSet::new();
        for (part_seen, part_gone) in &states {
            for id in part_seen {
                assert!(seen.insert(*id), "{id} visited twice ({parts} parts)");
            }
            for id in part_gone {
                assert!(gone.insert(*id), "{id} removed twice ({parts} parts)");
            }
        }
        assert_eq!((report.visited, report.removed), (seen.len(), gone.len()));
        assert!(staying.is_subset(&seen), "a staying session was missed ({parts} parts)");
        assert!(ending.is_subset(&gone), "an ended session was not removed ({parts} parts)");
        assert!(gone.is_subset(&seen));
        for id in &staying {
            assert!(table.contains(id));
        }
        for id in &gone {
            assert!(!table.contains(id));
        }
        assert_consistent(&table);
    }
}
