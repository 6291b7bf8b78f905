//! Loom model of the event buffer: a ring of ticketed slots, pushers racing each other and a
//! drain.
//!
//! Run: `cargo xtask loom` (or `RUSTFLAGS="--cfg autonomic_loom" LOOM_MAX_PREEMPTIONS=2 cargo
//! test --release -p autonomic-adapter --lib loom_`).

use autonomic_core::SessionId;
use loom::sync::Arc;
use loom::thread;

use crate::SessionEvent;
use crate::event::EventBuffer;

/// Pusher `p`'s `i`-th event.
fn event(p: u64, i: u64) -> SessionEvent {
    SessionEvent::Cancelled { session_id: SessionId::from_raw(p << 8 | i), timestamp_ms: i }
}

/// Two pushers (two events and one) race with a drain on a ring of `capacity` slots. After
/// they join and a last drain: every event was drained or counted as dropped exactly once
/// (none twice, none lost, nothing pending), and each pusher's events were drained in the
/// order it pushed them.
fn every_event_once_in_order(capacity: usize) {
    loom::model(move || {
        let buffer = Arc::new(EventBuffer::new(capacity));
        let pushers: Vec<_> = [(0u64, 2u64), (1, 1)]
            .into_iter()
            .map(|(p, count)| {
                let buffer = buffer.clone();
                thread::spawn(move || (0..count).for_each(|i| buffer.push(event(p, i))))
            })
            .collect();
        let mut drained = buffer.drain();
        for pusher in pushers {
            pusher.join().unwrap();
        }
        drained.extend(buffer.drain());
        assert_eq!(buffer.len(), 0, "events pending after the last drain");
        assert_eq!(
            drained.len() as u64 + buffer.dropped(),
            3,
            "drained {} + dropped {} is not the 3 pushed",
            drained.len(),
            buffer.dropped()
        );
        let mut last = [None::<u64>; 2];
        for e in &drained {
            let raw = e.session_id().expect("a session's event").as_u64();
            let (p, i) = ((raw >> 8) as usize, raw & 0xff);
            assert!(last[p].is_none_or(|before| before < i), "pusher {p}: {i} after {last:?}");
            last[p] = Some(i);
        }
        if capacity >= 3 {
            assert_eq!(buffer.dropped(), 0, "a ring with room for all dropped some");
        }
    });
}

#[test]
fn loom_events_capacity_one() {
    every_event_once_in_order(1);
}

#[test]
fn loom_events_capacity_two() {
    every_event_once_in_order(2);
}

#[test]
fn loom_events_capacity_three() {
    every_event_once_in_order(3);
}
