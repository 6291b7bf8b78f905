//! Bytes per live session in a [`SessionTable`], measured from the process's resident set.
//!
//! ```text
//! cargo run --release -p autonomic-table --example table_memory [-- SESSIONS TENANTS]
//! ```
//!
//! Creates `SESSIONS` (default 1,000,000) started sessions spread over `TENANTS` (default
//! 1,000) tenants, each with a pattern, keeps their handles only in the table, and reports
//! the growth of RSS divided by the number of sessions: map, tenant and pattern indexes,
//! handle and metrics together. For comparison it also measures the same number of bare
//! sessions (handles in a `Vec`, no table), so the table's own share is visible. Each
//! measurement runs in a fresh child process (freed heap memory is not returned to the
//! system, so two measurements in one process would share pages).

use std::process::Command;

use autonomic_core::{CaseId, SessionHandle, TenantId};
use autonomic_table::SessionTable;

/// Resident set size in bytes, from `/proc/self/statm` (Linux); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * 4096)
}

/// Runs one measurement in this process and prints the RSS growth in bytes.
fn measure(mode: &str, sessions: usize, tenant_count: usize) -> Option<u64> {
    let tenants: Vec<TenantId> = (0..tenant_count).map(|_| TenantId::new()).collect();
    let start = rss_bytes()?;
    let grown = match mode {
        "bare" => {
            let bare: Vec<SessionHandle> = (0..sessions)
                .map(|i| {
                    SessionHandle::builder(CaseId::new(), tenants[i % tenant_count])
                        .pattern((i % 256) as u8)
                        .build()
                        .start()
                        .expect("fresh session")
                })
                .collect();
            let grown = rss_bytes()?.saturating_sub(start);
            assert_eq!(bare.len(), sessions);
            grown
        }
        _ => {
            let table = SessionTable::new();
            for i in 0..sessions {
                let handle = table
                    .create_session(CaseId::new(), tenants[i % tenant_count])
                    .with_pattern((i % 256) as u8)
                    .start()
                    .expect("fresh session");
                drop(handle); // the table keeps the session
            }
            let grown = rss_bytes()?.saturating_sub(start);
            assert_eq!(table.total_sessions(), sessions);
            grown
        }
    };
    Some(grown)
}

fn child(mode: &str, sessions: usize, tenants: usize) -> Option<u64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(["--child", mode, &sessions.to_string(), &tenants.to_string()])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
        let t = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1);
        if let Some(bytes) = measure(args.get(1).map_or("table", String::as_str), n, t) {
            println!("{bytes}");
        }
        return;
    }
    let sessions: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000).max(1);
    let tenants: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000).max(1);
    let (Some(bare), Some(table)) =
        (child("bare", sessions, tenants), child("table", sessions, tenants))
    else {
        eprintln!("RSS is read from /proc/self/statm; this platform has none");
        return;
    };
    let per = |b: u64| b as f64 / sessions as f64;
    let handle_slot = size_of::<SessionHandle>() as f64;
    println!("sessions: {sessions}, tenants: {tenants}, every session has a pattern");
    println!(
        "bare sessions (handles in a Vec): {:6.1} B/session (of which {handle_slot:.0} B the Vec)",
        per(bare)
    );
    println!("table, everything included:       {:6.1} B/session", per(table));
    println!(
        "  the table's own share:          {:6.1} B/session (map and both indexes)",
        per(table) - (per(bare) - handle_slot)
    );
}
