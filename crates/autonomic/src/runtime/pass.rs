//! The loop's single pass over the table: the table's sweep
//! ([`SessionTable::sweep_readings`], or [`SessionTable::sweep_readings_split`] over several
//! threads) read as the aggregator's source, so aggregation (with the windows' counters and
//! gauges) and cleanup share one visit and one reading per session.

use std::cell::RefCell;

use autonomic_adapter::{SessionAdapter, SessionPolicy};
use autonomic_aggregate::{Departures, SessionSource, SplitSource};
use autonomic_core::marker::AnyState;
use autonomic_core::{Coverage, SessionHandle, SessionReading};
use autonomic_table::SessionTable;

use super::Shared;

/// The loop's pass over the table, as the aggregator's source. Each session is read once (the
/// aggregator folds the reading, running gauges included), and the same reading tells the
/// table's sweep whether it ended at least `retention` before the pass's instant and leaves; what the adapter keeps for
/// a removed session is forgotten, and its final reading departs the windows after this
/// pass's window update (the pass counted it). A removed session is still in the aggregate
/// (read before the removal, as if aggregation ran first).
///
/// Split over threads ([`SplitSource`]), each part keeps its own [`Gone`] (no sharing while
/// the parts run), and the parts' are added to the pass's once the sweep returns.
pub(super) struct LoopPass<'a, P: SessionPolicy> {
    shared: &'a Shared<P>,
    /// What the sweep removed so far.
    pub(super) gone: RefCell<Gone>,
}

/// What a sweep (or one part of it) removed: counts for the loop's report, and the final
/// readings for the windows.
#[derive(Default)]
pub(super) struct Gone {
    pub(super) cleaned: usize,
    pub(super) grants_released: usize,
    pub(super) resources_released: f64,
    /// The final readings of the sessions removed.
    pub(super) departures: Departures,
}

impl Gone {
    /// A session the sweep removed: forget it in the adapter (which is thread-safe), and
    /// keep its final reading for the windows.
    fn add<P: SessionPolicy>(&mut self, adapter: &SessionAdapter<P>, gone: &SessionReading) {
        self.cleaned += 1;
        self.departures.add(gone);
        let amount = adapter.forget_session(gone.id);
        if amount > 0.0 {
            self.grants_released += 1;
            self.resources_released += amount;
        }
    }

    /// Adds what another part removed (every count exact; the resources are a sum of floats,
    /// equal up to rounding to adding them one by one).
    fn absorb(&mut self, part: &mut Gone) {
        self.cleaned += part.cleaned;
        self.grants_released += part.grants_released;
        self.resources_released += part.resources_released;
        self.departures.absorb(&mut part.departures);
    }
}

impl<'a, P: SessionPolicy> LoopPass<'a, P> {
    /// A pass whose removals add to `gone` (the departures carried over included).
    pub(super) fn new(shared: &'a Shared<P>, gone: Gone) -> Self {
        LoopPass { shared, gone: RefCell::new(gone) }
    }

    fn removed(&self, gone: &SessionReading) {
        self.gone.borrow_mut().add(&self.shared.adapter, gone);
    }

    fn table(&self) -> &SessionTable {
        &self.shared.table
    }
}

impl<P: SessionPolicy> SessionSource for LoopPass<'_, P> {
    type Tenant = ();
    type State = AnyState;

    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, f: F) {
        self.table().sweep(self.shared.config.retention, f, |gone| self.removed(gone));
    }

    #[inline]
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, f: F) {
        self.table()
            .sweep_readings(now_nanos, self.shared.config.retention, f, |gone| self.removed(gone));
    }

    /// Every session of the table: the loop's aggregate is the whole picture.
    fn coverage(&self) -> Coverage {
        Coverage::All
    }
}

impl<P: SessionPolicy> SplitSource for LoopPass<'_, P> {
    fn for_each_reading_split<V: Send>(
        &self,
        now_nanos: u64,
        parts: &mut [V],
        visit: impl Fn(&mut V, &SessionReading) + Sync,
    ) {
        let adapter = &*self.shared.adapter;
        let mut parts: Vec<(&mut V, Gone)> =
            parts.iter_mut().map(|part| (part, Gone::default())).collect();
        self.table().sweep_readings_split(
            now_nanos,
            self.shared.config.retention,
            &mut parts,
            |(part, _), reading| visit(part, reading),
            |(_, gone), reading| gone.add(adapter, reading),
        );
        let mut mine = self.gone.borrow_mut();
        for (_, part) in &mut parts {
            mine.absorb(part);
        }
    }
}
