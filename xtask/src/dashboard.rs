//! `cargo xtask dashboard-check`: the service example's dashboard in headless Chromium.
//!
//! Builds the service example (release) and starts it with `--serve-for 60`, waits for
//! its load to finish (the line `serving http://ADDR/ ...`), then runs Chromium (the Debian
//! package: `apt-get install -y chromium`) headless on the page twice: once to dump the DOM
//! after the page has polled `/doctrine`, once for a screenshot
//! (`target/dashboard-check.png`). Fails if the page shows no tenant rows, says it is
//! disconnected, or the console logged an error. The service is stopped (its process
//! killed) in every case.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::cmd::{Cmd, Failed, root};

/// Stops the service when dropped, whatever happened.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        // Err: it exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn check() -> Result<(), Failed> {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .ok_or_else(|| Failed("no chromium: apt-get install -y chromium".into()))?;

    // Built first and run directly, so that the process killed at the end is the service.
    Cmd::cargo(["build", "--release", "--example", "service"]).run()?;
    let binary = root().join("target/release/examples/service");
    let args = ["--requests", "3000", "--serve-for", "60"];
    eprintln!("$ {} {}", binary.display(), args.join(" "));
    let child = Command::new(&binary)
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failed(format!("starting {}: {e}", binary.display())))?;
    let mut service = Service(child);
    let stdout = service.0.stdout.take().ok_or_else(|| Failed("no stdout".into()))?;
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| Failed(format!("reading the service's output: {e}")))?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("serving ") {
            url = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let url =
        url.ok_or_else(|| Failed("the service exited before serving the dashboard".into()))?;

    let profile = root().join("target/dashboard-check-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let screenshot = root().join("target/dashboard-check.png");
    let dom = chrome(chromium, &profile, &["--dump-dom"], &url)?;
    chrome(chromium, &profile, &[&format!("--screenshot={}", screenshot.display())], &url)?;
    drop(service);

    let body = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    let rows = body.matches("<span class=\"dot ").count();
    eprintln!(
        "xtask dashboard-check: {rows} tenant and pattern rows, {} console errors, screenshot {}",
        console_errors.len(),
        screenshot.display()
    );
    if !console_errors.is_empty() {
        return Err(Failed(format!("console errors: {console_errors:?}")));
    }
    // The status line says "live: ..." once /doctrine has answered, "disconnected" if not.
    let live = body.contains(">live: ") && !body.contains("class=\"down\"");
    if rows == 0 || !body.contains("data-tenants=\"3\"") || !live {
        return Err(Failed("the dashboard shows no data".into()));
    }
    Ok(())
}

/// Runs headless Chromium on `url` with `extra` flags; the page gets 4 s of virtual time
/// (four polls of `/doctrine`).
fn chrome(
    chromium: &str,
    profile: &Path,
    extra: &[&str],
    url: &str,
) -> Result<std::process::Output, Failed> {
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1100",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .map_err(|e| Failed(format!("running {chromium}: {e}")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Failed(format!("{chromium} {extra:?}: {}", output.status)))
    }
}
