//! Knowledge (the K of MAPE-K): [`GlobalKnowledge`], the typed global picture the aggregator
//! publishes and the doctrine gate reads, and [`KnowledgeBase`], which holds it.
//!
//! There are no named (string-keyed) facts: what steers the doctrine is a typed field of
//! [`GlobalKnowledge`], published whole.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::Coverage;

use crate::WindowedKnowledge;

/// The global picture at one instant, as published by the aggregator.
///
/// The doctrine gate reads `slo_compliance` and `failure_rate` from here (typed fields, no
/// string keys), from knowledge that covered every session ([`coverage`](Self::coverage)).
/// Before the first aggregation, the default is optimistic (compliance 1.0, failure rate
/// 0.0, coverage [`All`](Coverage::All)) with `generation == 0`, so a fresh runtime admits
/// adaptations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalKnowledge {
    /// Publication number: 0 before the first publication, then 1, 2, ...
    pub generation: u64,
    /// When it was published (ns on the publisher's clock).
    pub published_at_ns: u64,
    /// Which sessions the aggregate covered: only [`Coverage::All`] knowledge becomes
    /// [`KnowledgeBase::current`], what the doctrine gate reads.
    pub coverage: Coverage,
    /// Sessions the aggregate covered.
    pub total_sessions: u64,
    /// Of those, running (`Active` or `Adapted`).
    pub active_sessions: u64,
    /// Of those, finished (`Completed`, `Failed` or `Cancelled`).
    pub finished_sessions: u64,
    /// Tasks completed across all sessions covered.
    pub total_tasks: u64,
    /// Fraction of tasks without an SLO violation (`1 - violation rate`), in `0.0..=1.0`.
    pub slo_compliance: f64,
    /// Failed sessions over finished sessions, in `0.0..=1.0`.
    pub failure_rate: f64,
    /// Mean task latency, microseconds (0 with no task).
    pub avg_latency_us: f64,
    /// 99th percentile of session mean latency, microseconds (0 with no task).
    pub p99_latency_us: u64,
    /// What happened recently (rolling windows), when the publisher keeps windows (the
    /// runtime's loop does). The figures above are over the sessions in the table, whatever
    /// their age; the doctrine's failure-rate and SLO rules read these windowed ones when
    /// they are present.
    #[serde(default)]
    pub windows: Option<WindowedKnowledge>,
}

impl Default for GlobalKnowledge {
    fn default() -> Self {
        GlobalKnowledge {
            generation: 0,
            published_at_ns: 0,
            coverage: Coverage::All,
            total_sessions: 0,
            active_sessions: 0,
            finished_sessions: 0,
            total_tasks: 0,
            slo_compliance: 1.0,
            failure_rate: 0.0,
            avg_latency_us: 0.0,
            p99_latency_us: 0,
            windows: None,
        }
    }
}

/// Holds the latest whole-picture [`GlobalKnowledge`] (read lock-free, what the doctrine gate
/// reads), the latest publication of any [`Coverage`], and a bounded history of recent ones.
///
/// ```
/// use autonomic_core::{GlobalKnowledge, KnowledgeBase};
/// let kb = KnowledgeBase::new();
/// assert_eq!(kb.current().generation, 0);
/// let published = kb.publish(GlobalKnowledge { failure_rate: 0.2, ..Default::default() });
/// assert_eq!(published.generation, 1);
/// assert_eq!(kb.current().failure_rate, 0.2);
/// ```
#[derive(Debug)]
pub struct KnowledgeBase {
    /// The latest publication that covered every session.
    current: ArcSwap<GlobalKnowledge>,
    /// The latest publication, whatever it covered.
    latest: ArcSwap<GlobalKnowledge>,
    /// Serialises publishers (cold) so generations and history stay in order.
    history: Mutex<VecDeque<Arc<GlobalKnowledge>>>,
    history_len: usize,
}

impl Default for KnowledgeBase {
    fn default() -> Self {
        Self::new()
    }
}

impl KnowledgeBase {
    /// Default number of past publications kept.
    pub const DEFAULT_HISTORY: usize = 64;

    /// An empty knowledge base keeping [`DEFAULT_HISTORY`](Self::DEFAULT_HISTORY) publications.
    pub fn new() -> Self {
        Self::with_history(Self::DEFAULT_HISTORY)
    }

    /// An empty knowledge base keeping the last `history_len` publications (at least 1).
    pub fn with_history(history_len: usize) -> Self {
        KnowledgeBase {
            current: ArcSwap::from_pointee(GlobalKnowledge::default()),
            latest: ArcSwap::from_pointee(GlobalKnowledge::default()),
            history: Mutex::new(VecDeque::new()),
            history_len: history_len.max(1),
        }
    }

    /// The latest knowledge that covered every session ([`Coverage::All`]): what the
    /// doctrine gate reads (lock-free: one `arc-swap` load).
    #[inline]
    pub fn current(&self) -> Arc<GlobalKnowledge> {
        self.current.load_full()
    }

    /// The latest publication, whatever it covered (equal to [`current`](Self::current)
    /// when that was the last one published).
    pub fn latest(&self) -> Arc<GlobalKnowledge> {
        self.latest.load_full()
    }

    /// Reads the [current](Self::current) knowledge without touching its reference count
    /// (lock-free, the cheapest read; do not hold the guard across long work).
    #[inline]
    pub fn with_current<R>(&self, f: impl FnOnce(&GlobalKnowledge) -> R) -> R {
        f(&self.current.load())
    }

    /// Publishes `knowledge` with the next generation number and returns what was published.
    /// It becomes the [latest](Self::latest) and joins the history; it becomes the
    /// [current](Self::current) knowledge, the one the doctrine gate reads, only if it
    /// covered every session ([`Coverage::is_whole`]).
    pub fn publish(&self, mut knowledge: GlobalKnowledge) -> Arc<GlobalKnowledge> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        knowledge.generation = self.latest.load().generation + 1;
        let published = Arc::new(knowledge);
        self.latest.store(published.clone());
        if published.coverage.is_whole() {
            self.current.store(published.clone());
        }
        if history.len() == self.history_len {
            history.pop_front();
        }
        history.push_back(published.clone());
        published
    }

    /// Recent publications, oldest first (at most the configured history length).
    pub fn history(&self) -> Vec<Arc<GlobalKnowledge>> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_ordered() {
        let kb = KnowledgeBase::with_history(3);
        for _ in 0..10 {
            kb.publish(GlobalKnowledge::default());
        }
        let gens: Vec<u64> = kb.history().iter().map(|k| k.generation).collect();
        assert_eq!(gens, vec![8, 9, 10]);
        assert_eq!(kb.current().generation, 10);
    }
}
