//! Loom model of the doctrine gate: slots, ledger, permits and grants.
//!
//! Run: `cargo xtask loom` (or `RUSTFLAGS="--cfg autonomic_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p autonomic-adapter --lib loom_`).

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

use crate::gate::{Gate, ResourceLedger};

/// Three threads race for `bound` slots through `Gate::admit`; while a thread holds a
/// permit it counts itself in a separate "in flight" counter. The count of holders never
/// exceeds the bound, and every slot comes back (by drop, or by `release_slot` then drop).
fn slots_never_exceed(bound: u64) {
    loom::model(move || {
        let gate = Arc::new(Gate::new());
        let in_flight = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let gate = gate.clone();
                let in_flight = in_flight.clone();
                thread::spawn(move || {
                    let Ok(permit) = Gate::admit(&gate, bound, 0, 0) else {
                        return false;
                    };
                    // Relaxed: the counter's ordering comes from the gate's Acquire/Release;
                    // this is what the model checks.
                    let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                    assert!(now <= bound, "{now} in flight with bound {bound}");
                    assert!(gate.slots_in_use() <= bound);
                    // Relaxed: as above.
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    if i == 0 {
                        // Execution path: the slot goes back early, then the permit drops.
                        assert!(permit.release_slot());
                    }
                    drop(permit);
                    true
                })
            })
            .collect();
        let admitted = handles.into_iter().map(|h| h.join().unwrap()).filter(|&a| a).count();
        assert!(admitted as u64 >= bound.min(3), "only {admitted} admitted with bound {bound}");
        assert_eq!(gate.slots_in_use(), 0);
    });
}

#[test]
fn slots_bound_one() {
    slots_never_exceed(1);
}

#[test]
fn slots_bound_two() {
    slots_never_exceed(2);
}

/// Three threads reserve 2 units each against a capacity of 5: at most two hold units at
/// once, the ledger never passes the capacity, and it ends empty.
#[test]
fn ledger_never_exceeds_capacity() {
    loom::model(|| {
        let ledger = Arc::new(ResourceLedger::new());
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let ledger = ledger.clone();
                thread::spawn(move || {
                    if let Ok(after) = ledger.try_reserve(2, 5) {
                        assert!(after <= 5);
                        assert!(ledger.granted() <= 5);
                        assert!(ledger.release(2));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(ledger.granted(), 0);
    });
}

/// Slots and units together: three admissions of 2 units each, capacity 3, bound 2. A refused
/// resource reservation gives its slot back; units moved into a grant are returned by it.
#[test]
fn permits_return_slot_and_units_once() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let gate = gate.clone();
                thread::spawn(move || {
                    if let Ok(permit) = Gate::admit(&gate, 2, 3, 2) {
                        assert!(gate.units_granted() <= 3);
                        assert!(gate.slots_in_use() <= 2);
                        if i == 1 {
                            let grant = permit.take_grant();
                            drop(permit);
                            drop(grant);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
    });
}

/// A grant shared by two holders (the session store and the session's end hook) that release
/// it at the same time, while a third absorbs a new grant into it: the units go back exactly
/// once, and absorbed units are never lost (returned by the grant or by the refused one).
#[test]
fn a_shared_grant_is_returned_exactly_once() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let first = Gate::admit(&gate, 3, 10, 2).unwrap().take_grant().unwrap();
        let second = Gate::admit(&gate, 3, 10, 3).unwrap().take_grant().unwrap();
        let shared = Arc::new(first);
        let releasers: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || shared.release())
            })
            .collect();
        // Refused (already released): `second` drops here and returns its own units.
        let _ = shared.absorb(second);
        let returned: u64 = releasers.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(returned == 2 || returned == 5, "returned {returned}");
        drop(shared);
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
    });
}

/// One permit (2 units) executed from two threads at once while a third reads it: exactly one
/// `execute` wins; the winner takes the units into a grant and returns the slot. The
/// slot comes back once, the units once (by the grant), and the permit's drop, finding
/// nothing held, returns nothing more.
#[test]
fn an_executed_permit_returns_its_parts_once() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let permit = Arc::new(Gate::admit(&gate, 1, 10, 2).unwrap());
        let executors: Vec<_> = (0..2)
            .map(|_| {
                let permit = permit.clone();
                thread::spawn(move || {
                    // As `SessionAdapter::execute`: the winner's `Executor` gives the parts
                    // back with plain stores; the loser's failed compare-and-swap writes nothing.
                    let executor = permit.execute()?;
                    let grant = executor.take_grant();
                    assert!(executor.release_slot());
                    assert!(!executor.release_slot());
                    grant
                })
            })
            .collect();
        let reader = {
            let (gate, permit) = (gate.clone(), permit.clone());
            thread::spawn(move || {
                assert!(gate.slots_in_use() <= 1 && gate.units_granted() <= 2);
                assert!(permit.units() <= 2);
            })
        };
        let grants: Vec<_> = executors.into_iter().filter_map(|h| h.join().unwrap()).collect();
        reader.join().unwrap();
        assert_eq!(grants.len(), 1, "exactly one executor took the units");
        assert!(permit.is_executed() && !permit.holds_slot() && permit.units() == 0);
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 2));
        drop(permit);
        assert_eq!(gate.units_granted(), 2, "the permit's drop returns nothing more");
        drop(grants);
        assert_eq!(gate.units_granted(), 0);
    });
}
