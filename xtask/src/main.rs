//! Project automation, in plain Rust: `cargo xtask <command>`.
//!
//! * `ci`: everything CI checks: fmt, tidy, clippy, docs, loom models, a smoke run of every bench,
//!   and the workspace tests (README's test command runs this).
//!   It also runs every example that exits by itself (the main job, the service, the fleet).
//! * `loom`: the loom model tests of every crate, release mode, bounded preemptions.
//! * `bench [--quick | --report | --instructions]`: the criterion suite, then the report
//!   table (`target/bench-report.md`); `--quick` only checks that every bench runs;
//!   `--report` renders the table from the last results; `--instructions` counts
//!   instructions per operation under callgrind.
//! * `soak [-- options]`: the bounded memory soak (10 million sessions through the table,
//!   the adapter and the aggregator, RSS sampled); not part of `ci`.
//! * `tidy`: bench ids the report expects exist, the docs name the workspace's crates, and
//!   the core's dependency tree stays free of async crates (part of `ci`).
//! * `miri [--require]`: the core's and the table's unsafe protocols under miri (both
//!   aliasing models, two seeds) where a nightly toolchain with miri exists; with
//!   `--require`, a missing miri fails instead of skipping. Not part of `ci`.
//! * `sim <scenario.toml> [--out DIR] [--short] [--against CANDIDATE_Q.toml] [--seed N]`: the
//!   simulator (release build) on one scenario: writes its report and plots (by default into
//!   `target/sim/<name>/`) and prints where; `--against` runs a what-if under a candidate
//!   Global Q. `sim --library [--short]`: every scenario of `scenarios/`, each asserting its
//!   invariants (`ci` runs the short versions).
//! * `dashboard-check`: the service example's dashboard in headless Chromium (screenshot;
//!   fails if it shows no data or logs a console error); not part of `ci`.

mod bench;
mod cmd;
mod dashboard;
mod miri;
mod sim;
mod tidy;

use std::process::ExitCode;

use cmd::{Cmd, Failed, root};

const USAGE: &str = "usage: cargo xtask <ci | tidy | loom | bench [--quick | --report | --instructions] | soak [-- options] | miri [--require] | dashboard-check | sim ...>\n       cargo xtask sim <scenario.toml> [--out DIR] [--short] [--against CANDIDATE_Q.toml] [--seed N]\n       cargo xtask sim --library [--short]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("loom") => loom(),
        Some("bench") => bench::run(bench::Mode::from_args(&args)),
        Some("soak") => soak(&args[1..]),
        Some("miri") => miri::run(&args[1..]),
        Some("tidy") => tidy::run(),
        Some("sim") => sim::run(&args[1..]),
        Some("dashboard-check") => dashboard::check(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(what)) => {
            eprintln!("xtask: {what}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), Failed> {
    let started = std::time::Instant::now();
    Cmd::cargo(["fmt", "--all", "--", "--check"]).run()?;
    tidy::run()?;
    Cmd::cargo(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run()?;
    Cmd::cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings").run()?;
    loom()?;
    bench::run(bench::Mode::Quick)?;
    examples()?;
    // The scenario library's short versions, in release beside the examples (its build
    // shares theirs).
    sim::library(true)?;
    // Last, so that the run ends with the test runner's own summary.
    Cmd::cargo(["test", "--workspace"]).run()?;
    eprintln!("xtask ci: all green in {:.0?}", started.elapsed());
    Ok(())
}

/// Every example that exits by itself, as a smoke test, in release as README runs them: the
/// main job (README's first command, verbatim), the service (a loopback server, its load
/// generator and a checked summary) and the fleet (three instances on a local redis-server,
/// which `.ci/run` installs). Each exits by itself in seconds.
fn examples() -> Result<(), Failed> {
    Cmd::cargo(["run", "--release", "--example", "session_autonomic_example"]).run()?;
    Cmd::cargo(["run", "--release", "--example", "service"]).run()?;
    Cmd::cargo(["run", "--release", "-p", "autonomic-fleet", "--example", "fleet"]).run()?;
    Ok(())
}

/// The loom models of every crate, each crate's in one run: integration models
/// (`crates/*/tests/loom_*.rs`) and models inside the crate (`crates/*/src/**/tests/loom_*.rs`,
/// unit tests whose path holds `loom_`, so internals stay private).
fn loom() -> Result<(), Failed> {
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".into());
    let crates = root().join("crates");
    let mut entries: Vec<_> = std::fs::read_dir(&crates)
        .map_err(|e| Failed(format!("reading {}: {e}", crates.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let target_dir = root().join("target/loom").display().to_string();
    let mut ran = 0;
    for dir in entries {
        let package = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let base = ["test", "--release", "-p", &package, "--target-dir", &target_dir];
        let integration = loom_files(&dir.join("tests"), false);
        if !integration.is_empty() {
            let mut args: Vec<String> = base.iter().map(|a| a.to_string()).collect();
            for m in &integration {
                let name = m.file_stem().and_then(|n| n.to_str()).unwrap_or_default();
                args.extend(["--test".into(), name.to_string()]);
            }
            loom_cargo(args, &preemptions)?;
            ran += integration.len();
        }
        let in_crate = loom_files(&dir.join("src"), true);
        if !in_crate.is_empty() {
            let mut args: Vec<String> = base.iter().map(|a| a.to_string()).collect();
            args.extend(["--lib".into(), "--".into(), "loom_".into()]);
            loom_cargo(args, &preemptions)?;
            ran += in_crate.len();
        }
    }
    if ran == 0 {
        return Err(Failed(
            "no loom models found under crates/*/tests/loom_*.rs or crates/*/src/**/tests/loom_*.rs"
                .into(),
        ));
    }
    eprintln!("xtask loom: {ran} model files passed (LOOM_MAX_PREEMPTIONS={preemptions})");
    Ok(())
}

/// The `loom_*.rs` files in `dir`; with `nested`, those under any `tests` folder below it.
fn loom_files(dir: &std::path::Path, nested: bool) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if nested {
                found.extend(loom_files(&path, true));
            }
        } else if name.starts_with("loom_")
            && name.ends_with(".rs")
            && (!nested || dir.file_name().is_some_and(|d| d == "tests"))
        {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn loom_cargo(args: Vec<String>, preemptions: &str) -> Result<(), Failed> {
    Cmd::cargo(args)
        .env("RUSTFLAGS", "--cfg autonomic_loom")
        .env("LOOM_MAX_PREEMPTIONS", preemptions)
        .run()
}

/// The memory soak (`tests/reliability/src/bin/soak.rs`), release build; extra arguments
/// are passed on (`cargo xtask soak -- --sessions 2000000`).
fn soak(args: &[String]) -> Result<(), Failed> {
    let mut cmd = vec!["run", "--release", "-p", "autonomic-reliability", "--bin", "soak", "--"];
    cmd.extend(args.iter().map(String::as_str).filter(|a| *a != "--"));
    Cmd::cargo(cmd).run()
}
