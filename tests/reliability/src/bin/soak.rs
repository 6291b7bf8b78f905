//! Bounded memory soak: millions of sessions through the table, the adapter and the
//! aggregator, with periodic aggregation and cleanup, while the resident set is sampled.
//!
//! ```text
//! cargo xtask soak                     # 10,000,000 sessions (release build)
//! cargo xtask soak -- --sessions 2000000 --workers 2
//! ```
//!
//! Worker threads each run sessions from start to end: create (64 tenants, 32 patterns, some
//! tags), start, record tasks, retries and violations, ask the adapter for a decision now and
//! then and execute or drop it, finish (complete, fail or cancel) and tell the adapter. The
//! main thread meanwhile, every `--every` sessions, aggregates the whole table and publishes
//! the knowledge, drains the adapter's events, cleans up every finished session (forgetting
//! it in the adapter) and samples RSS from `/proc/self/statm`. Workers wait while more than
//! `--live` sessions are in the table, so the live set is bounded by design and memory must
//! be too.
//!
//! Verdict: after the warm-up (the first `--warmup-pct` percent of the sessions), RSS may not
//! rise more than the tolerance above its value at the end of the warm-up: the larger of
//! `--tolerance-pct` percent of it and `--tolerance-mib` MiB. The exit status is non-zero if
//! it does, or if anything is left over at the end (sessions, slots, granted resources,
//! adapter state).
//!
//! To tell where memory goes, `--adapter 0` leaves the adapter out and `--aggregate 0` the
//! aggregation passes.
//!
//! Why the warm-up is half the run: sessions are allocated by the worker threads and freed by
//! the housekeeping thread, so glibc's per-thread arenas take a long time to settle (each
//! arena keeps some of the chunks freed into it from elsewhere). Under `MALLOC_ARENA_MAX=1`
//! RSS is flat from 20 % of a 10M run (growth 1.7 MiB); with the default arenas it rises
//! until about 5M sessions and then levels off (a 30M run plateaus at about 160 MiB). The
//! live data itself is bounded; the check guards against growth that does not level off.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autonomic_adapter::{AdapterError, Analysis, SessionAdapter, SessionAdapterConfig};
use autonomic_aggregate::{SessionAggregator, source};
use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, TenantId};
use autonomic_reliability::{Rng, rss_bytes};
use autonomic_table::SessionTable;

struct Options {
    sessions: u64,
    workers: usize,
    every: u64,
    live: usize,
    warmup_pct: u64,
    tolerance_pct: u64,
    tolerance_mib: u64,
    /// Drive the adapter (0 to leave it out, to tell where memory goes).
    adapter: bool,
    /// Aggregate in the housekeeping passes (0 to leave it out).
    aggregate: bool,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            sessions: 10_000_000,
            workers: 2,
            every: 100_000,
            live: 200_000,
            warmup_pct: 50,
            tolerance_pct: 10,
            tolerance_mib: 16,
            adapter: true,
            aggregate: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let n: u64 = value
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag} {value}: not a number"))?;
            match flag.as_str() {
                "--sessions" => o.sessions = n,
                "--workers" => o.workers = n.max(1) as usize,
                "--every" => o.every = n.max(1),
                "--live" => o.live = n.max(1) as usize,
                "--warmup-pct" => o.warmup_pct = n.min(90),
                "--tolerance-pct" => o.tolerance_pct = n,
                "--tolerance-mib" => o.tolerance_mib = n,
                "--adapter" => o.adapter = n != 0,
                "--aggregate" => o.aggregate = n != 0,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(o)
    }
}

/// One RSS sample.
struct Sample {
    sessions: u64,
    live: usize,
    rss: u64,
    elapsed: Duration,
}

const CHUNK: u64 = 1_000;

fn run_worker(
    w: usize,
    table: &SessionTable,
    adapter: &SessionAdapter,
    next: &AtomicU64,
    done: &AtomicU64,
    o: &Options,
) {
    let tenants: Vec<TenantId> =
        (0..64u128).map(|i| TenantId::from_u128(0x50A0_0000 + i)).collect();
    let mut rng = Rng::new(0x50A4 + w as u64);
    loop {
        // Relaxed: a work counter; each chunk is handed out once by the RMW.
        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
        if start >= o.sessions {
            return;
        }
        let end = (start + CHUNK).min(o.sessions);
        while table.total_sessions() > o.live {
            std::thread::yield_now(); // the housekeeper is behind: let it clean up
        }
        for i in start..end {
            let mut new = table
                .create_session(CaseId::new(), tenants[(i % 64) as usize])
                .with_pattern((i % 32) as u8);
            if rng.one_in(16) {
                new = new.with_tag("soak").expect("valid tag");
            }
            let handle = new.start().expect("a fresh session starts");
            if o.adapter {
                adapter.on_session_started(&handle);
            }
            for _ in 0..=rng.below(8) {
                handle.record_task_execution_us(500 + rng.below(2_000));
            }
            match rng.below(16) {
                0 => (0..4).for_each(|_| handle.record_retry()),
                1 => (0..10).for_each(|_| handle.record_task_execution_us(250_000)),
                2 => (0..2).for_each(|_| handle.record_violation()),
                _ => {}
            }
            if o.adapter && rng.one_in(4) {
                match adapter.evaluate(&handle) {
                    Ok(Analysis::Admitted(decision)) => {
                        if !rng.one_in(4) {
                            match adapter.execute(&decision, &handle) {
                                Ok(()) | Err(AdapterError::SessionNotRunning { .. }) => {}
                                Err(e) => panic!("execute: {e}"),
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("evaluate: {e}"),
                }
            }
            let observer = handle.erased();
            let _ = match rng.below(20) {
                0 => handle.fail().map(drop),
                1 => handle.cancel().map(drop),
                _ => handle.complete().map(drop),
            };
            if o.adapter {
                let _ = adapter.on_session_finished(&observer);
            }
        }
        // Relaxed: progress for the housekeeper's sampling; exactness is not needed.
        done.fetch_add(end - start, Ordering::Relaxed);
    }
}

fn main() -> ExitCode {
    let o = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "soak: {e}\nusage: soak [--sessions N] [--workers N] [--every N] [--live N] [--warmup-pct P] [--tolerance-pct P] [--tolerance-mib M]"
            );
            return ExitCode::from(2);
        }
    };
    if rss_bytes().is_none() {
        eprintln!("soak: SKIPPED: RSS is read from /proc/self/statm, which this platform lacks");
        return ExitCode::SUCCESS;
    }
    let kb = Arc::new(KnowledgeBase::new());
    let q = GlobalQ { max_failure_rate: 0.2, min_slo_compliance: 0.5, ..GlobalQ::default() };
    let adapter = SessionAdapter::builder(kb.clone())
        .global_q(q)
        .config(SessionAdapterConfig { event_capacity: 4096, ..SessionAdapterConfig::default() })
        .build()
        .expect("valid configuration");
    let aggregator = SessionAggregator::new(kb);
    let table = SessionTable::new();
    let (next, done, finished) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let started = Instant::now();
    let mut samples = vec![Sample {
        sessions: 0,
        live: 0,
        rss: rss_bytes().unwrap_or(0),
        elapsed: Duration::ZERO,
    }];
    let mut cleaned = 0u64;
    let mut publications = 0u64;

    println!(
        "soak: {} sessions, {} workers, housekeeping every {} sessions, live set <= {}",
        o.sessions, o.workers, o.every, o.live
    );
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..o.workers)
            .map(|w| {
                let (table, adapter, next, done, o) = (&table, &adapter, &next, &done, &o);
                s.spawn(move || run_worker(w, table, adapter, next, done, o))
            })
            .collect();
        let waiter = s.spawn(|| {
            for w in workers {
                w.join().expect("a worker panicked");
            }
            // SeqCst: read by the housekeeping loop below; the join above ordered the work.
            finished.store(true, Ordering::SeqCst);
        });
        let mut next_pass = o.every;
        loop {
            // SeqCst: see above.
            let last = finished.load(Ordering::SeqCst);
            // Relaxed: progress only.
            let now_done = done.load(Ordering::Relaxed);
            if now_done >= next_pass || last || table.total_sessions() > o.live {
                // The whole table: what the doctrine gate reads.
                let src = source::whole(source::from_fn(|visit| table.for_each(|h| visit(h))));
                if o.aggregate {
                    aggregator.aggregate_and_publish(&src);
                    publications += 1;
                }
                drop(adapter.take_events());
                let c = table.cleanup_terminal_sessions_with(Duration::ZERO, |id| {
                    adapter.forget_session(id);
                }) as u64;
                cleaned += c;
                if now_done >= next_pass || last {
                    samples.push(Sample {
                        sessions: now_done,
                        live: table.total_sessions(),
                        rss: rss_bytes().unwrap_or(0),
                        elapsed: started.elapsed(),
                    });
                    while next_pass <= now_done {
                        next_pass += o.every;
                    }
                }
            }
            if last {
                break;
            }
            // A timer tick, not a synchronisation: the loop re-reads the counters.
            std::thread::sleep(Duration::from_millis(2));
        }
        waiter.join().expect("waiter");
    });
    let elapsed = started.elapsed();

    // Everything finished: clean the rest, nothing may be left anywhere.
    cleaned += table.cleanup_terminal_sessions_with(Duration::ZERO, |id| {
        adapter.forget_session(id);
    }) as u64;
    let stats = adapter.snapshot_stats();
    let leftovers = [
        ("sessions in the table", table.total_sessions() as u64),
        ("sessions cleaned != sessions run", cleaned.abs_diff(o.sessions)),
        ("adaptation slots in use", stats.active_adaptations),
        ("granted resource units", (stats.granted_resources * 1e6).round() as u64),
        ("sessions tracked by the adapter", stats.tracked_sessions as u64),
    ];

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("\n| sessions done | live sessions | RSS (MiB) | elapsed |");
    println!("|---:|---:|---:|---:|");
    let step = (samples.len() / 25).max(1);
    for (i, s) in samples.iter().enumerate() {
        if i % step == 0 || i + 1 == samples.len() {
            println!("| {} | {} | {:.1} | {:.1?} |", s.sessions, s.live, mib(s.rss), s.elapsed);
        }
    }
    let warm_at = o.sessions * o.warmup_pct / 100;
    let base = samples.iter().rev().find(|s| s.sessions <= warm_at).unwrap_or(&samples[0]);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.sessions > warm_at).collect();
    let peak = after.iter().map(|s| s.rss).max().unwrap_or(base.rss);
    let low = after.iter().map(|s| s.rss).min().unwrap_or(base.rss);
    let tolerance = (base.rss * o.tolerance_pct / 100).max(o.tolerance_mib << 20);
    let growth = peak.saturating_sub(base.rss);
    println!(
        "\n{} sessions in {:.1?} ({:.2} M sessions/s, {} workers), {} aggregations+cleanups",
        o.sessions,
        elapsed,
        o.sessions as f64 / elapsed.as_secs_f64() / 1e6,
        o.workers,
        publications
    );
    println!(
        "RSS after warm-up ({} sessions): {:.1} MiB; afterwards min {:.1} MiB, max {:.1} MiB: \
         growth {:.1} MiB, tolerance {:.1} MiB (max of {}% and {} MiB)",
        base.sessions,
        mib(base.rss),
        mib(low),
        mib(peak),
        mib(growth),
        mib(tolerance),
        o.tolerance_pct,
        o.tolerance_mib
    );
    let mut ok = true;
    if growth > tolerance {
        println!("FAIL: RSS grew by {:.1} MiB after warm-up", mib(growth));
        ok = false;
    }
    for (what, n) in leftovers {
        if n != 0 {
            println!("FAIL: {what}: {n}");
            ok = false;
        }
    }
    if ok {
        println!("PASS: RSS flat after warm-up, nothing left over");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
