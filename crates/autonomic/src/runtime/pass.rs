//! The loop's single pass over the table: aggregation and cleanup in one visit.

use std::cell::Cell;

use autonomic_adapter::SessionPolicy;
use autonomic_aggregate::SessionSource;
use autonomic_core::marker::AnyState;
use autonomic_core::{Coverage, SessionHandle};

use super::Shared;

/// The loop's pass over the table, as the aggregator's source: each session is handed to the
/// aggregator (which copies its snapshot at once), then removed if it ended at least
/// `retention` before `now`, with what the adapter keeps for it. Aggregation and cleanup
/// share one visit of the table, which allows removals while it visits; a removed session
/// is still in the aggregate (taken before the cleanup, as if it ran first).
pub(super) struct LoopPass<'a, P: SessionPolicy> {
    shared: &'a Shared<P>,
    pub(super) now: u64,
    pub(super) cleaned: Cell<usize>,
    pub(super) grants_released: Cell<usize>,
    pub(super) resources_released: Cell<f64>,
}

impl<'a, P: SessionPolicy> LoopPass<'a, P> {
    pub(super) fn new(shared: &'a Shared<P>, now: u64) -> Self {
        LoopPass {
            shared,
            now,
            cleaned: Cell::new(0),
            grants_released: Cell::new(0),
            resources_released: Cell::new(0.0),
        }
    }

    /// Removes the session if it ended at least `retention` ago (a terminal state is final,
    /// so the check cannot go stale), and forgets it in the adapter.
    #[inline]
    fn clean(&self, handle: &SessionHandle<(), AnyState>) {
        // One load (the word the aggregator just read); only finished sessions read more.
        if !handle.is_terminal() {
            return;
        }
        let expired = handle
            .snapshot_at(self.now)
            .ended_for(self.now)
            .is_some_and(|age| age >= self.shared.config.retention);
        if expired && self.shared.table.remove(&handle.id()).is_ok() {
            self.cleaned.set(self.cleaned.get() + 1);
            let amount = self.shared.adapter.forget_session(handle.id());
            if amount > 0.0 {
                self.grants_released.set(self.grants_released.get() + 1);
                self.resources_released.set(self.resources_released.get() + amount);
            }
        }
    }
}

impl<P: SessionPolicy> SessionSource for LoopPass<'_, P> {
    type Tenant = ();
    type State = AnyState;

    #[inline]
    fn for_each_session<F: FnMut(&SessionHandle<(), AnyState>)>(&self, mut f: F) {
        self.shared.table.for_each(|handle| {
            f(handle);
            self.clean(handle);
        });
    }

    /// Every session of the table: the loop's aggregate is the whole picture.
    fn coverage(&self) -> Coverage {
        Coverage::All
    }
}
