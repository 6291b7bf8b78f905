//! Loom models of the metric counters: concurrent recording loses no increment, and a snapshot
//! never tears the task count from its latency sum, including across the widening path (under
//! `autonomic_loom` the packed word widens after 2 tasks or 16 µs, and latencies over 7 µs take
//! the cold path, so these models go through every branch).
#![cfg(autonomic_loom)]

use autonomic_core::SessionMetrics;
use loom::sync::Arc;
use loom::thread;

#[test]
fn concurrent_records_lose_no_increment() {
    loom::model(|| {
        let m = Arc::new(SessionMetrics::new());
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    m.record_task_us(3);
                    m.record_task_us(3);
                    m.record_retry();
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let s = m.read(0);
        assert_eq!((s.task_completions, s.total_latency_us), (4, 12));
        assert_eq!(s.retry_count, 2);
    });
}

#[test]
fn snapshots_never_tear_count_from_latency() {
    loom::model(|| {
        let m = Arc::new(SessionMetrics::new());
        let w = {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    m.record_task_us(5);
                }
            })
        };
        // Every task is 5 µs, so any consistent view has latency == 5 * count.
        let (count, latency) = m.read_tasks();
        assert_eq!(latency, 5 * count, "torn read: {count} tasks, {latency} µs");
        w.join().unwrap();
        assert_eq!(m.read_tasks(), (3, 15));
    });
}

#[test]
fn wide_latencies_and_widening_race_without_loss() {
    loom::model(|| {
        let m = Arc::new(SessionMetrics::new());
        let w = {
            let m = m.clone();
            thread::spawn(move || m.record_task_us(100)) // cold path: too large to pack
        };
        m.record_task_us(6);
        m.record_task_us(6); // second task reaches the widening threshold
        w.join().unwrap();
        assert_eq!(m.read_tasks(), (3, 112));
    });
}

#[test]
fn a_snapshot_never_shows_a_later_task_without_an_earlier_wide_one() {
    loom::model(|| {
        let m = Arc::new(SessionMetrics::new());
        let w = {
            let m = m.clone();
            thread::spawn(move || {
                m.record_task_us(100); // cold path (overflow counters)
                m.record_task_us(1); // hot path (packed word), recorded after it
            })
        };
        let seen = m.read_tasks();
        assert!(
            matches!(seen, (0, 0) | (1, 100) | (2, 101)),
            "a state that never existed: {seen:?}"
        );
        w.join().unwrap();
    });
}
