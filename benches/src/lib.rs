//! Shared helpers of the criterion benches: two-thread timing and floors.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(thread_index, iters)` on two threads started together and returns the mean of
/// the two threads' own elapsed times, so thread start-up is not measured.
pub fn two_threads<F>(iters: u64, work: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(2);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let t = Instant::now();
                    work(i, iters);
                    t.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("bench thread panicked")).collect()
    });
    times.iter().sum::<Duration>() / 2
}
