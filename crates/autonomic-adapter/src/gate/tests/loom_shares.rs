//! Loom model of tenant shares in the doctrine gate: three threads, two tenants.
//!
//! Run: `cargo xtask loom` (or `RUSTFLAGS="--cfg autonomic_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p autonomic-adapter --lib loom_`).

use std::sync::Arc as StdArc;

use autonomic_core::TenantId;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

use crate::gate::{Ask, Gate, ShareIndex};
use crate::{Share, TenantShare, TenantShares};

const X: TenantId = TenantId::from_u128(1);
const Y: TenantId = TenantId::from_u128(2);

/// Two tenants on a cap of 2 slots and 4 units: X is guaranteed 1 slot and 2 units, Y none
/// (ceiling the whole cap); the pool (nobody's guarantee) is 1 slot and 2 units.
fn index(gate: &Arc<Gate>) -> StdArc<ShareIndex> {
    let x = Share { guaranteed_slots: 0.5, guaranteed_resources: 0.5, ..Share::default() };
    let shares = TenantShares {
        tenants: vec![TenantShare::new(X, x), TenantShare::new(Y, Share::default())],
        default_class: Share { ceiling_slots: 0.0, ceiling_resources: 0.0, ..Share::default() },
    };
    StdArc::new(ShareIndex::new(gate, &shares, 2, 4, None))
}

/// Thread 0 (X, within its guarantee) and threads 1 and 2 (Y, flooding) admit at once, each
/// asking for `units`; a holder counts itself in flight. Whatever the interleaving: X is
/// admitted, the holders never pass the global cap, Y never holds more than the pool, and
/// everything comes back (thread 1 returns its slot early, as execution does, and turns its
/// units into a grant).
fn guarantee_and_cap(units: u64) {
    loom::model(move || {
        let gate = Arc::new(Gate::new());
        let index = index(&gate);
        let in_flight = Arc::new(AtomicU64::new(0));
        let y_in_flight = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (gate, index, in_flight) = (gate.clone(), index.clone(), in_flight.clone());
                let y_in_flight = y_in_flight.clone();
                thread::spawn(move || {
                    let class = index.class_of(if i == 0 { X } else { Y });
                    let ask = Ask {
                        max_slots: 2,
                        capacity: 4,
                        units,
                        retry_bound: None,
                        index: &index,
                        class: Some(class),
                    };
                    let Ok(permit) = Gate::admit_with(ask) else {
                        assert_ne!(i, 0, "a tenant within its guarantee was refused");
                        return;
                    };
                    // Relaxed: the gate's Acquire/Release orders the holders; this counter is
                    // what the model checks.
                    let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                    assert!(now <= 2, "{now} in flight with a cap of 2");
                    assert!(gate.slots_in_use() <= 2 && gate.units_granted() <= 4);
                    // Y has no guarantee: its holders never pass the pool (1 slot). (Its class
                    // counter may, for an instant: a request refused by the pool counts there
                    // until it gives its slot back.)
                    if i > 0 {
                        // Relaxed: as above.
                        let y = y_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                        assert!(y <= 1, "{y} slots borrowed from a pool of 1");
                        y_in_flight.fetch_sub(1, Ordering::Relaxed);
                    }
                    // Relaxed: as above.
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    if i == 1 {
                        assert!(permit.release_slot());
                        let grant = permit.take_grant();
                        drop(permit);
                        drop(grant);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!((gate.slots_in_use(), gate.units_granted()), (0, 0));
        assert_eq!((index.pool.slots_held(), index.pool.units_held()), (0, 0));
        for class in index.classes() {
            assert_eq!((class.counters.slots_held(), class.counters.units_held()), (0, 0));
        }
    });
}

/// With units, the slot path runs too (a units-free model adds nothing but time).
#[test]
fn loom_shares_slots_and_units() {
    guarantee_and_cap(2);
}

/// Retry tokens: three retries race for a budget of 2; at most 2 hold one at once, and
/// every token comes back.
#[test]
fn loom_retry_tokens() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let index = StdArc::new(ShareIndex::without_shares(&gate));
        let in_flight = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (index, in_flight) = (index.clone(), in_flight.clone());
                thread::spawn(move || {
                    let ask = Ask {
                        max_slots: 3,
                        capacity: 0,
                        units: 0,
                        retry_bound: Some(2),
                        index: &index,
                        class: None,
                    };
                    if let Ok(permit) = Gate::admit_with(ask) {
                        // Relaxed: see above.
                        let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                        assert!(now <= 2, "{now} retries in flight with a budget of 2");
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!((gate.retries_in_flight(), gate.slots_in_use()), (0, 0));
    });
}
