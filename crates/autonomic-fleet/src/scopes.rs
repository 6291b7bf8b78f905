//! [`ScopeTotals`]: an instance's per-tenant and per-pattern window totals as it publishes
//! them (at most [`FleetSpec::max_scopes`](crate::FleetSpec::max_scopes) of each kind, the
//! rest folded into `other`), and the fleet's sums of them.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use autonomic_aggregate::{WindowConfig, WindowTotals};
use autonomic_core::{TenantId, WindowFigures, WindowedKnowledge};

use crate::knowledge::clamped;

/// The scopes of one kind (tenants or patterns): those with totals of their own, sorted by
/// key, and the rest together in `other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet<K> {
    /// Scopes with totals of their own, sorted by key, each key once.
    pub own: Vec<(K, WindowTotals)>,
    /// Every other scope of this kind, together.
    pub other: WindowTotals,
}

impl<K> Default for ScopeSet<K> {
    fn default() -> Self {
        ScopeSet { own: Vec::new(), other: WindowTotals::default() }
    }
}

/// How much a scope's window holds, to rank scopes when only some can be published: the
/// sessions it finished over the window plus those running. Ties go to the smaller key.
///
/// Both stores rank with it, in Rust ([`ScopeSet::bounded`], [`ScopeSet::sum`]: the Redis
/// script does not read scopes); the shared scenario of `tests/scopes.rs` holds both to it.
pub fn volume(totals: &WindowTotals) -> u64 {
    totals.counts.finished().saturating_add(totals.gauges.running)
}

impl<K: Copy + Ord> ScopeSet<K> {
    /// Whether nothing is counted in any scope.
    pub fn is_empty(&self) -> bool {
        self.own.iter().all(|(_, t)| t.is_empty()) && self.other.is_empty()
    }

    /// Keeps the `cap` scopes of largest [`volume`] and folds the others into `other`, the
    /// way the runtime's windows fold the scopes beyond their caps ([`WindowTotals::add`]).
    pub fn bounded(mut self, cap: usize) -> Self {
        if self.own.len() > cap {
            self.own.sort_unstable_by_key(|(key, totals)| (Reverse(volume(totals)), *key));
            for (_, folded) in self.own.drain(cap..) {
                self.other.add(&folded);
            }
        }
        self.own.sort_unstable_by_key(|(key, _)| *key);
        self
    }

    /// The sum of `sets`, scope by scope (a scope kept by some and folded by others counts
    /// in its own totals for the first and in `other` for the others), bounded to `cap`
    /// scopes.
    pub fn sum<'a>(sets: impl IntoIterator<Item = &'a Self>, cap: usize) -> Self
    where
        K: 'a,
    {
        let mut by_key = BTreeMap::<K, WindowTotals>::new();
        let mut other = WindowTotals::default();
        for set in sets {
            for (key, totals) in &set.own {
                by_key.entry(*key).or_default().add(totals);
            }
            other.add(&set.other);
        }
        ScopeSet { own: by_key.into_iter().collect(), other }.bounded(cap)
    }

    /// Each number clamped to [`MAX_COUNT`](crate::MAX_COUNT), as published.
    pub(crate) fn clamped(&self) -> Self {
        ScopeSet {
            own: self.own.iter().map(|(k, t)| (*k, clamped(t))).collect(),
            other: clamped(&self.other),
        }
    }

    /// This set's scopes from a runtime's figures (`own` in any order).
    fn of_figures(own: &[(K, WindowFigures)], other: &WindowFigures) -> Self {
        let mut own: Vec<_> = own.iter().map(|(k, f)| (*k, totals_of(f))).collect();
        own.sort_unstable_by_key(|(key, _)| *key);
        ScopeSet { own, other: totals_of(other) }
    }

    /// Adds `peers` to a runtime's own figures, scope by scope, judged with `config`'s
    /// minimum volumes: a scope of the peers the runtime has no window of its own for joins
    /// the list. `own` ends sorted by key.
    fn add_to(
        &self,
        own: &mut Vec<(K, WindowFigures)>,
        other: &mut WindowFigures,
        config: &WindowConfig,
    ) {
        own.sort_unstable_by_key(|(key, _)| *key);
        for (key, peers) in &self.own {
            match own.binary_search_by_key(key, |(k, _)| *k) {
                Ok(i) => own[i].1 = judged(&totals_of(&own[i].1), peers, config),
                Err(i) => own.insert(i, (*key, judged(&WindowTotals::default(), peers, config))),
            }
        }
        *other = judged(&totals_of(other), &self.other, config);
    }
}

/// One instance's per-tenant and per-pattern window totals, or the fleet's sum of them.
///
/// Published at most [`FleetSpec::max_scopes`](crate::FleetSpec::max_scopes) scopes of each
/// kind (those of largest [`volume`]; the rest folded into `other`), and answered as many.
///
/// ```
/// use autonomic_aggregate::WindowTotals;
/// use autonomic_fleet::{ScopeSet, ScopeTotals};
/// let busy = |completed| {
///     let mut t = WindowTotals::default();
///     t.counts.completed = completed;
///     t
/// };
/// let scopes = ScopeTotals {
///     patterns: ScopeSet { own: vec![(1, busy(5)), (2, busy(50)), (3, busy(9))], other: busy(1) },
///     ..Default::default()
/// };
/// let published = scopes.bounded(2);
/// assert_eq!(published.patterns.own, vec![(2, busy(50)), (3, busy(9))]);
/// assert_eq!(published.patterns.other.counts.completed, 6, "pattern 1 folded into other");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeTotals {
    /// Per tenant.
    pub tenants: ScopeSet<TenantId>,
    /// Per pattern.
    pub patterns: ScopeSet<u8>,
}

impl ScopeTotals {
    /// The scopes of a runtime's windowed knowledge (its own, before any fleet sum).
    pub fn of(knowledge: &WindowedKnowledge) -> Self {
        ScopeTotals {
            tenants: ScopeSet::of_figures(&knowledge.tenants, &knowledge.other_tenants),
            patterns: ScopeSet::of_figures(&knowledge.patterns, &knowledge.other_patterns),
        }
    }

    /// At most `cap` scopes of each kind (see [`ScopeSet::bounded`]).
    pub fn bounded(self, cap: usize) -> Self {
        ScopeTotals { tenants: self.tenants.bounded(cap), patterns: self.patterns.bounded(cap) }
    }

    /// Whether nothing is counted in any scope.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.patterns.is_empty()
    }

    /// The sum of `all`, kind by kind and scope by scope, bounded to `cap` scopes of each.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a ScopeTotals> + Clone, cap: usize) -> Self {
        ScopeTotals {
            tenants: ScopeSet::sum(all.clone().into_iter().map(|s| &s.tenants), cap),
            patterns: ScopeSet::sum(all.into_iter().map(|s| &s.patterns), cap),
        }
    }

    /// Each number clamped to [`MAX_COUNT`](crate::MAX_COUNT), as published.
    pub(crate) fn clamped(&self) -> Self {
        ScopeTotals { tenants: self.tenants.clamped(), patterns: self.patterns.clamped() }
    }

    /// Adds these (the other instances') scopes to `knowledge`'s tenants and patterns,
    /// judged with `config`'s minimum volumes.
    pub(crate) fn add_to(&self, knowledge: &mut WindowedKnowledge, config: &WindowConfig) {
        self.tenants.add_to(&mut knowledge.tenants, &mut knowledge.other_tenants, config);
        self.patterns.add_to(&mut knowledge.patterns, &mut knowledge.other_patterns, config);
    }
}

/// The totals a scope's figures were computed from.
fn totals_of(figures: &WindowFigures) -> WindowTotals {
    WindowTotals { counts: figures.counts, short: figures.short, gauges: figures.gauges }
}

/// The figures of `own + peers`, with `config`'s minimum volumes (as the runtime's windows
/// judge their own scopes).
fn judged(own: &WindowTotals, peers: &WindowTotals, config: &WindowConfig) -> WindowFigures {
    let mut sum = *own;
    sum.add(peers);
    config.figures(&sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(failed: u64, completed: u64) -> WindowTotals {
        let mut t = WindowTotals::default();
        t.counts.failed = failed;
        t.counts.completed = completed;
        t
    }

    #[test]
    fn bounding_keeps_the_busiest_and_folds_the_rest() {
        let set = ScopeSet {
            own: (0u8..10).map(|p| (p, finished(0, u64::from(p) % 5))).collect(),
            other: finished(1, 0),
        };
        let kept = set.clone().bounded(3);
        // Volumes 4, 4, 3, 3, ...: ties go to the smaller key.
        assert_eq!(kept.own.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![3, 4, 9]);
        let total =
            |s: &ScopeSet<u8>| s.own.iter().map(|(_, t)| volume(t)).sum::<u64>() + volume(&s.other);
        assert_eq!(total(&kept), total(&set), "nothing is lost, only folded");
        assert_eq!(set.clone().bounded(10), set, "within the cap: unchanged");
    }

    #[test]
    fn sums_add_scope_by_scope() {
        let a = ScopeSet { own: vec![(7u8, finished(3, 7))], other: finished(0, 1) };
        let b = ScopeSet {
            own: vec![(7u8, finished(3, 7)), (9, finished(1, 0))],
            other: finished(0, 0),
        };
        let sum = ScopeSet::sum([&a, &b], 8);
        assert_eq!(sum.own, vec![(7, finished(6, 14)), (9, finished(1, 0))]);
        assert_eq!(sum.other, finished(0, 1));
        let bounded = ScopeSet::sum([&a, &b], 1);
        assert_eq!(bounded.own, vec![(7, finished(6, 14))]);
        assert_eq!(bounded.other, finished(1, 1));
    }

    #[test]
    fn peers_join_the_runtimes_figures_judged_with_its_minimum_volumes() {
        let config = WindowConfig { min_finished_sessions: 20, ..WindowConfig::default() };
        let judge = |t: WindowTotals| WindowFigures::new(t.counts, t.short, t.gauges, 20, 1);
        let mut knowledge =
            WindowedKnowledge { patterns: vec![(7, judge(finished(3, 7)))], ..Default::default() };
        let peers = ScopeSet {
            own: vec![(5u8, finished(1, 1)), (7, finished(3, 7))],
            other: finished(2, 0),
        };
        let (mut own, mut other) = (knowledge.patterns.clone(), knowledge.other_patterns);
        peers.add_to(&mut own, &mut other, &config);
        knowledge.patterns = own;
        let p7 = knowledge.pattern(7).expect("kept");
        assert_eq!((p7.counts.failed, p7.counts.completed), (6, 14));
        assert_eq!(p7.failure_rate, autonomic_core::Evidence::Judged(0.3));
        assert_eq!(knowledge.pattern(5).expect("a peer's scope joins").counts.failed, 1);
        assert_eq!(other.counts.failed, 2);
    }
}
