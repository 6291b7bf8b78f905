//! A pass allocates nothing once its groups exist: counted with a global allocator.
//!
//! Alone in its own test binary so that no other test allocates meanwhile; the counter is
//! per thread anyway.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use autonomic_aggregate::{Aggregation, SessionAggregator};
use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the thread-local counter
// is const-initialised and has no destructor, so touching it never allocates or recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn a_steady_state_pass_allocates_nothing() {
    let tenants: Vec<TenantId> = (0..50).map(|_| TenantId::new()).collect();
    let sessions: Vec<_> = (0..20_000)
        .map(|i| {
            let h = SessionHandle::builder(CaseId::new(), tenants[i % tenants.len()])
                .pattern((i % 200) as u8)
                .build()
                .start()
                .unwrap();
            h.record_task_execution_us(i as u64 * 37);
            h.erased()
        })
        .collect();

    let mut agg = Aggregation::new();
    agg.run(&sessions, 0); // first pass: creates the 50 tenant groups
    let before = allocations();
    let m = agg.run(&sessions, 1);
    assert_eq!(allocations(), before, "second pass allocated");
    assert_eq!(m.total_sessions, 20_000);

    let aggregator = SessionAggregator::new(Arc::new(KnowledgeBase::new()));
    aggregator.aggregate_source(&sessions);
    let before = allocations();
    let m = aggregator.aggregate_source(&sessions);
    assert_eq!(allocations(), before, "aggregate_source allocated");
    assert_eq!(m.active_sessions, 20_000);
}
