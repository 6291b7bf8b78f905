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
//! * **An unused limit never rises.** A healthy window says the runtime copes with the load
//!   it had, not that it would cope with more: a limit raised while nobody reaches it climbs
//!   to the ceiling on an idle system, then admits the next burst all at once. So the limit
//!   rises only in a generation whose *peak demand* reached `demand_fraction` of it (default
//!   0.8). The demand is noted as each proposal reaches the capacity rules: the gate's slots
//!   in use plus the one it asks for (so a proposal refused at the limit shows a demand above
//!   it). The peak is reset each time the controller steps, so each generation answers for
//!   its own demand. An idle or lightly used system holds its limit; a healthy one that keeps
//!   its slots full raises it.
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
//! report). The demand costs a proposal (never a healthy analysis) two relaxed loads when
//! adaptive concurrency is on, and a `fetch_max` when it sets a new peak; nothing when off.
//! Proof: the controller's unit tests (`concurrency/controller.rs`: virtual generations with
//! steady timeouts, one slow window, sustained overload, healthy load, idle and saturated
//! demand) and `tests/adaptive_concurrency.rs` (through the adapter's gate: an idle system
//! holds, a saturated healthy one rises).

mod config;
mod controller;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use autonomic_core::{GlobalKnowledge, GlobalQ};

pub use config::ConcurrencyConfig;
use controller::Controller;

use crate::gate::Gate;

/// The limit in force and, when adaptive concurrency is on, its controller and the demand
/// it saw since the last generation.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimit {
    /// `u64::MAX` when off.
    in_force: AtomicU64,
    /// The highest demand for a slot since the controller last stepped: the slots in use
    /// plus the one asked for, as each proposal reached the capacity rules (0 when off).
    peak_demand: AtomicU64,
    controller: Option<Mutex<Controller>>,
}

impl ConcurrencyLimit {
    pub(crate) fn new(config: Option<ConcurrencyConfig>) -> Self {
        ConcurrencyLimit {
            in_force: AtomicU64::new(config.map_or(u64::MAX, |c| c.initial)),
            peak_demand: AtomicU64::new(0),
            controller: config.map(|c| Mutex::new(Controller::new(c))),
        }
    }

    /// `q` with `max_concurrent_adaptations` capped by the limit in force (one load), for a
    /// proposal about to ask `gate` for a slot. When adaptive concurrency is on, it also
    /// notes the demand (the gate's slots in use, plus this one) in the generation's peak:
    /// two relaxed loads, and a `fetch_max` only when the peak rises.
    #[inline]
    pub(crate) fn bound(&self, q: &GlobalQ, gate: &Gate) -> GlobalQ {
        // Relaxed: one word read alone; the gate's compare-and-swap enforces whatever bound
        // it is handed, and nothing else is published with the limit.
        let limit = self.in_force.load(Ordering::Relaxed);
        if self.controller.is_some() {
            self.note_demand(gate.slots_in_use().saturating_add(1));
        }
        GlobalQ { max_concurrent_adaptations: q.max_concurrent_adaptations.min(limit), ..*q }
    }

    /// Raises the generation's peak demand to `demand`, if higher.
    #[inline]
    fn note_demand(&self, demand: u64) {
        // Relaxed (both): a gauge read once per generation, publishing nothing else; the
        // `fetch_max` cannot lose a higher value to a racing writer or to the reset (all
        // are read-modify-writes of the one word), and the load only skips the write when
        // the peak is already at least `demand`.
        if demand > self.peak_demand.load(Ordering::Relaxed) {
            self.peak_demand.fetch_max(demand, Ordering::Relaxed);
        }
    }

    /// The peak demand since the last take, reset to zero.
    fn take_peak(&self) -> u64 {
        // Relaxed: as in `note_demand`; the swap takes the peak and resets it in one step,
        // so a demand noted meanwhile counts in this generation or the next.
        self.peak_demand.swap(0, Ordering::Relaxed)
    }

    /// The limit in force, if adaptive concurrency is on.
    pub(crate) fn limit(&self) -> Option<u64> {
        // Relaxed: as in `bound`.
        self.controller.as_ref().map(|_| self.in_force.load(Ordering::Relaxed))
    }

    /// Steps the controller for `knowledge` (once per generation) with the peak demand seen
    /// since its last step, and starts the next generation's peak from zero.
    pub(crate) fn observe(&self, knowledge: &GlobalKnowledge) {
        if let Some(controller) = &self.controller {
            let mut controller = controller.lock().unwrap_or_else(PoisonError::into_inner);
            let limit = controller.observe(knowledge, || self.take_peak());
            // Relaxed: as in `bound`; stored under the controller's lock, so stores are in
            // generation order.
            self.in_force.store(limit, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_peak_is_lost_to_a_racing_reset() {
        let limit = ConcurrencyLimit::new(Some(ConcurrencyConfig::default()));
        let highest = std::thread::scope(|scope| {
            for t in 1..=4u64 {
                let limit = &limit;
                scope.spawn(move || (1..=1_000).for_each(|d| limit.note_demand(d * t)));
            }
            // A generation ends while the demands are noted: its take and the next one's
            // together hold the highest demand, whatever the interleaving.
            limit.take_peak()
        });
        assert_eq!(highest.max(limit.take_peak()), 4_000);
        assert_eq!(limit.take_peak(), 0, "a take resets the peak");
    }
}
