//! `cargo xtask sim`: the simulator (`autonomic-sim`, release build) on a scenario file, or
//! on every scenario of the library (`scenarios/*.toml`).

use std::path::{Path, PathBuf};

use crate::cmd::{Cmd, Failed, root};

pub const USAGE: &str = "cargo xtask sim <scenario.toml> [--out DIR] [--short] [--against CANDIDATE_Q.toml] [--seed N]\n       cargo xtask sim --library [--short]";

/// Runs `args`: one scenario, or the library with `--library`.
pub fn run(args: &[String]) -> Result<(), Failed> {
    if args.iter().any(|a| a == "--library") {
        let short = args.iter().any(|a| a == "--short");
        if let Some(other) = args.iter().find(|a| *a != "--library" && *a != "--short") {
            return Err(Failed(format!("sim --library takes only --short, not {other}\n{USAGE}")));
        }
        return library(short);
    }
    if args.is_empty() {
        return Err(Failed(USAGE.into()));
    }
    // Paths are the caller's: relative to where cargo was run, not to the workspace root.
    let here = std::env::current_dir().map_err(|e| Failed(format!("current directory: {e}")))?;
    let mut passed = Vec::with_capacity(args.len());
    let mut previous = "";
    for arg in args {
        // A path: the scenario (the bare argument), and the values of --out and --against.
        let is_path = matches!(previous, "--out" | "--against")
            || (!arg.starts_with("--") && previous != "--seed");
        passed.push(if is_path { absolute(&here, arg) } else { arg.clone() });
        previous = arg;
    }
    simulator(&passed)
}

fn absolute(here: &Path, arg: &str) -> String {
    let path = PathBuf::from(arg);
    if path.is_absolute() { arg.to_string() } else { here.join(path).display().to_string() }
}

fn simulator(args: &[String]) -> Result<(), Failed> {
    let mut cmd: Vec<String> =
        ["run", "--release", "-q", "-p", "autonomic-sim", "--"].map(String::from).to_vec();
    cmd.extend(args.iter().cloned());
    Cmd::cargo(cmd).run()
}

/// Every scenario of the library (`scenarios/*.toml`, sorted); each asserts its invariants
/// (a broken one fails the run). Reports go to `target/sim/<name>[-short]/`.
pub fn library(short: bool) -> Result<(), Failed> {
    let dir = root().join("scenarios");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Failed(format!("reading {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    scenarios.sort();
    if scenarios.is_empty() {
        return Err(Failed(format!("no scenario in {}", dir.display())));
    }
    let started = std::time::Instant::now();
    for scenario in &scenarios {
        let mut args = vec![scenario.display().to_string()];
        if short {
            args.push("--short".into());
        }
        simulator(&args)?;
    }
    eprintln!(
        "xtask sim: {} scenarios{} held their invariants in {:.1?}",
        scenarios.len(),
        if short { " (short)" } else { "" },
        started.elapsed()
    );
    Ok(())
}
