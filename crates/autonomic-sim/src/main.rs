//! `autonomic-sim`: runs a scenario file and writes its report (what `cargo xtask sim` runs).
//!
//! ```text
//! autonomic-sim <scenario.toml> [--out DIR] [--short] [--against CANDIDATE_Q.toml] [--seed N]
//! ```
//!
//! Writes into `--out`, or `target/sim/<scenario>[-short][-vs-<candidate>]/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use autonomic::GlobalQ;
use autonomic_sim::{Scenario, WhatIf, simulate};

const USAGE: &str = "usage: autonomic-sim <scenario.toml> [--out DIR] [--short] \
                     [--against CANDIDATE_Q.toml] [--seed N]";

/// What was run: one scenario, or a what-if.
enum Ran {
    One(Box<autonomic_sim::SimReport>),
    WhatIf(Box<WhatIf>),
}

struct Args {
    scenario: PathBuf,
    out: Option<PathBuf>,
    short: bool,
    against: Option<PathBuf>,
    seed: Option<u64>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed =
        Args { scenario: PathBuf::new(), out: None, short: false, against: None, seed: None };
    let mut scenario = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => parsed.out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--short" => parsed.short = true,
            "--against" => {
                parsed.against = Some(args.next().ok_or("--against needs a file")?.into())
            }
            "--seed" => {
                let n = args.next().ok_or("--seed needs a number")?;
                parsed.seed = Some(n.parse().map_err(|_| "--seed needs a whole number")?);
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other if scenario.is_none() => scenario = Some(PathBuf::from(other)),
            _ => return Err("one scenario at a time".into()),
        }
    }
    parsed.scenario = scenario.ok_or("which scenario?")?;
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("error: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenario; `Ok(false)` when an invariant was broken.
fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let mut scenario = Scenario::load(&args.scenario)?;
    if args.short {
        scenario = scenario.shortened();
    }
    if let Some(seed) = args.seed {
        scenario = scenario.with_seed(seed);
    }
    let stem = args.scenario.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
    let mut suffix = String::from(if args.short { "-short" } else { "" });
    // A what-if goes beside the scenario's own report, not over it.
    if let Some(candidate) = &args.against {
        let name = candidate.file_stem().and_then(|s| s.to_str()).unwrap_or("candidate");
        suffix.push_str(&format!("-vs-{name}"));
    }
    let out =
        args.out.clone().unwrap_or_else(|| PathBuf::from(format!("target/sim/{stem}{suffix}")));
    let started = Instant::now();
    let reports = match &args.against {
        None => Ran::One(Box::new(simulate(&scenario)?)),
        Some(candidate) => Ran::WhatIf(Box::new(WhatIf::run(&scenario, load_q(candidate)?)?)),
    };
    let simulated = started.elapsed();
    let path = match &reports {
        Ran::One(report) => report.write(&out)?,
        Ran::WhatIf(what_if) => what_if.write(&out)?,
    };
    let reports = match reports {
        Ran::One(report) => vec![*report],
        Ran::WhatIf(what_if) => vec![what_if.live, what_if.candidate],
    };
    let events: u64 = reports.iter().map(|r| r.totals.events).sum();
    let sessions: u64 = reports.iter().map(|r| r.totals.sessions).sum();
    let runs = if reports.len() > 1 { format!(" ({} runs)", reports.len()) } else { String::new() };
    println!(
        "{}{runs}: {sessions} sessions, {events} events simulated in {:.2} s of wall time \
         ({:.0} events/s); report written in {:.2} s",
        scenario.name(),
        simulated.as_secs_f64(),
        events as f64 / simulated.as_secs_f64().max(1e-9),
        (started.elapsed() - simulated).as_secs_f64(),
    );
    let mut held = true;
    for report in &reports {
        for check in &report.invariants {
            println!("  {}: {:?}", check.invariant, check.verdict);
            held &= !check.is_broken();
        }
    }
    println!("report: {}", path.display());
    Ok(held)
}

/// A candidate Global Q: a TOML document of its fields (bounded like a scenario).
fn load_q(path: &std::path::Path) -> Result<GlobalQ, Box<dyn std::error::Error>> {
    let size = std::fs::metadata(path)?.len();
    if size > Scenario::MAX_BYTES {
        return Err(format!(
            "{}: {size} bytes, at most {} are read",
            path.display(),
            Scenario::MAX_BYTES
        )
        .into());
    }
    let text = std::fs::read_to_string(path)?;
    Ok(autonomic::core::config::load("toml", || toml::from_str::<GlobalQ>(&text))?)
}
