//! The loop's single pass over the table: the table's sweep
//! ([`SessionTable::sweep_readings`]) read as the aggregator's source, so aggregation (with the
//! windows' counters and gauges) and cleanup share one visit and one reading per session.

use std::cell::{Cell, RefCell};

use autonomic_adapter::SessionPolicy;
use autonomic_aggregate::{Departures, SessionSource};
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
pub(super) struct LoopPass<'a, P: SessionPolicy> {
    shared: &'a Shared<P>,
    pub(super) cleaned: Cell<usize>,
    pub(super) grants_released: Cell<usize>,
    pub(super) resources_released: Cell<f64>,
    /// The final readings of the sessions the sweep removed.
    pub(super) departures: &'a RefCell<Departures>,
}

impl<'a, P: SessionPolicy> LoopPass<'a, P> {
    pub(super) fn new(shared: &'a Shared<P>, departures: &'a RefCell<Departures>) -> Self {
        LoopPass {
            shared,
            cleaned: Cell::new(0),
            grants_released: Cell::new(0),
            resources_released: Cell::new(0.0),
            departures,
        }
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
    fn for_each_reading<F: FnMut(&SessionReading)>(&self, now_nanos: u64, f: F) {
        self.table()
            .sweep_readings(now_nanos, self.shared.config.retention, f, |gone| self.removed(gone));
    }

    /// Every session of the table: the loop's aggregate is the whole picture.
    fn coverage(&self) -> Coverage {
        Coverage::All
    }
}
