//! [`FleetMember`]: one instance's lease, renewed in the background and applied to its
//! adapter's Global Q.

use std::sync::Arc;
use std::time::Duration;

use autonomic_adapter::{SessionAdapter, SessionPolicy};
use autonomic_core::GlobalQ;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use crate::allotment::{units_down, units_up};
use crate::{
    Allotment, Epoch, FleetConfigError, FleetError, FleetSpec, FleetTotals, FleetWindows,
    InstanceId, KnowledgeStore, LeaseReply, LeaseRequest, LeaseStore, MemoryKnowledgeStore,
    StoreError,
};

/// How one instance takes part in a fleet: its name, the fleet's spec and its timings.
///
/// The defaults, from the lease period `L`: renew every `L/3`, retry a failed request after
/// `L/10`, give up on a request after `L/4`, and count a lease as expired `L/20` before the
/// store does (room for the two clocks' drift).
///
/// ```
/// use std::time::Duration;
/// use autonomic_fleet::{Allotment, FleetSpec, InstanceId, MemberConfig};
/// let spec = FleetSpec::new("f", Allotment::new(12, 0.9), Allotment::new(1, 0.0), 3,
///     Duration::from_millis(600))?;
/// let config = MemberConfig::new(spec, InstanceId::new("a")?);
/// assert_eq!(config.renew_every, Duration::from_millis(200));
/// assert!(config.validate().is_ok());
/// let slow = MemberConfig { renew_every: Duration::from_millis(500), ..config };
/// assert_eq!(slow.validate().unwrap_err().field, "renew_every");
/// # Ok::<(), autonomic_fleet::FleetConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// The fleet's budget (the same for every instance).
    pub spec: FleetSpec,
    /// This instance's name in the fleet.
    pub instance: InstanceId,
    /// Time from one successful request to the next.
    pub renew_every: Duration,
    /// Time from a failed request to the next.
    pub retry_every: Duration,
    /// Longest wait for the store's answer.
    pub request_timeout: Duration,
    /// How much earlier than the store this instance counts its lease as expired.
    pub clock_margin: Duration,
}

impl MemberConfig {
    /// The defaults for `spec`'s lease period.
    pub fn new(spec: FleetSpec, instance: InstanceId) -> Self {
        let lease = spec.lease_period();
        MemberConfig {
            renew_every: lease / 3,
            retry_every: lease / 10,
            request_timeout: lease / 4,
            clock_margin: lease / 20,
            spec,
            instance,
        }
    }

    /// Checks that a renewal can succeed before the lease runs out: `renew_every +
    /// request_timeout + clock_margin` under the lease period, and every period non-zero.
    pub fn validate(&self) -> Result<(), FleetConfigError> {
        for (field, value) in [
            ("renew_every", self.renew_every),
            ("retry_every", self.retry_every),
            ("request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                return Err(FleetConfigError::new(field, "0", "must be greater than zero"));
            }
        }
        if self.renew_every + self.request_timeout + self.clock_margin >= self.spec.lease_period() {
            return Err(FleetConfigError::new(
                "renew_every",
                format!("{:?}", self.renew_every),
                "plus request_timeout and clock_margin must be under the lease period",
            ));
        }
        Ok(())
    }
}

/// Where an instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It holds a lease and admits from its slice.
    Leased {
        /// The lease's fencing token.
        epoch: Epoch,
    },
    /// It holds no lease and admits from its floor.
    Floor(FloorReason),
}

/// Why an instance runs at its floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorReason {
    /// No lease granted yet (or none asked for yet).
    NotYetLeased,
    /// Its lease ran out before a renewal succeeded (store unreachable, slow or partitioned
    /// away).
    Expired,
    /// The store refused its renewal: the lease expired there or was taken over (stale
    /// epoch). It asks for a new one at once.
    Refused,
    /// The fleet has `max_instances` leases already.
    Full,
    /// The member was shut down.
    Stopped,
}

/// What a [`FleetMember`] knows, as of its last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetStatus {
    /// Leased or at the floor, and why.
    pub standing: Standing,
    /// The capacity in force in the adapter's Global Q.
    pub in_force: Allotment,
    /// The last slice granted (`None` before the first grant).
    pub granted: Option<Allotment>,
    /// Instances holding a lease, as of the last grant.
    pub live_instances: u32,
    /// Requests sent to the store (acquisitions, renewals, the release).
    pub requests: u64,
    /// Requests granted.
    pub grants: u64,
    /// Requests that failed (unreachable, timeout, bad reply).
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<StoreError>,
    /// Exchanges of window totals with the knowledge store that succeeded (0 without
    /// fleet-wide knowledge).
    pub knowledge_exchanges: u64,
    /// Exchanges of window totals that failed.
    pub knowledge_failures: u64,
    /// The last exchange's failure, if it failed (the last sum is kept until its expiry).
    pub knowledge_error: Option<StoreError>,
    /// Other instances counted in the last fleet sum received.
    pub peers: u32,
    /// Of those, the ones whose scopes record the last exchange left out, unreadable (see
    /// [`FleetTotals::unreadable_scopes`]).
    pub unreadable_scopes: u32,
}

/// One instance of a fleet: leases a slice of the fleet's budget and keeps its adapter's
/// capacity (`max_concurrent_adaptations`, `max_total_resources` of Global Q) set to it.
///
/// [`start`](Self::start) applies the floor, then spawns a tokio task that acquires a lease,
/// renews it every `renew_every`, and sets the adapter's capacity with
/// [`SessionAdapter::update_global_q`] on every change (the other fields of Q are kept; the
/// fleet owns the two capacity fields while it runs). Admission stays local and unchanged:
/// the adapter's gate admits from whatever Q is in force, with no network call.
///
/// [`shutdown`](Self::shutdown) sets the floor, waits (until the lease's expiry at most) for
/// what is in use to fit in it, releases the lease and ends the task. Dropping the member
/// does the same in the background.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use autonomic_adapter::SessionAdapter;
/// use autonomic_core::KnowledgeBase;
/// use autonomic_fleet::{Allotment, FleetMember, FleetSpec, InstanceId, MemberConfig, MemoryLeaseStore, Standing};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec = FleetSpec::new("f", Allotment::new(8, 0.5), Allotment::new(1, 0.05), 2,
///     Duration::from_millis(300))?;
/// let adapter = Arc::new(SessionAdapter::new(Arc::new(KnowledgeBase::new())));
/// let member = FleetMember::start(adapter.clone(), MemoryLeaseStore::new(),
///     MemberConfig::new(spec, InstanceId::new("a")?))?;
/// let mut status = member.watch();
/// status.wait_for(|s| matches!(s.standing, Standing::Leased { .. })).await?;
/// // Alone in the fleet: its floor and the whole pool.
/// assert_eq!(adapter.global_q().max_concurrent_adaptations, 7);
/// let last = member.shutdown().await;
/// assert_eq!(last.in_force, Allotment::new(1, 0.05));
/// assert_eq!(adapter.global_q().max_concurrent_adaptations, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FleetMember {
    status: watch::Receiver<FleetStatus>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FleetMember {
    /// Validates `config`, sets `adapter`'s capacity to the floor and starts renewing in a
    /// task of the current tokio runtime.
    pub fn start<P, S>(
        adapter: Arc<SessionAdapter<P>>,
        store: S,
        config: MemberConfig,
    ) -> Result<Self, FleetError>
    where
        P: SessionPolicy,
        S: LeaseStore,
    {
        Self::spawn::<P, S, MemoryKnowledgeStore>(adapter, store, None, config)
    }

    /// [`start`](Self::start), and fleet-wide knowledge: on the same schedule as its
    /// renewals (and concurrently with them), the member publishes the runtime's window
    /// totals that `windows` last received to `knowledge` (expiring one lease period later)
    /// and hands the other instances' sum back to `windows`, which the runtime's loop adds
    /// to its global figures (give the runtime the same `windows` with
    /// `RuntimeBuilder::window_peers`).
    ///
    /// If an exchange fails, the last sum is kept until its expiry (one lease period from
    /// when it was asked for, less `clock_margin`), then the runtime judges its own windows
    /// alone; when the member stops, at once.
    pub fn start_with_knowledge<P, S, K>(
        adapter: Arc<SessionAdapter<P>>,
        store: S,
        knowledge: K,
        windows: Arc<FleetWindows>,
        config: MemberConfig,
    ) -> Result<Self, FleetError>
    where
        P: SessionPolicy,
        S: LeaseStore,
        K: KnowledgeStore,
    {
        Self::spawn(adapter, store, Some((knowledge, windows)), config)
    }

    fn spawn<P, S, K>(
        adapter: Arc<SessionAdapter<P>>,
        store: S,
        knowledge: Option<(K, Arc<FleetWindows>)>,
        config: MemberConfig,
    ) -> Result<Self, FleetError>
    where
        P: SessionPolicy,
        S: LeaseStore,
        K: KnowledgeStore,
    {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let in_force = apply(&adapter, config.spec.floor());
        adapter.set_shedding_headroom(config.spec.shedding_at_floor());
        let initial = FleetStatus {
            standing: Standing::Floor(FloorReason::NotYetLeased),
            in_force,
            granted: None,
            live_instances: 0,
            requests: 0,
            grants: 0,
            failures: 0,
            last_error: None,
            knowledge_exchanges: 0,
            knowledge_failures: 0,
            knowledge_error: None,
            unreadable_scopes: 0,
            peers: 0,
        };
        let (status_tx, status) = watch::channel(initial);
        let (stop, stop_rx) = watch::channel(false);
        let span = tracing::info_span!(
            "fleet_member",
            fleet = config.spec.name(),
            instance = %config.instance
        );
        let renewer = Renewer { adapter, store, knowledge, config, status: status_tx };
        let task = runtime.spawn(renewer.run(stop_rx).instrument(span));
        Ok(FleetMember { status, stop, task: Some(task) })
    }

    /// The member's status now.
    pub fn status(&self) -> FleetStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of the status (to wait for a condition).
    pub fn watch(&self) -> watch::Receiver<FleetStatus> {
        self.status.clone()
    }

    /// Stops renewing: sets the floor, waits until what is in use fits in it (until the
    /// lease's expiry at most), releases the lease; returns the last status.
    pub async fn shutdown(mut self) -> FleetStatus {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "fleet renewal task ended abnormally");
        }
        self.status()
    }
}

impl Drop for FleetMember {
    fn drop(&mut self) {
        // The task sees the signal and runs its shutdown on its own.
        self.stop.send_replace(true);
    }
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: Epoch,
    /// When this instance stops counting on it (before the store's expiry).
    deadline: Instant,
}

struct Renewer<P: SessionPolicy, S, K> {
    adapter: Arc<SessionAdapter<P>>,
    store: S,
    /// Fleet-wide knowledge, if the member shares it.
    knowledge: Option<(K, Arc<FleetWindows>)>,
    config: MemberConfig,
    status: watch::Sender<FleetStatus>,
}

impl<P: SessionPolicy, S: LeaseStore, K: KnowledgeStore> Renewer<P, S, K> {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let spec = &self.config.spec;
        let mut held: Option<Held> = None;
        let mut last_count = measure(&self.adapter).0;
        let mut next = Instant::now();
        'renewing: loop {
            let deadline = held.map(|h| h.deadline);
            tokio::select! {
                biased;
                _ = stop.changed() => break 'renewing,
                _ = sleep_until(deadline.unwrap_or(next)), if deadline.is_some_and(|d| d < next) => {
                    held = None;
                    self.fall(FloorReason::Expired);
                    continue 'renewing;
                }
                _ = sleep_until(next) => {}
            }
            let (count, in_use) = measure(&self.adapter);
            let demand = count.saturating_sub(last_count);
            last_count = count;
            let holding = self.status.borrow().in_force.max(in_use);
            let request = LeaseRequest {
                spec,
                instance: &self.config.instance,
                epoch: held.map(|h| h.epoch),
                demand,
                holding,
            };
            let sent = Instant::now();
            let sent_wall = std::time::Instant::now();
            let lease = timeout(self.config.request_timeout, self.store.lease(&request));
            let both = async { tokio::join!(lease, self.exchange()) };
            tokio::pin!(both);
            let (answer, exchanged) = loop {
                let deadline = held.map(|h| h.deadline);
                tokio::select! {
                    biased;
                    _ = stop.changed() => break 'renewing,
                    _ = sleep_until(deadline.unwrap_or(sent)), if deadline.is_some() => {
                        held = None;
                        self.fall(FloorReason::Expired);
                    }
                    answers = &mut both => break answers,
                }
            };
            if let Some(exchanged) = exchanged {
                self.settle_knowledge(exchanged, sent_wall);
            }
            self.status.send_modify(|s| s.requests += 1);
            let now = Instant::now();
            let timed_out = StoreError::Timeout(self.config.request_timeout.as_millis() as u64);
            let answer = answer.unwrap_or(Err(timed_out));
            match answer {
                Ok(LeaseReply::Granted(lease)) => {
                    let deadline = (sent + lease.ttl).checked_sub(self.config.clock_margin);
                    match deadline.filter(|&d| d > now) {
                        Some(deadline) => {
                            let in_force = apply(&self.adapter, lease.granted);
                            // Leased, the slice bounds every kind of action.
                            self.adapter.set_shedding_headroom(0);
                            if held.is_none_or(|h| h.epoch != lease.epoch) {
                                tracing::info!(epoch = %lease.epoch, granted = %lease.granted, "lease acquired");
                            } else {
                                tracing::debug!(epoch = %lease.epoch, granted = %lease.granted, demand, "lease renewed");
                            }
                            held = Some(Held { epoch: lease.epoch, deadline });
                            self.status.send_modify(|s| {
                                s.standing = Standing::Leased { epoch: lease.epoch };
                                s.in_force = in_force;
                                s.granted = Some(lease.granted);
                                s.live_instances = lease.live_instances;
                                s.grants += 1;
                            });
                            next = sent + self.config.renew_every;
                        }
                        None => {
                            // Answered too late to count on: the store still charges us, so
                            // renewing it next is safe.
                            tracing::warn!(epoch = %lease.epoch, "lease granted too late to use");
                            held = None;
                            self.fall(FloorReason::Expired);
                            next = now;
                        }
                    }
                }
                Ok(refusal @ (LeaseReply::Stale | LeaseReply::Expired)) => {
                    tracing::info!(?refusal, "lease renewal refused; acquiring anew");
                    held = None;
                    self.fall(FloorReason::Refused);
                    next = now;
                }
                Ok(LeaseReply::Full) => {
                    tracing::warn!(
                        max_instances = spec.max_instances(),
                        "fleet full; running at the floor"
                    );
                    held = None;
                    self.fall(FloorReason::Full);
                    next = now + self.config.renew_every;
                }
                Err(e) => {
                    let first = self.status.borrow().last_error.is_none();
                    if first {
                        tracing::warn!(error = %e, "lease request failed; keeping the lease until it expires");
                    } else {
                        tracing::debug!(error = %e, "lease request failed again");
                    }
                    self.status.send_modify(|s| {
                        s.failures += 1;
                        s.last_error = Some(e);
                    });
                    next = now + self.config.retry_every;
                    continue 'renewing;
                }
            }
            self.status.send_modify(|s| s.last_error = None);
        }
        self.stop(held).await;
    }

    /// Publishes the runtime's window totals and fetches the others' sum, if the member
    /// shares knowledge: `None` if it does not.
    async fn exchange(&self) -> Option<Result<FleetTotals, StoreError>> {
        let (store, windows) = self.knowledge.as_ref()?;
        let (local, scopes) = windows.local();
        let spec = &self.config.spec;
        let exchange =
            store.exchange(spec, &self.config.instance, &local, &scopes, spec.lease_period());
        let timed_out = StoreError::Timeout(self.config.request_timeout.as_millis() as u64);
        Some(timeout(self.config.request_timeout, exchange).await.unwrap_or(Err(timed_out)))
    }

    /// Hands a fleet sum asked for at `sent` to the runtime's windows, or records the
    /// failure (the last sum stays in force until its expiry).
    fn settle_knowledge(
        &self,
        exchanged: Result<FleetTotals, StoreError>,
        sent: std::time::Instant,
    ) {
        let Some((_, windows)) = &self.knowledge else { return };
        match exchanged {
            Ok(totals) => {
                let lasts =
                    self.config.spec.lease_period().saturating_sub(self.config.clock_margin);
                let (published, peers, unreadable) =
                    (totals.published, totals.instances, totals.unreadable_scopes);
                let tenants = totals.scopes.tenants.own.len();
                let patterns = totals.scopes.patterns.own.len();
                windows.set_peers(totals, sent + lasts);
                if !published {
                    tracing::warn!(
                        max_instances = self.config.spec.max_instances(),
                        "window totals not published: the fleet's other instances fill it"
                    );
                }
                tracing::debug!(peers, tenants, patterns, "fleet window totals exchanged");
                self.status.send_modify(|s| {
                    s.knowledge_exchanges += 1;
                    s.knowledge_error = None;
                    s.peers = peers;
                    s.unreadable_scopes = unreadable;
                });
            }
            Err(e) => {
                if self.status.borrow().knowledge_error.is_none() {
                    tracing::warn!(error = %e, "window totals exchange failed; keeping the last fleet sum until it expires");
                } else {
                    tracing::debug!(error = %e, "window totals exchange failed again");
                }
                self.status.send_modify(|s| {
                    s.knowledge_failures += 1;
                    s.knowledge_error = Some(e);
                });
            }
        }
    }

    /// Runs at the floor from now on.
    fn fall(&self, reason: FloorReason) {
        let in_force = apply(&self.adapter, self.config.spec.floor());
        // At the floor, consuming actions fail closed; shedding ones stay allowed.
        self.adapter.set_shedding_headroom(self.config.spec.shedding_at_floor());
        let was_leased = matches!(self.status.borrow().standing, Standing::Leased { .. });
        if reason == FloorReason::Stopped {
            tracing::info!(floor = %in_force, "stopped; running at the floor");
        } else if was_leased {
            tracing::warn!(?reason, floor = %in_force, "lease lost; running at the floor");
        }
        self.status.send_modify(|s| {
            s.standing = Standing::Floor(reason);
            s.in_force = in_force;
        });
    }

    async fn stop(&self, held: Option<Held>) {
        self.fall(FloorReason::Stopped);
        if let Some((_, windows)) = &self.knowledge {
            // The others' sum is no longer kept fresh: the runtime judges its own windows.
            // This instance's record stays in the store until it expires: its events happened.
            windows.clear();
        }
        let Some(held) = held else { return };
        let floor = self.config.spec.floor();
        // Release only once what is in use fits in the floor: until then the store must keep
        // charging us. Past the deadline the store frees it by itself.
        let drained = loop {
            if measure(&self.adapter).1.fits_in(floor) {
                break true;
            }
            if Instant::now() >= held.deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if !drained {
            tracing::info!("in-flight work outlived the lease; letting it expire");
            return;
        }
        let release = self.store.release(&self.config.spec, &self.config.instance, held.epoch);
        let released = timeout(self.config.request_timeout, release).await;
        self.status.send_modify(|s| s.requests += 1);
        match released {
            Ok(Ok(true)) => tracing::info!(epoch = %held.epoch, "lease released"),
            Ok(Ok(false)) => tracing::info!(epoch = %held.epoch, "lease already gone"),
            Ok(Err(e)) => tracing::warn!(error = %e, "release failed; the lease will expire"),
            Err(_) => tracing::warn!("release timed out; the lease will expire"),
        }
    }
}

/// Admissions plus refusals for capacity since the adapter was built, and what is in use.
fn measure<P: SessionPolicy>(adapter: &SessionAdapter<P>) -> (u64, Allotment) {
    let stats = adapter.snapshot_stats();
    let count = stats
        .total_decisions
        .saturating_add(stats.rejections.max_concurrent_adaptations)
        .saturating_add(stats.rejections.max_total_resources);
    let in_use = Allotment {
        slots: stats.active_adaptations,
        resource_units: units_up(stats.granted_resources),
    };
    (count, in_use)
}

/// Sets the adapter's capacity to `want`, keeping the rest of its Global Q; returns the
/// capacity in force afterwards.
///
/// A Q with no slot is "adaptation off"; an adapter that refuses it is given one slot (the
/// least it accepts), with a warning.
fn apply<P: SessionPolicy>(adapter: &SessionAdapter<P>, want: Allotment) -> Allotment {
    let current = adapter.global_q();
    let q = GlobalQ {
        max_concurrent_adaptations: want.slots,
        max_total_resources: want.resources(),
        ..*current
    };
    if q == *current {
        return want;
    }
    match adapter.update_global_q(q) {
        Ok(_) => want,
        Err(e) if want.slots == 0 => {
            tracing::warn!(error = %e, "the adapter refuses a Q with no slot; applying one slot");
            apply(adapter, Allotment { slots: 1, ..want })
        }
        Err(e) => {
            tracing::error!(error = %e, want = %want, "the adapter refused the fleet's capacity");
            Allotment {
                slots: current.max_concurrent_adaptations,
                resource_units: units_down(current.max_total_resources),
            }
        }
    }
}
