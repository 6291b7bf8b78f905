//! Rolling time windows for the runtime, its tenants and its patterns: [`Windows`].

mod config;
mod counts;
mod departures;
mod memory;
mod peers;
mod ring;

use std::collections::HashMap;

use autonomic_core::{
    SessionReading, TenantId, WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
};

pub use config::WindowConfig;
pub use counts::Cumulative;
pub use departures::Departures;
pub use memory::WindowMemory;
pub use peers::{WindowPeers, WindowTotals};
use ring::BucketRing;

/// Patterns are `u8`s.
const PATTERNS: usize = 256;

/// One scope's window: its buckets, its gauges, and the last bucket it had an event in.
#[derive(Debug, Clone)]
struct Scope {
    ring: BucketRing,
    gauges: WindowGauges,
    last_event: u64,
}

impl Scope {
    fn new(buckets: usize, now: u64) -> Self {
        Scope { ring: BucketRing::new(buckets), gauges: WindowGauges::default(), last_event: now }
    }

    /// Adds this pass's events and gauges. Gauges of a scope shared by several keys add up:
    /// `reset` is true for the first key of the pass.
    fn feed(&mut self, events: &WindowCounts, gauges: WindowGauges, now: u64, reset: bool) {
        if !events.is_empty() {
            self.ring.add(now, now, events);
            self.last_event = now;
        }
        if reset {
            self.gauges = WindowGauges::default();
        }
        self.gauges.running = self.gauges.running.saturating_add(gauges.running);
        self.gauges.slow_running = self.gauges.slow_running.saturating_add(gauges.slow_running);
        self.gauges.oldest_running_ns = self.gauges.oldest_running_ns.max(gauges.oldest_running_ns);
    }

    /// Idle for a whole window with nothing running: its place can go to another key.
    fn is_idle(&self, now: u64, buckets: u64) -> bool {
        self.gauges.running == 0 && now.saturating_sub(self.last_event) >= buckets
    }
}

/// The previous pass's cumulative counters of one key, and what departed since.
#[derive(Debug, Clone, Copy, Default)]
struct Ledger {
    previous: Cumulative,
    departed: Cumulative,
    /// Fed in the pass under way.
    fed: bool,
}

impl Ledger {
    /// This pass's events for a key fed `now`, and the ledger made ready for the next pass.
    fn settle(&mut self, now: &Cumulative) -> WindowCounts {
        let events = now.since(&self.previous, &self.departed);
        *self = Ledger { previous: *now, departed: Cumulative::default(), fed: true };
        events
    }
}

/// One group of scopes (the tenants, or the patterns): a window per key up to a cap, and one
/// `other` window for the rest.
#[derive(Debug, Clone)]
struct Scopes<K> {
    own: HashMap<K, Scope>,
    other: Scope,
    /// Cumulative counters by key, whether or not the key has a window of its own, so that
    /// a key moving between its own window and `other` keeps exact deltas.
    ledgers: HashMap<K, Ledger>,
    cap: usize,
    /// Whether `other` was fed in the pass under way (its gauges are reset on first feed).
    other_fed: bool,
}

impl<K: Copy + Eq + std::hash::Hash> Scopes<K> {
    fn new(cap: usize, buckets: usize) -> Self {
        Scopes {
            own: HashMap::new(),
            other: Scope::new(buckets, 0),
            ledgers: HashMap::new(),
            cap,
            other_fed: false,
        }
    }

    fn departed(&mut self, key: K, session: &Cumulative) {
        self.ledgers.entry(key).or_default().departed.add(session);
    }

    fn feed(
        &mut self,
        key: K,
        now_counts: &Cumulative,
        gauges: WindowGauges,
        now: u64,
        buckets: usize,
    ) {
        let events = self.ledgers.entry(key).or_default().settle(now_counts);
        if !self.own.contains_key(&key) && self.own.len() < self.cap {
            self.own.insert(key, Scope::new(buckets, now));
        }
        match self.own.get_mut(&key) {
            Some(scope) => scope.feed(&events, gauges, now, true),
            None => {
                let reset = !std::mem::replace(&mut self.other_fed, true);
                self.other.feed(&events, gauges, now, reset);
            }
        }
    }

    /// Ends a pass: keys not fed have no session left in the table (their events are what
    /// departed since the last pass, less what was already counted); idle scopes are dropped.
    fn finish(&mut self, now: u64, buckets: usize) {
        let mut unfed = Vec::new();
        for (key, ledger) in &self.ledgers {
            if !ledger.fed {
                unfed.push(*key);
            }
        }
        for key in unfed {
            self.feed(key, &Cumulative::default(), WindowGauges::default(), now, buckets);
        }
        if !self.other_fed {
            self.other.gauges = WindowGauges::default();
        }
        self.other_fed = false;
        // A key whose sessions are all gone has nothing left to compare with.
        self.ledgers.retain(|_, ledger| {
            let keep = ledger.previous != Cumulative::default();
            ledger.fed = false;
            keep
        });
        self.own.retain(|key, scope| {
            if !self.ledgers.contains_key(key) {
                scope.gauges = WindowGauges::default();
            }
            !scope.is_idle(now, buckets as u64)
        });
    }

    /// Heap bytes one window of its own holds: its map entry and its ring of `ring_bytes`.
    /// The one place a scope's size is computed.
    fn window_bytes(ring_bytes: usize) -> usize {
        std::mem::size_of::<(K, Scope)>() + ring_bytes
    }

    /// Heap bytes of the map entries reserved beyond the windows held.
    fn spare_bytes(&self) -> usize {
        (self.own.capacity() - self.own.len()) * std::mem::size_of::<(K, Scope)>()
    }

    /// Heap bytes of the ledgers, by capacity.
    fn ledger_bytes(&self) -> usize {
        self.ledgers.capacity() * std::mem::size_of::<(K, Ledger)>()
    }
}

/// Rolling time windows: what happened in the last minute, for the runtime as a whole, per
/// tenant and per pattern, so that the doctrine judges *recent* behaviour instead of whatever
/// happens to sit in the table.
///
/// # The model
/// A window is a ring of buckets ([`WindowConfig`]: 60 s in 12 buckets of 5 s by default).
/// Windows never read sessions. Each loop pass feeds them, per scope, the **cumulative**
/// counters of the sessions in the table ([`Cumulative`], from the pass's aggregate), and
/// between passes the final counters of every session that left the table
/// ([`Windows::departed`]). A pass turns the difference into **events**
/// (`now - previous + departed`): sessions started and ended, tasks, violations, retries,
/// adaptations, latency. Because each session's counters only grow, that difference is
/// exact: every session that ends is counted once and every task once, whatever the
/// retention, and the last tasks of a session removed between two passes are not lost. The
/// events land in the bucket of the pass that saw them, so they are placed within one loop
/// interval of when they happened.
///
/// Levels (sessions running, the oldest one's age, slow sessions still running) are not
/// events; they are fed as [`WindowGauges`] and kept from the last pass.
///
/// # Reading
/// [`Windows::global`], [`Windows::tenant`] and [`Windows::pattern`] give
/// [`WindowFigures`]: the counts over the window and over the short window, and the rates a
/// rule reads as [`Evidence`](autonomic_core::Evidence): judged only from a minimum volume on, "not enough evidence"
/// below it. [`WindowFigures::burn_rate`] gives the error-budget burn over both windows.
///
/// # Bounds
/// At most `max_tenants` tenants and `max_patterns` patterns have a window of their own;
/// the others share one `other` scope each. A scope with no event for a whole window and
/// nothing running is dropped, which frees its place. Bucket numbers are nanoseconds
/// divided by the bucket width in `u64`: they do not run out for centuries of clock.
/// [`Windows::memory`] reports the bytes each tenant and pattern window holds, and how many
/// are held.
///
/// ```
/// use autonomic_aggregate::{Cumulative, WindowConfig, Windows};
/// use autonomic_core::{WindowCounts, WindowGauges};
///
/// let mut windows = Windows::new(WindowConfig::default());
/// let s = 1_000_000_000u64;
/// let mut fed = WindowCounts::default();
/// for second in 1..=90u64 {
///     // One session fails per second for the first 30 s, then one completes per second.
///     if second <= 30 { fed.failed += 1 } else { fed.completed += 1 }
///     let mut pass = windows.pass(second * s);
///     pass.global(Cumulative(fed), WindowGauges::default());
///     pass.finish();
/// }
/// let now = windows.global(90 * s);
/// assert_eq!(now.counts.failed, 0, "the incident left the window");
/// assert_eq!(now.counts.completed, 56, "the buckets of seconds 35 to 90");
/// ```
#[derive(Debug, Clone)]
pub struct Windows {
    config: WindowConfig,
    width_ns: u64,
    global: Scope,
    global_ledger: Ledger,
    tenants: Scopes<TenantId>,
    patterns: Scopes<u8>,
    last_pass_ns: Option<u64>,
}

impl Windows {
    /// Empty windows cut as `config` says. The config is used as given: load it through
    /// [`WindowConfig::validate`] (or a loader that calls it) to refuse bad values;
    /// out-of-range ones are clamped here so that nothing panics.
    pub fn new(config: WindowConfig) -> Self {
        let buckets = config.buckets.clamp(1, WindowConfig::MAX_BUCKETS) as usize;
        Windows {
            config,
            width_ns: config.bucket_width_ns(),
            global: Scope::new(buckets, 0),
            global_ledger: Ledger::default(),
            tenants: Scopes::new(config.max_tenants.clamp(1, WindowConfig::MAX_TENANTS), buckets),
            patterns: Scopes::new(config.max_patterns.clamp(1, PATTERNS), buckets),
            last_pass_ns: None,
        }
    }

    /// How the windows are cut.
    pub fn config(&self) -> &WindowConfig {
        &self.config
    }

    fn buckets(&self) -> usize {
        self.config.buckets.clamp(1, WindowConfig::MAX_BUCKETS) as usize
    }

    fn bucket_of(&self, ns: u64) -> u64 {
        ns / self.width_ns
    }

    /// Records the final reading of a session that left the table since the last pass, so
    /// that what it did after that pass still counts. Call it once per removed session
    /// (the table's sweep and removals report them).
    pub fn departed(&mut self, session: &SessionReading) {
        let counts = Cumulative::of_session(&session.snapshot);
        self.global_ledger.departed.add(&counts);
        self.tenants.departed(session.tenant_id, &counts);
        if let Some(pattern) = session.pattern {
            self.patterns.departed(pattern, &counts);
        }
    }

    /// Records every session of `departures` as [departed](Self::departed), and empties it
    /// (keeping its memory for the next use).
    pub fn depart_all(&mut self, departures: &mut Departures) {
        let mut global = Cumulative::default();
        departures.tenants.drain(|tenant, counts| {
            global.add(counts);
            self.tenants.departed(tenant, counts);
        });
        self.global_ledger.departed.add(&global);
        departures.patterns.drain(|pattern, counts| self.patterns.departed(pattern, counts));
    }

    /// Starts a pass at `now_ns` (on the sessions' clock). Feed it the cumulative counters
    /// of the whole table and of every tenant and pattern that has sessions in it, then
    /// [`finish`](WindowPass::finish) it. A pass at an instant before the previous one is
    /// treated as at the previous one (the windows never go back in time).
    pub fn pass(&mut self, now_ns: u64) -> WindowPass<'_> {
        let now_ns = self.last_pass_ns.map_or(now_ns, |last| now_ns.max(last));
        self.last_pass_ns = Some(now_ns);
        let bucket = self.bucket_of(now_ns);
        WindowPass { windows: self, bucket }
    }

    /// The instant of the last pass, if any.
    pub fn last_pass_ns(&self) -> Option<u64> {
        self.last_pass_ns
    }

    fn totals_of(&self, scope: &Scope, now_ns: u64) -> WindowTotals {
        let now = self.bucket_of(now_ns);
        WindowTotals {
            counts: scope.ring.sum(now, self.buckets() as u64),
            short: scope.ring.sum(now, u64::from(self.config.short_buckets)),
            gauges: scope.gauges,
        }
    }

    /// The figures of `totals`, judged with this window's minimum volumes.
    fn figures_of(&self, totals: &WindowTotals) -> WindowFigures {
        self.config.figures(totals)
    }

    fn figures(&self, scope: &Scope, now_ns: u64) -> WindowFigures {
        self.figures_of(&self.totals_of(scope, now_ns))
    }

    /// The whole runtime's window at `now_ns` as a value: what a process publishes for its
    /// fleet (see [`WindowPeers`]).
    pub fn totals(&self, now_ns: u64) -> WindowTotals {
        self.totals_of(&self.global, now_ns)
    }

    /// The whole runtime's figures over the window ending at `now_ns`.
    pub fn global(&self, now_ns: u64) -> WindowFigures {
        self.figures(&self.global, now_ns)
    }

    /// A tenant's figures, if it has a window of its own (else see
    /// [`other_tenants`](Self::other_tenants)).
    pub fn tenant(&self, tenant: TenantId, now_ns: u64) -> Option<WindowFigures> {
        self.tenants.own.get(&tenant).map(|scope| self.figures(scope, now_ns))
    }

    /// Every tenant with a window of its own, in no particular order.
    pub fn tenants(&self, now_ns: u64) -> impl Iterator<Item = (TenantId, WindowFigures)> + '_ {
        self.tenants.own.iter().map(move |(t, scope)| (*t, self.figures(scope, now_ns)))
    }

    /// The figures of the tenants beyond `max_tenants`, together.
    pub fn other_tenants(&self, now_ns: u64) -> WindowFigures {
        self.figures(&self.tenants.other, now_ns)
    }

    /// A pattern's figures, if it has a window of its own.
    pub fn pattern(&self, pattern: u8, now_ns: u64) -> Option<WindowFigures> {
        self.patterns.own.get(&pattern).map(|scope| self.figures(scope, now_ns))
    }

    /// Every pattern with a window of its own, in no particular order.
    pub fn patterns(&self, now_ns: u64) -> impl Iterator<Item = (u8, WindowFigures)> + '_ {
        self.patterns.own.iter().map(move |(p, scope)| (*p, self.figures(scope, now_ns)))
    }

    /// The figures of the patterns beyond `max_patterns`, together.
    pub fn other_patterns(&self, now_ns: u64) -> WindowFigures {
        self.figures(&self.patterns.other, now_ns)
    }

    /// The runtime's buckets in the window ending at `now_ns`, oldest first, each with the
    /// instant it starts at (ns): a timeline for reports.
    pub fn timeline(&self, now_ns: u64) -> impl Iterator<Item = (u64, WindowCounts)> + '_ {
        let width = self.width_ns;
        self.global.ring.buckets(self.bucket_of(now_ns)).map(move |(n, c)| (n * width, c))
    }

    /// Every figure at `now_ns`, as the knowledge carries them (tenants and patterns sorted).
    /// Allocates two vectors, of at most `max_tenants` and `max_patterns` entries.
    pub fn knowledge(&self, now_ns: u64) -> WindowedKnowledge {
        self.knowledge_with_peers(now_ns, &WindowTotals::default())
    }

    /// [`knowledge`](Self::knowledge) with the global figures computed from this runtime's
    /// totals plus `peers` (the other processes of a fleet, from [`WindowPeers`]), with
    /// this window's minimum volumes. Tenants and patterns stay this runtime's own.
    ///
    /// ```
    /// use autonomic_aggregate::{Cumulative, WindowConfig, WindowTotals, Windows};
    /// use autonomic_core::{Evidence, WindowCounts, WindowGauges};
    ///
    /// let mut windows = Windows::new(WindowConfig { min_finished_sessions: 10, ..Default::default() });
    /// let mut pass = windows.pass(1_000_000_000);
    /// pass.global(Cumulative(WindowCounts { completed: 5, ..Default::default() }), WindowGauges::default());
    /// pass.finish();
    /// let now = 1_000_000_000;
    /// assert!(matches!(windows.knowledge(now).global.failure_rate, Evidence::NotEnough { .. }));
    /// let peers = WindowTotals { counts: WindowCounts { failed: 5, ..Default::default() }, ..Default::default() };
    /// let fleet = windows.knowledge_with_peers(now, &peers);
    /// assert_eq!(fleet.global.failure_rate, Evidence::Judged(0.5));
    /// ```
    pub fn knowledge_with_peers(&self, now_ns: u64, peers: &WindowTotals) -> WindowedKnowledge {
        let mut global = self.totals(now_ns);
        global.add(peers);
        let mut tenants: Vec<_> = self.tenants(now_ns).collect();
        tenants.sort_unstable_by_key(|(t, _)| *t);
        let mut patterns: Vec<_> = self.patterns(now_ns).collect();
        patterns.sort_unstable_by_key(|(p, _)| *p);
        let width_ms = self.width_ns / 1_000_000;
        WindowedKnowledge {
            length_ms: self.config.length_ms,
            short_ms: width_ms.saturating_mul(u64::from(self.config.short_buckets)),
            global: self.figures_of(&global),
            tenants,
            other_tenants: self.other_tenants(now_ns),
            patterns,
            other_patterns: self.other_patterns(now_ns),
        }
    }

    /// Tenants and patterns with a window of their own.
    pub fn scopes(&self) -> (usize, usize) {
        (self.tenants.own.len(), self.patterns.own.len())
    }

    /// The heap the windows hold, per tenant window and per pattern window (see
    /// [`WindowMemory`]).
    pub fn memory(&self) -> WindowMemory {
        // Every scope's ring has the same number of buckets.
        let ring = self.global.ring.heap_bytes();
        let tenant_window = Scopes::<TenantId>::window_bytes(ring);
        let pattern_window = Scopes::<u8>::window_bytes(ring);
        let (tenant_windows, pattern_windows) = self.scopes();
        WindowMemory {
            tenant_window,
            pattern_window,
            tenant_windows,
            pattern_windows,
            // The runtime's ring and the two `other` scopes' rings.
            global: 3 * ring,
            tenants: tenant_windows * tenant_window,
            patterns: pattern_windows * pattern_window,
            spare: self.tenants.spare_bytes() + self.patterns.spare_bytes(),
            ledgers: self.tenants.ledger_bytes() + self.patterns.ledger_bytes(),
        }
    }

    /// Heap bytes held by every window and ledger (an estimate from sizes and capacities):
    /// [`memory`](Self::memory)'s [`total`](WindowMemory::total).
    pub fn heap_bytes(&self) -> usize {
        self.memory().total()
    }
}

/// One pass feeding [`Windows`]; see [`Windows::pass`].
#[derive(Debug)]
#[must_use = "a pass counts nothing until it is finished"]
pub struct WindowPass<'w> {
    windows: &'w mut Windows,
    bucket: u64,
}

impl WindowPass<'_> {
    /// The whole table's cumulative counters and gauges.
    pub fn global(&mut self, counts: Cumulative, gauges: WindowGauges) {
        let w = &mut *self.windows;
        let events = w.global_ledger.settle(&counts);
        w.global.feed(&events, gauges, self.bucket, true);
    }

    /// One tenant's cumulative counters and gauges (feed each tenant once per pass).
    pub fn tenant(&mut self, tenant: TenantId, counts: Cumulative, gauges: WindowGauges) {
        let buckets = self.windows.buckets();
        self.windows.tenants.feed(tenant, &counts, gauges, self.bucket, buckets);
    }

    /// One pattern's cumulative counters and gauges (feed each pattern once per pass).
    pub fn pattern(&mut self, pattern: u8, counts: Cumulative, gauges: WindowGauges) {
        let buckets = self.windows.buckets();
        self.windows.patterns.feed(pattern, &counts, gauges, self.bucket, buckets);
    }

    /// Ends the pass: what departed from keys that have no session left is counted, the
    /// global ledger catches up if it was not fed, idle scopes are dropped.
    pub fn finish(self) {
        let w = self.windows;
        let buckets = w.buckets();
        if !w.global_ledger.fed {
            let events = w.global_ledger.settle(&Cumulative::default());
            w.global.feed(&events, WindowGauges::default(), self.bucket, true);
        }
        w.global_ledger.fed = false;
        w.tenants.finish(self.bucket, buckets);
        w.patterns.finish(self.bucket, buckets);
    }
}
