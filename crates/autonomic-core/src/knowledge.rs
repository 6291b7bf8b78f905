//! Knowledge (the K of MAPE-K): [`GlobalKnowledge`], the typed global picture the aggregator
//! publishes and the doctrine gate reads, and [`KnowledgeBase`], which holds it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::WindowedKnowledge;

/// The global picture at one instant, as published by the aggregator.
///
/// The doctrine gate reads `slo_compliance` and `failure_rate` from here (typed fields, no
/// string keys). Before the first aggregation, the default is optimistic (compliance 1.0,
/// failure rate 0.0) with `generation == 0`, so a fresh runtime admits adaptations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalKnowledge {
    /// Publication number: 0 before the first publication, then 1, 2, ...
    pub generation: u64,
    /// When it was published (ns on the publisher's clock).
    pub published_at_ns: u64,
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

/// A named fact was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FactError {
    /// The knowledge base already holds [`KnowledgeBase::MAX_FACTS`] facts.
    #[error("knowledge base already holds {max} facts; remove one before adding {name:?}")]
    Full {
        /// The refused fact's name.
        name: String,
        /// The limit.
        max: usize,
    },
    /// The fact's name was empty or longer than [`KnowledgeBase::MAX_FACT_NAME`] bytes.
    #[error("fact name must be 1 to {max} bytes, got {len}")]
    BadName {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value was NaN or infinite.
    #[error("fact {name:?} must be a finite number, got {value}")]
    NotFinite {
        /// The fact's name.
        name: String,
        /// The refused value.
        value: f64,
    },
}

/// Holds the latest [`GlobalKnowledge`] (read lock-free), a bounded history of recent ones, and
/// a bounded set of named numeric facts for extensions.
///
/// ```
/// use autonomic_core::{GlobalKnowledge, KnowledgeBase};
/// let kb = KnowledgeBase::new();
/// assert_eq!(kb.current().generation, 0);
/// let published = kb.publish(GlobalKnowledge { failure_rate: 0.2, ..Default::default() });
/// assert_eq!(published.generation, 1);
/// assert_eq!(kb.current().failure_rate, 0.2);
/// kb.set_fact("queue_depth", 12.0).unwrap();
/// assert_eq!(kb.fact("queue_depth"), Some(12.0));
/// ```
#[derive(Debug)]
pub struct KnowledgeBase {
    current: ArcSwap<GlobalKnowledge>,
    /// Serialises publishers (cold) so generations and history stay in order.
    history: Mutex<VecDeque<Arc<GlobalKnowledge>>>,
    history_len: usize,
    facts: RwLock<BTreeMap<String, f64>>,
}

impl Default for KnowledgeBase {
    fn default() -> Self {
        Self::new()
    }
}

impl KnowledgeBase {
    /// Default number of past publications kept.
    pub const DEFAULT_HISTORY: usize = 64;
    /// Most named facts held.
    pub const MAX_FACTS: usize = 1024;
    /// Longest fact name, in bytes.
    pub const MAX_FACT_NAME: usize = 128;

    /// An empty knowledge base keeping [`DEFAULT_HISTORY`](Self::DEFAULT_HISTORY) publications.
    pub fn new() -> Self {
        Self::with_history(Self::DEFAULT_HISTORY)
    }

    /// An empty knowledge base keeping the last `history_len` publications (at least 1).
    pub fn with_history(history_len: usize) -> Self {
        KnowledgeBase {
            current: ArcSwap::from_pointee(GlobalKnowledge::default()),
            history: Mutex::new(VecDeque::new()),
            history_len: history_len.max(1),
            facts: RwLock::new(BTreeMap::new()),
        }
    }

    /// The latest knowledge (lock-free: one `arc-swap` load).
    #[inline]
    pub fn current(&self) -> Arc<GlobalKnowledge> {
        self.current.load_full()
    }

    /// Reads the latest knowledge without touching its reference count (lock-free, the
    /// cheapest read; do not hold the guard across long work).
    #[inline]
    pub fn with_current<R>(&self, f: impl FnOnce(&GlobalKnowledge) -> R) -> R {
        f(&self.current.load())
    }

    /// Publishes `knowledge` with the next generation number and returns what was published.
    pub fn publish(&self, mut knowledge: GlobalKnowledge) -> Arc<GlobalKnowledge> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        knowledge.generation = self.current.load().generation + 1;
        let published = Arc::new(knowledge);
        self.current.store(published.clone());
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

    /// Sets a named fact (bounded: see [`MAX_FACTS`](Self::MAX_FACTS)).
    pub fn set_fact(&self, name: impl Into<String>, value: f64) -> Result<(), FactError> {
        let name = name.into();
        if name.is_empty() || name.len() > Self::MAX_FACT_NAME {
            return Err(FactError::BadName { len: name.len(), max: Self::MAX_FACT_NAME });
        }
        if !value.is_finite() {
            return Err(FactError::NotFinite { name, value });
        }
        let mut facts = self.facts.write().unwrap_or_else(PoisonError::into_inner);
        if facts.len() >= Self::MAX_FACTS && !facts.contains_key(&name) {
            return Err(FactError::Full { name, max: Self::MAX_FACTS });
        }
        facts.insert(name, value);
        Ok(())
    }

    /// A named fact.
    pub fn fact(&self, name: &str) -> Option<f64> {
        self.facts.read().unwrap_or_else(PoisonError::into_inner).get(name).copied()
    }

    /// Removes a named fact, returning it.
    pub fn remove_fact(&self, name: &str) -> Option<f64> {
        self.facts.write().unwrap_or_else(PoisonError::into_inner).remove(name)
    }

    /// Every named fact, by name.
    pub fn facts(&self) -> BTreeMap<String, f64> {
        self.facts.read().unwrap_or_else(PoisonError::into_inner).clone()
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

    #[test]
    fn facts_are_bounded_and_validated() {
        let kb = KnowledgeBase::new();
        for i in 0..KnowledgeBase::MAX_FACTS {
            kb.set_fact(format!("f{i}"), i as f64).unwrap();
        }
        assert!(matches!(kb.set_fact("one-more", 1.0), Err(FactError::Full { .. })));
        kb.set_fact("f0", 5.0).unwrap(); // replacing is fine
        assert!(matches!(kb.set_fact("x", f64::NAN), Err(FactError::NotFinite { .. })));
        assert!(matches!(kb.set_fact("", 1.0), Err(FactError::BadName { .. })));
        assert_eq!(kb.remove_fact("f0"), Some(5.0));
    }
}
