//! The example service of the session autonomic runtime: an axum server whose routes run
//! under the tower [`SessionLayer`](autonomic_tower::SessionLayer), with `/metrics`
//! (OpenMetrics, from [`autonomic_prometheus`]), `/doctrine` (the runtime's state as JSON),
//! a live dashboard page that polls it, and a load generator that drives it over loopback.
//! `cargo run --release --example service` runs it all and exits.
//!
//! # Contents
//! * [`App`], [`AppConfig`], [`Tenant`]: the service and its routes.
//! * [`doctrine`]: the JSON view the dashboard polls.
//! * [`load`]: the load generator (a real HTTP client, bounded in count and time).

mod app;
pub mod doctrine;
pub mod load;

pub use app::{API_KEY, App, AppConfig, AppError, FAIL, Tenant, WORKFLOW_ID};
