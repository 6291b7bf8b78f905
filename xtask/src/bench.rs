//! `cargo xtask bench`: runs the criterion suite and prints the report table
//! (operation | ours (median) | floor | ours/floor | target), also written to
//! `target/bench-report.md`.
//!
//! * `--quick`: every bench once in criterion's `--test` mode (no timing, nothing asserted
//!   about speed) and the memory measurement at a small size: a smoke test for CI.
//! * `--report`: renders the table from the criterion results already in `target/criterion`
//!   (and a fresh memory measurement), without running the benches again.
//! * `--instructions`: instruction counts per operation under `valgrind --tool=callgrind`,
//!   which do not drift with machine load (skipped, with a message, without valgrind).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::cmd::{Cmd, Failed, root};

/// How a row's figures are read and shown.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Criterion median, nanoseconds.
    Time,
    /// Bytes per session, from the memory measurement.
    Bytes,
}

/// One row of the report: a measured operation, the bare floor measured in the same run, and
/// the target it is judged against.
struct Row {
    operation: &'static str,
    ours: &'static str,
    floor: Option<&'static str>,
    target: &'static str,
    unit: Unit,
}

const fn row(
    operation: &'static str,
    ours: &'static str,
    floor: Option<&'static str>,
    target: &'static str,
) -> Row {
    Row { operation, ours, floor, target, unit: Unit::Time }
}

/// The criterion bench ids the report reads (each row's own and its floor's), for
/// `cargo xtask tidy` to check against the benches' sources.
pub fn expected_ids() -> impl Iterator<Item = &'static str> {
    ROWS.iter()
        .filter(|r| r.unit == Unit::Time)
        .flat_map(|r| std::iter::once(r.ours).chain(r.floor))
        .filter(|id| !id.starts_with("memory/"))
}

/// Ids of the memory figures (not criterion ids).
const MEM_TABLE: &str = "memory/table_bytes_per_session_1m";
const MEM_BARE: &str = "memory/bare_bytes_per_session_1m";

/// The rows, in report order. Bench ids are criterion's `group/function[/parameter]`; rows
/// whose bench has not run (or does not exist yet) show "not run".
const ROWS: &[Row] = &[
    // ---- the quick reference's performance table -------------------------------------
    row(
        "Session creation (table of 1M: create + start)",
        "table_create_1m/create_session_start",
        Some("table_create_1m/floor_session_new_plus_map_insert"),
        "<1 µs (quick ref)",
    ),
    row(
        "Metric update (record_task_execution)",
        "metric_update/record_task_execution",
        Some("metric_update/floor_relaxed_fetch_add"),
        "<10 ns (quick ref); <=3.5 ns",
    ),
    row(
        "Session lookup (100K): sessions_by_tenant, 1K of 100K",
        "table_filter_1k_of_100k/sessions_by_tenant",
        Some("table_filter_1k_of_100k/floor_clone_1k_handles_from_vec"),
        "<100 µs (quick ref)",
    ),
    row(
        "Aggregation (100K, totals)",
        "aggregate/100000/aggregate_source/100000",
        Some("aggregate/100000/floor_contiguous_64B/100000"),
        "<100 ms (quick ref); <1.5 ms",
    ),
    row(
        "Concurrent ops (1000): create, start, 10 tasks, analyse, complete",
        "concurrent_ops_1000/healthy",
        Some("concurrent_ops_1000/floor_spawn_join_1000_empty_tasks"),
        "<100 ms (quick ref); <0.8 ms",
    ),
    // ---- the table ---------------------------------------------------------------------
    row(
        "Session creation with pattern (table of 1M)",
        "table_create_1m/create_session_with_pattern_start",
        Some("table_create_1m/floor_session_new_plus_map_insert"),
        "<1 µs",
    ),
    row(
        "Handle creation (no table)",
        "handle_creation/session_handle_new",
        Some("handle_creation/floor_box_176_bytes"),
        "<60 ns",
    ),
    row(
        "get in 1M (random id)",
        "table_get_1m/get_random",
        Some("table_get_1m/floor_map_get_random"),
        "report",
    ),
    row(
        "get in 1M (same id)",
        "table_get_1m/get_hot",
        Some("table_get_1m/floor_map_get_hot"),
        "report",
    ),
    row(
        "Filter by tenant (1K of 100K)",
        "table_filter_1k_of_100k/sessions_by_tenant",
        Some("table_filter_1k_of_100k/floor_clone_1k_handles_from_vec"),
        "O(matching)",
    ),
    row(
        "Filter by pattern (1K of 100K)",
        "table_filter_1k_of_100k/sessions_by_pattern",
        Some("table_filter_1k_of_100k/floor_clone_1k_handles_from_vec"),
        "O(matching)",
    ),
    row(
        "stats() over 1M",
        "table_scan_1m/stats",
        Some("table_scan_1m/floor_vec_read_state"),
        "report",
    ),
    row(
        "active_sessions() over 1M",
        "table_scan_1m/active_sessions",
        Some("table_scan_1m/floor_vec_read_state"),
        "report",
    ),
    row(
        "Cleanup of 100K finished sessions",
        "table_cleanup_100k/cleanup_terminal_sessions",
        Some("table_cleanup_100k/floor_map_remove_100k"),
        "report",
    ),
    Row {
        operation: "Memory per session at 1M (table + indexes + session)",
        ours: MEM_TABLE,
        floor: Some(MEM_BARE),
        target: "bounded; report",
        unit: Unit::Bytes,
    },
    // ---- metrics ---------------------------------------------------------------------
    row(
        "record_retry",
        "metric_update/record_retry",
        Some("metric_update/floor_relaxed_fetch_add"),
        "<10 ns",
    ),
    row(
        "record_violation",
        "metric_update/record_violation",
        Some("metric_update/floor_relaxed_fetch_add"),
        "<10 ns",
    ),
    row(
        "2 threads, 2 sessions: record_task",
        "metric_update_2threads/two_sessions_record_task",
        Some("metric_update_2threads/floor_own_padded_counter"),
        "within 1.2x of 1 thread",
    ),
    row(
        "2 threads, 1 session: record_task",
        "metric_update_2threads/one_session_record_task",
        Some("metric_update_2threads/floor_own_padded_counter"),
        "report",
    ),
    row("Snapshot", "snapshot/snapshot", Some("handle_creation/floor_instant_now"), "report"),
    // ---- aggregation growth curve ------------------------------------------------------
    row(
        "Aggregation 1K (totals)",
        "aggregate/1000/aggregate_source/1000",
        Some("aggregate/1000/floor_contiguous_64B/1000"),
        "report",
    ),
    row(
        "Aggregation 10K (totals)",
        "aggregate/10000/aggregate_source/10000",
        Some("aggregate/10000/floor_contiguous_64B/10000"),
        "report",
    ),
    row(
        "Aggregation 100K (totals)",
        "aggregate/100000/aggregate_source/100000",
        Some("aggregate/100000/floor_contiguous_64B/100000"),
        "<1.5 ms",
    ),
    row(
        "Aggregation 1M (totals)",
        "aggregate/1000000/aggregate_source/1000000",
        Some("aggregate/1000000/floor_contiguous_64B/1000000"),
        "<15 ms",
    ),
    row(
        "Aggregation 100K (breakdowns)",
        "aggregate/100000/aggregation_run/100000",
        Some("aggregate/100000/floor_contiguous_64B/100000"),
        "report",
    ),
    row(
        "Aggregation 1M (breakdowns)",
        "aggregate/1000000/aggregation_run/1000000",
        Some("aggregate/1000000/floor_contiguous_64B/1000000"),
        "report",
    ),
    row(
        "Aggregation 1M (totals, random order)",
        "aggregate/1000000/aggregate_source_shuffled/1000000",
        Some("aggregate/1000000/floor_one_atomic_shuffled/1000000"),
        "report",
    ),
    // ---- adapter -----------------------------------------------------------------------
    row(
        "Analyze a healthy session (evaluate)",
        "adapter/analyze_healthy/evaluate_sync",
        Some("adapter/analyze_healthy/context/metrics_snapshot"),
        "report",
    ),
    row(
        "analyze_session (async form)",
        "adapter/analyze_healthy/analyze_session_async",
        Some("adapter/analyze_healthy/context/metrics_snapshot"),
        "report",
    ),
    row(
        "Analyze a healthy session, tenant shares + retry budget configured",
        "adapter/analyze_healthy/evaluate_sync_budgets",
        Some("adapter/analyze_healthy/evaluate_sync"),
        "<=10 ns",
    ),
    row(
        "Analyze + admit (decision dropped)",
        "adapter/action_path/degrade/analyze_admit_drop",
        Some("adapter/action_path/floor/fetch_add_relaxed"),
        "report",
    ),
    row(
        "Analyze + admit + execute",
        "adapter/action_path/degrade/analyze_admit_execute_sync",
        Some("adapter/action_path/floor/fetch_add_relaxed"),
        "report",
    ),
    row(
        "Analyze + admit + execute, tenant shares + retry budget on (floor: without)",
        "adapter/action_path/degrade/analyze_admit_execute_sync_budgets",
        Some("adapter/action_path/degrade/analyze_admit_execute_sync"),
        "<=200 ns",
    ),
    row(
        "Analyze + admit + execute a retry, tenant shares + retry budget on (floor: without)",
        "adapter/action_path/retry/analyze_admit_execute_sync_budgets",
        Some("adapter/action_path/retry/analyze_admit_execute_sync"),
        "<=200 ns",
    ),
    row(
        "Admit + execute for two tenants on two threads, per op per thread (floor: one thread)",
        "adapter/two_threads/tenants_admit_execute/2",
        Some("adapter/two_threads/tenants_admit_execute/1"),
        "report",
    ),
    row(
        "Analyze + admit + execute, fleet on (leased slice; floor: local gate)",
        "fleet/action_path/leased/analyze_admit_execute_sync",
        Some("fleet/action_path/local/analyze_admit_execute_sync"),
        "<=300 ns",
    ),
    row(
        "Analyze + admit + execute, shadow Q set (floor: no shadow)",
        "adapter/action_path/shadow/analyze_admit_execute_sync",
        Some("adapter/action_path/degrade/analyze_admit_execute_sync"),
        "<=20 ns over floor",
    ),
    row(
        "Analyze + admit + execute, shadow disagrees (floor: no shadow)",
        "adapter/action_path/shadow_disagrees/analyze_admit_execute_sync",
        Some("adapter/action_path/degrade/analyze_admit_execute_sync"),
        "report",
    ),
    row(
        "Analyze a healthy session, shadow Q set (floor: no shadow)",
        "adapter/analyze_healthy/evaluate_sync_shadow_set",
        Some("adapter/analyze_healthy/evaluate_sync"),
        "report",
    ),
    row(
        "Analyze + refusal by Global Q",
        "adapter/action_path/degrade/analyze_refused",
        Some("adapter/action_path/floor/fetch_add_relaxed"),
        "report",
    ),
    // ---- runtime -----------------------------------------------------------------------
    row(
        "Concurrent ops (1000), every session adapts",
        "concurrent_ops_1000/all_adapt",
        Some("concurrent_ops_1000/floor_spawn_join_1000_empty_tasks"),
        "<1.2 ms",
    ),
    row(
        "Aggregation through the table (100K)",
        "runtime_loop/100000/aggregate_pass/100000",
        Some("runtime_loop/100000/floor_vec_aggregate/100000"),
        "<1.5 ms",
    ),
    row(
        "Aggregation through the table (1M)",
        "runtime_loop/1000000/aggregate_pass/1000000",
        Some("runtime_loop/1000000/floor_vec_aggregate/1000000"),
        "<15 ms",
    ),
    row(
        "Runtime loop iteration (100K sessions)",
        "runtime_loop/100000/run_once/100000",
        Some("runtime_loop/100000/floor_table_visit/100000"),
        "report",
    ),
    row(
        "Runtime loop iteration (1M sessions)",
        "runtime_loop/1000000/run_once/1000000",
        Some("runtime_loop/1000000/floor_table_visit/1000000"),
        "report",
    ),
    // ---- services and export (tower_bench) -----------------------------------------------
    row(
        "SessionLayer, per request (over the bare service)",
        "tower_layer/session_layer_per_request",
        Some("tower_layer/bare"),
        "<=250 ns over bare",
    ),
    row(
        "Runtime session lifecycle by hand (create, start, evaluate, task, complete)",
        "tower_layer/floor_runtime_lifecycle",
        Some("tower_layer/bare"),
        "report",
    ),
    row(
        "SessionLayer, keyed (over the bare service)",
        "tower_layer/session_layer_keyed",
        Some("tower_layer/bare"),
        "report",
    ),
    row(
        "tower ConcurrencyLimit, the peer (over the bare service)",
        "tower_layer/concurrency_limit",
        Some("tower_layer/bare"),
        "report",
    ),
    row(
        "Keyed lookup, existing key (10K keys)",
        "keyed_lookup/existing_key",
        Some("keyed_lookup/floor_std_hashmap_get_32B"),
        "<=60 ns",
    ),
    row(
        "Prometheus scrape: encode (1K tenants, 50 patterns)",
        "prometheus_scrape/encode_1k_tenants_50_patterns",
        None,
        "<=5 ms",
    ),
    row(
        "Prometheus observe: breakdown pass (5K sessions)",
        "prometheus_scrape/observe_1k_tenants_50_patterns",
        None,
        "report",
    ),
];

/// Parsed command-line mode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Quick,
    ReportOnly,
    Instructions,
}

impl Mode {
    pub fn from_args(args: &[String]) -> Mode {
        let has = |flag: &str| args.iter().any(|a| a == flag);
        if has("--instructions") {
            Mode::Instructions
        } else if has("--quick") {
            Mode::Quick
        } else if has("--report") {
            Mode::ReportOnly
        } else {
            Mode::Full
        }
    }
}

pub fn run(mode: Mode) -> Result<(), Failed> {
    match mode {
        Mode::Instructions => return instructions(),
        Mode::Quick => {
            let started = std::time::Instant::now();
            // Every bench once, no timing: a smoke test that they all still run.
            Cmd::cargo(["bench", "-p", "autonomic-benches", "--", "--test"]).run()?;
            // And the memory measurement, at a size that takes a moment.
            if let Some(m) = memory(20_000)? {
                eprintln!(
                    "xtask bench --quick: memory at 20K sessions: table {:.0} B/session, bare {:.0}",
                    m.table, m.bare
                );
            }
            eprintln!("xtask bench --quick: every bench ran, in {:.0?}", started.elapsed());
            return Ok(());
        }
        Mode::Full => Cmd::cargo(["bench", "-p", "autonomic-benches"]).run()?,
        Mode::ReportOnly => {}
    }
    let mut figures = read_medians(&root().join("target/criterion"));
    if let Some(m) = memory(1_000_000)? {
        figures.insert(MEM_TABLE.into(), m.table);
        figures.insert(MEM_BARE.into(), m.bare);
    }
    let report = render(&figures, mode);
    println!("{report}");
    let path = root().join("target/bench-report.md");
    std::fs::write(&path, &report)
        .map_err(|e| Failed(format!("writing {}: {e}", path.display())))?;
    eprintln!("xtask bench: report written to {}", path.display());
    Ok(())
}

/// Bytes per session, from the table crate's memory example.
struct Memory {
    table: f64,
    bare: f64,
}

/// Runs `crates/autonomic-table/examples/table_memory.rs` (release) for `sessions` sessions
/// and reads its two figures; `None` (with a message) if the example does not exist or
/// printed nothing usable.
fn memory(sessions: u64) -> Result<Option<Memory>, Failed> {
    if !root().join("crates/autonomic-table/examples/table_memory.rs").exists() {
        eprintln!("xtask bench: no table_memory example in autonomic-table: memory row not run");
        return Ok(None);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let n = sessions.to_string();
    let args =
        ["run", "--quiet", "--release", "-p", "autonomic-table", "--example", "table_memory"];
    eprintln!("$ cargo {} -- {n} 1000", args.join(" "));
    let out = Command::new(cargo)
        .args(args)
        .args(["--", &n, "1000"])
        .current_dir(root())
        .output()
        .map_err(|e| Failed(format!("table_memory: {e}")))?;
    if !out.status.success() {
        return Err(Failed(format!(
            "table_memory example failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let figure = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    match (figure("table, everything included"), figure("bare sessions")) {
        (Some(table), Some(bare)) => Ok(Some(Memory { table, bare })),
        _ => {
            eprintln!("xtask bench: table_memory printed no figures: memory row not run");
            Ok(None)
        }
    }
}

/// `full_id -> median ns` for every benchmark criterion has results for.
fn read_medians(dir: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("new/benchmark.json")
                && let Some((id, median)) = read_one(&p)
            {
                out.insert(id, median);
            }
        }
    }
    out
}

fn read_one(benchmark_json: &Path) -> Option<(String, f64)> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(benchmark_json).ok()?).ok()?;
    let est_path = benchmark_json.with_file_name("estimates.json");
    let est: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(est_path).ok()?).ok()?;
    let id = meta.get("full_id")?.as_str()?.to_string();
    let median = est.get("median")?.get("point_estimate")?.as_f64()?;
    Some((id, median))
}

fn human(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.2} ns"),
        n if n < 1e6 => format!("{:.2} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Time => human(value),
        Unit::Bytes => format!("{value:.0} B/session"),
    }
}

/// `nproc`, the CPU model and the date, for the report's header.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {date}")
}

fn render(figures: &BTreeMap<String, f64>, mode: Mode) -> String {
    let mut s = String::new();
    let command =
        if mode == Mode::ReportOnly { "cargo xtask bench --report" } else { "cargo xtask bench" };
    let _ = writeln!(s, "Command: `{command}`; machine: {}\n", machine());
    let _ = writeln!(s, "| operation | ours (median) | floor (median) | ours/floor | target |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for r in ROWS {
        let ours = figures.get(r.ours).copied();
        let floor = r.floor.and_then(|f| figures.get(f).copied());
        let ratio = match (ours, floor) {
            (Some(o), Some(f)) if f > 0.0 => format!("{:.2}x", o / f),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.operation,
            ours.map_or("not run".into(), |v| show(v, r.unit)),
            floor.map_or("-".into(), |v| show(v, r.unit)),
            ratio,
            r.target
        );
    }
    let _ = writeln!(
        s,
        "\nFloors: the bare primitive measured in the same run (a relaxed `fetch_add` for metric \
         updates, the map's own insert/get/remove or a `Vec` of the same handles for table \
         operations, a plain loop over the same number of contiguous 64-byte structs for \
         aggregation over a `Vec`, the same aggregation over a `Vec` of the table's handles for \
         aggregation through the table, bare sessions in a `Vec` for memory, spawning and \
         joining 1000 tasks for the runtime)."
    );
    let _ = writeln!(s, "\nEvery benchmark (median):\n");
    for (id, m) in figures {
        let unit = if id.starts_with("memory/") { Unit::Bytes } else { Unit::Time };
        let _ = writeln!(s, "- `{id}`: {}", show(*m, unit));
    }
    s
}

// ------------------------------------------------------------------ instructions ----

/// Operations of `benches/src/bin/instructions.rs`, each compared with the first (the floor).
const INSTRUCTION_OPS: &[&str] = &[
    "floor_fetch_add",
    "record_task",
    "record_retry",
    "snapshot_at",
    "handle_new",
    "loop_per_session",
    "tower_bare",
    "tower_per_request",
    "tower_keyed",
    "keyed_lookup",
    "admit_local",
    "admit_leased",
    "admit_execute",
    "admit_execute_shadow",
    "admit",
    "admit_breaker",
    "admit_breaker_tripped",
    "refuse_breaker_open",
    "evaluate_healthy",
    "evaluate_healthy_budgets",
    "admit_execute_budgets",
    "retry_admit_execute_budgets",
];

/// Instruction counts per operation: each op runs at N and 2N under callgrind; per op =
/// (count(2N) - count(N)) / N, so start-up cost cancels out.
fn instructions() -> Result<(), Failed> {
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "xtask bench --instructions: SKIPPED: valgrind is not installed \
             (`apt-get install valgrind`); the timing benches do not need it."
        );
        return Ok(());
    }
    Cmd::cargo(["build", "--release", "-p", "autonomic-benches", "--bin", "instructions"]).run()?;
    let bin = root().join("target/release/instructions");
    let n: u64 =
        std::env::var("XTASK_INSTRUCTIONS_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let count = |op: &str, n: u64| -> Result<Option<u64>, Failed> {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&bin)
            .args([op, &n.to_string()])
            .output()
            .map_err(|e| Failed(format!("valgrind: {e}")))?;
        if !out.status.success() {
            return Ok(None); // an op this build of the driver does not know
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Ok(err
            .lines()
            .find_map(|l| l.split_once("Collected :").map(|(_, n)| n.trim().to_string()))
            .and_then(|n| n.parse().ok()))
    };
    let mut rows = Vec::new();
    for op in INSTRUCTION_OPS {
        let per = match (count(op, n)?, count(op, 2 * n)?) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / n as f64),
            _ => None,
        };
        rows.push((*op, per));
    }
    let floor = rows.first().and_then(|r| r.1);
    println!("Command: `cargo xtask bench --instructions` (N = {n}); machine: {}\n", machine());
    println!("| operation | instructions/op | floor (`fetch_add`) | ours/floor |");
    println!("|---|---:|---:|---:|");
    for (op, per) in &rows {
        let ratio = match (per, floor) {
            (Some(p), Some(f)) if f > 0.0 => format!("{:.2}x", p / f),
            _ => "-".into(),
        };
        println!(
            "| {op} | {} | {} | {ratio} |",
            per.map_or("not run".into(), |p| format!("{p:.2}")),
            floor.map_or("-".into(), |f| format!("{f:.2}")),
        );
    }
    Ok(())
}
