//! [`AutonomicRuntime`]: table, adapter, aggregator and knowledge in one object, and the
//! periodic MAPE-K loop over them.

use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use autonomic_adapter::{SessionAdapter, SessionPolicy, ThresholdPolicy};
use autonomic_aggregate::{AggregatedMetrics, Breakdown, SessionAggregator, SessionSource};
use autonomic_core::marker::{Active, AnyState, Cancelled, Completed, Failed};
use autonomic_core::{
    CaseId, ClockHandle, ConfigError, KnowledgeBase, SessionHandle, SessionId, TenantId, TenantTag,
    TransitionError,
};
use autonomic_table::{NewSession, SessionTable, TableError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{LoopReport, LoopTotals, RuntimeConfig, RuntimeError, TableSource};

/// The session autonomic runtime: one object that owns the [`SessionTable`], the
/// [`SessionAdapter`], the [`SessionAggregator`] and the [`KnowledgeBase`] they share (all on
/// one clock), and runs the MAPE-K loop over them.
///
/// # The loop
/// Each iteration ([`run_once`](Self::run_once), or the periodic loop started by
/// [`start`](Self::start)):
/// 1. **Monitor / Analyze**: one allocation-free totals pass of the aggregator over every
///    session of the table (as [`TableSource::all`] does): state buckets, rates, latency
///    percentiles.
/// 2. **Knowledge**: publishes that aggregate; the doctrine gate reads its failure rate and
///    SLO compliance from the next analysis on, so what sessions do changes what the adapter
///    admits.
/// 3. **Execute**: removes from the table the sessions that ended at least `retention` ago,
///    dropping their decision history and any grant with them
///    ([`SessionAdapter::forget_session`]), and returns the resource grants of the other
///    ended sessions. The removal shares the aggregation's visit of the table (the table
///    allows removing while it visits): the aggregate still counts the sessions removed, as
///    if cleanup ran after it, and a million sessions are visited once, not twice.
/// 4. Emits a `tracing` summary at `info` and publishes a [`LoopReport`]
///    ([`last_report`](Self::last_report), [`reports`](Self::reports)).
///
/// # Sessions and the adapter
/// The lifecycle helpers ([`start_session`](Self::start_session),
/// [`complete_session`](Self::complete_session), [`fail_session`](Self::fail_session),
/// [`cancel_session`](Self::cancel_session), ...) do the handle's transition and tell the
/// adapter: it emits `Started` / `Completed` / `Failed` / `Cancelled` and returns a finished
/// session's resource grant at once. A session finished directly on its handle (`h.complete()`)
/// is not announced: no event is emitted for it, and its grant (if it has one) is returned by
/// the next iteration of the loop, so it is held for at most one `interval` longer. Either
/// way the session leaves the table `retention` after it ended.
///
/// # Cost
/// The helpers add only the adapter's own notification to each transition (an event pushed on
/// a lock-free queue; at the end, the adapter's grant release); nothing else is locked or
/// allocated per session. The loop's iterations run one at a time, on tokio's blocking pool
/// (a pass over a million sessions takes tens of milliseconds, which must not stall the
/// runtime's workers). `docs/performance.md` has the numbers.
///
/// # Stopping
/// [`shutdown`](Self::shutdown) asks the loop to stop, lets the iteration in progress finish,
/// and joins the task. Dropping the runtime aborts the loop task: no task outlives it (an
/// iteration already running on the blocking pool finishes first, then lets go).
///
/// ```
/// use std::time::Duration;
/// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, SessionState, TenantId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RuntimeConfig::default().with_interval(Duration::from_millis(100));
/// let runtime = AutonomicRuntime::start(config)?;
///
/// let handle = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
/// handle.record_task_execution(Duration::from_millis(10));
/// if let Some(decision) = runtime.adapter().analyze_session(&handle).await? {
///     runtime.adapter().execute_decision(&decision, &handle).await?;
/// }
/// let done = runtime.complete_session(handle)?;
/// assert_eq!(done.state(), SessionState::Completed);
///
/// let report = runtime.run_once(); // or wait for the loop's next report
/// assert_eq!(report.metrics.completed_sessions, 1);
/// runtime.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct AutonomicRuntime<P: SessionPolicy = ThresholdPolicy> {
    shared: Arc<Shared<P>>,
    /// The running loop, if any. Locked only to start and stop it (never across an await).
    task: Mutex<Option<LoopTask>>,
}

/// Everything the loop task shares with the runtime.
struct Shared<P: SessionPolicy> {
    table: SessionTable,
    adapter: SessionAdapter<P>,
    aggregator: SessionAggregator,
    knowledge: Arc<KnowledgeBase>,
    config: RuntimeConfig,
    /// Serialises iterations (the loop's and `run_once`'s).
    state: Mutex<LoopState>,
    reports: watch::Sender<Option<LoopReport>>,
}

#[derive(Debug, Default)]
struct LoopState {
    iteration: u64,
    totals: LoopTotals,
}

/// The running loop: its stop signal and its task, aborted when dropped.
struct LoopTask {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl LoopTask {
    fn is_running(&self) -> bool {
        !self.join.is_finished()
    }
}

impl Drop for LoopTask {
    fn drop(&mut self) {
        // A no-op once the task has finished (after `shutdown`).
        self.join.abort();
    }
}

/// Builds an [`AutonomicRuntime`]: configuration, clock, knowledge base and policy.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use autonomic::{AutonomicRuntime, ClockHandle, ManualClock, RuntimeConfig};
///
/// let clock = Arc::new(ManualClock::new());
/// let runtime = AutonomicRuntime::builder()
///     .config(RuntimeConfig::default().with_retention(Duration::from_secs(60)))
///     .clock(ClockHandle::custom(clock.clone()))
///     .build()?;
/// assert!(!runtime.clock().is_monotonic());
/// assert!(!runtime.is_running()); // `build` does not start the loop; `start` does
/// # Ok::<(), autonomic::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build()` or `start()`"]
pub struct RuntimeBuilder<P = ThresholdPolicy> {
    config: RuntimeConfig,
    clock: ClockHandle,
    knowledge: Option<Arc<KnowledgeBase>>,
    policy: P,
}

impl Default for RuntimeBuilder<ThresholdPolicy> {
    fn default() -> Self {
        RuntimeBuilder {
            config: RuntimeConfig::default(),
            clock: ClockHandle::monotonic(),
            knowledge: None,
            policy: ThresholdPolicy,
        }
    }
}

impl<P: SessionPolicy> RuntimeBuilder<P> {
    /// Sets the configuration (validated by [`build`](Self::build)).
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `clock` for the table's sessions, their cleanup and the aggregator (a
    /// [`ManualClock`](autonomic_core::ManualClock) makes ages and retention deterministic).
    /// The loop's interval is still measured on tokio's clock.
    pub fn clock(mut self, clock: ClockHandle) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes into (and lets the doctrine gate read from) this knowledge base instead of a
    /// new one.
    pub fn knowledge(mut self, knowledge: Arc<KnowledgeBase>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// Uses `policy` instead of the default [`ThresholdPolicy`].
    pub fn policy<Q: SessionPolicy>(self, policy: Q) -> RuntimeBuilder<Q> {
        RuntimeBuilder { config: self.config, clock: self.clock, knowledge: self.knowledge, policy }
    }

    /// Validates the configuration and builds the runtime, without starting its loop (drive
    /// it with [`run_once`](AutonomicRuntime::run_once), or start it later with
    /// [`start_loop`](AutonomicRuntime::start_loop)).
    pub fn build(self) -> Result<AutonomicRuntime<P>, ConfigError> {
        self.config.validate()?;
        let knowledge = self.knowledge.unwrap_or_default();
        let adapter = SessionAdapter::builder(knowledge.clone())
            .config(self.config.adapter.clone())
            .global_q(self.config.global_q)
            .policy(self.policy)
            .build()?;
        let (reports, _) = watch::channel(None);
        let shared = Shared {
            table: SessionTable::with_clock(self.clock.clone()),
            adapter,
            aggregator: SessionAggregator::with_clock(knowledge.clone(), self.clock),
            knowledge,
            config: self.config,
            state: Mutex::new(LoopState::default()),
            reports,
        };
        Ok(AutonomicRuntime { shared: Arc::new(shared), task: Mutex::new(None) })
    }

    /// Builds the runtime and starts its loop on the current tokio runtime.
    pub fn start(self) -> Result<AutonomicRuntime<P>, RuntimeError> {
        let runtime = self.build()?;
        runtime.start_loop()?;
        Ok(runtime)
    }
}

impl<P: fmt::Debug> fmt::Debug for RuntimeBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("knowledge", &self.knowledge.is_some())
            .field("policy", &self.policy)
            .finish()
    }
}

impl AutonomicRuntime<ThresholdPolicy> {
    /// A builder, starting from the default configuration, the monotonic clock, a new
    /// knowledge base and the default policy.
    pub fn builder() -> RuntimeBuilder<ThresholdPolicy> {
        RuntimeBuilder::default()
    }

    /// A runtime with `config`, without its loop (see [`RuntimeBuilder::build`]).
    pub fn new(config: RuntimeConfig) -> Result<Self, ConfigError> {
        Self::builder().config(config).build()
    }

    /// A runtime with `config`, its loop started on the current tokio runtime.
    ///
    /// Errors: the configuration is refused ([`RuntimeError::Config`]), or there is no tokio
    /// runtime to spawn the loop on ([`RuntimeError::NoTokioRuntime`]).
    pub fn start(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        Self::builder().config(config).start()
    }
}

impl<P: SessionPolicy> AutonomicRuntime<P> {
    // ------------------------------------------------------------------ the parts ----

    /// The session table.
    pub fn table(&self) -> &SessionTable {
        &self.shared.table
    }

    /// The adapter (analysis, execution, history, events, statistics, Global Q).
    pub fn adapter(&self) -> &SessionAdapter<P> {
        &self.shared.adapter
    }

    /// The aggregator.
    pub fn aggregator(&self) -> &SessionAggregator {
        &self.shared.aggregator
    }

    /// The knowledge base the loop publishes into and the doctrine gate reads.
    pub fn knowledge(&self) -> &Arc<KnowledgeBase> {
        &self.shared.knowledge
    }

    /// The clock the table, its sessions and the aggregator read.
    pub fn clock(&self) -> &ClockHandle {
        self.shared.table.clock()
    }

    /// The configuration the runtime was built with. (The Global Q in force is
    /// `adapter().global_q()`: it may have been swapped since.)
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    // ---------------------------------------------------------- session lifecycle ----

    /// Creates a session in the table (state `Created`): set its pattern and tags on the
    /// returned [`NewSession`], then [`start_session`](Self::start_session) it.
    ///
    /// Dropping the `NewSession` unstarted cancels the session (the table's rule); no event
    /// is emitted for it then.
    pub fn create_session(&self, case_id: CaseId, tenant_id: TenantId) -> NewSession<'_, ()> {
        self.shared.table.create_session(case_id, tenant_id)
    }

    /// Starts a session created in this runtime's table (or through one of its tenant views)
    /// and tells the adapter (`Started` event).
    pub fn start_session<T: TenantTag>(
        &self,
        new: NewSession<'_, T>,
    ) -> Result<SessionHandle<T, Active>, TransitionError> {
        let handle = new.start()?;
        self.shared.adapter.on_session_started(&handle);
        Ok(handle)
    }

    /// Completes a running session and tells the adapter (`Completed` event; its resource
    /// grant is returned at once).
    pub fn complete_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Completed>, TransitionError> {
        let done = handle.complete()?;
        self.shared.adapter.on_session_completed(&done);
        Ok(done)
    }

    /// Fails a running session and tells the adapter (`Failed` event; its resource grant is
    /// returned at once).
    pub fn fail_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Failed>, TransitionError> {
        let failed = handle.fail()?;
        self.shared.adapter.on_session_failed(&failed);
        Ok(failed)
    }

    /// [`fail_session`](Self::fail_session), with the error the session failed with: the
    /// `Failed` event keeps its text (cut at [`MAX_ERROR_LEN`](crate::adapter::MAX_ERROR_LEN)
    /// bytes).
    pub fn fail_session_with<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
        error: impl std::fmt::Display,
    ) -> Result<SessionHandle<T, Failed>, TransitionError> {
        let failed = handle.fail()?;
        self.shared.adapter.on_session_failed_with(&failed, error);
        Ok(failed)
    }

    /// Cancels a running session and tells the adapter (`Cancelled` event; its resource
    /// grant is returned at once).
    pub fn cancel_session<T: TenantTag>(
        &self,
        handle: SessionHandle<T, Active>,
    ) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        let cancelled = handle.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Cancels a session that was never started and tells the adapter (`Cancelled` event).
    pub fn cancel_new_session<T: TenantTag>(
        &self,
        new: NewSession<'_, T>,
    ) -> Result<SessionHandle<T, Cancelled>, TransitionError> {
        let cancelled = new.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Cancels a session of the table from outside, by id, whatever state it is in before it
    /// finishes (`Created`, `Active` or `Adapted`), and tells the adapter. Its owner's next
    /// transition then fails with a [`TransitionError`].
    ///
    /// ```
    /// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, RuntimeError, SessionState, TenantId};
    /// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    /// let owner = runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    /// runtime.cancel_session_by_id(&owner.id())?;
    /// let lost = runtime.complete_session(owner).unwrap_err();
    /// assert_eq!(lost.found, SessionState::Cancelled);
    /// # Ok::<(), RuntimeError>(())
    /// ```
    pub fn cancel_session_by_id(
        &self,
        id: &SessionId,
    ) -> Result<SessionHandle<(), Cancelled>, RuntimeError> {
        let cancelled = self.shared.table.get(id)?.cancel()?;
        self.shared.adapter.on_session_cancelled(&cancelled);
        Ok(cancelled)
    }

    /// Removes a session from the table now, whatever its state, with everything the adapter
    /// keeps for it (history, grant). Handles held elsewhere stay valid.
    pub fn remove_session(
        &self,
        id: &SessionId,
    ) -> Result<SessionHandle<(), AnyState>, TableError> {
        let handle = self.shared.table.remove(id)?;
        self.shared.adapter.forget_session(*id);
        Ok(handle)
    }

    // --------------------------------------------------------------- aggregates ----

    /// The aggregate of every session in the table now (a totals pass; nothing published).
    pub fn aggregate(&self) -> AggregatedMetrics {
        self.shared.aggregator.aggregate_source(&TableSource::all(&self.shared.table))
    }

    /// The aggregate of every session in the table now, with per-tenant and per-pattern
    /// roll-ups and their latency percentiles (nothing published).
    ///
    /// ```
    /// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
    /// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    /// let (a, b) = (TenantId::new(), TenantId::new());
    /// for (tenant, latency_us) in [(a, 100), (a, 300), (b, 5_000)] {
    ///     let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant))?;
    ///     h.record_task_execution_us(latency_us);
    /// }
    /// let report = runtime.breakdown();
    /// assert_eq!(report.tenant(a).unwrap().total_sessions, 2);
    /// assert_eq!(report.tenant(b).unwrap().latency.p99_us, 5_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breakdown(&self) -> Breakdown {
        self.shared.aggregator.breakdown(&TableSource::all(&self.shared.table))
    }

    // ---------------------------------------------------------------- the loop ----

    /// Runs one iteration of the loop now, on this thread, and returns its report (also
    /// kept as the [last report](Self::last_report)). Iterations never overlap: this waits
    /// for one the loop task may be running.
    pub fn run_once(&self) -> LoopReport {
        let report = self.shared.iterate();
        self.shared.publish_report(&report);
        report
    }

    /// The report of the last iteration, if any ran.
    pub fn last_report(&self) -> Option<LoopReport> {
        self.shared.reports.borrow().clone()
    }

    /// A receiver that sees each new report (a `tokio::sync::watch`: a slow reader sees the
    /// latest one, not every one). It ends when the runtime is dropped.
    pub fn reports(&self) -> watch::Receiver<Option<LoopReport>> {
        self.shared.reports.subscribe()
    }

    /// Starts the periodic loop on the current tokio runtime: the first iteration one
    /// `interval` from now, then one every `interval` (a late iteration delays the next
    /// ones rather than bunching them).
    ///
    /// Errors: [`RuntimeError::NoTokioRuntime`] outside a tokio runtime,
    /// [`RuntimeError::AlreadyRunning`] if the loop runs already.
    pub fn start_loop(&self) -> Result<(), RuntimeError> {
        let mut task = self.task();
        if task.as_ref().is_some_and(LoopTask::is_running) {
            return Err(RuntimeError::AlreadyRunning);
        }
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| RuntimeError::NoTokioRuntime)?;
        let (stop, stopped) = watch::channel(false);
        let join = handle.spawn(run_loop(self.shared.clone(), stopped));
        *task = Some(LoopTask { stop, join });
        tracing::debug!(interval = ?self.shared.config.interval, "autonomic loop started");
        Ok(())
    }

    /// Whether the loop task is running.
    pub fn is_running(&self) -> bool {
        self.task().as_ref().is_some_and(LoopTask::is_running)
    }

    /// Stops the loop cleanly: the loop exits before its next iteration (one in progress
    /// finishes first), and its task is joined. The runtime stays usable (`run_once`, the
    /// helpers, `start_loop` again). Does nothing if the loop is not running.
    ///
    /// If this future is dropped before it completes, the loop task is aborted.
    ///
    /// Errors: [`RuntimeError::LoopPanicked`] if the loop task panicked.
    pub async fn shutdown(&self) -> Result<(), RuntimeError> {
        // Taken out under the lock, awaited without it.
        let Some(mut task) = self.task().take() else {
            return Ok(());
        };
        // Fails only if the loop has exited already; joining below is all that is left.
        let _ = task.stop.send(true);
        let joined = (&mut task.join).await;
        tracing::debug!("autonomic loop shut down");
        match joined {
            Ok(()) => Ok(()),
            Err(e) if e.is_panic() => Err(RuntimeError::LoopPanicked(e.to_string())),
            // Cancelled: the tokio runtime is shutting down; the task is gone either way.
            Err(_) => Ok(()),
        }
    }
}

impl<P: SessionPolicy> AutonomicRuntime<P> {
    fn task(&self) -> std::sync::MutexGuard<'_, Option<LoopTask>> {
        // Only `Option` moves happen under this lock: a panic cannot leave it half-written.
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<P: SessionPolicy> fmt::Debug for AutonomicRuntime<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutonomicRuntime")
            .field("config", &self.shared.config)
            .field("table", &self.shared.table)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl<P: SessionPolicy> Shared<P> {
    /// Makes `report` the last one, unless a later iteration's is already there (the loop's
    /// and `run_once`'s iterations may finish their publication in either order).
    fn publish_report(&self, report: &LoopReport) {
        self.reports.send_if_modified(|last| {
            let newer = last.as_ref().is_none_or(|l| l.iteration < report.iteration);
            if newer {
                *last = Some(report.clone());
            }
            newer
        });
    }

    /// One iteration of the loop; the caller publishes the report.
    fn iterate(&self) -> LoopReport {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let started = Instant::now();
        let iteration = state.iteration + 1;
        let span = tracing::debug_span!("autonomic_loop", iteration);
        let _entered = span.enter();

        // Monitor / Analyze, and the cleanup of Execute: one pass over the table, nothing
        // allocated. Every session is aggregated; those past the retention then leave.
        let pass = LoopPass::new(self, self.aggregator.clock().now_nanos());
        let metrics = AggregatedMetrics::of(&pass, pass.now);
        // Knowledge: what the doctrine gate reads from now on.
        let published = self.aggregator.publish(&metrics);
        // Execute: return the grants of the ended sessions still in the table.
        let (swept, swept_amount) = self.release_ended_grants();
        let sessions_cleaned = pass.cleaned.get();
        let grants_released = pass.grants_released.get() + swept;
        let resources_released = pass.resources_released.get() + swept_amount;

        state.iteration = iteration;
        state.totals.sessions_cleaned += sessions_cleaned as u64;
        state.totals.grants_released += grants_released as u64;
        let report = LoopReport {
            iteration,
            at_ns: metrics.taken_at_ns,
            metrics,
            knowledge_generation: published.generation,
            grants_released,
            resources_released,
            sessions_cleaned,
            sessions_remaining: self.table.total_sessions(),
            adapter: self.adapter.snapshot_stats(),
            took: started.elapsed(),
            totals: state.totals,
        };
        tracing::info!(
            iteration,
            sessions = metrics.total_sessions,
            active = metrics.active_sessions,
            completed = metrics.completed_sessions,
            failed = metrics.failed_sessions,
            failure_rate = metrics.failure_rate,
            slo_compliance = published.slo_compliance,
            p99_latency_us = metrics.latency.p99_us,
            generation = published.generation,
            cleaned = sessions_cleaned,
            grants_released,
            decisions = report.adapter.total_decisions,
            refusals = report.adapter.rejections.total(),
            took_us = u64::try_from(report.took.as_micros()).unwrap_or(u64::MAX),
            "autonomic loop iteration"
        );
        report
    }

    /// Returns the grants of sessions that are in the table and have ended: those finished on
    /// their handles without the adapter being told. `(sessions, amount)`.
    fn release_ended_grants(&self) -> (usize, f64) {
        if self.adapter.granted_resources() == 0.0 {
            return (0, 0.0);
        }
        let mut released = (0, 0.0);
        for (id, _) in self.adapter.granted_sessions() {
            // A session not in the table is not ours to judge (it may live elsewhere); one
            // that left the table through cleanup or `remove_session` was forgotten then.
            if self.table.get(&id).is_ok_and(|h| h.is_terminal()) {
                let amount = self.adapter.release_session(id);
                if amount > 0.0 {
                    released.0 += 1;
                    released.1 += amount;
                }
            }
        }
        released
    }
}

/// The loop's pass over the table, as the aggregator's source: each session is handed to the
/// aggregator (which copies its snapshot at once), then removed if it ended at least
/// `retention` before `now`, with what the adapter keeps for it. Aggregation and cleanup
/// share one visit of the table, which allows removals while it visits; a removed session
/// is still in the aggregate (taken before the cleanup, as if it ran first).
struct LoopPass<'a, P: SessionPolicy> {
    shared: &'a Shared<P>,
    now: u64,
    cleaned: Cell<usize>,
    grants_released: Cell<usize>,
    resources_released: Cell<f64>,
}

impl<'a, P: SessionPolicy> LoopPass<'a, P> {
    fn new(shared: &'a Shared<P>, now: u64) -> Self {
        LoopPass {
            shared,
            now,
            cleaned: Cell::new(0),
            grants_released: Cell::new(0),
            resources_released: Cell::new(0.0),
        }
    }

    /// Removes the session if it ended at least `retention` ago (a terminal state is final,
    /// so the check cannot go stale), and forgets it in the adapter.
    #[inline]
    fn clean(&self, handle: &SessionHandle<(), AnyState>) {
        // One load (the word the aggregator just read); only finished sessions read more.
        if !handle.is_terminal() {
            return;
        }
        let expired = handle
            .snapshot_at(self.now)
            .ended_for(self.now)
            .is_some_and(|age| age >= self.shared.config.retention);
        if expired && self.shared.table.remove(&handle.id()).is_ok() {
            self.cleaned.set(self.cleaned.get() + 1);
            let amount = self.shared.adapter.forget_session(handle.id());
            if amount > 0.0 {
                self.grants_released.set(self.grants_released.get() + 1);
                self.resources_released.set(self.resources_released.get() + amount);
            }
        }
    }
}

impl<P: SessionPolicy> SessionSource for LoopPass<'_, P> {
    type Tenant = ();
    type State = AnyState;

    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, mut f: F) {
        self.shared.table.for_each(|handle| {
            f(handle);
            self.clean(handle);
        });
    }
}

/// The periodic loop: waits for the next tick or the stop signal, runs one iteration on the
/// blocking pool, and again.
async fn run_loop<P: SessionPolicy>(shared: Arc<Shared<P>>, mut stop: watch::Receiver<bool>) {
    let interval = shared.config.interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // A stop request, or the runtime gone (the sender dropped): either way, stop.
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        let iteration = shared.clone();
        // The report is published here, once the blocking task has returned (and dropped its
        // reference to the shared state): whoever sees a report sees a loop that holds
        // nothing but its own reference.
        match tokio::task::spawn_blocking(move || iteration.iterate()).await {
            Ok(report) => shared.publish_report(&report),
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "autonomic loop iteration panicked; the loop goes on");
            }
            // The tokio runtime is shutting down.
            Err(_) => break,
        }
    }
    tracing::debug!("autonomic loop stopped");
}
