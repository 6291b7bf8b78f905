//! [`Departures`]: the final readings of sessions a sweep removed, summed by tenant and
//! pattern until the windows take them.

use std::collections::HashMap;
use std::hash::Hash;

use autonomic_core::{SessionReading, TenantId};

use super::Cumulative;
use crate::aggregation::FoldHashState;

/// Final readings of sessions that left the table, summed by tenant and pattern, to be
/// handed to [`Windows::depart_all`](super::Windows::depart_all) later: what a sweep collects
/// while a window pass is not ready to take them (the sessions it removes were counted by the
/// pass they left in, so they depart *after* it). Memory is bounded by the tenants and
/// patterns seen.
///
/// Adding a session whose tenant (and pattern) is the previous session's costs no hashing:
/// a sweep removes runs of one tenant's sessions (a table with few tenants has long ones).
///
/// ```
/// use autonomic_aggregate::{Departures, WindowConfig, Windows};
/// use autonomic_core::{CaseId, SessionHandle, TenantId};
///
/// let h = SessionHandle::new(CaseId::new(), TenantId::new()).start()?;
/// let h = h.complete()?;
/// let mut departures = Departures::default();
/// departures.add(&h.reading_at(h.snapshot().ended_at_ns.unwrap_or(0)));
/// assert!(!departures.is_empty());
/// let mut windows = Windows::new(WindowConfig::default());
/// windows.depart_all(&mut departures);
/// assert!(departures.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Departures {
    /// Every session has a tenant: the global sum is the tenants' (summed when the windows
    /// take them; saturating sums of counts do not depend on their order).
    pub(super) tenants: Sums<TenantId>,
    pub(super) patterns: Sums<u8>,
}

impl Departures {
    /// Adds one session's final reading.
    pub fn add(&mut self, session: &SessionReading) {
        let counts = Cumulative::of_session(&session.snapshot);
        self.tenants.add(session.tenant_id, &counts);
        if let Some(pattern) = session.pattern {
            self.patterns.add(pattern, &counts);
        }
    }

    /// Adds every session `other` holds (as if each had been added here) and empties it: what
    /// a sweep split over threads does with its parts' departures.
    pub fn absorb(&mut self, other: &mut Departures) {
        let Departures { tenants, patterns } = self;
        other.tenants.drain(|tenant, counts| tenants.add(tenant, counts));
        other.patterns.drain(|pattern, counts| patterns.add(pattern, counts));
    }

    /// Whether no session was added since the last
    /// [`Windows::depart_all`](super::Windows::depart_all).
    pub fn is_empty(&self) -> bool {
        // A session's pattern is summed only with its tenant.
        self.tenants.is_empty()
    }
}

/// Counters summed by key: the run of the last key added, then a map for the rest.
#[derive(Debug, Clone, Default)]
pub(super) struct Sums<K> {
    /// The last key added and what was added under it since it became the last (not yet in
    /// `map`).
    run: Option<(K, Cumulative)>,
    /// Keys are tenant ids, which may come from outside: a seeded hasher.
    map: HashMap<K, Cumulative, FoldHashState>,
}

impl<K: Copy + Eq + Hash> Sums<K> {
    #[inline]
    fn add(&mut self, key: K, counts: &Cumulative) {
        match &mut self.run {
            Some((k, sum)) if *k == key => sum.add(counts),
            run => {
                if let Some((k, sum)) = run.replace((key, *counts)) {
                    self.map.entry(k).or_default().add(&sum);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.run.is_none() && self.map.is_empty()
    }

    /// Hands every key's sum to `f` and empties the sums (keeping the map's memory).
    pub(super) fn drain(&mut self, mut f: impl FnMut(K, &Cumulative)) {
        if let Some((k, sum)) = self.run.take() {
            self.map.entry(k).or_default().add(&sum);
        }
        for (key, sum) in self.map.drain() {
            f(key, &sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use autonomic_core::WindowCounts;

    use super::*;

    fn counts(tasks: u64) -> Cumulative {
        Cumulative(WindowCounts { tasks, ..WindowCounts::default() })
    }

    #[test]
    fn runs_and_scattered_keys_sum_to_what_each_key_had() {
        // Runs, a key coming back after others, a single, a run at the end.
        let keys = [1u8, 1, 1, 2, 1, 3, 3, 2, 2, 2, 4, 1, 1];
        let mut sums = Sums::default();
        let mut expected = BTreeMap::new();
        for (i, &k) in keys.iter().enumerate() {
            let c = counts(1 << i);
            sums.add(k, &c);
            expected.entry(k).or_insert_with(Cumulative::default).add(&c);
        }
        assert!(!sums.is_empty());
        let mut got = BTreeMap::new();
        sums.drain(|k, c| assert!(got.insert(k, *c).is_none(), "key {k} handed out twice"));
        assert_eq!(got, expected);
        assert!(sums.is_empty());
        // Drained: nothing is handed out twice.
        sums.drain(|k, _| panic!("key {k} handed out again"));
        sums.add(7, &counts(5));
        let mut again = Vec::new();
        sums.drain(|k, c| again.push((k, *c)));
        assert_eq!(again, vec![(7, counts(5))]);
    }

    #[test]
    fn departing_all_counts_what_departing_each_counts() {
        use autonomic_core::{CaseId, SessionHandle};

        use crate::{WindowConfig, Windows};

        let (a, b) = (TenantId::new(), TenantId::new());
        // Grouped and interleaved tenants, with and without patterns, each ended session
        // with its own counts.
        let plan = [(a, Some(1)), (a, Some(1)), (b, None), (a, Some(2)), (b, Some(1)), (b, None)];
        let readings: Vec<SessionReading> = plan
            .iter()
            .enumerate()
            .map(|(i, &(tenant, pattern))| {
                let mut builder = SessionHandle::builder(CaseId::new(), tenant);
                if let Some(p) = pattern {
                    builder = builder.pattern(p);
                }
                let h = builder.build().start().expect("start");
                (0..=i).for_each(|_| h.record_task_execution_us(10));
                let h = h.complete().expect("complete");
                h.reading_at(0)
            })
            .collect();
        let (mut each, mut all) =
            (Windows::new(WindowConfig::default()), Windows::new(WindowConfig::default()));
        let mut departures = Departures::default();
        for r in &readings {
            each.departed(r);
            departures.add(r);
        }
        all.depart_all(&mut departures);
        assert!(departures.is_empty());
        for w in [&mut each, &mut all] {
            w.pass(1).finish();
        }
        assert_eq!(each.global(1), all.global(1));
        assert_eq!(each.global(1).counts.tasks, 21);
        for t in [a, b] {
            assert_eq!(each.tenant(t, 1), all.tenant(t, 1));
        }
        for p in [1, 2] {
            assert_eq!(each.pattern(p, 1), all.pattern(p, 1));
        }
    }
}
