//! The event queue: what happens next in virtual time, in a fixed order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    /// A tenant's next session arrives (if the tenant's arrival generation is still `generation`).
    Arrival { tenant: u16, generation: u32 },
    /// The task attempt in progress in a session slot finishes.
    Task { slot: u32 },
    /// The runtime's loop runs.
    Tick,
    /// A fault starts or ends: arrival rates and pressure are looked at again.
    Edge,
    /// The scenario's change `index` applies.
    Change { index: u32 },
}

/// An event: when (ns of virtual time), and a sequence number that orders events at the same
/// instant by when they were scheduled, so every run pops them in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Event {
    pub(super) at: u64,
    seq: u64,
    pub(super) what: What,
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Events by time, then by the order they were scheduled in.
#[derive(Debug, Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<Event>>,
    seq: u64,
    popped: u64,
}

impl Queue {
    pub(super) fn push(&mut self, at: u64, what: What) {
        self.seq += 1;
        self.heap.push(Reverse(Event { at, seq: self.seq, what }));
    }

    /// The next event, if it happens at or before `until`.
    pub(super) fn pop_until(&mut self, until: u64) -> Option<Event> {
        if self.heap.peek().is_none_or(|Reverse(e)| e.at > until) {
            return None;
        }
        self.popped += 1;
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Events handled so far.
    pub(super) fn popped(&self) -> u64 {
        self.popped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_schedule_order() {
        let mut q = Queue::default();
        q.push(5, What::Tick);
        q.push(3, What::Edge);
        q.push(5, What::Change { index: 1 });
        q.push(9, What::Task { slot: 0 });
        assert_eq!(q.pop_until(10).map(|e| e.what), Some(What::Edge));
        assert_eq!(q.pop_until(10).map(|e| e.what), Some(What::Tick));
        assert_eq!(q.pop_until(10).map(|e| e.what), Some(What::Change { index: 1 }));
        assert_eq!(q.pop_until(8), None, "the task is after the bound");
        assert_eq!(q.popped(), 3);
    }
}
