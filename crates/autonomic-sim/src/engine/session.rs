//! One simulated session: its handle in the real runtime, its faults and where it is.

use autonomic::{AdmittedDecision, SessionHandle};

use crate::faults::{SessionFaults, TaskFault};

/// A session that has arrived and not ended.
pub(super) struct Live {
    pub(super) handle: SessionHandle,
    pub(super) faults: SessionFaults,
    /// Its random stream's key (also the session id its retry backoff is drawn for).
    pub(super) key: u64,
    pub(super) tenant: u16,
    pub(super) pattern: u16,
    /// Tasks it will run, and has run.
    pub(super) tasks: u32,
    pub(super) done: u32,
    /// Failed attempts of the task in progress.
    pub(super) attempts: u32,
    /// The attempt in progress: its latency and whether it fails.
    pub(super) attempt: TaskFault,
    /// An admitted retry, held (with its adaptation slot) until the retried task has run.
    pub(super) held: Option<AdmittedDecision>,
    /// Running degraded (slower, relaxed SLO), or with extra resources (faster).
    pub(super) degraded: bool,
    pub(super) boosted: bool,
}

/// Session slots, reused: a slot is named by at most one pending event at a time.
#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<Option<Live>>,
    free: Vec<u32>,
    live: u64,
}

impl Slots {
    pub(super) fn insert(&mut self, live: Live) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(live);
                slot
            }
            None => {
                self.slots.push(Some(live));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    pub(super) fn remove(&mut self, slot: u32) -> Option<Live> {
        let live = self.slots.get_mut(slot as usize).and_then(Option::take);
        if live.is_some() {
            self.live -= 1;
            self.free.push(slot);
        }
        live
    }

    /// Sessions running now.
    pub(super) fn live(&self) -> u64 {
        self.live
    }
}
