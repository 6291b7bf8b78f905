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

/// A cache-line-sized block of plain data: the unit of the "contiguous scan" floor that
/// aggregation passes are compared with.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct Block(pub [u64; 8]);

/// `n` blocks, contiguous.
pub fn blocks(n: usize) -> Vec<Block> {
    (0..n as u64).map(|i| Block([i; 8])).collect()
}

/// The contiguous-scan floor: sums every word of every block.
#[inline(never)]
pub fn scan_blocks(blocks: &[Block]) -> u64 {
    blocks.iter().fold(0u64, |acc, blk| blk.0.iter().fold(acc, |a, &x| a.wrapping_add(x)))
}

/// xorshift64*: a deterministic workload generator for the benches.
pub struct Rng(pub u64);

impl Rng {
    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
