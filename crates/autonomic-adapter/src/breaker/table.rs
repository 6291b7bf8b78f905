//! [`Breakers`]: the state of every tripped cohort, the lock-free view proposals read, and
//! the transitions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use arc_swap::ArcSwap;
use autonomic_core::{
    ClockHandle, GlobalKnowledge, Lifecycle, SessionHandle, SessionId, SessionState, TenantTag,
    WindowFigures,
};

use super::diagnosis::{Lengths, sick};
use super::{BreakerConfig, BreakerState, BreakerStats, BreakerView, Cohort};
use crate::event::{self, EventBuffer};
use crate::{ActionKind, ActionKinds, SessionEvent};

/// What refused a proposal: the failure rate that opened the breaker and the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tripped {
    pub(crate) failure_rate: f64,
    pub(crate) threshold: f64,
}

/// A tripped cohort as proposals see it without a lock.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Refuse until `until_ns`; past it, the proposal takes the lock to go half-open.
    Open { until_ns: u64, failure_rate: f64 },
    /// Take the lock to try for a probe.
    HalfOpen,
}

/// One probe session of a half-open breaker.
struct Probe {
    session: SessionId,
    admitted_at_ns: u64,
    /// Reads the probe's state (holds a handle; dropped with the probe).
    state: Box<dyn Fn() -> SessionState + Send + Sync>,
}

enum State {
    Closed,
    Open { half_open_at_ns: u64 },
    HalfOpen { probes: Vec<Probe>, succeeded: u32 },
}

struct Entry {
    state: State,
    failure_rate: f64,
    opened_at_ns: u64,
    times_opened: u64,
    /// When its probes last closed it (see [`sick`]).
    closed_at_ns: Option<u64>,
}

impl Entry {
    /// Closed by its probes less than a window ago: kept, so the windows from before the
    /// close are not read again.
    fn recently_closed(&self, now_ns: u64, window_ns: u64) -> bool {
        self.closed_at_ns.is_some_and(|at| now_ns.saturating_sub(at) < window_ns)
    }
}

#[derive(Default)]
struct Table {
    cohorts: BTreeMap<Cohort, Entry>,
    generation: u64,
    /// The windows' lengths in the last knowledge judged.
    lengths: Lengths,
}

#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
    probes_admitted: AtomicU64,
    probes_failed: AtomicU64,
}

/// The cohort breakers of one adapter.
pub(crate) struct Breakers {
    config: BreakerConfig,
    /// Cohorts whose breaker is not closed. Zero (the usual case) lets a proposal pass with
    /// this one load. Stored after `view` (Release) and loaded before it (Acquire), so a
    /// proposal that sees it non-zero sees the view that made it so.
    tripped: AtomicUsize,
    /// The tripped cohorts, sorted, for lookups without the lock.
    view: ArcSwap<Vec<(Cohort, Phase)>>,
    table: Mutex<Table>,
    events: Arc<EventBuffer>,
    counters: Counters,
}

/// A transition to announce once the lock is let go.
struct Change {
    cohort: Cohort,
    state: BreakerState,
    failure_rate: f64,
}

impl Breakers {
    pub(crate) fn new(config: BreakerConfig, events: Arc<EventBuffer>) -> Self {
        Breakers {
            config,
            tripped: AtomicUsize::new(0),
            view: ArcSwap::from_pointee(Vec::new()),
            table: Mutex::new(Table::default()),
            events,
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ------------------------------------------------------------------ proposals -----

    /// Whether a proposal of `kind` by `handle`'s session may go on, at `now_ns` on its
    /// clock. Shedding kinds pass at once; with no breaker tripped, so does everything (one
    /// load). Otherwise the session's cohorts are looked up in the lock-free view: an open
    /// breaker refuses; a half-open one (or one due to go half-open) takes the lock and
    /// admits the session as a probe if a probe place is free.
    #[inline]
    pub(crate) fn admit<T: TenantTag, S: Lifecycle>(
        self: &Arc<Self>,
        handle: &SessionHandle<T, S>,
        kind: ActionKind,
        now_ns: u64,
    ) -> Result<(), Tripped> {
        // Acquire: pairs with the Release store in `publish`, so a non-zero count comes
        // with the view that made it (see the field).
        if !ActionKinds::CONSUMING.contains(kind) || self.tripped.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        self.admit_tripped(handle, now_ns)
    }

    #[cold]
    fn admit_tripped<T: TenantTag, S: Lifecycle>(
        self: &Arc<Self>,
        handle: &SessionHandle<T, S>,
        now_ns: u64,
    ) -> Result<(), Tripped> {
        let cohorts = self.cohorts_of(handle);
        let view = self.view.load();
        let mut half_open = false;
        for cohort in cohorts.iter().flatten() {
            let Ok(i) = view.binary_search_by_key(cohort, |(c, _)| *c) else { continue };
            match view[i].1 {
                Phase::Open { until_ns, failure_rate } if now_ns < until_ns => {
                    return Err(Tripped { failure_rate, threshold: self.config.failure_threshold });
                }
                _ => half_open = true,
            }
        }
        if !half_open {
            return Ok(());
        }
        drop(view);
        let session = handle.id();
        let clock = handle.context().clock();
        let (verdict, changes, new_probe) = {
            let mut table = self.lock();
            let mut changes = Vec::new();
            let mut refusal = None;
            for cohort in cohorts.iter().flatten() {
                let Some(entry) = table.cohorts.get_mut(cohort) else { continue };
                if let State::Open { half_open_at_ns } = entry.state {
                    if now_ns < half_open_at_ns {
                        refusal = Some(entry.failure_rate);
                        continue;
                    }
                    self.go_half_open(*cohort, entry, &mut changes);
                }
                if let State::HalfOpen { probes, .. } = &entry.state {
                    let is_probe = probes.iter().any(|p| p.session == session);
                    if !is_probe && probes.len() >= self.config.probes as usize {
                        refusal = Some(entry.failure_rate);
                    }
                }
            }
            let mut new_probe = false;
            if refusal.is_none() {
                for cohort in cohorts.iter().flatten() {
                    let Some(entry) = table.cohorts.get_mut(cohort) else { continue };
                    if let State::HalfOpen { probes, .. } = &mut entry.state
                        && !probes.iter().any(|p| p.session == session)
                    {
                        let reader = handle.erased();
                        probes.push(Probe {
                            session,
                            admitted_at_ns: now_ns,
                            state: Box::new(move || reader.state()),
                        });
                        new_probe = true;
                        // Relaxed: a statistic.
                        self.counters.probes_admitted.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%session, %cohort, "cohort breaker: probe admitted");
                    }
                }
            }
            if !changes.is_empty() {
                // Probe places are not in the view: only a transition changes it.
                self.publish(&table);
            }
            let verdict = match refusal {
                Some(failure_rate) => {
                    Err(Tripped { failure_rate, threshold: self.config.failure_threshold })
                }
                None => Ok(()),
            };
            (verdict, changes, new_probe)
        };
        self.announce(changes, Some(session), clock, now_ns);
        if new_probe {
            // Outside the lock: the action runs at once if the session has ended already.
            let breakers = Arc::downgrade(self);
            let clock = clock.clone();
            handle.on_end(move || probe_ended(&breakers, session, &clock));
        }
        verdict
    }

    fn cohorts_of<T: TenantTag, S: Lifecycle>(
        &self,
        handle: &SessionHandle<T, S>,
    ) -> [Option<Cohort>; 2] {
        [
            handle.pattern().filter(|_| self.config.by_pattern).map(Cohort::Pattern),
            self.config.by_tenant.then(|| Cohort::Tenant(handle.tenant_id())),
        ]
    }

    // ------------------------------------------------------------------ knowledge -----

    /// Judges the cohorts' windows of a new knowledge generation (once per generation) and
    /// moves the breakers on in time: open ones due go half-open, probes past their timeout
    /// fail. Cohorts that left the windows are forgotten.
    pub(crate) fn observe(&self, knowledge: &GlobalKnowledge, clock: &ClockHandle) {
        let now_ns = clock.now_nanos();
        let mut changes = Vec::new();
        {
            let mut table = self.lock();
            let table = &mut *table;
            if knowledge.generation > table.generation {
                table.generation = knowledge.generation;
                if let Some(windows) = &knowledge.windows {
                    table.lengths = Lengths {
                        window_ns: windows.length_ms.saturating_mul(1_000_000),
                        short_ns: windows.short_ms.saturating_mul(1_000_000),
                    };
                    let patterns = windows.patterns.iter().map(|(p, f)| (Cohort::Pattern(*p), f));
                    let tenants = windows.tenants.iter().map(|(t, f)| (Cohort::Tenant(*t), f));
                    let scopes: Vec<(Cohort, &WindowFigures)> = patterns
                        .filter(|_| self.config.by_pattern)
                        .chain(tenants.filter(|_| self.config.by_tenant))
                        .collect();
                    table.cohorts.retain(|cohort, entry| {
                        let kept = scopes.iter().any(|(c, _)| c == cohort);
                        if !kept && !matches!(entry.state, State::Closed) {
                            changes.push(Change {
                                cohort: *cohort,
                                state: BreakerState::Closed,
                                failure_rate: entry.failure_rate,
                            });
                        }
                        kept
                    });
                    for (cohort, figures) in scopes {
                        self.judge(table, cohort, figures, now_ns, &mut changes);
                    }
                }
            }
            for (cohort, entry) in table.cohorts.iter_mut() {
                if let State::Open { half_open_at_ns } = entry.state
                    && now_ns >= half_open_at_ns
                {
                    self.go_half_open(*cohort, entry, &mut changes);
                }
                let timeout = self.config.probe_timeout_ns();
                if let State::HalfOpen { probes, .. } = &entry.state
                    && let Some(late) = probes
                        .iter()
                        .find(|p| now_ns.saturating_sub(p.admitted_at_ns) >= timeout)
                        .map(|p| p.session)
                {
                    tracing::info!(session = %late, %cohort, "cohort breaker: probe timed out");
                    self.probe_failed(*cohort, entry, now_ns, &mut changes);
                }
            }
            let window_ns = table.lengths.window_ns;
            table.cohorts.retain(|_, e| {
                !matches!(e.state, State::Closed) || e.recently_closed(now_ns, window_ns)
            });
            self.publish(table);
        }
        for change in &changes {
            if change.state == BreakerState::Closed {
                // Relaxed: a statistic.
                self.counters.closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.announce(changes, None, clock, now_ns);
    }

    /// Opens a closed cohort whose short window fails at or over the threshold, with enough
    /// evidence.
    fn judge(
        &self,
        table: &mut Table,
        cohort: Cohort,
        figures: &WindowFigures,
        now_ns: u64,
        changes: &mut Vec<Change>,
    ) {
        let entry = table.cohorts.get(&cohort);
        if entry.is_some_and(|e| !matches!(e.state, State::Closed)) {
            return;
        }
        let since_close = entry.and_then(|e| e.closed_at_ns).map(|at| now_ns.saturating_sub(at));
        let Some(rate) = sick(&self.config, figures, since_close, table.lengths) else { return };
        let entry = table.cohorts.entry(cohort).or_insert(Entry {
            state: State::Closed,
            failure_rate: rate,
            opened_at_ns: 0,
            times_opened: 0,
            closed_at_ns: None,
        });
        entry.failure_rate = rate;
        self.open(cohort, entry, now_ns, changes);
    }

    // ---------------------------------------------------------------- transitions -----

    fn open(&self, cohort: Cohort, entry: &mut Entry, now_ns: u64, changes: &mut Vec<Change>) {
        entry.state =
            State::Open { half_open_at_ns: now_ns.saturating_add(self.config.open_for_ns()) };
        entry.opened_at_ns = now_ns;
        entry.times_opened += 1;
        // Relaxed: a statistic.
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%cohort, failure_rate = entry.failure_rate, "cohort breaker opened");
        changes.push(Change {
            cohort,
            state: BreakerState::Open,
            failure_rate: entry.failure_rate,
        });
    }

    fn go_half_open(&self, cohort: Cohort, entry: &mut Entry, changes: &mut Vec<Change>) {
        entry.state = State::HalfOpen { probes: Vec::new(), succeeded: 0 };
        // Relaxed: a statistic.
        self.counters.half_opened.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%cohort, "cohort breaker half-open");
        changes.push(Change {
            cohort,
            state: BreakerState::HalfOpen,
            failure_rate: entry.failure_rate,
        });
    }

    fn probe_failed(
        &self,
        cohort: Cohort,
        entry: &mut Entry,
        now_ns: u64,
        changes: &mut Vec<Change>,
    ) {
        // Relaxed: a statistic.
        self.counters.probes_failed.fetch_add(1, Ordering::Relaxed);
        self.open(cohort, entry, now_ns, changes);
    }

    /// A probe session ended: a completion counts towards closing, a failure re-opens, a
    /// cancellation frees its place without a verdict.
    fn resolve_probe(&self, session: SessionId, clock: &ClockHandle) {
        let now_ns = clock.now_nanos();
        let mut changes = Vec::new();
        {
            let mut table = self.lock();
            for (cohort, entry) in table.cohorts.iter_mut() {
                let State::HalfOpen { probes, succeeded } = &mut entry.state else { continue };
                let Some(i) = probes.iter().position(|p| p.session == session) else { continue };
                let probe = probes.swap_remove(i);
                match (probe.state)() {
                    SessionState::Completed => {
                        *succeeded += 1;
                        if *succeeded >= self.config.probes {
                            entry.state = State::Closed;
                            entry.closed_at_ns = Some(now_ns);
                            tracing::info!(%cohort, "cohort breaker closed: its probes succeeded");
                            changes.push(Change {
                                cohort: *cohort,
                                state: BreakerState::Closed,
                                failure_rate: entry.failure_rate,
                            });
                        }
                    }
                    SessionState::Failed => {
                        tracing::info!(%session, %cohort, "cohort breaker: probe failed");
                        self.probe_failed(*cohort, entry, now_ns, &mut changes);
                    }
                    state => {
                        tracing::debug!(%session, %cohort, %state, "cohort breaker: probe ended without a verdict")
                    }
                }
            }
            if !changes.is_empty() {
                self.publish(&table);
            }
        }
        for change in &changes {
            if change.state == BreakerState::Closed {
                // Relaxed: a statistic.
                self.counters.closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.announce(changes, Some(session), clock, now_ns);
    }

    /// Rebuilds the lock-free view from the table (under its lock).
    fn publish(&self, table: &Table) {
        let view: Vec<(Cohort, Phase)> = table
            .cohorts
            .iter()
            .filter_map(|(cohort, entry)| match entry.state {
                State::Closed => None,
                State::Open { half_open_at_ns } => Some((
                    *cohort,
                    Phase::Open { until_ns: half_open_at_ns, failure_rate: entry.failure_rate },
                )),
                State::HalfOpen { .. } => Some((*cohort, Phase::HalfOpen)),
            })
            .collect();
        let tripped = view.len();
        self.view.store(Arc::new(view));
        // Release: pairs with the Acquire in `admit` (see the field).
        self.tripped.store(tripped, Ordering::Release);
    }

    fn announce(
        &self,
        changes: Vec<Change>,
        session_id: Option<SessionId>,
        clock: &ClockHandle,
        now_ns: u64,
    ) {
        let timestamp_ms = event::wall_ms(clock, now_ns);
        for Change { cohort, state, failure_rate } in changes {
            self.events.push(SessionEvent::BreakerChanged {
                session_id,
                timestamp_ms,
                cohort,
                state,
                failure_rate,
            });
        }
    }

    // ------------------------------------------------------------------ reports -----

    /// Every breaker not closed (and those closed recently, still quiet), sorted by cohort.
    pub(crate) fn views(&self) -> Vec<BreakerView> {
        let table = self.lock();
        table
            .cohorts
            .iter()
            .map(|(cohort, e)| {
                let (state, half_open_at_ms, probes_running, probes_succeeded) = match &e.state {
                    State::Closed => (BreakerState::Closed, None, 0, 0),
                    State::Open { half_open_at_ns } => {
                        (BreakerState::Open, Some(half_open_at_ns / 1_000_000), 0, 0)
                    }
                    State::HalfOpen { probes, succeeded } => {
                        (BreakerState::HalfOpen, None, probes.len() as u32, *succeeded)
                    }
                };
                BreakerView {
                    cohort: *cohort,
                    state,
                    failure_rate: e.failure_rate,
                    opened_at_ms: e.opened_at_ns / 1_000_000,
                    half_open_at_ms,
                    probes_running,
                    probes_succeeded,
                    times_opened: e.times_opened,
                }
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> BreakerStats {
        let (open, half_open) = {
            let view = self.view.load();
            let open = view.iter().filter(|(_, p)| matches!(p, Phase::Open { .. })).count();
            (open as u64, (view.len() - open) as u64)
        };
        // Relaxed (all): statistics.
        let c = &self.counters;
        BreakerStats {
            open,
            half_open,
            opened: c.opened.load(Ordering::Relaxed),
            half_opened: c.half_opened.load(Ordering::Relaxed),
            closed: c.closed.load(Ordering::Relaxed),
            probes_admitted: c.probes_admitted.load(Ordering::Relaxed),
            probes_failed: c.probes_failed.load(Ordering::Relaxed),
        }
    }
}

/// The end action of a probe session.
fn probe_ended(breakers: &Weak<Breakers>, session: SessionId, clock: &ClockHandle) {
    if let Some(breakers) = breakers.upgrade() {
        breakers.resolve_probe(session, clock);
    }
}
