//! Fleet-wide knowledge: [`KnowledgeStore`], where each instance publishes its window totals
//! and reads the others' sum, and the wire form of [`WindowTotals`] the stores share.

use std::future::Future;
use std::time::Duration;

use autonomic_aggregate::WindowTotals;
use autonomic_core::{WindowCounts, WindowGauges};

use crate::{FleetSpec, InstanceId, ScopeTotals, StoreError};

/// Largest value of one number an instance publishes (larger is clamped): `2^43`, so that
/// the sum over [`FleetSpec::MAX_INSTANCES`] instances stays exact in a Lua number (a
/// double, exact up to `2^53`). That is 8.8 × 10^12 tasks, or µs of latency (102 days), in
/// one window of one instance.
pub const MAX_COUNT: u64 = 1 << 43;

/// Numbers in the wire form of [`WindowTotals`]: the window's 9 counts, the short window's
/// 9, then `running`, `slow_running` and `oldest_running_ns`.
pub(crate) const WIRE_LEN: usize = 21;
/// The position of `oldest_running_ns` (a level: the fleet's is the largest, not the sum).
pub(crate) const OLDEST: usize = 20;

/// What a [`KnowledgeStore`] answers: the sum of the other live instances' totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetTotals {
    /// The other instances' window totals, summed (their oldest running session: the
    /// oldest of all).
    pub others: WindowTotals,
    /// The other instances' per-tenant and per-pattern totals, summed scope by scope, at
    /// most [`FleetSpec::max_scopes`] of each kind (see [`ScopeTotals::sum`]).
    pub scopes: ScopeTotals,
    /// Instances counted in `others` (live, other than the one asking).
    pub instances: u32,
    /// Whether this instance's totals were stored: `false` when `max_instances` other
    /// instances already publish (they are still summed for it).
    pub published: bool,
    /// Other instances whose scopes record could not be read (a record no instance of this
    /// version writes: another version during a rolling upgrade, or tampering). Their
    /// whole-runtime totals are in `others`; their scopes are left out of `scopes`, so one
    /// bad record costs the fleet that instance's scopes, never the whole exchange.
    pub unreadable_scopes: u32,
}

/// Where the instances of a fleet publish their window totals and read each other's sum.
///
/// The rule, followed by [`MemoryKnowledgeStore`](crate::MemoryKnowledgeStore) and
/// [`RedisKnowledgeStore`](crate::RedisKnowledgeStore) (tested with the same scenario):
///
/// 1. Records whose expiry has passed (on the store's clock) are dropped first: a dead
///    instance's counts age out by themselves, `ttl` after its last publication.
/// 2. The instance's totals replace its record, expiring `ttl` from now, unless it has no
///    record and `max_instances` others have one (then nothing is stored).
/// 3. The answer is the sum of every *other* live record, so the caller adds its own, fresh
///    totals: counts and running sessions add up; each number is clamped to [`MAX_COUNT`]
///    first.
/// 4. Scopes (tenants, patterns) are published at most [`FleetSpec::max_scopes`] of each
///    kind, the rest folded into `other` ([`ScopeTotals::bounded`]); the answer sums them
///    scope by scope and keeps as many, folding the rest ([`ScopeTotals::sum`]). They go
///    in the same exchange as the totals: no request per scope.
///
/// ```
/// use std::time::Duration;
/// use autonomic_aggregate::WindowTotals;
/// use autonomic_fleet::{Allotment, FleetSpec, InstanceId, KnowledgeStore, MemoryKnowledgeStore, ScopeTotals};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = FleetSpec::new("f", Allotment::new(4, 0.0), Allotment::ZERO, 2, Duration::from_secs(1))?;
/// let store = MemoryKnowledgeStore::new();
/// let mut failing = WindowTotals::default();
/// failing.counts.failed = 3;
/// let ttl = Duration::from_secs(1);
/// let none = ScopeTotals::default();
/// store.exchange(&spec, &InstanceId::new("a")?, &failing, &none, ttl).await?;
/// let seen = store.exchange(&spec, &InstanceId::new("b")?, &WindowTotals::default(), &none, ttl).await?;
/// assert_eq!((seen.instances, seen.others.counts.failed), (1, 3));
/// # Ok(()) }
/// ```
pub trait KnowledgeStore: Send + Sync + 'static {
    /// Publishes `totals` and `scopes` as `instance`'s, expiring `ttl` from now, and returns
    /// the other live instances' sum (see the trait's rule). `scopes` beyond
    /// [`FleetSpec::max_scopes`] of a kind are folded before they are published.
    fn exchange(
        &self,
        spec: &FleetSpec,
        instance: &InstanceId,
        totals: &WindowTotals,
        scopes: &ScopeTotals,
        ttl: Duration,
    ) -> impl Future<Output = Result<FleetTotals, StoreError>> + Send;
}

/// `totals` in wire order, each number clamped to [`MAX_COUNT`].
pub(crate) fn to_wire(totals: &WindowTotals) -> [u64; WIRE_LEN] {
    let c = |w: &WindowCounts| {
        [
            w.started,
            w.completed,
            w.failed,
            w.cancelled,
            w.tasks,
            w.latency_us,
            w.violations,
            w.retries,
            w.adaptations,
        ]
    };
    let (counts, short, g) = (c(&totals.counts), c(&totals.short), &totals.gauges);
    let mut wire = [0; WIRE_LEN];
    wire[..9].copy_from_slice(&counts);
    wire[9..18].copy_from_slice(&short);
    wire[18..].copy_from_slice(&[g.running, g.slow_running, g.oldest_running_ns]);
    wire.map(|n| n.min(MAX_COUNT))
}

/// `totals` with each number clamped to [`MAX_COUNT`], as published.
pub(crate) fn clamped(totals: &WindowTotals) -> WindowTotals {
    from_wire(&to_wire(totals))
}

/// The totals of wire numbers from outside the process, checked: each within `most` (the
/// oldest running session within [`MAX_COUNT`]: a level, never summed), the short window
/// within the whole, slow sessions within running ones; else why not.
pub(crate) fn checked(wire: &[u64; WIRE_LEN], most: u64) -> Result<WindowTotals, &'static str> {
    let within =
        wire.iter().enumerate().all(|(i, &n)| n <= if i == OLDEST { MAX_COUNT } else { most });
    if !within {
        return Err("a number larger than the instances can publish");
    }
    let totals = from_wire(wire);
    let short_within = wire[9..18].iter().zip(&wire[..9]).all(|(short, whole)| short <= whole);
    if !short_within || totals.gauges.slow_running > totals.gauges.running {
        return Err("inconsistent numbers");
    }
    Ok(totals)
}

/// The totals of wire numbers (no check: see [`checked`]).
pub(crate) fn from_wire(wire: &[u64; WIRE_LEN]) -> WindowTotals {
    let c = |w: &[u64]| WindowCounts {
        started: w[0],
        completed: w[1],
        failed: w[2],
        cancelled: w[3],
        tasks: w[4],
        latency_us: w[5],
        violations: w[6],
        retries: w[7],
        adaptations: w[8],
    };
    WindowTotals {
        counts: c(&wire[..9]),
        short: c(&wire[9..18]),
        gauges: WindowGauges {
            running: wire[18],
            slow_running: wire[19],
            oldest_running_ns: wire[OLDEST],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_round_trips_and_clamps() {
        let mut totals = WindowTotals::default();
        totals.counts.failed = 7;
        totals.short.tasks = 3;
        totals.gauges = WindowGauges { running: 2, oldest_running_ns: 9, slow_running: 1 };
        assert_eq!(from_wire(&to_wire(&totals)), totals);
        totals.counts.latency_us = u64::MAX;
        assert_eq!(from_wire(&to_wire(&totals)).counts.latency_us, MAX_COUNT);
        assert_eq!(to_wire(&totals)[OLDEST], 9);
    }
}
