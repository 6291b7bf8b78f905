//! The adapter layer of the session autonomic runtime: each session adapts itself, never
//! against the doctrine.
//!
//! # The model
//! A session (see `autonomic-core`) records lock-free metrics while it runs. Now and then
//! (after a failure, every N tasks, on a timer) its driver asks the [`SessionAdapter`] to
//! **analyse** it:
//!
//! ```text
//!  metrics snapshot --policy--> proposal? --Global Q--> admitted decision --execute--> adapted
//!                                  |                        (holds a permit)
//!                                  `--> refused: counted by rule, traced, Rejected event
//! ```
//!
//! 1. A [`SessionPolicy`] turns the session's snapshot into at most one [`Proposal`] (a
//!    [`SessionAction`] with a reason). The default [`ThresholdPolicy`] uses the thresholds of
//!    [`SessionAdapterConfig`]; rates need `min_samples` tasks before they can trigger.
//! 2. The **doctrine gate** checks the proposal against [`GlobalQ`]: the knowledge rules
//!    (SLO compliance and failure rate, read lock-free from the [`KnowledgeBase`] the
//!    aggregator publishes to: over the rolling window when the knowledge has windows, judged
//!    only from a minimum volume on) and the capacity rules (adaptations in flight, resources
//!    granted). The knowledge rules judge only the kinds of action they are configured for
//!    ([`KnowledgeRules`]; by default those that consume capacity, `RetryTask` and
//!    `RequestResources`, so that a sick system can still shed load and repair), and the
//!    decision records what each said ([`KnowledgeChecks`]: passed, not enough evidence, not
//!    applied). Admission is atomic: an admitted [`AdmittedDecision`] holds a [`Permit`] for
//!    its adaptation slot and any resources it reserved.
//! 3. The driver **executes** the decision ([`SessionAdapter::execute_decision`]): the
//!    adapter applies what it can (marks the session adapted, books the resource grant,
//!    records history, emits [`SessionEvent::Adapted`]) and returns the slot; the driver does
//!    the rest (waits the backoff and retries, runs degraded, ...).
//! 4. When the session ends, however it ends (`complete()`, `fail()`, `cancel()` on any of
//!    its handles, or the drop of its last handle while it runs), its resource grant comes
//!    back to the ledger by itself: the grant follows its session (it is attached to the
//!    session's end with `SessionHandle::on_end`). Nobody has to tell the adapter;
//!    [`SessionAdapter::on_session_finished`] emits the lifecycle event.
//!
//! # The guarantees
//! * **Bounds hold under any concurrency.** Admitted, unfinished adaptations never exceed
//!   `max_concurrent_adaptations`, and resources granted to live sessions never exceed
//!   `max_total_resources`: both are checked and taken by one compare-and-swap each on
//!   integer counters (resources in fixed-point millionths, rounded against the grant). The
//!   gate is private to this crate: a [`Permit`] can be looked at, not used to give anything
//!   back, and a request too large to represent is refused. A loom model (inside the crate)
//!   and a 64-task stress test check it.
//! * **Nothing held leaks.** A permit is RAII: a decision dropped without execution (an error
//!   path, a cancelled future) returns its slot and reservation. A grant follows its session
//!   and is returned exactly once, whichever comes first: the session's end,
//!   [`release_session`](SessionAdapter::release_session), [`forget_session`](SessionAdapter::forget_session)
//!   or [`clear`](SessionAdapter::clear).
//! * **A refusal is never silent.** [`SessionAdapter::evaluate`] returns
//!   [`Analysis::NoAction`], [`Analysis::Admitted`] or [`Analysis::Refused`] (with the
//!   [`QRule`] and the values it saw); every refusal is also counted by rule in
//!   [`AdapterStats::rejections`], traced at `info` and emitted as
//!   [`SessionEvent::Rejected`]. The quick reference's
//!   [`analyze_session`](SessionAdapter::analyze_session) folds a refusal into `None`, so its
//!   counts stay honest through the statistics and events.
//! * **A tenant's guarantee is never lent** (tenant shares on): see [Tenant
//!   shares](#tenant-shares). Proof: the loom model `src/gate/tests/loom_shares.rs` (three
//!   threads, two tenants, one within its guarantee) and `tests/tenant_shares.rs` (64 tasks, 4
//!   tenants, one flooding, with an instrumented maximum of adaptations in flight).
//! * **Retries in flight stay within the retry budget** (retry budget on): see [Retry
//!   budget](#retry-budget). Proof: `loom_retry_tokens` in the same model file and
//!   `tests/retry_budget.rs` (a storm of 100 retries, and 64 concurrent tasks).
//! * **Q is hot-swappable.** [`SessionAdapter::update_global_q`] validates and swaps Q
//!   (`arc-swap`) without blocking readers; [`SessionAdapter::global_q`] reads the Q in force.
//! * **A sick cohort is cut off as one decision (opt-in).** With
//!   [`SessionAdapterBuilder::breaker`], when most sessions of one pattern or one tenant fail
//!   at once (judged from the windows with a minimum volume), the capacity-consuming
//!   proposals of its sessions are refused by [`QRule::CohortBreaker`] until a bounded number
//!   of probe sessions complete; shedding actions still pass; other cohorts are untouched.
//!   See [`breaker`]; proof: `tests/cohort_breaker.rs` here and in the runtime crate.
//! * **The adaptation limit can follow the load (opt-in).** With
//!   [`SessionAdapterBuilder::adaptive_concurrency`], an AIMD controller moves the limit in
//!   force between a floor and a ceiling once per knowledge generation; admission uses the
//!   lower of it and `max_concurrent_adaptations` (the slot bound above holds for it). It
//!   never rises on steady timeouts and never falls on one slow window. See [`concurrency`];
//!   proof: `src/concurrency/controller.rs` (unit tests) and `tests/adaptive_concurrency.rs`.
//! * **Everything is bounded.** Per-session history is a ring (`history_per_session`), the
//!   number of sessions tracked is capped (`max_tracked_sessions`), the event buffer is a
//!   fixed ring whose overflow drops the oldest event and is counted. Bad
//!   configuration is refused with the field's name and value; nothing panics on bad input.
//!
//! # The shadow doctrine
//! [`SessionAdapter::set_shadow`] sets a candidate Q ([`ShadowConfig`], from JSON or TOML)
//! that is judged beside the live one on every proposal that reaches the rules, without
//! effect, until it is cleared ([`clear_shadow`](SessionAdapter::clear_shadow)) or promoted
//! ([`promote_shadow`](SessionAdapter::promote_shadow): one `arc-swap` makes it the Q in force;
//! the shadow ends and its final report is returned, its counts do not carry on).
//! [`shadow_report`](SessionAdapter::shadow_report) gives what it has seen
//! ([`ShadowReport`]): would-be admissions and refusals by rule, in all and per tenant (the
//! first `top_tenants` tenants, the rest together), and the last `disagreement_sample`
//! proposals the two doctrines decided differently ([`Disagreement`]). It guarantees:
//! * **no effect**: the shadow takes no slot and no resource, emits no event, and the live
//!   decision is the same whether a shadow is set or not;
//! * **same rules, same order, same configuration**: only the Q differs; the knowledge rules
//!   read the same knowledge;
//! * **capacity read-only**: the candidate "would have admitted" a proposal when its
//!   `max_concurrent_adaptations` is above the live gate's slots in use and the live gate's
//!   granted resources plus the request fit its `max_total_resources`, both read just before
//!   the live gate judges that proposal. The shadow keeps no capacity of its own: it answers
//!   "with what is held now, would the candidate admit this?". Those reads are not atomic with
//!   the live compare-and-swap, so under concurrency an answer can be off by the admissions
//!   racing with it; in one thread it is exact;
//! * **bounded**: the counters and the sample are allocated when the shadow is set;
//! * **cheap**: a healthy `evaluate` (no proposal) does not touch it; an admission pays one
//!   `arc-swap` load, the read-only rules and one relaxed add (`docs/performance.md`).
//!
//! The proof: `tests/shadow.rs` (a tighter candidate reports the refusals it would have made,
//! the live Q admits them, promotion makes them real; capacity judged read-only; a healthy
//! evaluate leaves it untouched) and the unit tests of `shadow.rs` (bounds).
//!
//! # Introspection and the change feed
//! [`SessionAdapter::doctrine_view`] returns a [`DoctrineView`] (serde): the Q in force, the
//! shadow's report, what the gate holds ([`CapacityView`]; slots are not broken down by action
//! kind, which would cost the action path two more atomic operations, and resources are only
//! ever held by `RequestResources`), statistics, tenant health from the windows of the
//! knowledge the gate reads ([`TenantHealthView`], bounded by the windows' own cap on
//! tenants) and grants by session (the first [`ViewOptions::max_grants`], with a `truncated`
//! flag).
//!
//! [`SessionAdapter::doctrine_feed`] returns a `tokio::sync::watch` receiver of
//! [`DoctrineRevision`]s. It moves on each change of Q ([`update_global_q`](SessionAdapter::update_global_q),
//! [`promote_shadow`](SessionAdapter::promote_shadow)), of the shadow
//! ([`set_shadow`](SessionAdapter::set_shadow), [`clear_shadow`](SessionAdapter::clear_shadow))
//! and on each knowledge generation the adapter is told of
//! ([`knowledge_published`](SessionAdapter::knowledge_published): the runtime's loop calls it
//! after each publication; core's knowledge base has no callbacks). A watch keeps **the
//! latest value only**: a slow reader misses intermediate revisions (the counters in the value
//! say how many of each kind went by) and never holds the adapter back. Tests:
//! `tests/introspection.rs`.
//!
//! # How long things are held
//! | action | adaptation slot | resources |
//! |---|---|---|
//! | `RetryTask` | admission until execution returns, or until the decision is dropped (and its retry token, under a retry budget) | none |
//! | `DegradePerformance`, `CancelOptionalTasks`, `TriggerCompensation`, `LogAndContinue` | admission until execution returns, or until the decision is dropped | none |
//! | `RequestResources` | admission until execution returns, or until the decision is dropped | reserved at admission; booked to the session at execution; returned when the session ends (however it ends), or earlier by [`release_session`](SessionAdapter::release_session), [`forget_session`](SessionAdapter::forget_session) or [`clear`](SessionAdapter::clear) (or by dropping the decision unexecuted) |
//!
//! No kind holds its slot past execution: the adapter applies every action synchronously,
//! and what the caller does afterwards (the retry after its backoff, the rollback) is not
//! counted as in flight. To count it, keep the decision and execute it when that work is
//! done.
//!
//! # Tenant shares
//! [`Budgets::tenant_shares`] splits Global Q's two caps between tenants, hierarchically:
//! session → tenant → global. Each listed tenant, and the *default class* that every tenant
//! not listed belongs to (together: unlisted tenants cost no memory), has a guaranteed share
//! and a ceiling of `max_concurrent_adaptations` and of `max_total_resources` (fractions,
//! rounded down to slots and resource units; the guarantees sum to at most the cap).
//!
//! * **The global caps hold under any concurrency**, as without shares: the global slot
//!   counter and resource ledger keep their own compare-and-swap.
//! * **A class asking within its guarantee is never refused for lack of capacity**: while
//!   what it holds (counting its own requests and releases in progress) stays within its
//!   guarantee, neither its ceiling, nor the pool, nor the global caps refuse it (the
//!   knowledge rules and the retry budget still apply). Only what nobody is guaranteed
//!   (`cap - sum of guarantees`, the *pool*) is ever lent.
//! * **Borrowing**: past its guarantee, a class borrows from the pool, up to its ceiling;
//!   refused by [`QRule::TenantShare`] at its ceiling or when the pool is exhausted.
//! * **How borrowed units are reclaimed**: never by taking them back from a holder. A
//!   borrowed slot returns to the pool when its decision is executed or dropped (as every
//!   slot does); borrowed resources return when the grant they became is released (the
//!   borrowing session's end, [`release_session`](SessionAdapter::release_session),
//!   [`forget_session`](SessionAdapter::forget_session), [`clear`](SessionAdapter::clear)), or
//!   with the decision if it is dropped unexecuted. A permit records which of its units were
//!   borrowed and returns exactly those to the pool.
//! * **Protocol**: one compare-and-swap on the class's counter (bounded by its ceiling; the
//!   value it replaced says how much is within the guarantee), one on the pool for the
//!   borrowed part only, then the global ones. The class of a tenant is found by a binary
//!   search in an index built when the shares or Q are swapped (`arc-swap`); the swap keeps
//!   the counters of the classes it keeps, so what is held stays counted. After a swap that
//!   lowers a cap or moves guarantees, permits taken under the old terms may hold what the new
//!   terms guarantee to others until they are returned; the global caps hold throughout.
//! * [`SessionAdapter::tenant_holdings`] reads what each class holds, with its bounds.
//!
//! # Retry budget
//! [`Budgets::retry_budget`] bounds `RetryTask` decisions in flight to
//! `max(min_retry_concurrency, floor(budget_percent% of running sessions))` (Envoy's
//! shape), refused by [`QRule::RetryBudget`] past it, by one compare-and-swap on a token
//! counter.
//!
//! * **In flight**: a retry holds its token from admission until its decision is executed or
//!   dropped, like its slot. A driver that wants the retried work itself counted executes
//!   the decision once the retry has run (see [How long things are
//!   held](#how-long-things-are-held)).
//! * **Running sessions** come from the knowledge last published (the windows' running
//!   gauge, or `active_sessions` without windows): as stale as the last aggregation (one loop
//!   interval in the runtime). A bound computed from older knowledge is never applied to
//!   tokens already held: a budget that shrinks refuses new retries until enough tokens
//!   return. Before the first publication (no session seen running) the minimum applies.
//!
//! # Who calls what
//! The runtime facade (`autonomic`) owns the adapter with the session table and calls
//! [`on_session_started`](SessionAdapter::on_session_started),
//! [`on_session_finished`](SessionAdapter::on_session_finished) and, when the table drops a
//! session, [`forget_session`](SessionAdapter::forget_session) (or [`clear`](SessionAdapter::clear)).
//! A user driving the adapter alone (the quick reference's Pattern 2) may call them for the
//! events and to bound the history kept; resources come back without them. After each
//! knowledge publication the runtime's loop calls
//! [`observe_knowledge`](SessionAdapter::observe_knowledge) (cohort breakers, adaptive
//! concurrency); a user publishing knowledge alone calls it too.
//!
//! # Atomic protocols
//! The gate's counters are the crate's only compare-and-swap protocol (loom model in
//! `src/gate/tests/`). The cohort breakers and the adaptive limit add none: a breaker's
//! transitions and probe places are counted under one mutex (taken only by proposals of a
//! half-open cohort, by `observe_knowledge` and by a probe's end), proposals read an
//! `arc-swap` view of the tripped cohorts behind one Release/Acquire counter, and the limit in
//! force is one word stored under the controller's lock and read with one load; the gate's
//! CAS enforces whatever bound it is handed.
//!
//! # Tracing
//! `analyze_session` and `execute_decision` spans (level `debug`) carry `session_id`,
//! `state` and `decision.action`; refusals are `info` events with the rule and values.
//!
//! # Cost
//! Analysing a healthy session reads its counters and nothing else: no allocation, no lock,
//! no clock read, no shared write, whatever budgets are configured (they are read only once a
//! proposal is checked); it never reaches the cohort breakers. A proposal checks them with one
//! load when none is tripped, and reads the limit in force with one more (see
//! `docs/performance.md`).
//!
//! ```
//! use std::sync::Arc;
//! use autonomic_adapter::{Analysis, QRule, SessionAdapter};
//! use autonomic_core::{CaseId, GlobalKnowledge, KnowledgeBase, SessionHandle, TenantId};
//!
//! let kb = Arc::new(KnowledgeBase::new());
//! let adapter = SessionAdapter::new(kb.clone());
//! let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
//! for _ in 0..5 {
//!     handle.record_retry();
//! }
//! // The aggregator reports that 20% of sessions fail: Global Q refuses new adaptations.
//! kb.publish(GlobalKnowledge { failure_rate: 0.2, ..Default::default() });
//! match adapter.evaluate(&handle)? {
//!     Analysis::Refused(refusal) => assert_eq!(refusal.rule, QRule::MaxFailureRate),
//!     other => panic!("expected a refusal, got {other:?}"),
//! }
//! assert_eq!(adapter.snapshot_stats().rejections.max_failure_rate, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod action;
mod adapter;
pub mod breaker;
mod budgets;
pub mod concurrency;
pub mod config;
mod decision;
mod error;
mod event;
mod feed;
mod gate;
mod introspection;
mod knowledge_rules;
mod policy;
mod sessions;
mod shadow;
mod stats;
mod sync;
mod tenant_holding;
mod validated;

// Vocabulary.
pub use action::{ActionError, ActionKind, SessionAction};
pub use decision::{AdmittedDecision, Analysis, QRule, Refusal, SessionDecision};
pub use event::{MAX_ERROR_LEN, Metric, SessionEvent};

// Configuration and doctrine.
pub use autonomic_core::{ConfigError, GlobalKnowledge, GlobalQ, KnowledgeBase};
pub use budgets::{Budgets, RetryBudget, Share, TenantShare, TenantShares};
pub use config::SessionAdapterConfig;

// Policy.
pub use policy::{
    CohortWindows, FnPolicy, PolicyContext, Proposal, SessionPolicy, Signal, ThresholdPolicy,
};

// The adapter and its gate.
pub use adapter::{SessionAdapter, SessionAdapterBuilder};
pub use gate::Permit;
pub use knowledge_rules::{ActionKinds, KnowledgeChecks, KnowledgeRules, RuleCheck};

// Shadow doctrine, introspection and the change feed.
pub use feed::{DoctrineChange, DoctrineRevision};
pub use introspection::{
    CapacityView, DoctrineView, GrantsView, Health, HealthFigures, SessionGrant, TenantHealth,
    TenantHealthView, ViewOptions,
};
pub use shadow::{
    Disagreement, RuleCount, ShadowConfig, ShadowPromotion, ShadowReport, TenantVerdicts, Verdict,
    VerdictCounts,
};

// Results.
pub use error::AdapterError;
pub use stats::{AdapterStats, REFUSAL_TENANTS, Refusals, Rejections, TenantRefusals};
pub use tenant_holding::TenantHolding;
