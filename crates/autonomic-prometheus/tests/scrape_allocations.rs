//! A scrape's allocations do not grow with the sessions: it encodes the observation taken
//! from the aggregate, never visiting the table. Counted with a global allocator.
//!
//! Alone in its own test binary so that no other test allocates meanwhile; the counter is
//! per thread anyway.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
use autonomic_prometheus::{AutonomicCollector, ExportConfig};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

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

/// `n` sessions spread over `tenants` and two patterns, one in four failed, the rest
/// completed.
fn sessions(runtime: &AutonomicRuntime, tenants: &[TenantId], n: usize) {
    for i in 0..n {
        let new = runtime.create_session(CaseId::new(), tenants[i % tenants.len()]);
        let h = runtime.start_session(new.with_pattern((i % 2) as u8)).unwrap();
        h.record_task_execution(Duration::from_millis(1 + (i % 7) as u64));
        if i % 4 == 0 {
            runtime.fail_session(h).unwrap();
        } else {
            runtime.complete_session(h).unwrap();
        }
    }
}

/// The allocations of one scrape (the encoding into a text buffer reserved ahead, so that
/// the buffer's growth is not counted), and the text.
fn scrape(registry: &Registry) -> (u64, String) {
    let mut text = String::with_capacity(1 << 20);
    let before = allocations();
    encode(&mut text, registry).unwrap();
    (allocations() - before, text)
}

#[test]
fn a_scrape_allocates_the_same_for_ten_times_the_sessions() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    let tenants: Vec<TenantId> = (0..8).map(|_| TenantId::new()).collect();
    let collector = AutonomicCollector::new(ExportConfig::default()).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));

    sessions(&runtime, &tenants, 400);
    runtime.run_once();
    collector.observe_runtime(&runtime);
    let (few, few_text) = scrape(&registry);
    assert!(few_text.contains("autonomic_sessions"), "{few_text}");

    sessions(&runtime, &tenants, 4_000);
    runtime.run_once();
    collector.observe_runtime(&runtime);
    let (many, many_text) = scrape(&registry);
    assert_ne!(few_text, many_text, "the second scrape sees the new sessions");
    assert_eq!(few, many, "allocations per scrape: {few} for 400 sessions, {many} for 4,400");
}
