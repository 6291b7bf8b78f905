//! Project automation, in plain Rust: `cargo xtask <command>`.
//!
//! * `ci`: everything CI checks: fmt, clippy, docs, loom models, a smoke run of every bench,
//!   and the workspace tests (README's test command runs this).
//!   It also runs the service example (`cargo run --release --example service`).
//! * `loom`: the loom model tests of every crate, release mode, bounded preemptions.
//! * `bench [--quick | --report | --instructions]`: the criterion suite, then the report
//!   table (`target/bench-report.md`); `--quick` only checks that every bench runs;
//!   `--report` renders the table from the last results; `--instructions` counts
//!   instructions per operation under callgrind.
//! * `soak [-- options]`: the bounded memory soak (10 million sessions through the table,
//!   the adapter and the aggregator, RSS sampled); not part of `ci`.
//! * `miri`: the core crate's tests under miri, where a nightly toolchain with miri exists.
//! * `dashboard-check`: the service example's dashboard in headless Chromium (screenshot;
//!   fails if it shows no data or logs a console error); not part of `ci`.

mod bench;
mod cmd;
mod dashboard;

use std::process::ExitCode;

use cmd::{Cmd, Failed, root};

const USAGE: &str = "usage: cargo xtask <ci | loom | bench [--quick | --report | --instructions] | soak [-- options] | miri>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("loom") => loom(),
        Some("bench") => bench::run(bench::Mode::from_args(&args)),
        Some("soak") => soak(&args[1..]),
        Some("miri") => miri(),
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
    Cmd::cargo(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run()?;
    Cmd::cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings").run()?;
    loom()?;
    bench::run(bench::Mode::Quick)?;
    // The service example: a loopback server, its load generator and a checked summary; it
    // exits by itself in a few seconds.
    Cmd::cargo(["run", "--release", "--example", "service"]).run()?;
    // Last, so that the run ends with the test runner's own summary.
    Cmd::cargo(["test", "--workspace"]).run()?;
    eprintln!("xtask ci: all green in {:.0?}", started.elapsed());
    Ok(())
}

/// Crates with loom models (`tests/loom_*.rs`).
fn loom() -> Result<(), Failed> {
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".into());
    let crates = root().join("crates");
    let mut entries: Vec<_> = std::fs::read_dir(&crates)
        .map_err(|e| Failed(format!("reading {}: {e}", crates.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut ran = 0;
    for dir in entries {
        let Ok(tests) = std::fs::read_dir(dir.join("tests")) else { continue };
        let mut models: Vec<String> = tests
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("loom_") && n.ends_with(".rs"))
            .map(|n| n.trim_end_matches(".rs").to_string())
            .collect();
        if models.is_empty() {
            continue;
        }
        models.sort();
        let package = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let mut args = vec!["test".to_string(), "--release".into(), "-p".into(), package];
        for m in &models {
            args.extend(["--test".into(), m.clone()]);
        }
        args.extend(["--target-dir".into(), root().join("target/loom").display().to_string()]);
        Cmd::cargo(args)
            .env("RUSTFLAGS", "--cfg autonomic_loom")
            .env("LOOM_MAX_PREEMPTIONS", &preemptions)
            .run()?;
        ran += models.len();
    }
    if ran == 0 {
        return Err(Failed("no loom models found under crates/*/tests/loom_*.rs".into()));
    }
    eprintln!("xtask loom: {ran} model files passed (LOOM_MAX_PREEMPTIONS={preemptions})");
    Ok(())
}

/// The memory soak (`tests/reliability/src/bin/soak.rs`), release build; extra arguments
/// are passed on (`cargo xtask soak -- --sessions 2000000`).
fn soak(args: &[String]) -> Result<(), Failed> {
    let mut cmd = vec!["run", "--release", "-p", "autonomic-reliability", "--bin", "soak", "--"];
    cmd.extend(args.iter().map(String::as_str).filter(|a| *a != "--"));
    Cmd::cargo(cmd).run()
}

fn miri() -> Result<(), Failed> {
    const SKIP: &str = "xtask miri: SKIPPED:";
    // `cargo +nightly` needs rustup; the repository pins a stable toolchain otherwise.
    let toolchains = match std::process::Command::new("rustup").args(["toolchain", "list"]).output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!(
                "{SKIP} rustup is not available, so no nightly toolchain can be selected. CI does not depend on miri."
            );
            return Ok(());
        }
    };
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        eprintln!(
            "{SKIP} no nightly toolchain is installed (installed: {}). Miri needs one: \
             `rustup toolchain install nightly --component miri` (a download). CI does not depend on it.",
            toolchains
                .lines()
                .map(|l| l.split_whitespace().next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let miri = std::process::Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .current_dir(root())
        .output();
    if !miri.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "{SKIP} the nightly toolchain is installed but has no miri component \
             (`rustup +nightly component add miri` needs a download). CI does not depend on it."
        );
        return Ok(());
    }
    // Miri runs the crate's unit, integration and doc tests; the loom models are compiled out
    // (they need `--cfg autonomic_loom`).
    Cmd::cargo(["+nightly", "miri", "test", "-p", "autonomic-core"]).run()
}
