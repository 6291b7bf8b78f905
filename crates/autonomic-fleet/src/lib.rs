//! One Global Q across a fleet of processes: each instance leases a slice of the fleet's
//! adaptation slots and resources, and admits from it locally.
//!
//! # The model
//! A fleet (twenty replicas behind a load balancer) shares one budget, a [`FleetSpec`]: a
//! cap on adaptations in flight and resources granted across the fleet, a floor every
//! instance may always use, the most instances it has and a lease period. Each instance runs
//! a [`FleetMember`] beside its `SessionAdapter`:
//!
//! ```text
//!  FleetMember (tokio task) --every renew_every--> LeaseStore (Redis: one Lua script)
//!       |  demand, holding, epoch                    grant = floor + share of the pool
//!       v
//!  SessionAdapter::update_global_q(max_concurrent_adaptations, max_total_resources = slice)
//!       |
//!  evaluate / execute: the adapter's own gate admits from the slice (no network call)
//! ```
//!
//! * **Leases.** A lease has an expiry, counted on the store's clock (Redis's `TIME`, never
//!   the client's), and an [`Epoch`], a fencing token: renewals and releases carrying an old
//!   epoch are refused and change nothing. The member renews every `lease/3` and counts its
//!   lease as lost `lease/20` before the store does.
//! * **Slices follow use.** Each request reports the instance's demand (admissions plus
//!   refusals for capacity since its last request). The grant is the floor plus a share of the
//!   [pool](FleetSpec::pool) (the cap less `max_instances` floors) in proportion to demand,
//!   apportioned by largest remainder so that the shares add up to the whole pool (rounding
//!   each down would leave slots unused), never more than what the others leave free; a shrinking instance stays charged for what
//!   it still holds until it has let go, so the charges never add up to more than the cap.
//!   The rule is [`LeaseStore`]'s; both stores follow it and are tested with the same
//!   scenarios.
//! * **Floors are reserved.** The floors of `max_instances` instances are kept out of what is
//!   handed out, so an instance without a lease can always admit from its floor without taking
//!   anyone's share: the fleet stays within its cap with Redis up, down or partitioned, as long
//!   as at most `max_instances` instances run and Redis keeps its writes.
//! * **Admission is untouched.** The fleet only sets the two capacity fields of the adapter's
//!   Global Q (through its public `update_global_q`; the other fields are kept). Admission,
//!   permits and refusals are the adapter's, with the same cost as without a fleet. Requests
//!   to the store happen on the member's schedule: `3/lease` per second per instance, however
//!   many admissions there are.
//!
//! # Failure modes
//! | what happens | what an instance does | the fleet's bound | test |
//! |---|---|---|---|
//! | Redis down or unreachable (refused, reset) | keeps its lease until it expires (locally, `clock_margin` early), then falls to its floor: the local Q shrinks to the floor, so capacity-consuming admissions fail closed there; re-acquires when Redis answers | the cap: slices outstanding plus reserved floors | `failure_modes::redis_down_keeps_the_lease_until_it_expires_then_the_floor`, `stress::three_instances_of_64_tasks_never_exceed_the_fleet_cap` (Redis killed mid-run) |
//! | Redis hangs (SIGSTOP, overload) | each request gives up after `request_timeout`; then as above | the cap | `failure_modes::a_paused_redis_times_out_and_the_lease_runs_out` |
//! | Redis down at start | runs at its floor (`NotYetLeased`) until the first grant | the cap | `failure_modes::starts_at_the_floor_while_redis_is_down` |
//! | partition: this instance cannot reach Redis, others can | the cut-off side falls to its floor when its lease expires; its slice goes back to the pool when the lease expires on the server, and the others' next renewals take it | the cap (the cut-off side's local expiry precedes the server's) | `failure_modes::partition_the_side_that_cannot_renew_falls_to_the_floor` |
//! | failover with lost writes (a replica promoted without the last writes, or a restart without persistence) | renewals come back `Expired`; the member falls to its floor and acquires anew, with an epoch larger than any before (epochs are at least the server's time in ms) | **over-admission bounded by one lease period**: the new server hands out the pool again while the old slices are still in force locally, so for at most one lease period the fleet may admit up to its cap plus the slices held before the loss (at most twice the cap) | `failure_modes::failover_with_lost_writes_reacquires_with_larger_epochs` |
//! | lease expired, or taken over (another acquisition under the same instance name) | renewals and releases carrying the old epoch are refused and change nothing; the member falls to its floor and acquires anew; decisions already admitted finish (permits are never revoked) | the cap | `failure_modes::a_stale_epoch_is_refused_and_the_member_acquires_anew`, `store_rule` (`fencing`, `expiry`) |
//! | corrupt fleet records in Redis (written by something else) | the script refuses every lease ([`StoreError::Corrupt`]); instances fall to their floors until an operator deletes the key | the cap | `store_rule::redis_store_fails_closed_on_corrupt_records` |
//! | hostile or malformed reply | refused as [`StoreError::BadReply`] (shape, every number checked against the spec, at most 1 KB echoed), counted as a failed request | the cap | `redis_store` unit tests |
//! | more than `max_instances` instances | the extra ones are refused (`Full`) and run at their floors, which are not reserved | the cap plus one floor per extra instance | `store_rule` (`fencing`) |
//! | shutdown | the floor is set at once; the lease is released once what is in use fits in the floor, else left to expire | the cap | `member::shutdown_sets_the_floor_and_gives_the_slice_back`, `member::shutdown_keeps_the_lease_while_work_beyond_the_floor_is_in_flight` |
//!
//! Permits are never revoked: a slot admitted under a lease that later shrinks or expires is
//! held until its decision is executed or dropped (in this runtime, until `execute` returns).
//! The store keeps charging a renewing instance for what it holds, and charges a new lease for
//! what its instance still holds from a lost one (as far as it is free), so this matters only
//! between the loss of a lease and the next grant: while those decisions finish, the fleet
//! may hold them on top of the bounds above.
//!
//! A floor of no slot means "adaptation off"; where the adapter refuses a Global Q with
//! `max_concurrent_adaptations = 0`, the member applies one slot instead (with a warning):
//! that slot is not reserved out of the cap, so each instance applying it may admit one
//! adaptation beyond the bounds above. Give floors of at least one slot until the adapter
//! accepts "adaptation off".
//!
//! # Fleet-wide knowledge (not yet)
//! The knowledge rules of Global Q (SLO compliance, failure rate) still read each instance's
//! own `KnowledgeBase`. Publishing each instance's window counts to a key of its own with an
//! expiry and reading the fleet's sum belongs beside the lease store: a second trait next to
//! [`LeaseStore`] (a `KnowledgeStore` publishing and summing counts on the same Redis
//! connection) driven by the same member task, whose renewal loop is where the publication
//! would go. It waits for the rolling windows of the aggregate layer.
//!
//! # Tracing
//! The member's task runs in a `fleet_member` span (`fleet`, `instance`): acquisitions,
//! losses of a lease and refusals at `info`/`warn`, renewals at `debug`, the first failure of
//! a streak at `warn` and the rest at `debug`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use autonomic_adapter::SessionAdapter;
//! use autonomic_core::KnowledgeBase;
//! use autonomic_fleet::{Allotment, FleetMember, FleetSpec, InstanceId, MemberConfig, MemoryLeaseStore};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A cap of 12 adaptations in flight across 3 instances, 1 slot each always.
//! let spec = FleetSpec::new("checkout", Allotment::new(12, 0.9), Allotment::new(1, 0.05), 3,
//!     Duration::from_millis(500))?;
//! let store = MemoryLeaseStore::new(); // RedisLeaseStore::open(url, timeout)? for a fleet
//! let mut members = Vec::new();
//! for name in ["a", "b"] {
//!     let adapter = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
//!     let config = MemberConfig::new(spec.clone(), InstanceId::new(name)?);
//!     let member = FleetMember::start(adapter.clone(), store.clone(), config)?;
//!     member.watch().wait_for(|s| s.granted.is_some()).await?;
//!     members.push((adapter, member));
//! }
//! let slots: u64 = members.iter().map(|(a, _)| a.global_q().max_concurrent_adaptations).sum();
//! assert!(slots <= 12 - 1); // the third instance's floor stays reserved
//! for (_, member) in members {
//!     member.shutdown().await;
//! }
//! # Ok(()) }
//! ```

mod allotment;
mod error;
mod fleet_windows;
mod knowledge;
mod lease;
mod member;
mod memory;
mod memory_knowledge;
mod redis_connection;
mod redis_knowledge;
mod redis_store;
mod share;
mod spec;
mod store;

pub use allotment::{Allotment, RESOURCE_UNITS_PER_CAPACITY};
pub use error::{FleetConfigError, FleetError, StoreError};
pub use fleet_windows::FleetWindows;
pub use knowledge::{FleetTotals, KnowledgeStore, MAX_COUNT};
pub use lease::{Epoch, Lease, LeaseReply, LeaseRequest, MAX_DEMAND};
pub use member::{FleetMember, FleetStatus, FloorReason, MemberConfig, Standing};
pub use memory::MemoryLeaseStore;
pub use memory_knowledge::MemoryKnowledgeStore;
pub use redis_knowledge::RedisKnowledgeStore;
pub use redis_store::RedisLeaseStore;
pub use spec::{FleetSpec, InstanceId};
pub use store::LeaseStore;
