//! [`SessionAggregator`]: aggregation passes over any [`SessionSource`], and publication of
//! the result as the global knowledge.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use autonomic_core::{
    ClockHandle, GlobalKnowledge, KnowledgeBase, Lifecycle, SessionHandle, TenantTag,
    WindowedKnowledge,
};

use crate::{AggregatedMetrics, Aggregation, Breakdown, SessionSource};

/// Rolls sessions up into [`AggregatedMetrics`] and publishes them as the
/// [`GlobalKnowledge`] that the doctrine gate reads.
///
/// # What is published, and what the doctrine reads
/// Every aggregate says which sessions it covered ([`AggregatedMetrics::coverage`], from its
/// [source](SessionSource::coverage)), and so does the knowledge published from it. Only an
/// aggregate of every session ([`Coverage::All`](autonomic_core::Coverage::All): a whole
/// table, the runtime's loop, a source declared [`whole`](crate::source::whole)) becomes the
/// [current knowledge](KnowledgeBase::current) the doctrine gate reads. An aggregate of part
/// of the sessions (the active ones, as the quick reference's pattern 4 collects, or one
/// tenant's) is published too, as the [latest](KnowledgeBase::latest) and in the history,
/// but cannot pass for the whole picture: over active sessions only the failure rate is 0.0,
/// since none has finished.
///
/// [`aggregate_sessions`](Self::aggregate_sessions) (the quick reference's call) publishes
/// what it aggregated; so do [`aggregate_and_publish`](Self::aggregate_and_publish) and
/// [`publish`](Self::publish). The other passes only compute.
///
/// Totals passes ([`aggregate_source`](Self::aggregate_source),
/// [`aggregate_sessions`](Self::aggregate_sessions),
/// [`aggregate_and_publish`](Self::aggregate_and_publish)) need no state and run
/// concurrently. Breakdown passes ([`breakdown`](Self::breakdown),
/// [`aggregate_with`](Self::aggregate_with)) reuse one [`Aggregation`] kept between passes,
/// so they allocate nothing in the steady state; a pass takes it out of its slot and puts it
/// back when done, so no lock is held while the pass or a callback runs (a callback may ask
/// the same aggregator for another pass; a pass that finds the slot empty, because another
/// runs at the same time, builds its own). Every pass reads the clock once.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::{source, SessionAggregator};
/// use autonomic_core::{CaseId, Coverage, KnowledgeBase, SessionHandle, TenantId};
///
/// let kb = Arc::new(KnowledgeBase::new());
/// let aggregator = SessionAggregator::new(kb.clone());
///
/// let mut sessions = Vec::new();
/// for i in 0..10 {
///     let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
///     h.record_task_execution_us(1_000);
///     sessions.push(h.erased());
///     if i < 2 { h.fail()?; } else { h.complete()?; }
/// }
///
/// // These are all the sessions there are: say so, and the doctrine gate reads the result.
/// let (metrics, knowledge) = aggregator.aggregate_and_publish(&source::whole(&sessions));
/// assert_eq!(metrics.failure_rate, 0.2);
/// assert_eq!((knowledge.generation, knowledge.coverage), (1, Coverage::All));
/// assert_eq!(kb.current().failure_rate, 0.2); // what the doctrine gate now reads
/// # Ok::<(), autonomic_core::TransitionError>(())
/// ```
#[derive(Debug)]
pub struct SessionAggregator {
    knowledge: Arc<KnowledgeBase>,
    clock: ClockHandle,
    /// The breakdown passes' reusable state, `None` while a pass has it out. The lock is held
    /// only to take it out and put it back, never across a pass or a callback.
    scratch: Mutex<Option<Aggregation>>,
}

impl SessionAggregator {
    /// An aggregator publishing into `knowledge`, reading the monotonic clock.
    pub fn new(knowledge: Arc<KnowledgeBase>) -> Self {
        Self::with_clock(knowledge, ClockHandle::monotonic())
    }

    /// An aggregator reading `clock` (use the clock your sessions use, so that durations of
    /// running sessions are measured on it).
    pub fn with_clock(knowledge: Arc<KnowledgeBase>, clock: ClockHandle) -> Self {
        SessionAggregator { knowledge, clock, scratch: Mutex::new(Some(Aggregation::new())) }
    }

    /// The knowledge base it publishes into.
    pub fn knowledge(&self) -> &Arc<KnowledgeBase> {
        &self.knowledge
    }

    /// The clock it reads.
    pub fn clock(&self) -> &ClockHandle {
        &self.clock
    }

    /// Aggregates `sessions` (handles of any tenant tag and state) and publishes the result
    /// into the knowledge base this aggregator was built with: the quick reference's
    /// signature and its expectation.
    ///
    /// A slice is a [selection](autonomic_core::Coverage::Selection): the knowledge published
    /// says so, becomes the [latest](KnowledgeBase::latest), and leaves what the doctrine gate
    /// reads ([`current`](KnowledgeBase::current)) to aggregates of every session. To feed
    /// the gate, aggregate a whole table (`TableSource::all`), or declare a slice that holds
    /// every session with [`source::whole`](crate::source::whole) and
    /// [`aggregate_and_publish`](Self::aggregate_and_publish).
    ///
    /// It runs to completion on its first poll (there is nothing to wait for); on an async
    /// runtime, aggregate very large sets with [`aggregate_source`](Self::aggregate_source)
    /// from a blocking task instead.
    ///
    /// # Errors
    /// None: aggregating handles in memory cannot fail ([`Infallible`]; `?` converts it into
    /// any error type). The `Result` keeps the quick reference's shape.
    pub async fn aggregate_sessions<T: TenantTag, S: Lifecycle>(
        &self,
        sessions: &[SessionHandle<T, S>],
    ) -> Result<AggregatedMetrics, Infallible> {
        Ok(self.aggregate_and_publish(sessions).0)
    }

    /// Aggregates every session of `source` in one pass ([`AggregatedMetrics::of`]): totals,
    /// rates and latency distribution, no breakdowns, no allocation, one clock read. Nothing
    /// is published.
    pub fn aggregate_source<S: SessionSource + ?Sized>(&self, source: &S) -> AggregatedMetrics {
        AggregatedMetrics::of(source, self.clock.now_nanos())
    }

    /// Aggregates every session of `source` with per-tenant and per-pattern breakdowns and
    /// returns them all (allocates the returned vectors). Nothing is published.
    pub fn breakdown<S: SessionSource + ?Sized>(&self, source: &S) -> Breakdown {
        self.aggregate_with(source, Breakdown::from_aggregation)
    }

    /// Aggregates every session of `source` with breakdowns, then lets `read` look at the
    /// whole pass (totals, tenants, patterns, histograms) without copying it out. Nothing is
    /// published. `read` runs under no lock of this aggregator: it may ask it for another pass.
    pub fn aggregate_with<S, R>(&self, source: &S, read: impl FnOnce(&Aggregation) -> R) -> R
    where
        S: SessionSource + ?Sized,
    {
        // Taken out of its slot, not locked: `read` is user code and may call back into this
        // aggregator. If it panics, the state is dropped and the next pass builds a new one.
        let mut scratch = self.scratch_slot().take().unwrap_or_default();
        scratch.run(source, self.clock.now_nanos());
        let result = read(&scratch);
        // Two passes that overlapped both put theirs back; one is kept (they are alike).
        self.scratch_slot().get_or_insert(scratch);
        result
    }

    /// Publishes `metrics` as the next [`GlobalKnowledge`] (coverage, SLO compliance, failure
    /// rate, totals, mean and p99 latency; see [`AggregatedMetrics::to_knowledge`]) and
    /// returns what was published, with its generation. It becomes what the doctrine gate
    /// reads only if it covered every session (see [above](Self#what-is-published-and-what-the-doctrine-reads)).
    pub fn publish(&self, metrics: &AggregatedMetrics) -> Arc<GlobalKnowledge> {
        self.publish_knowledge(metrics.to_knowledge(self.clock.now_nanos()))
    }

    /// As [`publish`](Self::publish), with what the rolling windows show
    /// ([`Windows::knowledge`](crate::Windows::knowledge)): the doctrine's failure-rate and
    /// SLO rules then judge the windowed figures, with their minimum volume.
    pub fn publish_windowed(
        &self,
        metrics: &AggregatedMetrics,
        windows: WindowedKnowledge,
    ) -> Arc<GlobalKnowledge> {
        let mut knowledge = metrics.to_knowledge(self.clock.now_nanos());
        knowledge.windows = Some(windows);
        self.publish_knowledge(knowledge)
    }

    fn publish_knowledge(&self, knowledge: GlobalKnowledge) -> Arc<GlobalKnowledge> {
        let published = self.knowledge.publish(knowledge);
        let window = published.windows.as_ref().map(|w| &w.global);
        tracing::debug!(
            windowed_failure_rate = ?window.map(|w| w.failure_rate),
            windowed_slo_compliance = ?window.map(|w| w.slo_compliance),
            generation = published.generation,
            coverage = ?published.coverage,
            sessions = published.total_sessions,
            finished = published.finished_sessions,
            failure_rate = published.failure_rate,
            slo_compliance = published.slo_compliance,
            p99_latency_us = published.p99_latency_us,
            "published global knowledge"
        );
        published
    }

    /// Aggregates every session of `source` and [publishes](Self::publish) the result.
    pub fn aggregate_and_publish<S: SessionSource + ?Sized>(
        &self,
        source: &S,
    ) -> (AggregatedMetrics, Arc<GlobalKnowledge>) {
        let metrics = self.aggregate_source(source);
        let published = self.publish(&metrics);
        (metrics, published)
    }

    fn scratch_slot(&self) -> MutexGuard<'_, Option<Aggregation>> {
        // Only `Option` moves happen under this lock: a panic cannot leave it half-written.
        self.scratch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
