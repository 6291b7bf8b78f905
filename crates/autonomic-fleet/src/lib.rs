//! One Global Q across a fleet of processes: each instance leases a slice of the fleet's
//! adaptation slots and resources, and admits from it locally; and its doctrine judges the
//! fleet's rolling windows, each instance's published with an expiry and summed.
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
//!   apportioned by largest remainder so that the slices settle to the whole pool (rounding
//!   each down would leave slots unused; a left-over unit stays with whoever holds it, and
//!   one nobody holds goes to the first to ask while it is free), never more than what the
//!   others leave free; a shrinking instance stays charged for what
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
//!   to the store happen on the member's schedule: `3/lease` per second per instance (twice
//!   that with fleet-wide knowledge: one exchange of window totals beside each lease
//!   request), however many admissions there are.
//!
//! # Failure modes
//! | what happens | what an instance does | the fleet's bound | test |
//! |---|---|---|---|
//! | Redis down or unreachable (refused, reset) | keeps its lease until it expires (locally, `clock_margin` early), then falls to its floor: the local Q shrinks to the floor, so actions that consume capacity (retry, request resources) fail closed there, while actions that shed load (degrade, cancel optional tasks, compensate, log and continue) stay allowed up to [`FleetSpec::shedding_at_floor`] slots beyond the floor's (the adapter's shedding headroom, 0 while leased); re-acquires when Redis answers | consuming actions: the cap (slices outstanding plus reserved floors); all actions, with every instance at its floor: the cap (the default headroom is an even share of the pool), with some leased: the cap plus the headroom of each instance at its floor | `failure_modes::redis_down_keeps_the_lease_until_it_expires_then_the_floor`, `stress::three_instances_of_64_tasks_never_exceed_the_fleet_cap` (Redis killed mid-run) |
//! | Redis hangs (SIGSTOP, overload) | each request gives up after `request_timeout`; then as above | the cap | `failure_modes::a_paused_redis_times_out_and_the_lease_runs_out` |
//! | Redis down at start | runs at its floor (`NotYetLeased`) until the first grant | the cap | `failure_modes::starts_at_the_floor_while_redis_is_down` |
//! | partition: this instance cannot reach Redis, others can | the cut-off side falls to its floor when its lease expires; its slice goes back to the pool when the lease expires on the server, and the others' next renewals take it | the cap (the cut-off side's local expiry precedes the server's) | `failure_modes::partition_the_side_that_cannot_renew_falls_to_the_floor` |
//! | failover with lost writes (a replica promoted without the last writes, or a restart without persistence) | renewals come back `Expired`; the member falls to its floor and acquires anew, with an epoch larger than any before (epochs are at least the server's time in ms) | **over-admission bounded by one lease period**: the new server hands out the pool again while the old slices are still in force locally, so for at most one lease period the fleet may admit up to its cap plus the slices held before the loss (at most twice the cap) | `failure_modes::failover_with_lost_writes_reacquires_with_larger_epochs` |
//! | lease expired, or taken over (another acquisition under the same instance name) | renewals and releases carrying the old epoch are refused and change nothing; the member falls to its floor and acquires anew; decisions already admitted finish (permits are never revoked) | the cap | `failure_modes::a_stale_epoch_is_refused_and_the_member_acquires_anew`, `failure_modes::decisions_admitted_under_an_expired_lease_finish`, `store_rule` (`fencing`, `expiry`) |
//! | corrupt fleet records in Redis (written by something else) | the script refuses every lease ([`StoreError::Corrupt`]); instances fall to their floors until an operator deletes the key | the cap | `store_rule::redis_store_fails_closed_on_corrupt_records` |
//! | hostile or malformed reply | refused as [`StoreError::BadReply`] (shape, every number checked against the spec, at most 1 KB echoed), counted as a failed request; a large reply is still parsed by the `redis` crate first (see [Replies from Redis](#replies-from-redis)) | the cap | `redis_store` and `redis_knowledge` unit tests |
//! | knowledge: Redis down, unreachable or hung | the exchange fails (within `request_timeout`); the last fleet sum stays in force until its expiry (one lease period from when it was asked for, less `clock_margin`), then the doctrine judges the instance's own windows alone; the sum comes back with Redis | the knowledge rules judge at least the instance's own evidence (with its own minimum volume) | `knowledge::the_doctrine_reads_the_fleets_windows_and_a_dead_instance_ages_out` (Redis stopped, then restarted) |
//! | knowledge: an instance dies or stops | its record expires one lease period after its last publication; the others stop counting it | - | `knowledge::the_doctrine_reads_the_fleets_windows_and_a_dead_instance_ages_out`, `knowledge::both_knowledge_stores_follow_the_rule_and_agree` |
//! | knowledge: more than `max_instances` instances publish | the extra ones are not stored (their events are missing from the others' sums) but read the sum | - | `knowledge::both_knowledge_stores_follow_the_rule_and_agree` |
//! | knowledge: corrupt whole-runtime records in Redis | the exchange fails ([`StoreError::Corrupt`]); as Redis down | as Redis down | `knowledge::redis_knowledge_refuses_corrupt_records` |
//! | knowledge: a scopes record no instance of this version writes (another version in a rolling upgrade, tampering) | that instance's scopes are left out of the sum, counted (`FleetTotals::unreadable_scopes`, `FleetStatus::unreadable_scopes`) and traced; the exchange and every other record go on | unchanged | `scopes::redis_knowledge_leaves_out_scopes_records_it_did_not_write`, `scopes::through_redis_a_pattern_sick_on_two_instances_is_one_fleet_incident` |
//! | knowledge: more tenants or patterns than `max_scopes` | the busiest are published and summed, the rest folded into `other` | `max_scopes` per kind in a record and in a reply | `scopes::both_knowledge_stores_sum_scopes_alike_and_bound_them` |
//! | knowledge: the member stops | the runtime judges its own windows at once | - | `knowledge::the_doctrine_reads_the_fleets_windows_and_a_dead_instance_ages_out` |
//! | more than `max_instances` instances | the extra ones are refused (`Full`) and run at their floors, which are not reserved | the cap plus one floor per extra instance | `store_rule` (`fencing`), `member::an_instance_beyond_max_instances_runs_at_its_floor_until_a_lease_is_free` |
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
//! # Fleet-wide knowledge
//! The knowledge rules of Global Q (SLO compliance, failure rate) judge the runtime's global
//! rolling window. In a fleet, each instance's window holds only its own slice of the
//! traffic; with fleet-wide knowledge it holds the fleet's:
//!
//! ```text
//!  runtime loop, each iteration:  own totals --> FleetWindows --> others' sum (last fetched)
//!       global figures = figures(own totals + others' sum)  --publish--> KnowledgeBase --> gate
//!  FleetMember, every renew_every (beside the lease request, concurrently):
//!       own totals and scopes --KnowledgeStore::exchange--> record `instance`, expiring one lease period later
//!                  <-- sum of the other live records (Redis: the script sums the 21 numbers
//!                      of each; the client decodes and sums their scopes records)
//! ```
//!
//! * **How the sum reaches the doctrine.** The runtime (`autonomic::RuntimeBuilder::window_peers`)
//!   hands [`FleetWindows`] its [`Windows`](autonomic_aggregate::Windows) each iteration
//!   ([`WindowPeers::knowledge`](autonomic_aggregate::WindowPeers::knowledge)) and publishes
//!   what it returns: its own figures with the others' sums added, judged with its own
//!   minimum volumes. The loop's publication
//!   *is* the fleet's knowledge, so nothing overwrites it, and the instance's own events count
//!   as fresh as without a fleet; the others' are at most one renewal period plus one loop
//!   interval old. The runtime's `windows()` accessor stays its own.
//! * **Per tenant and per pattern.** The loop hands its tenants' and patterns' totals too,
//!   and the doctrine's per-scope rules
//!   (the cohort breakers, tenant health) read the fleet's: a pattern failing at 30% on every
//!   instance is one fleet-wide incident, judged with the runtime's minimum volumes on the
//!   fleet's counts. Each instance publishes at most [`FleetSpec::max_scopes`] tenants and as
//!   many patterns (default 64): those of largest [`volume`], the rest folded into `other`
//!   with [`WindowTotals::add`](autonomic_aggregate::WindowTotals::add), the fold of the
//!   runtime's own windows beyond their caps ([`ScopeTotals::bounded`]). The store sums the
//!   others scope by scope and answers as many of each kind, folding the rest
//!   ([`ScopeTotals::sum`]); a scope the others publish but this runtime has no window of
//!   its own for joins the lists. **What a sum means:** a scope kept by one instance and
//!   folded into `other` by another counts in its own figures for the first and in `other`
//!   for the second, so a scope's fleet figures are a lower bound of its events (exact while
//!   every instance keeps it among its top `max_scopes`, which a fleet-wide incident's
//!   volume makes likely), and `other` holds the rest. A dead instance's scopes age out with
//!   its record. Tested through two `autonomic::AutonomicRuntime`s
//!   (`scopes::two_runtimes_loops_publish_a_sick_patterns_fleet_figures_judged`).
//! * **Requests.** Scopes travel in the same exchange as the whole runtime's totals (Redis:
//!   one script call, a second hash beside the first, one field per instance): two requests
//!   per renewal period per instance, whatever the admission rate or the number of scopes.
//!   The script does no work per scope: it keeps what must be atomic (the server's `TIME`,
//!   the expiry of dead instances, storing the caller's record, the 21 whole-runtime sums)
//!   and hands back the other live instances' scopes records as stored (one `HMGET`); the
//!   client decodes, checks and sums them ([`ScopeTotals::sum`], as the memory store does).
//!   Measured on the project's shared 2-core machine (load average 9.6), three instances of
//!   64 tenants and 64 patterns each, a lease period of 400 ms (three `FleetMember`s with
//!   `RedisLeaseStore::knowledge_store` on one `redis-server`, each admitting in a loop;
//!   `CONFIG RESETSTAT`, `CONFIG SET slowlog-log-slower-than 0`, `SLOWLOG RESET`, 10 s, then
//!   `INFO commandstats` and `SLOWLOG GET` split by script SHA): the knowledge script takes 0.25
//!   to 0.28 ms per call (median; mean 0.28 to 0.43 ms with the machine's stalls), against
//!   0.11 ms without scopes and 23 to 29 ms (median) when the script summed scopes itself;
//!   `EVALSHA`'s `usec_per_call` (lease and knowledge scripts together) went from 14.3 ms to
//!   0.22 to 0.31 ms. Redis runs one script at a time, so lease requests wait behind it for
//!   that long at most; its work per exchange grows with the live instances (and the bytes
//!   of their records: about 22 KB each at 64 scopes), not with instances × scopes. The
//!   client's work (decoding `instances - 1` records of at most `2 × max_scopes` scopes)
//!   is on the member's task, never on the loop's.
//! * **A dead instance ages out.** Each record expires one lease period after its last
//!   publication, on the store's clock; a stopped member's record is left to expire (its
//!   events happened), and stops counting within one lease period.
//! * **Bounded.** At most `max_instances` records per fleet (a newcomer beyond is not stored,
//!   but still reads the sum); each record is 21 numbers and at most `max_scopes` tenants and
//!   patterns of 21 numbers each, each number clamped to [`MAX_COUNT`] (`2^43`) so that the
//!   script's sums are exact in Lua's doubles; the reply is 23 integers and one scopes record
//!   per other live instance (at most `max_instances`), each at most the size `max_scopes`
//!   allows, validated ([`RedisKnowledgeStore`]); the client's sums saturate.
//! * **No network call on the admission path, nor on the loop's**: the loop reads what the
//!   member last fetched, under a mutex held for a copy.
//!
//! # Replies from Redis
//! Every script's reply has a bounded size by construction: `lease.lua` six integers on every
//! path, `release.lua` one integer, `knowledge.lua` 23 integers and one scopes record per
//! other live instance, each at most the size `max_scopes` allows (the script refuses to
//! store or hand out a longer one; never `KEYS` or `SCAN`). Each is checked before use
//! (length, types, status, every number against the spec or the bound the instances can
//! publish, each scopes record decoded and checked) and refused as [`StoreError::BadReply`]
//! echoing at most 1 KB; a scopes record no instance writes is left out of the sum and
//! counted (its instance's scopes only; the message traced echoes at most 1 KB). **What
//! remains:** the `redis`
//! crate parses a whole reply before the crate sees it, and sets no size limit of its own, so
//! a hostile server (or anything between it and the client, without TLS) can make the client
//! parse, and hold until it is refused, a reply as large as it likes; the request timeout
//! bounds the wait, not the memory. Run Redis where only the fleet can reach it (ACLs, TLS).
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
mod scope_record;
mod scopes;
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
pub use scopes::{ScopeSet, ScopeTotals, volume};
pub use spec::{FleetSpec, InstanceId};
pub use store::LeaseStore;
