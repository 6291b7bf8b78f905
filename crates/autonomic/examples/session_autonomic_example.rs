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
//! tasks spike. The runtime's loop (every 100 ms) publishes the rising failure rate and the
//! doctrine starts refusing adaptations by `max_failure_rate`; when the tenant recovers, its
//! failed sessions age out of the table (retention 600 ms) and the doctrine admits again.
//! Progress lines come from the loop's reports; the final report shows the table, the
//! aggregated metrics per tenant with percentiles (at the height of the incident and at the
//! end), decisions by action, refusals by rule, cleanup and events.
//!
//! Determinism: given `--seed`, the workload is the same on every run: each session's
//! tenant, pattern, number of tasks, random draws (latencies, spikes, transient failures),
//! how it ends (completes, fails, cancelled and when), and the incident. The workload table
//! of the report is identical from run to run. The loop runs on real time, so which
//! knowledge each analysis sees, and with it the exact split of decisions and refusals (and
//! what they change: a degraded session runs slower, a shedding one skips tasks), varies a
//! little between runs; the shape does not.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autonomic::{
    ActionKind, AdmittedDecision, AggregatedMetrics, Analysis, AutonomicRuntime, Breakdown, CaseId,
    GlobalQ, LoopReport, QRule, RuntimeConfig, SessionAction, SessionAdapterConfig, SessionEvent,
    SessionHandle, SessionState, TenantId,
};
use tokio::task::JoinSet;

/// `println!` that ignores a closed stdout (`... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

const USAGE: &str = "\
usage: session_autonomic_example [--sessions N] [--tenants N] [--fault-rate F] [--seed N]

  --sessions N     sessions to run (1 to 5000000; default 200000)
  --tenants N      tenants (2 to 64; default 6); the second one turns bad mid-run
  --fault-rate F   baseline fraction of sessions that fail, also drives transient task
                   failures (0 to 1; default 0.02)
  --seed N         workload seed (default 42): the same seed gives the same workload
  --help           this text

RUST_LOG turns tracing on, for example RUST_LOG=autonomic=info for the loop's summaries.";

/// How long the arrivals are spread over.
const RUN_FOR: Duration = Duration::from_secs(4);
/// The loop's interval and the table's retention of finished sessions (real time).
const LOOP_INTERVAL: Duration = Duration::from_millis(100);
const RETENTION: Duration = Duration::from_millis(600);
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

// ------------------------------------------------------------------------ arguments ------

#[derive(Debug, Clone)]
struct Args {
    sessions: u64,
    tenants: usize,
    fault_rate: f64,
    seed: u64,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args { sessions: 200_000, tenants: 6, fault_rate: 0.02, seed: 42 };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Ok(None);
        }
        if !matches!(name.as_str(), "--sessions" | "--tenants" | "--fault-rate" | "--seed") {
            return Err(format!("unknown argument `{flag}`"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("`{name}` needs a value")),
        };
        let bad = |what: &str| format!("`{name} {value}`: {what}");
        match name.as_str() {
            "--sessions" => {
                parsed.sessions = value.parse().map_err(|_| bad("not a whole number"))?;
                if !(1..=5_000_000).contains(&parsed.sessions) {
                    return Err(bad("must be between 1 and 5000000"));
                }
            }
            "--tenants" => {
                parsed.tenants = value.parse().map_err(|_| bad("not a whole number"))?;
                if !(2..=64).contains(&parsed.tenants) {
                    return Err(bad("must be between 2 and 64"));
                }
            }
            "--fault-rate" => {
                parsed.fault_rate = value.parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=1.0).contains(&parsed.fault_rate) {
                    return Err(bad("must be between 0 and 1"));
                }
            }
            _ => parsed.seed = value.parse().map_err(|_| bad("not a whole number"))?,
        }
    }
    Ok(Some(parsed))
}

// ------------------------------------------------------------------------ randomness ------

/// SplitMix64: small, fast, and good enough for a workload.
struct Rng(u64);

impl Rng {
    fn for_session(seed: u64, index: u64) -> Self {
        Rng(mix(seed ^ mix(index.wrapping_add(0x5eed))))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ------------------------------------------------------------------------- workload ------

/// A workflow pattern: how many tasks, how long one takes, and its per-task SLO.
struct Pattern {
    id: u8,
    name: &'static str,
    tasks: u32,
    base_us: u64,
    slo_us: u64,
}

const PATTERNS: [Pattern; 8] = [
    Pattern { id: 1, name: "checkout", tasks: 8, base_us: 4_000, slo_us: 20_000 },
    Pattern { id: 2, name: "refund", tasks: 6, base_us: 6_000, slo_us: 30_000 },
    Pattern { id: 3, name: "onboarding", tasks: 12, base_us: 8_000, slo_us: 40_000 },
    Pattern { id: 4, name: "report", tasks: 10, base_us: 15_000, slo_us: 70_000 },
    Pattern { id: 5, name: "sync", tasks: 14, base_us: 2_000, slo_us: 10_000 },
    Pattern { id: 6, name: "payout", tasks: 7, base_us: 9_000, slo_us: 45_000 },
    Pattern { id: 7, name: "kyc", tasks: 11, base_us: 12_000, slo_us: 60_000 },
    Pattern { id: 8, name: "export", tasks: 9, base_us: 18_000, slo_us: 90_000 },
];

/// The bad tenant (index 1) runs the slow patterns, so its spikes push sessions over the
/// latency threshold too.
const BAD_TENANT: usize = 1;

struct Tenant {
    id: TenantId,
    name: String,
    weight: u64,
    patterns: [usize; 3],
    latency_scale: f64,
}

fn tenants(n: usize, seed: u64) -> Vec<Tenant> {
    let mut rng = Rng(mix(seed ^ 0x7e4a_0047));
    (0..n)
        .map(|i| {
            let patterns = if i == BAD_TENANT {
                [3, 6, 7] // report, kyc, export
            } else {
                [rng.below(8) as usize, rng.below(8) as usize, rng.below(8) as usize]
            };
            Tenant {
                id: TenantId::from_u128(0x7e4a_0000_0000_0000_0000_0000_0000_0000 | i as u128),
                name: format!("tenant-{i}"),
                weight: if i == BAD_TENANT { 3 } else { 1 + rng.below(3) },
                patterns,
                latency_scale: 0.8 + 0.5 * rng.unit(),
            }
        })
        .collect()
}

/// How a session ends, decided when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Complete,
    /// Fails after this many tasks.
    Fail(u32),
    /// Never starts (the request was withdrawn).
    CancelBeforeStart,
    /// Its owner cancels it after this many tasks.
    CancelByOwner(u32),
    /// An operator cancels it from outside after this many tasks; the owner finds out when
    /// it tries to complete.
    CancelFromOutside(u32),
}

/// One session's plan, drawn from its own random stream.
struct Script {
    tenant: usize,
    pattern: &'static Pattern,
    tasks: u32,
    fate: Fate,
    in_incident: bool,
}

impl Script {
    fn draw(rng: &mut Rng, world: &World, index: u64) -> Script {
        let mut pick = rng.below(world.total_weight);
        let tenant = world.tenants.iter().position(|t| {
            let hit = pick < t.weight;
            pick = pick.saturating_sub(t.weight);
            hit
        });
        let tenant = tenant.unwrap_or(0);
        let plan = &world.tenants[tenant];
        let pattern = &PATTERNS[plan.patterns[rng.below(3) as usize]];
        let tasks = pattern.tasks + rng.below(5) as u32;
        let progress = index as f64 / world.args.sessions as f64;
        let in_incident = tenant == BAD_TENANT && (INCIDENT.0..INCIDENT.1).contains(&progress);
        let fail_p = if in_incident { 0.5 } else { world.args.fault_rate };
        let at = 1 + rng.below(u64::from(tasks - 1)) as u32;
        let roll = rng.unit();
        let fate = if roll < fail_p {
            Fate::Fail(at)
        } else if roll < fail_p + 0.01 {
            Fate::CancelBeforeStart
        } else if roll < fail_p + 0.03 {
            Fate::CancelByOwner(at)
        } else if roll < fail_p + 0.035 {
            Fate::CancelFromOutside(at)
        } else {
            Fate::Complete
        };
        Script { tenant, pattern, tasks, fate, in_incident }
    }
}

/// Everything the sessions share.
struct World {
    args: Args,
    tenants: Vec<Tenant>,
    total_weight: u64,
    runtime: AutonomicRuntime,
    tally: Tally,
}

/// A count kept by many session tasks at once.
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn add(&self, n: u64) {
        // Relaxed: an independent count; it is read after every session task has been
        // joined, and the join orders the adds before the read.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        // Relaxed: see `add` (the progress lines do not read these counts).
        self.0.load(Ordering::Relaxed)
    }
}

/// What the workload did (counted by the sessions themselves).
#[derive(Default)]
struct Tally {
    per_tenant: Vec<TenantTally>,
    executed: [Counter; 6],
    execution_failed: Counter,
    backoff_ms: Counter,
    retries: Counter,
    lost_races: Counter,
}

#[derive(Default)]
struct TenantTally {
    sessions: Counter,
    completed: Counter,
    failed: Counter,
    cancelled: Counter,
    incident: Counter,
}

fn kind_index(kind: ActionKind) -> usize {
    ActionKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// What the session is doing differently because of its decisions.
#[derive(Default)]
struct Mode {
    degraded: bool,
    boosted: bool,
    shed_after: Option<u32>,
}

impl World {
    /// Asks for a decision and carries it out. A `RetryTask` is returned unexecuted: the
    /// caller waits, retries, and executes it once the retry is done.
    fn adapt(
        &self,
        handle: &SessionHandle,
        mode: &mut Mode,
        done: u32,
    ) -> Option<AdmittedDecision> {
        let adapter = self.runtime.adapter();
        let decision = match adapter.evaluate(handle) {
            Ok(Analysis::Admitted(decision)) => decision,
            // Refusals are counted by the adapter, by rule.
            Ok(Analysis::NoAction | Analysis::Refused(_)) => return None,
            Err(e) => {
                eprintln!("analysis error: {e}");
                return None;
            }
        };
        match &decision.action {
            SessionAction::RetryTask { .. } => return Some(decision),
            SessionAction::DegradePerformance { .. } => mode.degraded = true,
            SessionAction::RequestResources { .. } => mode.boosted = true,
            SessionAction::CancelOptionalTasks => mode.shed_after = Some(done + 2),
            SessionAction::TriggerCompensation { .. } | SessionAction::LogAndContinue { .. } => {}
        }
        self.execute(&decision, handle);
        None
    }

    fn execute<S: autonomic::Lifecycle>(
        &self,
        decision: &AdmittedDecision,
        handle: &SessionHandle<(), S>,
    ) {
        match self.runtime.adapter().execute(decision, handle) {
            Ok(()) => {
                self.tally.executed[kind_index(decision.action.kind())].add(1);
            }
            // Cancelled from outside meanwhile: what the decision held was returned.
            Err(_) => {
                self.tally.execution_failed.add(1);
            }
        }
    }
}

/// Runs session `index` of the workload.
async fn run_session(world: Arc<World>, index: u64) {
    let mut rng = Rng::for_session(world.args.seed, index);
    let script = Script::draw(&mut rng, &world, index);
    let tenant = &world.tenants[script.tenant];
    let tally = &world.tally.per_tenant[script.tenant];
    tally.sessions.add(1);
    if script.in_incident {
        tally.incident.add(1);
    }
    let runtime = &world.runtime;
    let new = runtime.create_session(CaseId::new(), tenant.id).with_pattern(script.pattern.id);
    if script.fate == Fate::CancelBeforeStart {
        if runtime.cancel_new_session(new).is_ok() {
            tally.cancelled.add(1);
        }
        return;
    }
    let Ok(handle) = runtime.start_session(new) else { return };

    let (spike_p, transient_p) = if script.in_incident {
        (0.15, 0.25)
    } else {
        (0.01, (world.args.fault_rate * 3.0).min(0.5))
    };
    let mut mode = Mode::default();
    let mut pending_wait_us = 0u64;
    for task in 0..script.tasks {
        if mode.shed_after.is_some_and(|last| task >= last) {
            break; // optional tasks shed
        }
        match script.fate {
            Fate::Fail(at) if task == at => break,
            Fate::CancelByOwner(at) if task == at => {
                if runtime.cancel_session(handle.clone()).is_ok() {
                    tally.cancelled.add(1);
                }
                return;
            }
            Fate::CancelFromOutside(at) if task == at => {
                // An operator cancels it through the table, without telling the adapter: no
                // event; a grant it holds comes back as the session ends.
                let cancelled = runtime.table().get(&handle.id()).map(|h| h.cancel());
                if matches!(cancelled, Ok(Ok(_))) {
                    tally.cancelled.add(1);
                }
            }
            _ => {}
        }

        // Transient failures: retried, with the adapter's say after each one.
        let mut held_retry: Option<AdmittedDecision> = None;
        for _attempt in 0..8 {
            if !rng.chance(transient_p) {
                break;
            }
            handle.record_retry();
            world.tally.retries.add(1);
            if let Some(decision) = world.adapt(&handle, &mut mode, task) {
                if let SessionAction::RetryTask { backoff_ms, .. } = decision.action {
                    world.tally.backoff_ms.add(backoff_ms);
                    // The backoff, simulated: a short real wait, not the whole backoff.
                    let wait =
                        Duration::from_millis(backoff_ms / BACKOFF_SCALE).min(MAX_BACKOFF_WAIT);
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
                // Executed once its retry has run (below), so the slot is held meanwhile.
                if let Some(previous) = held_retry.replace(decision) {
                    world.execute(&previous, &handle);
                }
            }
        }

        // The task itself: a simulated latency, sometimes a spike over the SLO.
        let p = script.pattern;
        let mut latency = p.base_us as f64 * (0.5 + rng.unit()) * tenant.latency_scale;
        let spike = rng.chance(spike_p);
        if spike {
            latency *= 6.0 + 10.0 * rng.unit();
        }
        if mode.boosted {
            latency *= 0.6;
        }
        if mode.degraded {
            latency *= 1.2;
        }
        let latency_us = latency as u64;
        handle.record_task_execution_us(latency_us);
        // A degraded session runs with a relaxed SLO.
        let slo_us = if mode.degraded { p.slo_us * 3 } else { p.slo_us };
        if latency_us > slo_us {
            handle.record_violation();
        }
        if let Some(decision) = held_retry.take() {
            world.execute(&decision, &handle);
        }
        // A check every few tasks; a retry proposed here has no failed task to wait for.
        if task % 4 == 3
            && let Some(decision) = world.adapt(&handle, &mut mode, task)
        {
            world.execute(&decision, &handle);
        }

        // Let simulated time pass, in real time scaled down, every few tasks.
        pending_wait_us += latency_us / TIME_SCALE;
        if task % 3 == 2 {
            tokio::time::sleep(Duration::from_micros(pending_wait_us.max(1_000))).await;
            pending_wait_us = 0;
        } else {
            tokio::task::yield_now().await;
        }
    }

    match script.fate {
        Fate::Fail(_) => {
            if let Ok(failed) = runtime.fail_session(handle) {
                tally.failed.add(1);
                // A failed session asks for its compensation, like any other decision.
                if let Ok(Analysis::Admitted(decision)) = runtime.adapter().evaluate(&failed) {
                    world.execute(&decision, &failed);
                }
            }
        }
        _ => match runtime.complete_session(handle) {
            Ok(_) => {
                tally.completed.add(1);
            }
            Err(lost) if lost.found == SessionState::Cancelled => {
                world.tally.lost_races.add(1);
            }
            Err(lost) => eprintln!("unexpected: {lost}"),
        },
    }
}

// ------------------------------------------------------------------------ reporting ------

/// When the published knowledge broke Global Q: from (iteration, seconds) to (iteration,
/// seconds), or to the end.
type Episode = (u64, f64, Option<(u64, f64)>);

/// Follows the loop's reports: prints a line for each, and remembers the incident.
#[derive(Default)]
struct Watch {
    iterations: u64,
    took_total: Duration,
    took_max: Duration,
    last: Option<LoopReport>,
    refusing_since: Option<(u64, f64)>,
    episodes: Vec<Episode>,
    peak: Option<(LoopReport, Breakdown, f64)>,
}

fn refusing(report: &LoopReport, q: &GlobalQ) -> bool {
    report.metrics.failure_rate > q.max_failure_rate
        || report.metrics.slo_compliance() < q.min_slo_compliance
}

impl Watch {
    fn see(&mut self, report: LoopReport, world: &World, started: Instant) {
        let t = started.elapsed().as_secs_f64();
        let q = world.runtime.adapter().global_q();
        let previous = self.last.as_ref().map(|r| r.adapter.clone()).unwrap_or_default();
        let now = &report.adapter;
        let m = &report.metrics;
        let refused = now.rejections.total() - previous.rejections.total();
        let by_rule: Vec<String> = QRule::ALL
            .iter()
            .filter_map(|&rule| {
                let n = now.rejections.get(rule) - previous.rejections.get(rule);
                (n > 0).then(|| format!("{} {n}", short_rule(rule)))
            })
            .collect();
        let doctrine = refusing(&report, &q);
        let line = format!(
            "{t:5.2}s  iter {:>3}  sessions {:>7} (active {:>5})  fail {:>5}  slo {:>6}  \
             p99 {:>7}  cleaned {:>6}  loop {:>6}  decisions +{:<5} refused +{:<5}{}{}",
            report.iteration,
            thousands(m.total_sessions),
            thousands(m.active_sessions),
            pct(m.failure_rate),
            pct(m.slo_compliance()),
            ms(m.latency.p99_us),
            thousands(report.sessions_cleaned as u64),
            format!("{:.1}ms", report.took.as_secs_f64() * 1e3),
            now.total_decisions - previous.total_decisions,
            refused,
            if by_rule.is_empty() { String::new() } else { format!(" ({})", by_rule.join(", ")) },
            if doctrine { "  << knowledge breaks Global Q" } else { "" },
        );
        out!("{}", line.trim_end());
        self.iterations += 1;
        self.took_total += report.took;
        self.took_max = self.took_max.max(report.took);
        match (doctrine, self.refusing_since) {
            (true, None) => self.refusing_since = Some((report.iteration, t)),
            (false, Some((iteration, at))) => {
                self.episodes.push((iteration, at, Some((report.iteration, t))));
                self.refusing_since = None;
            }
            _ => {}
        }
        if doctrine
            && self.peak.as_ref().is_none_or(|(p, _, _)| m.failure_rate > p.metrics.failure_rate)
        {
            self.peak = Some((report.clone(), world.runtime.breakdown(), t));
        }
        self.last = Some(report);
    }
}

fn short_rule(rule: QRule) -> &'static str {
    match rule {
        QRule::MinSloCompliance => "slo",
        QRule::MaxFailureRate => "failure rate",
        QRule::MaxConcurrentAdaptations => "slots",
        QRule::MaxTotalResources => "resources",
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn ms(us: u64) -> String {
    format!("{:.1}ms", us as f64 / 1e3)
}

fn tenant_table(world: &World, breakdown: &Breakdown) {
    out!(
        "    {:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "tenant",
        "sessions",
        "active",
        "failed",
        "fail rate",
        "slo",
        "p50",
        "p90",
        "p99"
    );
    let row = |name: &str, m: &AggregatedMetrics| {
        out!(
            "    {:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8}",
            name,
            thousands(m.total_sessions),
            thousands(m.active_sessions),
            thousands(m.failed_sessions),
            pct(m.failure_rate),
            pct(m.slo_compliance()),
            ms(m.latency.p50_us),
            ms(m.latency.p90_us),
            ms(m.latency.p99_us),
        );
    };
    for t in &world.tenants {
        if let Some(m) = breakdown.tenant(t.id) {
            let name = if world.tenants.iter().position(|x| x.id == t.id) == Some(BAD_TENANT) {
                format!("{} (turns bad)", t.name)
            } else {
                t.name.clone()
            };
            row(&name, m);
        }
    }
    row("all", &breakdown.total);
}

fn final_report(
    world: &World,
    watch: &Watch,
    events: &BTreeMap<&'static str, u64>,
    wall: Duration,
) {
    let runtime = &world.runtime;
    let tally = &world.tally;
    let q = runtime.adapter().global_q();
    out!("");
    out!("== Workload (seed {}, identical on every run with this seed)", world.args.seed);
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
        out!(
            "    {:<22} {:>8} {:>10} {:>8} {:>10} {:>14}",
            t.name,
            thousands(row[0]),
            thousands(row[1]),
            thousands(row[2]),
            thousands(row[3]),
            thousands(row[4])
        );
    }
    out!(
        "    {:<22} {:>8} {:>10} {:>8} {:>10} {:>14}",
        "all",
        thousands(sums[0]),
        thousands(sums[1]),
        thousands(sums[2]),
        thousands(sums[3]),
        thousands(sums[4])
    );
    out!(
        "    owners that found their session cancelled from outside (through the table, the \
         adapter not told): {}",
        thousands(tally.lost_races.get()),
    );

    let stats = runtime.table().stats();
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

    if let Some((report, breakdown, t)) = &watch.peak {
        out!("");
        out!(
            "== Aggregated metrics at the height of the incident (iteration {}, {t:.2} s; \
             per-session mean task latency)",
            report.iteration
        );
        tenant_table(world, breakdown);
    }
    out!("");
    out!("== Aggregated metrics at the end (the sessions still in the table)");
    let end = runtime.breakdown();
    tenant_table(world, &end);
    out!("");
    out!(
        "    {:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "pattern",
        "sessions",
        "fail rate",
        "slo",
        "p50",
        "p90",
        "p99"
    );
    for p in &PATTERNS {
        if let Some(m) = end.pattern(p.id) {
            out!(
                "    {:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
                p.name,
                thousands(m.total_sessions),
                pct(m.failure_rate),
                pct(m.slo_compliance()),
                ms(m.latency.p50_us),
                ms(m.latency.p90_us),
                ms(m.latency.p99_us),
            );
        }
    }

    let adapter = runtime.adapter().snapshot_stats();
    out!("");
    out!(
        "== Decisions executed, by action ({} admitted in all)",
        thousands(adapter.total_decisions)
    );
    for kind in ActionKind::ALL {
        out!("    {:<24} {:>9}", kind.as_str(), thousands(tally.executed[kind_index(kind)].get()));
    }
    out!("    {:<24} {:>9}", "not applied (cancelled)", thousands(tally.execution_failed.get()));
    out!(
        "    task retries {}, simulated backoff {:.1} s (waited {}x faster); these depend on \
         what the doctrine admitted, so they vary a little from run to run",
        thousands(tally.retries.get()),
        tally.backoff_ms.get() as f64 / 1e3,
        BACKOFF_SCALE,
    );

    out!("");
    out!("== Refusals by Global Q, by rule ({} in all)", thousands(adapter.rejections.total()));
    for rule in QRule::ALL {
        let limit = match rule {
            QRule::MinSloCompliance => format!("< {}", pct(q.min_slo_compliance)),
            QRule::MaxFailureRate => format!("> {}", pct(q.max_failure_rate)),
            QRule::MaxConcurrentAdaptations => {
                format!("> {} in flight", q.max_concurrent_adaptations)
            }
            QRule::MaxTotalResources => format!("> {} of capacity", pct(q.max_total_resources)),
        };
        out!(
            "    {:<28} {:>9}   ({limit})",
            rule.as_str(),
            thousands(adapter.rejections.get(rule))
        );
    }
    let open = watch.refusing_since.map(|(start, at)| (start, at, None));
    for (start, at, end) in watch.episodes.iter().chain(open.as_ref()) {
        match end {
            Some((stop, stop_at)) => out!(
                "    the published knowledge broke Global Q from iteration {start} ({at:.2} s) to \
                 iteration {stop} ({stop_at:.2} s)"
            ),
            None => out!(
                "    the published knowledge broke Global Q from iteration {start} ({at:.2} s) \
                 to the end"
            ),
        }
    }

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

    out!("");
    out!("== Events");
    let drained: u64 = events.values().sum();
    let line: Vec<String> = events.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
    out!("    drained {}: {}", thousands(drained), line.join(", "));
    out!("    dropped (buffer full) {}", thousands(adapter.events_dropped));
    out!("");
    out!("Done in {:.2} s.", wall.as_secs_f64());
}

fn event_name(event: &SessionEvent) -> &'static str {
    match event {
        SessionEvent::Started { .. } => "started",
        SessionEvent::Completed { .. } => "completed",
        SessionEvent::Failed { .. } => "failed",
        SessionEvent::Cancelled { .. } => "cancelled",
        SessionEvent::Adapted { .. } => "adapted",
        SessionEvent::ViolationDetected { .. } => "violation_detected",
        SessionEvent::ThresholdExceeded { .. } => "threshold_exceeded",
        SessionEvent::Rejected { .. } => "rejected",
    }
}

// ----------------------------------------------------------------------------- main ------

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
    let config = RuntimeConfig::default()
        .with_interval(LOOP_INTERVAL)
        .with_retention(RETENTION)
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
    let world =
        Arc::new(World { args: args.clone(), tenants: tenant_plans, total_weight, runtime, tally });
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
        "loop every {} ms, retention {} ms; Global Q: max failure rate {}, min SLO compliance {}, \
         {} adaptations in flight, {} of resources",
        LOOP_INTERVAL.as_millis(),
        RETENTION.as_millis(),
        pct(q.max_failure_rate),
        pct(q.min_slo_compliance),
        q.max_concurrent_adaptations,
        pct(q.max_total_resources)
    );
    out!("");
    let started = Instant::now();

    // Progress: one line per loop report.
    let mut reports = world.runtime.reports();
    let watcher_world = world.clone();
    let watcher = tokio::spawn(async move {
        let mut watch = Watch::default();
        while reports.changed().await.is_ok() {
            let report = reports.borrow_and_update().clone();
            if let Some(report) = report {
                watch.see(report, &watcher_world, started);
            }
            if watcher_world.runtime.is_running() {
                continue;
            }
            break;
        }
        watch
    });

    // Events: drained regularly, counted by kind.
    let (stop_draining, mut draining) = tokio::sync::watch::channel(false);
    let drainer_world = world.clone();
    let drainer = tokio::spawn(async move {
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = draining.changed() => true,
            };
            for event in drainer_world.runtime.adapter().take_events() {
                *counts.entry(event_name(&event)).or_default() += 1;
            }
            if stop {
                break counts;
            }
        }
    });

    // Arrivals: spread evenly over RUN_FOR, with backpressure.
    let mut sessions = JoinSet::new();
    let mut next = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    while next < args.sessions {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() / RUN_FOR.as_secs_f64()) * args.sessions as f64)
            .ceil()
            .min(args.sessions as f64) as u64;
        while next < due && sessions.len() < MAX_IN_FLIGHT {
            sessions.spawn(run_session(world.clone(), next));
            next += 1;
        }
        while let Some(done) = sessions.try_join_next() {
            done?;
        }
    }
    while let Some(done) = sessions.join_next().await {
        done?;
    }

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
