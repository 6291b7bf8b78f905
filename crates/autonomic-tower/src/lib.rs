//! A tower [`SessionLayer`] for the session autonomic runtime: every request of a service
//! (axum, tonic, hyper) runs in a session of an [`AutonomicRuntime`](autonomic::AutonomicRuntime),
//! with its latency and outcome recorded and no user code.
//!
//! # Two modes
//! * **Per request**: each request is a session of its tenant: started on `call`, completed
//!   or failed by its response (a [`Classify`]: 5xx and errors fail by default,
//!   [`GrpcStatus`] for gRPC), cancelled if the response future is dropped.
//! * **Keyed**: a key read from the request ([`KeyFrom`], e.g. a workflow-instance header)
//!   names one long-lived session per (tenant, key) ([`KeyedSessions`]); each request records
//!   a task on it, the layer never ends it, idle keys are forgotten after `idle_after`, and
//!   the keys are bounded in number and length and validated. A key is looked up only among
//!   the sessions of the request's own tenant ([`TenantFrom`]): a request never records on
//!   another tenant's session.
//!
//! The session travels in the request's extensions as a [`SessionHandle`](autonomic::SessionHandle):
//! an axum handler takes it with `Extension<SessionHandle>` and records retries, violations
//! or tasks of its own on it.
//!
//! # Refusals as responses
//! Before the inner service is called, the session's policy is evaluated by the adapter;
//! when it proposes an adaptation that Global Q refuses, the request fails with
//! [`SessionError::Refused`] (the refusal is counted by rule in the adapter's statistics,
//! traced and emitted as an event, like every refusal). The doctrine's knowledge rules judge
//! only the kinds of action configured for them (by default those that consume capacity,
//! retries and resource requests); a service that treats every request as load, so that a
//! workflow whose degradation is refused gets its 503 too, sets
//! `SessionAdapterConfig::knowledge_rules` to `ActionKinds::ALL` (the service example does).
//! Map the error to a response with axum's `HandleErrorLayer`:
//!
//! ```ignore
//! use axum::{Router, error_handling::HandleErrorLayer, http::StatusCode, routing::get};
//! use autonomic_tower::{SessionError, SessionLayer};
//! use std::convert::Infallible;
//! use tower::ServiceBuilder;
//!
//! async fn refused(error: SessionError<Infallible>) -> (StatusCode, String) {
//!     // 503 for a refusal (or 429, if the clients of this service back off on it).
//!     (error.status_code(), error.to_string())
//! }
//!
//! let app = Router::new().route("/work", get(|| async { "done" })).layer(
//!     ServiceBuilder::new()
//!         .layer(HandleErrorLayer::new(refused))
//!         .layer(SessionLayer::per_request(runtime.clone())),
//! );
//! ```
//! (The `service` example of the `autonomic` crate runs exactly this.)
//!
//! # Lifecycle events
//! Per-request sessions do not emit the adapter's `Started` / `Completed` / `Failed` /
//! `Cancelled` events unless [`SessionLayer::lifecycle_events`] turns them on: at request
//! rates they would fill the adapter's bounded event buffer and push out the refusals and
//! adaptations, which are always emitted. The sessions are in the table either way, so the
//! runtime's loop, its windows and the aggregate count them.
//!
//! # Cost
//! Per request: one table insert (per request) or one map lookup (keyed, on a seeded
//! foldhash), the layer's own clock reads (per request one, at the response: the latency is
//! measured from the start the session recorded; keyed two, at the lookup and the response),
//! the policy's evaluation (a read of the session's counters when healthy), one extensions
//! insert; about 4,000 instructions over the bare service per request, 1,900 keyed (most of
//! it the table's insert and removal of the session, the session's own start and end, and
//! `http::Extensions`' three allocations); see `benches/tower_bench.rs`, `cargo xtask bench
//! --instructions` and `docs/performance.md`.
//!
//! # Contents
//! * [`SessionLayer`], [`SessionService`], [`ResponseFuture`]: the layer.
//! * [`TenantFrom`], [`PatternFrom`], [`KeyFrom`]: what is read from a request.
//! * [`KeyedConfig`], [`KeyedSessions`], [`validate_key`]: keyed mode.
//! * [`Classify`], [`Outcome`], [`ServerErrorsFail`], [`GrpcStatus`]: outcomes.
//! * [`SessionError`], [`KeyError`], [`KeyedConfigError`]: errors.

mod case;
mod classify;
mod error;
mod extract;
mod future;
mod keyed;
mod layer;
mod service;

pub use classify::{Classify, GrpcStatus, Outcome, ServerErrorsFail};
pub use error::{KeyError, SessionError};
pub use extract::{KeyFrom, PatternFrom, TenantFrom};
pub use future::ResponseFuture;
pub use keyed::{KeyedConfig, KeyedConfigError, KeyedSessions, MAX_KEY_LEN, validate_key};
pub use layer::SessionLayer;
pub use service::SessionService;
