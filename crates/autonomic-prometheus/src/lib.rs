//! Prometheus / OpenMetrics export of the session autonomic runtime, on
//! [`prometheus-client`](prometheus_client): an [`AutonomicCollector`] registered on the
//! user's own `Registry`, encoded at scrape time from the aggregate, the adapter's
//! statistics and the loop's report.
//!
//! * **No global recorder**: register the collector where you want it.
//! * **A scrape reads the aggregate, not the table**: [`AutonomicCollector::observe_runtime`]
//!   (after each loop iteration) prepares an [`Observation`]; a scrape formats it, with no
//!   allocation per session (`tests/scrape_allocations.rs`: the same count for ten times the
//!   sessions).
//! * **Bounded cardinality**: the top `max_tenants` tenants and `max_patterns` patterns by
//!   sessions get labels of their own, the rest are summed under `other`
//!   ([`ExportConfig`]).
//! * **Prometheus naming**: counters end in `_total`, durations are in seconds, ratios end
//!   in `_ratio`; every family has help text. The list is on [`AutonomicCollector`].
//!
//! # Contents
//! * [`AutonomicCollector`]: the collector.
//! * [`Observation`], [`Group`], [`ObservedWindows`]: what a scrape encodes.
//! * [`LatencyBuckets`], [`LATENCY_BOUNDS_US`]: the latency histogram's buckets.
//! * [`ExportConfig`], [`ExportConfigError`]: label bounds.

mod collector;
mod config;
mod latency;
mod observation;

pub use collector::AutonomicCollector;
pub use config::{ExportConfig, ExportConfigError, MAX_LABELLED};
pub use latency::{LATENCY_BOUNDS_US, LatencyBuckets};
pub use observation::{Group, OTHER, Observation, ObservedWindows, STATES};
