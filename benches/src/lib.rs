//! Shared helpers of the criterion benches: two-thread timing and floors.

pub mod tower_requests;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use autonomic::{
    AutonomicRuntime, CaseId, ClockHandle, ManualClock, RuntimeConfig, SweepThreads, TenantId,
};

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

/// A runtime on a frozen manual clock holding `n` sessions in a mix of states (10% created,
/// 40% running of which a tenth adapted, 30% completed, 10% failed, 10% cancelled; 0 to 7
/// tasks each; 8 tenants, 16 patterns), retention one hour: its loop iterations visit every
/// session and remove none (the steady state). `runtime_bench`'s loop rows and the
/// instruction driver's `loop_per_session` use it.
pub fn populated(n: usize) -> AutonomicRuntime {
    populated_with(n, SweepThreads::Auto)
}

/// As [`populated`], with the loop's sweep run on `sweep` threads.
pub fn populated_with(n: usize, sweep: SweepThreads) -> AutonomicRuntime {
    let clock = Arc::new(ManualClock::new());
    let runtime = AutonomicRuntime::builder()
        .config(
            RuntimeConfig::default()
                .with_retention(Duration::from_secs(3600))
                .with_sweep_threads(sweep),
        )
        .clock(ClockHandle::custom(clock))
        .build()
        .expect("valid configuration");
    let tenants: Vec<TenantId> = (0..8).map(|_| TenantId::new()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..n {
        let tenant = tenants[rng.below(8) as usize];
        let new = runtime.create_session(CaseId::new(), tenant).with_pattern(rng.below(16) as u8);
        let fate = rng.below(10);
        if fate == 0 {
            // Stays `Created` for the bench's lifetime: dropping it would cancel it, so its
            // handle is leaked on purpose.
            std::mem::forget(new);
            continue;
        }
        let h = new.start().expect("fresh session");
        for _ in 0..rng.below(8) {
            h.record_task_execution_us(100 + rng.below(20_000));
        }
        if rng.below(5) == 0 {
            h.record_retry();
        }
        match fate {
            1..=3 => {}
            4 => h.mark_adapted().expect("running"),
            5..=7 => drop(h.complete()),
            8 => drop(h.fail()),
            _ => drop(h.cancel()),
        }
    }
    runtime
}

pub mod fleet {
    //! The fleet's admission figure, shared by `fleet_bench` and the instruction driver: the
    //! same analyse + admit + execute on a plain adapter and on one whose capacity is a slice
    //! leased by a running `FleetMember` that also shares the fleet's window totals.

    use std::hint::black_box;
    use std::sync::Arc;
    use std::time::Duration;

    use autonomic_adapter::{Analysis, SessionAdapter};
    use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
    use autonomic_fleet::{
        Allotment, FleetMember, FleetSpec, FleetWindows, InstanceId, MemberConfig,
        MemoryKnowledgeStore, MemoryLeaseStore,
    };

    /// 15% violations over 100 tasks: the default policy proposes `DegradePerformance`.
    pub fn violating() -> SessionHandle {
        let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
        (0..100).for_each(|_| h.record_task_execution_us(5_000));
        (0..15).for_each(|_| h.record_violation());
        h
    }

    /// Analyse, admit and execute one adaptation of `h` on `adapter`.
    pub fn analyse_admit_execute(adapter: &SessionAdapter, h: &SessionHandle) {
        let Ok(Analysis::Admitted(decision)) = adapter.evaluate(black_box(h)) else {
            unreachable!("admitted within the slice")
        };
        adapter.execute(&decision, h).unwrap();
    }

    /// An adapter on a leased slice: a member on `runtime` (in-memory stores: the admission
    /// path never calls a store) renewing every `lease / 3` and exchanging window totals on
    /// the same schedule, started and granted before this returns.
    pub fn leased(
        runtime: &tokio::runtime::Runtime,
        lease: Duration,
    ) -> (Arc<SessionAdapter>, FleetMember) {
        let spec =
            FleetSpec::new("bench", Allotment::new(12, 0.9), Allotment::new(1, 0.05), 3, lease)
                .unwrap();
        let adapter = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
        let member = runtime.block_on(async {
            let config = MemberConfig::new(spec, InstanceId::new("bench").unwrap());
            let member = FleetMember::start_with_knowledge(
                adapter.clone(),
                MemoryLeaseStore::new(),
                MemoryKnowledgeStore::new(),
                Arc::new(FleetWindows::new()),
                config,
            )
            .unwrap();
            member.watch().wait_for(|s| s.granted.is_some()).await.unwrap();
            member
        });
        (adapter, member)
    }
}
