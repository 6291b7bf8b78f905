//! `cargo xtask miri [--require]`: the crates' `unsafe` protocols under miri, with both
//! aliasing models and more than one scheduling seed.
//!
//! It runs core's unit tests (the tag list, the lifecycle word) and the table's unit tests and
//! `tests/borrowed_visits.rs` (the visits' borrowed copies and graveyard), each under
//! Stacked Borrows and under Tree Borrows, with the seeds in `MIRI_SEEDS` (default `0,1`).
//! `MIRIFLAGS` from the environment are kept and extended.
//!
//! Miri needs a nightly toolchain with the `miri` component. Without one this says so and
//! succeeds, unless `--require` is given: then a missing miri is a failure, so that a skip
//! can never pass for a pass. CI does not run miri (it needs a download and takes minutes).

use std::process::Command;

use crate::cmd::{Cmd, Failed};

/// What miri runs: `cargo miri test` arguments per crate. Integration tests that count to
/// millions or stress many threads are left out: too large for an interpreter, and not
/// about the unsafe code.
const RUNS: &[&[&str]] = &[
    &["-p", "autonomic-core", "--lib"],
    &["-p", "autonomic-table", "--lib", "--test", "borrowed_visits"],
];

/// The aliasing models: name and the flag that selects it.
const MODELS: &[(&str, &str)] = &[("stacked borrows", ""), ("tree borrows", "-Zmiri-tree-borrows")];

pub fn run(args: &[String]) -> Result<(), Failed> {
    let require = args.iter().any(|a| a == "--require");
    if let Err(why) = available() {
        if require {
            return Err(Failed(format!("miri is required (--require) but unavailable: {why}")));
        }
        eprintln!("xtask miri: SKIPPED, nothing was checked: {why} CI does not depend on miri.");
        return Ok(());
    }
    let seeds = std::env::var("MIRI_SEEDS").unwrap_or_else(|_| "0,1".into());
    let seeds: Vec<u64> = seeds
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| Failed(format!("MIRI_SEEDS: `{s}` is not a seed"))))
        .collect::<Result<_, _>>()?;
    let base = std::env::var("MIRIFLAGS").unwrap_or_default();
    let mut ran = 0;
    for (model, flag) in MODELS {
        for seed in &seeds {
            let flags = format!("{base} {flag} -Zmiri-seed={seed}");
            eprintln!("xtask miri: {model}, seed {seed}");
            for run in RUNS {
                let mut cmd = vec!["miri", "test"];
                cmd.extend_from_slice(run);
                Cmd::cargo_on("nightly", cmd).env("MIRIFLAGS", flags.trim()).run()?;
                ran += 1;
            }
        }
    }
    eprintln!(
        "xtask miri: {ran} runs passed ({} models x seeds {seeds:?} x {} crates)",
        MODELS.len(),
        RUNS.len()
    );
    Ok(())
}

/// Whether `cargo +nightly miri` can run here; the reason if not.
fn available() -> Result<(), String> {
    // `cargo +nightly` needs rustup; the repository pins a stable toolchain otherwise.
    let toolchains = match Command::new("rustup").args(["toolchain", "list"]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return Err("rustup is not available, so no nightly toolchain can be selected.".into()),
    };
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        return Err(format!(
            "no nightly toolchain is installed (installed: {}); miri needs one: \
             `rustup toolchain install nightly --component miri` (a download).",
            toolchains
                .lines()
                .map(|l| l.split_whitespace().next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if Cmd::cargo_on("nightly", ["miri", "--version"]).stdout().is_err() {
        return Err("the nightly toolchain has no miri component \
                    (`rustup component add miri --toolchain nightly`, a download)."
            .into());
    }
    Ok(())
}
