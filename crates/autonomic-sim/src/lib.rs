//! A deterministic simulator of the autonomic runtime, and seeded fault injection.
//!
//! An operator asks: "if tenant 3 starts failing 40% of its sessions for ten minutes while
//! tenant 1 floods, does the doctrine hold, how fast does it recover, and what would a
//! tighter Q have refused?", and gets the same answer every time. [`simulate`] runs a
//! [`Scenario`] (TOML: tenants and patterns with arrival rates, task counts and latencies,
//! faults and Global Q changes on a timeline, the run's length and seed) through the **real**
//! runtime ([`autonomic::AutonomicRuntime`]: table, adapter and its gate, aggregator,
//! windows, loop) on a [`ManualClock`](autonomic::ManualClock), event by event in virtual
//! time: an hour of a million sessions takes seconds, and nothing sleeps. The same scenario
//! and seed give a byte-identical [`SimReport`]: markdown and SVG plots of the windowed
//! failure rate and SLO compliance by tenant, refusals by rule, adaptations and resources
//! against their caps, and sessions running. [`WhatIf`] runs a scenario under two doctrines
//! side by side. Each scenario asserts its [`Invariant`]s (caps never exceeded, recovery
//! within a window after a fault).
//!
//! [`faults`] is usable on its own, in your own tests: a seeded [`FaultInjector`] that deals
//! failures, latency and outcomes per tenant or pattern at a rate.
//!
//! ```
//! use autonomic_sim::{Scenario, simulate};
//! let scenario = Scenario::from_toml_str(r#"
//!     name = "incident"
//!     seed = 11
//!     duration_s = 200
//!     [runtime.windows]
//!     length_ms = 30000
//!     buckets = 6
//!     [[patterns]]
//!     name = "checkout"
//!     tasks = [4, 8]
//!     latency = { kind = "lognormal", median_ms = 20, sigma = 0.5 }
//!     slo_ms = 200
//!     failure_rate = 0.01
//!     [[tenants]]
//!     name = "acme"
//!     rate_per_s = 20
//!     patterns = ["checkout"]
//!     [[faults]]
//!     kind = "session_failures"
//!     tenant = "acme"
//!     from_s = 60
//!     until_s = 100
//!     rate = 0.5
//! "#)?;
//! let report = simulate(&scenario)?;
//! assert!(report.invariants_hold(), "{}", report.markdown());
//! assert_eq!(simulate(&scenario)?.markdown(), report.markdown()); // same seed, same report
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Contents
//! * [`Scenario`], [`ScenarioError`]: scenario files (`scenario` module: its parts).
//! * [`simulate`], [`SimError`]: a run.
//! * [`SimReport`], [`Plot`], [`WhatIf`]: what a run saw; markdown and SVG.
//! * [`Invariant`], [`InvariantCheck`], [`Verdict`]: what a run must hold.
//! * [`faults`]: seeded fault injection ([`FaultInjector`]).
//! * [`SimRng`]: the seeded random numbers everything is drawn from.

mod engine;
pub mod faults;
mod invariants;
mod report;
mod rng;
pub mod scenario;

pub use engine::{SimError, simulate};
pub use faults::FaultInjector;
pub use invariants::{Invariant, InvariantCheck, Verdict};
pub use report::{Plot, Sample, SimReport, TenantSample, TenantTotals, Totals, WhatIf};
pub use rng::SimRng;
pub use scenario::{Scenario, ScenarioError};
