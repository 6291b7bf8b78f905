//! The loop's single pass over the table: the table's [sweep](SessionTable::sweep) read as the
//! aggregator's source, so aggregation, the window gauges and cleanup share one visit.

use std::cell::{Cell, RefCell};

use autonomic_adapter::SessionPolicy;
use autonomic_aggregate::{Departures, SessionSource};
use autonomic_core::marker::AnyState;
use autonomic_core::{Coverage, SessionHandle, SessionReading, WindowGauges};
use autonomic_table::SessionTable;

use super::Shared;

/// The loop's pass over the table, as the aggregator's source. Each session is read once (the
/// aggregator folds the reading; the pass keeps the running gauges from it), then the table's
/// sweep removes it if it ended at least `retention` before `now`; what the adapter keeps for
/// a removed session is forgotten, and its final reading departs the windows after this
/// pass's window update (the pass counted it). A removed session is still in the aggregate
/// (read before the removal, as if aggregation ran first).
pub(super) struct LoopPass<'a, P: SessionPolicy> {
    shared: &'a Shared<P>,
    pub(super) now: u64,
    pub(super) cleaned: Cell<usize>,
    pub(super) grants_released: Cell<usize>,
    pub(super) resources_released: Cell<f64>,
    /// Running sessions, the oldest one's start, and those past the slow threshold.
    gauges: Cell<WindowGauges>,
    slow_after_ns: Option<u64>,
    /// The final readings of the sessions the sweep removed.
    pub(super) departures: &'a RefCell<Departures>,
}

impl<'a, P: SessionPolicy> LoopPass<'a, P> {
    pub(super) fn new(
        shared: &'a Shared<P>,
        now: u64,
        departures: &'a RefCell<Departures>,
    ) -> Self {
        let slow_after_ns = shared
            .config
            .windows
            .slow_session()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        LoopPass {
            shared,
            now,
            cleaned: Cell::new(0),
            grants_released: Cell::new(0),
            resources_released: Cell::new(0.0),
            gauges: Cell::new(WindowGauges::default()),
            slow_after_ns,
            departures,
        }
    }

    /// The runtime's gauges as this pass saw them.
    pub(super) fn gauges(&self) -> WindowGauges {
        self.gauges.get()
    }

    /// Counts a running session in the gauges.
    #[inline]
    fn gauge(&self, reading: &SessionReading) {
        if !reading.snapshot.is_active() {
            return;
        }
        let mut g = self.gauges.get();
        g.running += 1;
        let age = reading.snapshot.started_at_ns.map_or(0, |s| self.now.saturating_sub(s));
        g.oldest_running_ns = g.oldest_running_ns.max(age);
        if self.slow_after_ns.is_some_and(|slow| age >= slow) {
            g.slow_running += 1;
        }
        self.gauges.set(g);
    }

    /// A session the sweep removed: forget it in the adapter, and keep its final reading for
    /// the windows.
    fn removed(&self, gone: &SessionReading) {
        self.cleaned.set(self.cleaned.get() + 1);
        self.departures.borrow_mut().add(gone);
        let amount = self.shared.adapter.forget_session(gone.id);
        if amount > 0.0 {
            self.grants_released.set(self.grants_released.get() + 1);
            self.resources_released.set(self.resources_released.get() + amount);
        }
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
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, mut f: F) {
        self.table().sweep(
            self.shared.config.retention,
            |h| {
                let reading = h.reading_at(now_nanos);
                self.gauge(&reading);
                f(&reading);
            },
            |gone| self.removed(gone),
        );
    }

    /// Every session of the table: the loop's aggregate is the whole picture.
    fn coverage(&self) -> Coverage {
        Coverage::All
    }
}
