//! [`AutonomicRuntime`]: table, adapter, aggregator and knowledge in one object, and the
//! periodic MAPE-K loop over them.

mod builder;
mod iteration;
mod pass;
mod sessions;
mod task;

pub use builder::RuntimeBuilder;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use autonomic_adapter::{SessionAdapter, SessionPolicy, ThresholdPolicy};
use autonomic_aggregate::{
    AggregatedMetrics, Aggregation, Breakdown, Departures, SessionAggregator, WindowPeers, Windows,
};
use autonomic_core::{ClockHandle, KnowledgeBase, WindowCounts, WindowedKnowledge};
use autonomic_table::SessionTable;
use tokio::sync::watch;

use crate::{LoopReport, LoopTotals, RuntimeConfig, TableSource};
use task::LoopTask;

/// The session autonomic runtime: one object that owns the [`SessionTable`], the
/// [`SessionAdapter`], the [`SessionAggregator`] and the [`KnowledgeBase`] they share (all on
/// one clock), and runs the MAPE-K loop over them.
///
/// # The loop
/// Each iteration ([`run_once`](Self::run_once), or the periodic loop started by
/// [`start`](Self::start)):
/// 1. **Monitor / Analyze**: one pass of the aggregator over every session of the table, each
///    read once: state buckets, rates, latency percentiles, and per tenant and per pattern the
///    sums and running gauges the rolling windows are fed from
///    ([`Aggregation::sums_only`]: no latency distribution per group, no allocation once every
///    tenant has its group).
/// 2. **Knowledge**: publishes that aggregate; the doctrine gate reads its failure rate and
///    SLO compliance from the next analysis on, so what sessions do changes what the adapter
///    admits.
/// 3. **Execute**: removes from the table the sessions that ended at least `retention` ago,
///    dropping their decision history with them ([`SessionAdapter::forget_session`]); their
///    resource grants came back when they ended (a grant follows its session). The removal
///    shares the aggregation's visit of the table (the table
///    allows removing while it visits): the aggregate still counts the sessions removed, as
///    if cleanup ran after it, and a million sessions are visited once, not twice.
/// 4. Emits a `tracing` summary at `info` and publishes a [`LoopReport`]
///    ([`last_report`](Self::last_report), [`reports`](Self::reports)).
///
/// # Sessions and the adapter
/// The lifecycle helpers ([`start_session`](Self::start_session),
/// [`complete_session`](Self::complete_session), [`fail_session`](Self::fail_session),
/// [`cancel_session`](Self::cancel_session), ...) do the handle's transition and tell the
/// adapter: it emits `Started` / `Completed` / `Failed` / `Cancelled`. A session finished
/// directly on its handle (`h.complete()`) is not announced: no event is emitted for it. A
/// resource grant comes back when its session ends either way (the grant follows its
/// session), and the session leaves the table `retention` after it ended.
///
/// # Cost
/// The helpers add only the adapter's own notification to each transition (an event pushed on
/// the adapter's bounded ring: one `fetch_add` and one uncontended slot lock); nothing else is
/// locked or allocated per session. The loop's iterations run one at a time, on tokio's blocking pool
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
    adapter: Arc<SessionAdapter<P>>,
    aggregator: SessionAggregator,
    knowledge: Arc<KnowledgeBase>,
    config: RuntimeConfig,
    /// Serialises iterations (the loop's and `run_once`'s).
    state: Mutex<LoopState>,
    /// The rolling windows. Locked briefly: by an iteration to update them once its pass is
    /// done, and by `remove_session` to record a departure; never across a pass.
    windows: Mutex<Windows>,
    /// The other processes of a fleet, whose windows the global figures include.
    peers: Option<Arc<dyn WindowPeers>>,
    reports: watch::Sender<Option<LoopReport>>,
}

#[derive(Debug)]
struct LoopState {
    iteration: u64,
    totals: LoopTotals,
    /// The breakdown pass's reusable state: sums and running gauges per tenant and per
    /// pattern for the windows ([`Aggregation::sums_only`]: no latency distribution per group).
    aggregation: Aggregation,
    /// Sessions the sweep removed during the pass under way, until the windows take them.
    departures: Departures,
    /// Threads the process may run at once, read once when the loop is built (reading it is
    /// a system call, and more on Linux: cgroup files): what
    /// [`SweepThreads::Auto`](crate::SweepThreads::Auto) splits the sweep over.
    cores: usize,
}

impl LoopState {
    /// A loop's state before its first iteration; running sessions older than `slow_session`
    /// count as slow in the windows' gauges.
    fn new(slow_session: Option<std::time::Duration>) -> Self {
        LoopState {
            iteration: 0,
            totals: LoopTotals::default(),
            aggregation: Aggregation::sums_only().with_slow_threshold(slow_session),
            departures: Departures::default(),
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        }
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

    /// The adapter, shared: for a component that runs beside the runtime and steers the
    /// adapter on its own schedule (a fleet member setting its capacity).
    pub fn shared_adapter(&self) -> Arc<SessionAdapter<P>> {
        self.shared.adapter.clone()
    }

    /// The aggregator.
    pub fn aggregator(&self) -> &SessionAggregator {
        &self.shared.aggregator
    }

    /// The knowledge base the loop publishes into and the doctrine gate reads.
    pub fn knowledge(&self) -> &Arc<KnowledgeBase> {
        &self.shared.knowledge
    }

    /// The doctrine's state now (the adapter's [`DoctrineView`](autonomic_adapter::DoctrineView):
    /// Q in force, shadow, capacity held, tenant health from the windows, grants by session).
    pub fn doctrine_view(&self) -> autonomic_adapter::DoctrineView {
        self.shared.adapter.doctrine_view()
    }

    /// The doctrine's change feed: moves on each change of Q or of the shadow and on each
    /// knowledge generation the loop publishes (a `watch`: the latest value only, a slow
    /// reader misses intermediate ones).
    ///
    /// ```
    /// use autonomic::{AutonomicRuntime, DoctrineChange, RuntimeConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    /// let mut feed = runtime.doctrine_feed();
    /// runtime.run_once(); // publishes knowledge generation 1
    /// feed.changed().await?;
    /// let seen = *feed.borrow_and_update();
    /// assert_eq!((seen.cause, seen.knowledge_generation), (DoctrineChange::Knowledge, 1));
    /// # Ok(()) }
    /// ```
    pub fn doctrine_feed(&self) -> watch::Receiver<autonomic_adapter::DoctrineRevision> {
        self.shared.adapter.doctrine_feed()
    }

    /// What this runtime's own rolling windows show now (what the last iteration saw,
    /// brought to this instant: buckets that have aged out since are gone). With
    /// [window peers](RuntimeBuilder::window_peers) the knowledge's global figures also count
    /// the peers; these do not.
    pub fn windows(&self) -> WindowedKnowledge {
        let now = self.shared.aggregator.clock().now_nanos();
        self.shared.windows().knowledge(now)
    }

    /// The runtime's rolling-window timeline: each bucket of the window ending now, oldest
    /// first, with the instant it starts at (ns on the runtime's clock).
    pub fn window_timeline(&self) -> Vec<(u64, WindowCounts)> {
        let now = self.shared.aggregator.clock().now_nanos();
        self.shared.windows().timeline(now).collect()
    }

    /// The heap the runtime's rolling windows hold: bytes per tenant window and per pattern
    /// window, how many are held, and the total ([`WindowMemory`](autonomic_aggregate::WindowMemory)).
    ///
    /// ```
    /// use autonomic::{AutonomicRuntime, CaseId, RuntimeConfig, TenantId};
    /// let runtime = AutonomicRuntime::new(RuntimeConfig::default())?;
    /// runtime.start_session(runtime.create_session(CaseId::new(), TenantId::new()))?;
    /// runtime.run_once();
    /// let memory = runtime.window_memory();
    /// assert_eq!(memory.tenant_windows, 1);
    /// assert!(memory.total() >= memory.tenant_window);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn window_memory(&self) -> autonomic_aggregate::WindowMemory {
        self.shared.windows().memory()
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
    fn windows(&self) -> MutexGuard<'_, Windows> {
        // Every update of the windows is a sequence of plain field writes that a panic
        // cannot leave half-done in a way the next pass does not settle.
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
