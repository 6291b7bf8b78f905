//! The final report: the workload, the table, the aggregated metrics, what the adapter did,
//! the loop and the events.

mod adapter;
pub(crate) mod format;
mod metrics;

use std::collections::BTreeMap;
use std::time::Duration;

use autonomic::AdapterStats;

use crate::RETENTION;
use crate::watch::Watch;
use crate::world::World;
use format::thousands;

pub(crate) fn final_report(
    world: &World,
    watch: &Watch,
    events: &BTreeMap<&'static str, u64>,
    wall: Duration,
) {
    let q = world.runtime.adapter().global_q();
    workload(world);
    table(world);
    metrics::aggregates(world, watch);
    let adapter = world.runtime.adapter().snapshot_stats();
    adapter::decisions(&world.tally, &adapter);
    adapter::refusals(world, &q, &adapter, watch);
    loop_and_cleanup(watch, &adapter);
    window_memory(world);
    self::events(events, &adapter);
    out!("");
    out!("Done in {:.2} s.", wall.as_secs_f64());
}

/// The sessions by tenant and by how they ended: the same on every run with a seed.
fn workload(world: &World) {
    let tally = &world.tally;
    out!("");
    out!("== Workload (seed {}, identical on every run with this seed)", world.args.seed);
    let line = |name: &str, row: [u64; 5]| {
        out!(
            "    {:<22} {:>8} {:>10} {:>8} {:>10} {:>14}",
            name,
            thousands(row[0]),
            thousands(row[1]),
            thousands(row[2]),
            thousands(row[3]),
            thousands(row[4])
        );
    };
    out!(
        "    {:<22} {:>8} {:>10} {:>8} {:>10} {:>14}",
        "tenant",
        "sessions",
        "completed",
        "failed",
        "cancelled",
        "in incident"
    );
    let mut sums = [0u64; 5];
    for (t, c) in world.tenants.iter().zip(&tally.per_tenant) {
        let row = [
            c.sessions.get(),
            c.completed.get(),
            c.failed.get(),
            c.cancelled.get(),
            c.incident.get(),
        ];
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
        line(&t.name, row);
    }
    line("all", sums);
    out!(
        "    owners that found their session cancelled from outside (through the table, the \
         adapter not told): {}",
        thousands(tally.lost_races.get()),
    );
}

fn table(world: &World) {
    let stats = world.runtime.table().stats();
    out!("");
    out!("== Table at the end (finished sessions stay {} ms)", RETENTION.as_millis());
    out!(
        "    total {}  active {}  created {}  completed {}  failed {}  cancelled {}  tenants {}",
        thousands(stats.total_sessions as u64),
        thousands(stats.active_sessions as u64),
        thousands(stats.created_sessions as u64),
        thousands(stats.completed_sessions as u64),
        thousands(stats.failed_sessions as u64),
        thousands(stats.cancelled_sessions as u64),
        stats.unique_tenants
    );
}

fn loop_and_cleanup(watch: &Watch, adapter: &AdapterStats) {
    out!("");
    out!("== Loop and cleanup");
    if let Some(last) = &watch.last {
        out!(
            "    iterations {}  (mean {:.2} ms, max {:.2} ms)  knowledge generation {}",
            watch.iterations,
            watch.took_total.as_secs_f64() * 1e3 / watch.iterations.max(1) as f64,
            watch.took_max.as_secs_f64() * 1e3,
            last.knowledge_generation
        );
        out!(
            "    sessions cleaned up {}  grants released {}  resources granted now {:.2}",
            thousands(last.totals.sessions_cleaned),
            thousands(last.totals.grants_released),
            adapter.granted_resources
        );
    }
}

/// The rolling windows' heap: per tenant window, per pattern window, and in all.
fn window_memory(world: &World) {
    let memory = world.runtime.window_memory();
    out!(
        "    window memory: {} B per tenant window ({} held), {} B per pattern window ({} held), \
         {} B in all",
        thousands(memory.tenant_window as u64),
        memory.tenant_windows,
        thousands(memory.pattern_window as u64),
        memory.pattern_windows,
        thousands(memory.total() as u64)
    );
}

fn events(events: &BTreeMap<&'static str, u64>, adapter: &AdapterStats) {
    out!("");
    out!("== Events");
    let drained: u64 = events.values().sum();
    let line: Vec<String> = events.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
    out!("    drained {}: {}", thousands(drained), line.join(", "));
    out!("    dropped (buffer full) {}", thousands(adapter.events_dropped));
}
