//! Cohort diagnosis: a breaker per workflow pattern and per tenant.
//!
//! When most sessions of one cohort (a pattern, a tenant) fail at once, the fault is the
//! cohort's dependency, not each session: a thousand separate retries make it worse. So the
//! doctrine opens a breaker for the cohort, and refuses the capacity-consuming proposals
//! ([`ActionKinds::CONSUMING`](crate::ActionKinds::CONSUMING): retries, resource requests)
//! of its sessions as one decision, by rule [`QRule::CohortBreaker`](crate::QRule). Shedding
//! actions (degrade, cancel optional tasks, compensate, log and continue) still pass.
//!
//! ```text
//!            short window fails >= failure_threshold (>= min_finished_sessions judged)
//!   Closed ------------------------------------------------------------------> Open
//!     ^                                                                   |   ^
//!     | `probes` probe sessions completed             open_for_ms passed  |   | a probe failed
//!     |                                                                   v   | or timed out
//!     `------------------------------------------------------------- HalfOpen-'
//! ```
//!
//! * **Judged from the windows.** Once per knowledge generation
//!   ([`SessionAdapter::observe_knowledge`](crate::SessionAdapter::observe_knowledge), which
//!   the runtime's loop calls after it publishes), each pattern and tenant the windows hold
//!   is judged: its whole window fails at or over `failure_threshold` and its short window
//!   does not show it recovered, or its short window alone fails that much. Each rate counts
//!   only from `min_finished_sessions` finished sessions on
//!   ([`Evidence`](autonomic_core::Evidence)): not enough evidence never opens a breaker. The
//!   `other` scopes are not cohorts. The rule has one owner, `breaker/diagnosis.rs`.
//! * **Probes are sessions.** Half-open, the first `probes` sessions of the cohort whose
//!   consuming proposal passes every other rule become probes (admitted; their later
//!   proposals too); the others are refused. A probe's outcome is learned when it ends
//!   (through [`SessionHandle::on_end`](autonomic_core::SessionHandle::on_end), however it
//!   ends): completed counts towards closing, failed re-opens, cancelled frees its place. A
//!   probe still running after `probe_timeout_ms` counts as failed.
//! * **After closing**, a window that still holds events from before the close is not read
//!   (the short window for one short window's length, the whole window for one window's
//!   length): the failures that opened the breaker are not news.
//! * **Bounded.** State is kept only for cohorts the windows hold (they are capped), and only
//!   while their breaker is not closed or has just closed; a cohort that leaves the windows is
//!   forgotten (closed). Probes: at most `probes` per cohort, each holding a handle to its
//!   session until it ends or times out.
//! * **Cost.** A healthy analysis never reaches the breakers. A proposal of a shedding kind
//!   does not either; a consuming one loads one counter (no breaker tripped: done), else looks
//!   its cohorts up in a lock-free sorted view (`arc-swap`); only half-open cohorts take a
//!   lock (probe accounting, a cold path).
//! * **Visible.** Every transition is a [`SessionEvent::BreakerChanged`](crate::SessionEvent)
//!   and a `tracing` event (`warn` on opening); [`AdapterStats::breakers`](crate::AdapterStats)
//!   counts them; [`SessionAdapter::breakers`](crate::SessionAdapter::breakers) lists the
//!   breakers.
//!
//! Proof: `tests/cohort_breaker.rs` (the cohort scenario, probes, evidence, shedding kinds,
//! tenants), the diagnosis's unit tests, and the runtime's `tests/cohort_breaker.rs` (the
//! loop on real windows, in virtual time).

mod cohort;
mod config;
mod diagnosis;
mod table;

pub use cohort::{BreakerState, BreakerStats, BreakerView, Cohort};
pub use config::BreakerConfig;
pub(crate) use table::{Breakers, Tripped};
