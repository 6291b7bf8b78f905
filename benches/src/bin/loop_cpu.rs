//! Wall and CPU time of one loop iteration (`run_once`) over the table of `populated(N)`,
//! with the sweep on T threads (0: `SweepThreads::Auto`): the split's trade, same CPU, less
//! wall time. `loop_cpu N T ITERATIONS`; the CPU time is the whole process's (every thread),
//! from `/proc/self/stat` (clock ticks, so give it a few seconds of iterations).

use std::time::Instant;

use autonomic::SweepThreads;
use autonomic_benches::populated_with;

/// User + system CPU time of the process so far, in clock ticks (Linux; 0 elsewhere).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let n = args.next().flatten().unwrap_or(100_000);
    let threads = args.next().flatten().unwrap_or(0);
    let iterations = args.next().flatten().unwrap_or(200).max(1);
    let sweep = if threads == 0 { SweepThreads::Auto } else { SweepThreads::Exactly(threads) };
    let runtime = populated_with(n, sweep);
    runtime.run_once();
    let (cpu0, wall0) = (cpu_ticks(), Instant::now());
    for _ in 0..iterations {
        std::hint::black_box(runtime.run_once());
    }
    let wall = wall0.elapsed().as_secs_f64() * 1e3 / iterations as f64;
    // Clock ticks are 10 ms on Linux (USER_HZ = 100).
    let cpu = (cpu_ticks() - cpu0) as f64 * 10.0 / iterations as f64;
    println!("n={n} threads={threads} iterations={iterations} wall_ms={wall:.3} cpu_ms={cpu:.3}");
}
