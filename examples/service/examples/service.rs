//! `cargo run --release --example service`: an axum service on the session autonomic
//! runtime, driven by its own load generator over loopback, with a failure burst.
//!
//! It starts the service on 127.0.0.1 (an ephemeral port), prints the dashboard's address,
//! sends a bounded load (6000 requests, at most 20 s) as three tenants, half per-request
//! `/work`, half steps of long-lived workflows, with a failure burst over the second
//! quarter; prints progress twice a second and a summary (checked against `/metrics`), and
//! exits. `--requests N` changes the count (at most 100 000); `--serve-for SECS` (at most
//! 600) keeps the service up that long after the load, to watch the dashboard.

use std::sync::Arc;
use std::time::{Duration, Instant};

use autonomic_service_example::load::{self, Counts, LoadConfig};
use autonomic_service_example::{App, AppConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (requests, serve_for) = args()?;
    let app = App::new(AppConfig::default())?;
    app.start_loop()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app.router())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    println!("service on http://{addr}/ (dashboard), /metrics, /doctrine");

    let config = LoadConfig::new(requests, Duration::from_secs(20));
    println!(
        "load: {} requests, {} at a time, failure burst over requests {}..{}",
        config.requests, config.concurrency, config.burst.start, config.burst.end
    );
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let progress = {
        let counts = counts.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.tick().await;
            loop {
                tick.tick().await;
                let s = counts.summary();
                println!(
                    "  {:>5.1}s sent {:>5}  ok {:>5}  failed {:>4}  refused(503) {:>4}",
                    started.elapsed().as_secs_f64(),
                    s.sent,
                    s.ok,
                    s.failed,
                    s.refused
                );
            }
        })
    };
    load::run(addr, app.tenants(), &config, counts.clone()).await;
    progress.abort();
    let s = counts.summary();
    let elapsed = started.elapsed();

    // The loop's next report is observed for /metrics; then compare it with what was sent.
    app.refresh();
    let client = load::client();
    let (_, metrics) = load::get(&client, addr, "/metrics", &[]).await?;
    let metrics = String::from_utf8_lossy(&metrics);
    let refused_by_rule: Vec<(String, u64)> = metrics
        .lines()
        .filter(|l| l.starts_with("autonomic_refusals_total{"))
        .filter_map(|l| {
            let rule = l.split('"').nth(1)?.to_owned();
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((rule, n))
        })
        .collect();
    let stats = app.runtime().adapter().snapshot_stats();

    println!("\nsummary after {:.2}s", elapsed.as_secs_f64());
    println!(
        "  sent {}  ok {}  failed (500, injected) {}  refused (503, doctrine) {}  other {}",
        s.sent, s.ok, s.failed, s.refused, s.other
    );
    println!("  refusals by rule (/metrics): {refused_by_rule:?}");
    println!(
        "  adaptations admitted {}  executed {}  knowledge generation {}",
        stats.total_decisions,
        stats.executed_decisions,
        app.runtime().knowledge().current().generation
    );
    let counted: u64 = refused_by_rule.iter().map(|(_, n)| n).sum();
    println!(
        "  503s sent back {} = refusals counted {}: {}",
        s.refused,
        counted,
        if counted == s.refused { "agree" } else { "DISAGREE" }
    );

    if serve_for > Duration::ZERO {
        println!("serving http://{addr}/ for {}s more", serve_for.as_secs());
        tokio::time::sleep(serve_for).await;
    }
    let _ = stop.send(());
    server.await??;
    app.runtime().shutdown().await?;
    if counted != s.refused || s.other > 0 {
        return Err(format!(
            "{} refusals counted for {} 503s, {} other",
            counted, s.refused, s.other
        )
        .into());
    }
    Ok(())
}

/// `--requests N` (1..=100000, default 6000) and `--serve-for SECS` (0..=600, default 0).
fn args() -> Result<(usize, Duration), String> {
    let mut requests = 6000;
    let mut serve_for = 0;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value.parse().map_err(|_| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--requests" if (1..=100_000).contains(&number) => requests = number as usize,
            "--serve-for" if number <= 600 => serve_for = number,
            _ => return Err(format!("unknown flag or value out of range: {flag}")),
        }
    }
    Ok((requests, Duration::from_secs(serve_for)))
}
