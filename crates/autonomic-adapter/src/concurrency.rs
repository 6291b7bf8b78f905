//! Adaptive concurrency (opt-in): `max_concurrent_adaptations` moved between a floor and a
//! ceiling by an AIMD controller on the runtime's windowed failure rate and latency.
//!
//! # Why AIMD, not a gradient
//! A gradient limiter (Netflix's Gradient2) scales the limit by the ratio of a long-term to a
//! short-term latency. Under steady timeouts both latencies are the same (what completes is
//! fast, what times out is not measured), the ratio stays at one and the limit climbs to its
//! maximum (concurrency-limits #137). AIMD on *failures and latency against a target* has no
//! such blind spot, and its two knobs are easy to reason about: the limit never moves more
//! than `increase` up or one `backoff` down per generation.
//!
//! # The guards
//! * **Steady timeouts never raise it.** Failed sessions and running sessions past the
//!   windows' slow threshold count as failing; a failure rate at or over `max_failure_rate`
//!   is overload, whatever the latency of what completed. The limit rises only on positive
//!   evidence of health: both the failure rate and the latency judged (from their minimum
//!   volumes) and within bounds. Without evidence it holds.
//! * **One slow window never cuts it.** It goes down only from the `patience`-th overloaded
//!   generation in a row (default 2), by `backoff`, never below `floor`.
//!
//! # Who drives it
//! [`SessionAdapter::observe_knowledge`](crate::SessionAdapter::observe_knowledge), once per
//! knowledge generation: the runtime's loop calls it right after it publishes; a user who
//! publishes knowledge alone calls it after each publication. A repeated or older generation
//! changes nothing.
//!
//! # In force
//! The limit is one atomic word; the capacity rule reads it with one load and admits against
//! `min(Global Q's max_concurrent_adaptations, limit)`, so a Q swap still caps it. It is
//! [`AdapterStats::concurrency_limit`](crate::AdapterStats) (and so in the runtime's loop
//! report). Proof: the controller's unit tests (`concurrency/controller.rs`: virtual
//! generations with steady timeouts, one slow window, sustained overload, healthy load) and
//! `tests/adaptive_concurrency.rs` (through the adapter's gate).

mod config;
mod controller;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use autonomic_core::{GlobalKnowledge, GlobalQ};

pub use config::ConcurrencyConfig;
use controller::Controller;

/// The limit in force and, when adaptive concurrency is on, its controller.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimit {
    /// `u64::MAX` when off.
    in_force: AtomicU64,
    controller: Option<Mutex<Controller>>,
}

impl ConcurrencyLimit {
    pub(crate) fn new(config: Option<ConcurrencyConfig>) -> Self {
        ConcurrencyLimit {
            in_force: AtomicU64::new(config.map_or(u64::MAX, |c| c.initial)),
            controller: config.map(|c| Mutex::new(Controller::new(c))),
        }
    }

    /// `q` with `max_concurrent_adaptations` capped by the limit in force (one load).
    #[inline]
    pub(crate) fn bound(&self, q: &GlobalQ) -> GlobalQ {
        // Relaxed: one word read alone; the gate's compare-and-swap enforces whatever bound
        // it is handed, and nothing else is published with the limit.
        let limit = self.in_force.load(Ordering::Relaxed);
        GlobalQ { max_concurrent_adaptations: q.max_concurrent_adaptations.min(limit), ..*q }
    }

    /// The limit in force, if adaptive concurrency is on.
    pub(crate) fn limit(&self) -> Option<u64> {
        // Relaxed: as in `bound`.
        self.controller.as_ref().map(|_| self.in_force.load(Ordering::Relaxed))
    }

    /// Steps the controller for `knowledge` (once per generation).
    pub(crate) fn observe(&self, knowledge: &GlobalKnowledge) {
        if let Some(controller) = &self.controller {
            let limit =
                controller.lock().unwrap_or_else(PoisonError::into_inner).observe(knowledge);
            // Relaxed: as in `bound`; stored under the controller's lock, so stores are in
            // generation order.
            self.in_force.store(limit, Ordering::Relaxed);
        }
    }
}
