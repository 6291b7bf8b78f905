//! A multi-tenant workload through the autonomic runtime, with an incident and a recovery.
//!
//! ```text
//! cargo run --release --example session_autonomic_example
//! cargo run --release --example session_autonomic_example -- --sessions 50000 --seed 7
//! RUST_LOG=autonomic=info cargo run --release --example session_autonomic_example
//! ```
//!
//! Sessions of several tenants, each running its workflow patterns, arrive at a steady pace
//! over about four seconds on a multi-thread tokio runtime. Their tasks have simulated
//! latencies (with spikes over their SLO), fail transiently and are retried, and a few
//! sessions fail, are cancelled by their owner or from outside (through the table), or
//! never start.
//! Each session asks the adapter for a decision when a task fails and every few tasks, and
//! carries it out: it backs off and retries (holding the decision, so a retry in progress
//! counts against `max_concurrent_adaptations`), degrades, sheds optional tasks, asks for
//! resources, or compensates after a failure.
//!
//! Between 35 % and 60 % of the run, one tenant turns bad: half of its sessions fail and its
//! tasks spike. The runtime's loop (every 100 ms) publishes the failure rate over its rolling
//! window (600 ms in buckets of 100 ms, judged from 20 finished sessions on) and the doctrine
//! starts refusing the adaptations that consume capacity (retries, resource requests) by
//! `max_failure_rate`, while degradations, shedding and compensations go on; when the tenant
//! recovers, the incident leaves the window and the doctrine admits again, within one window
//! of the incident's end (the report says when). Progress lines come from the loop's reports;
//! the final report shows the table, the aggregated metrics per tenant with percentiles (at
//! the height of the incident and at the end), decisions by action, refusals by rule with the
//! doctrine's timeline, cleanup and events.
//!
//! Determinism: given `--seed`, the workload is the same on every run: each session's
//! tenant, pattern, number of tasks, random draws (latencies, spikes, transient failures),
//! how it ends (completes, fails, cancelled and when), and the incident. The workload table
//! of the report is identical from run to run. The loop runs on real time, so which
//! knowledge each analysis sees, and with it the exact split of decisions and refusals (and
//! what they change: a degraded session runs slower, a shedding one skips tasks), varies a
//! little between runs; the shape does not.
//!
//! The modules: [`args`] (the command line), [`workload`] (tenants, patterns and each
//! session's script), [`world`] (what the sessions share), [`session`] (one session's run),
//! [`watch`] (the progress lines) and [`report`] (the final report).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autonomic::{AutonomicRuntime, RuntimeConfig, SessionAdapterConfig, WindowConfig};
use tokio::task::{JoinHandle, JoinSet};

/// `println!` that ignores a closed stdout (`... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod report;
mod session;
mod watch;
mod workload;
mod world;

use args::{Args, USAGE, parse_args};
use report::final_report;
use report::format::{event_name, pct, thousands};
use watch::Watch;
use workload::{BAD_TENANT, tenants};
use world::{Tally, TenantTally, World};

/// How long the arrivals are spread over.
const RUN_FOR: Duration = Duration::from_secs(4);
/// The loop's interval and the table's retention of finished sessions (real time).
const LOOP_INTERVAL: Duration = Duration::from_millis(100);
const RETENTION: Duration = Duration::from_millis(600);
/// The rolling window the doctrine judges: 600 ms in buckets of 100 ms.
const WINDOW: WindowConfig = WindowConfig {
    length_ms: 600,
    buckets: 6,
    short_buckets: 1,
    max_tenants: 64,
    max_patterns: 256,
    min_finished_sessions: 20,
    min_tasks: 100,
    slow_session_ms: 0,
};
/// Simulated task latencies run this many times faster in real time.
const TIME_SCALE: u64 = 20;
/// Simulated retry backoffs are waited this many times faster...
const BACKOFF_SCALE: u64 = 50;
/// ...and never longer than this.
const MAX_BACKOFF_WAIT: Duration = Duration::from_millis(40);
/// The bad tenant's incident, as fractions of the sessions' arrival order.
const INCIDENT: (f64, f64) = (0.35, 0.60);
/// Most sessions in flight at once (backpressure when the machine falls behind).
const MAX_IN_FLIGHT: usize = 20_000;

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            out!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let tokio = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot build the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tokio.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let world = Arc::new(build_world(args)?);
    announce(&world);
    let started = world.started;
    let watcher = follow_reports(world.clone(), started);
    let (stop_draining, draining) = tokio::sync::watch::channel(false);
    let drainer = drain_events(world.clone(), draining);
    arrivals(&world, started).await?;

    // Wind down: stop the loop, run one last iteration, collect the report.
    world.runtime.shutdown().await?;
    let last = world.runtime.run_once();
    let mut watch = watcher.await?;
    if watch.last.as_ref().is_none_or(|r| r.iteration < last.iteration) {
        watch.see(last, &world, started);
    }
    let _ = stop_draining.send(true);
    let events = drainer.await?;
    final_report(&world, &watch, &events, started.elapsed());
    Ok(())
}

/// The runtime (its loop started), the tenants and an empty tally.
fn build_world(args: Args) -> Result<World, autonomic::RuntimeError> {
    let config = RuntimeConfig::default()
        .with_interval(LOOP_INTERVAL)
        .with_retention(RETENTION)
        .with_windows(WINDOW)
        .with_adapter(SessionAdapterConfig {
            max_latency_us: 40_000,
            event_capacity: 1 << 16,
            ..SessionAdapterConfig::default()
        });
    let runtime = AutonomicRuntime::start(config)?;
    let tenant_plans = tenants(args.tenants, args.seed);
    let total_weight = tenant_plans.iter().map(|t| t.weight).sum();
    let tally = Tally {
        per_tenant: (0..args.tenants).map(|_| TenantTally::default()).collect(),
        ..Tally::default()
    };
    Ok(World { args, tenants: tenant_plans, total_weight, runtime, tally, started: Instant::now() })
}

/// The run's parameters, and the Global Q in force.
fn announce(world: &World) {
    let args = &world.args;
    let q = world.runtime.adapter().global_q();
    out!(
        "{} sessions, {} tenants ({} turns bad between {:.0}% and {:.0}% of the run), fault rate {}, \
         seed {}",
        thousands(args.sessions),
        args.tenants,
        world.tenants[BAD_TENANT].name,
        INCIDENT.0 * 100.0,
        INCIDENT.1 * 100.0,
        args.fault_rate,
        args.seed
    );
    out!(
        "loop every {} ms, retention {} ms, window {} ms; Global Q: max failure rate {}, \
         min SLO compliance {}, {} adaptations in flight, {} of resources",
        LOOP_INTERVAL.as_millis(),
        RETENTION.as_millis(),
        WINDOW.length_ms,
        pct(q.max_failure_rate),
        pct(q.min_slo_compliance),
        q.max_concurrent_adaptations,
        pct(q.max_total_resources)
    );
    out!("");
}

/// Progress: one line per loop report, until the loop stops.
fn follow_reports(world: Arc<World>, started: Instant) -> JoinHandle<Watch> {
    let mut reports = world.runtime.reports();
    tokio::spawn(async move {
        let mut watch = Watch::default();
        while reports.changed().await.is_ok() {
            let report = reports.borrow_and_update().clone();
            if let Some(report) = report {
                watch.see(report, &world, started);
            }
            if world.runtime.is_running() {
                continue;
            }
            break;
        }
        watch
    })
}

/// Events: drained regularly, counted by kind, until told to stop.
fn drain_events(
    world: Arc<World>,
    mut draining: tokio::sync::watch::Receiver<bool>,
) -> JoinHandle<BTreeMap<&'static str, u64>> {
    tokio::spawn(async move {
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = draining.changed() => true,
            };
            for event in world.runtime.adapter().take_events() {
                *counts.entry(event_name(&event)).or_default() += 1;
            }
            if stop {
                break counts;
            }
        }
    })
}

/// Arrivals: spread evenly over `RUN_FOR`, with backpressure; returns once every session has
/// run.
async fn arrivals(world: &Arc<World>, started: Instant) -> Result<(), tokio::task::JoinError> {
    let sessions_total = world.args.sessions;
    let mut sessions = JoinSet::new();
    let mut next = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    while next < sessions_total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() / RUN_FOR.as_secs_f64())
            * sessions_total as f64)
            .ceil()
            .min(sessions_total as f64) as u64;
        while next < due && sessions.len() < MAX_IN_FLIGHT {
            sessions.spawn(session::run_session(world.clone(), next));
            next += 1;
        }
        while let Some(done) = sessions.try_join_next() {
            done?;
        }
    }
    while let Some(done) = sessions.join_next().await {
        done?;
    }
    Ok(())
}
