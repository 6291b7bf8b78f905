//! The simulation: the real runtime driven by events in virtual time ([`simulate`]).

mod queue;
mod recorder;
mod session;

use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    ActionKind, Analysis, AutonomicRuntime, CaseId, Clock, ClockHandle, ConfigError, GlobalQ,
    ManualClock, SessionAction, SessionId, ThresholdPolicy,
};

use crate::faults::{FaultInjector, FaultPlan};
use crate::scenario::{ChangeKind, Scenario};
use crate::{SimReport, SimRng};
use queue::{Queue, What};
use recorder::Recorder;
use session::{Live, Slots};

/// A task that failed this many times in a row fails its session.
const MAX_ATTEMPTS: u32 = 8;
/// A session asks the adapter every this many tasks (and after every failed attempt).
const CHECK_EVERY: u32 = 4;
/// Degraded sessions run this much slower and have this much more SLO; sessions granted
/// resources run this much faster.
const DEGRADED_SLOWDOWN: f64 = 1.2;
const DEGRADED_SLO: u64 = 3;
const BOOSTED_SPEEDUP: f64 = 0.6;

/// Why a scenario could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The runtime refused the scenario's configuration, or a Global Q of its timeline.
    #[error("the runtime refused the scenario's configuration: {0}")]
    Config(#[from] ConfigError),
    /// The scenario's faults were refused (a scenario read from a file never is).
    #[error("the scenario's faults were refused: {0}")]
    Faults(#[from] crate::faults::FaultError),
}

/// Runs `scenario` to its end on virtual time and reports what happened.
///
/// The runtime is the real one ([`AutonomicRuntime`], the default [`ThresholdPolicy`]) on a
/// [`ManualClock`]: the simulation moves the clock to each event's instant and calls the
/// runtime as a service would: sessions are created, started, record their tasks, retries and
/// SLO violations, ask the adapter every few tasks and after each failed attempt, carry out
/// what it admits (a retry holds its adaptation slot until the retried task has run), and
/// complete or fail; the loop runs every `interval` of virtual time ([`run_once`]). Nothing
/// sleeps.
///
/// Arrivals are Poisson per tenant; every draw comes from the scenario's seed, split by
/// tenant and by session, so the same scenario and seed give the same report. The one
/// draw the runtime makes from process-wide state, the jitter of a retry's backoff (from the
/// session id, which the table hands out process-wide), is taken from the session's
/// simulated key instead, through the policy's own rule
/// ([`ThresholdPolicy::backoff_ms`]).
///
/// [`run_once`]: AutonomicRuntime::run_once
///
/// ```
/// use autonomic_sim::{Scenario, simulate};
/// let scenario = Scenario::from_toml_str(r#"
///     name = "tiny"
///     seed = 1
///     duration_s = 20
///     [[patterns]]
///     name = "p"
///     tasks = [2, 4]
///     latency = { kind = "fixed", ms = 50 }
///     slo_ms = 100
///     [[tenants]]
///     name = "t"
///     rate_per_s = 10
///     patterns = ["p"]
/// "#)?;
/// let report = simulate(&scenario)?;
/// assert!(report.totals.sessions > 100);
/// assert_eq!(report.totals.loop_passes, 20);
/// assert!(report.invariants_hold());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn simulate(scenario: &Scenario) -> Result<SimReport, SimError> {
    let span = tracing::info_span!("simulate", scenario = scenario.name(), seed = scenario.seed());
    let _entered = span.enter();
    let mut engine = Engine::new(scenario)?;
    engine.run();
    let report = engine.finish();
    let t = &report.totals;
    tracing::info!(
        sessions = t.sessions,
        completed = t.completed,
        failed = t.failed,
        events = t.events,
        refusals = t.refusals.iter().sum::<u64>(),
        invariants_hold = report.invariants_hold(),
        "simulation finished"
    );
    Ok(report)
}

/// A tenant's arrival process.
struct Arrivals {
    rate_per_s: f64,
    generation: u32,
    count: u64,
    rng: SimRng,
}

struct Engine<'s> {
    scenario: &'s Scenario,
    clock: Arc<ManualClock>,
    runtime: AutonomicRuntime<ThresholdPolicy>,
    injector: FaultInjector,
    queue: Queue,
    slots: Slots,
    arrivals: Vec<Arrivals>,
    /// Global Q as the scenario sets it, before resource pressure.
    base_q: GlobalQ,
    pressure: f64,
    end_ns: u64,
    interval_ns: u64,
    recorder: Recorder,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<'s> Engine<'s> {
    fn new(scenario: &'s Scenario) -> Result<Self, SimError> {
        let clock = Arc::new(ManualClock::new());
        let runtime = AutonomicRuntime::builder()
            .config(scenario.runtime().clone())
            .clock(ClockHandle::custom(clock.clone()))
            .build()?;
        let plan = FaultPlan::new(scenario.faults().iter().map(|f| f.fault).collect())?;
        let injector = FaultInjector::new(plan, scenario.seed());
        let arrivals = scenario
            .tenants()
            .iter()
            .enumerate()
            .map(|(i, t)| Arrivals {
                rate_per_s: t.rate_per_s,
                generation: 0,
                count: 0,
                rng: SimRng::stream(scenario.seed(), &[1, i as u64]),
            })
            .collect();
        let mut engine = Engine {
            scenario,
            clock,
            base_q: scenario.runtime().global_q,
            runtime,
            injector,
            queue: Queue::default(),
            slots: Slots::default(),
            arrivals,
            pressure: 0.0,
            end_ns: nanos(scenario.duration()),
            interval_ns: nanos(scenario.runtime().interval),
            recorder: Recorder::new(scenario),
        };
        for tenant in 0..scenario.tenants().len() {
            engine.schedule_arrival(tenant, 0);
        }
        for edge in engine.injector.edges() {
            engine.queue.push(nanos(edge), What::Edge);
        }
        for (index, change) in scenario.changes().iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            engine.queue.push(nanos(change.at), What::Change { index });
        }
        engine.queue.push(engine.interval_ns, What::Tick);
        Ok(engine)
    }

    fn run(&mut self) {
        while let Some(event) = self.queue.pop_until(self.end_ns) {
            self.clock.set_nanos(event.at);
            match event.what {
                What::Arrival { tenant, generation } => self.arrive(tenant, generation, event.at),
                What::Task { slot } => self.task_done(slot, event.at),
                What::Tick => {
                    self.tick(event.at);
                    self.queue.push(event.at.saturating_add(self.interval_ns), What::Tick);
                }
                What::Edge => self.edge(event.at),
                What::Change { index } => self.change(index as usize, event.at),
            }
        }
    }

    fn finish(mut self) -> SimReport {
        self.recorder.totals.events = self.queue.popped();
        self.recorder.totals.running_at_end = self.slots.live();
        let stats = self.runtime.adapter().snapshot_stats();
        for (i, rule) in autonomic::QRule::ALL.iter().enumerate() {
            self.recorder.totals.refusals[i] = stats.rejections.get(*rule);
        }
        self.recorder.report(self.scenario)
    }

    // ------------------------------------------------------------------ arrivals ----

    fn schedule_arrival(&mut self, tenant: usize, now: u64) {
        let spec = &self.scenario.tenants()[tenant];
        let factor = self.injector.arrival_factor(spec.id, Duration::from_nanos(now));
        let arrivals = &mut self.arrivals[tenant];
        let rate = arrivals.rate_per_s * factor;
        if rate <= 0.0 {
            return;
        }
        let gap_s = arrivals.rng.exponential(1.0 / rate);
        let at = now.saturating_add((gap_s * 1e9) as u64);
        let tenant = u16::try_from(tenant).unwrap_or(u16::MAX);
        self.queue.push(at, What::Arrival { tenant, generation: arrivals.generation });
    }

    /// Arrival rates changed (a flood, a change): every tenant draws its next arrival anew
    /// (exact, since the gaps are memoryless).
    fn rearm_arrivals(&mut self, now: u64) {
        for tenant in 0..self.arrivals.len() {
            self.arrivals[tenant].generation = self.arrivals[tenant].generation.wrapping_add(1);
            self.schedule_arrival(tenant, now);
        }
    }

    fn arrive(&mut self, tenant: u16, generation: u32, now: u64) {
        let t = usize::from(tenant);
        if self.arrivals[t].generation != generation {
            return; // drawn under a rate that has changed since
        }
        self.schedule_arrival(t, now);
        let spec = &self.scenario.tenants()[t];
        let arrivals = &mut self.arrivals[t];
        let number = arrivals.count;
        arrivals.count += 1;
        let pick = arrivals.rng.between(0, spec.patterns.len() as u64 - 1) as usize;
        let pattern_index = spec.patterns[pick];
        let pattern = &self.scenario.patterns()[pattern_index];
        // A key per session: tenant in the high bits, its arrival number below.
        let key = (u64::from(tenant) << 48) | (number & ((1 << 48) - 1));
        let at = Duration::from_nanos(now);
        let mut faults = self.injector.session(spec.id, Some(pattern.id), key, at);
        let tasks = faults.rng().between(u64::from(pattern.tasks.0), u64::from(pattern.tasks.1));
        self.recorder.arrived(t, faults.is_slow());
        let new = self
            .runtime
            .create_session(CaseId::from_u128(u128::from(key)), spec.id)
            .with_pattern(pattern.id);
        let Ok(handle) = self.runtime.start_session(new) else {
            self.recorder.totals.unexpected += 1;
            return;
        };
        let mut live = Live {
            handle,
            faults,
            key,
            tenant,
            pattern: u16::try_from(pattern_index).unwrap_or(u16::MAX),
            tasks: u32::try_from(tasks).unwrap_or(u32::MAX),
            done: 0,
            attempts: 0,
            attempt: crate::faults::TaskFault { latency_us: 0, failed: false },
            held: None,
            degraded: false,
            boosted: false,
        };
        let due = self.start_attempt(&mut live, now);
        let slot = self.slots.insert(live);
        self.recorder.live(self.slots.live());
        self.queue.push(due, What::Task { slot });
    }

    // -------------------------------------------------------------------- tasks ----

    /// Draws the next attempt of the session's current task; returns when it finishes.
    fn start_attempt(&self, live: &mut Live, now: u64) -> u64 {
        let tenant = &self.scenario.tenants()[usize::from(live.tenant)];
        let pattern = &self.scenario.patterns()[usize::from(live.pattern)];
        let mut latency = pattern.latency.draw_us(live.faults.rng()) as f64 * tenant.latency_scale;
        if live.degraded {
            latency *= DEGRADED_SLOWDOWN;
        }
        if live.boosted {
            latency *= BOOSTED_SPEEDUP;
        }
        let at = Duration::from_nanos(now);
        live.attempt = live.faults.task(at, latency.max(1.0) as u64, pattern.task_failure_rate);
        now.saturating_add(live.attempt.latency_us.saturating_mul(1000))
    }

    fn task_done(&mut self, slot: u32, now: u64) {
        let Some(mut live) = self.slots.remove(slot) else { return };
        let next = if live.attempt.failed {
            self.failed_attempt(&mut live, now)
        } else {
            self.ran_task(&mut live, now)
        };
        match next {
            Some(due) => {
                let slot = self.slots.insert(live);
                self.queue.push(due, What::Task { slot });
            }
            None => self.end(live, now),
        }
    }

    /// A transient failure: the retry is recorded and the adapter asked; an admitted retry
    /// waits its backoff (holding its slot), otherwise the task is tried again at once, up to
    /// [`MAX_ATTEMPTS`] attempts. `None`: the session gives up and fails.
    fn failed_attempt(&mut self, live: &mut Live, now: u64) -> Option<u64> {
        live.handle.record_retry();
        live.attempts += 1;
        self.recorder.totals.retries += 1;
        if live.attempts >= MAX_ATTEMPTS {
            return None;
        }
        let mut wait_ns = 0;
        if let Some(decision) = self.evaluate(live) {
            if let SessionAction::RetryTask { .. } = decision.action {
                let retries = live.handle.snapshot().retry_count;
                let config = self.runtime.adapter().config();
                // The policy's backoff for this retry, with its jitter drawn for the
                // session's key instead of its process-wide id.
                let backoff =
                    ThresholdPolicy::backoff_ms(SessionId::from_raw(live.key), retries, config);
                wait_ns = backoff.saturating_mul(1_000_000);
                if let Some(previous) = live.held.replace(decision) {
                    self.execute(live, &previous);
                }
            } else {
                self.execute(live, &decision);
            }
        }
        let due = self.start_attempt(live, now.saturating_add(wait_ns));
        Some(due)
    }

    /// A task ran: recorded with its latency (and a violation over the SLO); a held retry is
    /// carried out; every few tasks the adapter is asked. `None`: the session is done.
    fn ran_task(&mut self, live: &mut Live, now: u64) -> Option<u64> {
        let pattern = &self.scenario.patterns()[usize::from(live.pattern)];
        let latency = live.attempt.latency_us;
        live.handle.record_task_execution_us(latency);
        let slo = if live.degraded { pattern.slo_us * DEGRADED_SLO } else { pattern.slo_us };
        if latency > slo {
            live.handle.record_violation();
        }
        self.recorder.totals.tasks += 1;
        live.done += 1;
        live.attempts = 0;
        if let Some(held) = live.held.take() {
            self.execute(live, &held);
        }
        if live.done.is_multiple_of(CHECK_EVERY)
            && let Some(decision) = self.evaluate(live)
        {
            self.execute(live, &decision);
        }
        if live.done >= live.tasks {
            return None;
        }
        Some(self.start_attempt(live, now))
    }

    /// Asks the adapter about the session; refusals are counted for its tenant.
    fn evaluate(&mut self, live: &Live) -> Option<autonomic::AdmittedDecision> {
        match self.runtime.adapter().evaluate(&live.handle) {
            Ok(Analysis::Admitted(decision)) => {
                self.recorder.admitted(usize::from(live.tenant), self.runtime.adapter());
                Some(decision)
            }
            Ok(Analysis::Refused(refusal)) => {
                let tenant = usize::from(live.tenant);
                let id = (tenant, self.scenario.tenants()[tenant].id);
                self.recorder.refused(id, &refusal, self.runtime.adapter(), self.clock.now_nanos());
                None
            }
            Ok(Analysis::NoAction) => None,
            Err(_) => {
                self.recorder.totals.unexpected += 1;
                None
            }
        }
    }

    /// Carries out an admitted decision and what it means for the session's run.
    fn execute(&mut self, live: &mut Live, decision: &autonomic::AdmittedDecision) {
        if self.runtime.adapter().execute(decision, &live.handle).is_err() {
            self.recorder.totals.unexpected += 1;
            return;
        }
        let kind = decision.action.kind();
        self.recorder.executed(kind);
        match kind {
            ActionKind::DegradePerformance => live.degraded = true,
            ActionKind::RequestResources => live.boosted = true,
            ActionKind::CancelOptionalTasks => live.tasks = live.tasks.min(live.done + 1),
            _ => {}
        }
    }

    /// The session ends: it fails (as its faults and pattern say, or because it gave up) and
    /// asks for its compensation, or it completes.
    fn end(&mut self, mut live: Live, now: u64) {
        let gave_up = live.attempt.failed;
        // A held retry that never ran is dropped: its slot comes back.
        live.held = None;
        let pattern = &self.scenario.patterns()[usize::from(live.pattern)];
        let at = Duration::from_nanos(now);
        let fails = gave_up || live.faults.session_fails(at, pattern.failure_rate);
        let tenant = usize::from(live.tenant);
        if fails {
            match self.runtime.fail_session(live.handle.clone()) {
                Ok(failed) => {
                    self.recorder.ended(tenant, false, live.faults.is_slow(), now);
                    match self.runtime.adapter().evaluate(&failed) {
                        Ok(Analysis::Admitted(decision)) => {
                            self.recorder.admitted(tenant, self.runtime.adapter());
                            if self.runtime.adapter().execute(&decision, &failed).is_ok() {
                                self.recorder.executed(decision.action.kind());
                            }
                        }
                        Ok(Analysis::Refused(refusal)) => {
                            let id = (tenant, self.scenario.tenants()[tenant].id);
                            let now = self.clock.now_nanos();
                            self.recorder.refused(id, &refusal, self.runtime.adapter(), now);
                        }
                        Ok(Analysis::NoAction) => {}
                        Err(_) => self.recorder.totals.unexpected += 1,
                    }
                }
                Err(_) => self.recorder.totals.unexpected += 1,
            }
        } else {
            match self.runtime.complete_session(live.handle.clone()) {
                Ok(_) => self.recorder.ended(tenant, true, live.faults.is_slow(), now),
                Err(_) => self.recorder.totals.unexpected += 1,
            }
        }
    }

    // ------------------------------------------------------- loop and timeline ----

    fn tick(&mut self, now: u64) {
        let report = self.runtime.run_once();
        let events = self.runtime.adapter().take_events().len() as u64;
        self.recorder.totals.adapter_events += events;
        let windows = self.runtime.windows();
        let q = self.runtime.adapter().global_q();
        self.recorder.pass(now, &report, &windows, &q, self.slots.live(), self.scenario);
    }

    fn edge(&mut self, now: u64) {
        self.rearm_arrivals(now);
        let pressure = self.injector.resource_pressure(Duration::from_nanos(now));
        if pressure != self.pressure {
            self.pressure = pressure;
            self.apply_q();
        }
    }

    fn change(&mut self, index: usize, now: u64) {
        let Some(change) = self.scenario.changes().get(index) else { return };
        match &change.what {
            ChangeKind::GlobalQ(patch) => {
                self.base_q = patch.apply(self.base_q);
                self.apply_q();
            }
            ChangeKind::TenantRate { tenant, rate_per_s } => {
                if let Some(arrivals) = self.arrivals.get_mut(*tenant) {
                    arrivals.rate_per_s = *rate_per_s;
                }
                self.rearm_arrivals(now);
            }
        }
    }

    /// Swaps in the scenario's Global Q, less the capacity that pressure holds.
    fn apply_q(&mut self) {
        let mut q = self.base_q;
        q.max_total_resources *= 1.0 - self.pressure;
        match self.runtime.adapter().update_global_q(q) {
            Ok(_) => tracing::debug!(
                at_ns = self.clock.now_nanos(),
                max_concurrent_adaptations = q.max_concurrent_adaptations,
                max_total_resources = q.max_total_resources,
                max_failure_rate = q.max_failure_rate,
                min_slo_compliance = q.min_slo_compliance,
                "Global Q swapped"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "Global Q refused by the adapter");
                self.recorder.totals.unexpected += 1;
            }
        }
    }
}
