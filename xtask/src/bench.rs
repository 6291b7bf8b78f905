//! `cargo xtask bench`: runs the criterion suite and prints the report table
//! (operation | ours (median) | floor | ours/floor | target), also written to
//! `target/bench-report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::cmd::{Cmd, Failed, root};

/// One row of the report: a measured operation, the bare floor measured in the same run, and
/// the target it is judged against.
struct Row {
    operation: &'static str,
    ours: &'static str,
    floor: Option<&'static str>,
    target: &'static str,
}

const fn row(
    operation: &'static str,
    ours: &'static str,
    floor: Option<&'static str>,
    target: &'static str,
) -> Row {
    Row { operation, ours, floor, target }
}

/// The rows, in report order. Bench ids are criterion's `group/function`.
const ROWS: &[Row] = &[
    row(
        "Metric update (record_task_execution)",
        "metric_update/record_task_execution",
        Some("metric_update/floor_relaxed_fetch_add"),
        "<10 ns (quick ref); <=3.5 ns",
    ),
    row(
        "record_retry",
        "metric_update/record_retry",
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
    row(
        "Handle creation (no table)",
        "handle_creation/session_handle_new",
        Some("handle_creation/floor_box_176_bytes"),
        "<60 ns",
    ),
    row("Snapshot", "snapshot/snapshot", Some("handle_creation/floor_instant_now"), "report"),
    row(
        "Concurrent ops (1000): create, start, 10 tasks, analyse, complete",
        "concurrent_ops_1000/healthy",
        Some("concurrent_ops_1000/floor_spawn_join_1000_empty_tasks"),
        "<0.8 ms",
    ),
    row(
        "Concurrent ops (1000), every session adapts",
        "concurrent_ops_1000/all_adapt",
        Some("concurrent_ops_1000/floor_spawn_join_1000_empty_tasks"),
        "<1.2 ms",
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
];

pub fn run(quick: bool) -> Result<(), Failed> {
    if quick {
        // Every bench once, no timing: a smoke test that they all still run.
        return Cmd::cargo(["bench", "-p", "autonomic-benches", "--", "--test"]).run();
    }
    Cmd::cargo(["bench", "-p", "autonomic-benches"]).run()?;
    let medians = read_medians(&root().join("target/criterion"));
    let report = render(&medians);
    println!("{report}");
    let path = root().join("target/bench-report.md");
    std::fs::write(&path, &report)
        .map_err(|e| Failed(format!("writing {}: {e}", path.display())))?;
    eprintln!("xtask bench: report written to {}", path.display());
    Ok(())
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

fn render(medians: &BTreeMap<String, f64>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| operation | ours (median) | floor (median) | ours/floor | target |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for r in ROWS {
        let ours = medians.get(r.ours).copied();
        let floor = r.floor.and_then(|f| medians.get(f).copied());
        let ratio = match (ours, floor) {
            (Some(o), Some(f)) if f > 0.0 => format!("{:.2}x", o / f),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.operation,
            ours.map_or("not run".into(), human),
            floor.map_or("-".into(), human),
            ratio,
            r.target
        );
    }
    let _ = writeln!(s, "\nEvery benchmark (median):\n");
    for (id, m) in medians {
        let _ = writeln!(s, "- `{id}`: {}", human(*m));
    }
    s
}
