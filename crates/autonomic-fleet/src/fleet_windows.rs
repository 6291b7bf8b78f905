//! [`FleetWindows`]: where a runtime's loop and its fleet member meet, the runtime handing
//! its own window totals and reading the fleet's.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use autonomic_aggregate::{WindowPeers, WindowTotals, Windows};
use autonomic_core::WindowedKnowledge;

use crate::{FleetTotals, ScopeTotals};

/// The other instances' windows, for a runtime whose doctrine judges the fleet.
///
/// Give it to the runtime (`autonomic::RuntimeBuilder::window_peers`, as a
/// [`WindowPeers`]) and to the instance's member
/// ([`FleetMember::start_with_knowledge`](crate::FleetMember::start_with_knowledge)). Each
/// loop iteration ([`WindowPeers::knowledge`], overridden here) hands it the runtime's own
/// windows, global and per tenant and pattern, and gets them back with the other instances'
/// sums added, scope by scope, as the member last fetched them (see the crate's
/// [Fleet-wide knowledge](crate#fleet-wide-knowledge)): no network call on the loop's path,
/// let alone on the admission path. The member publishes the local totals on its renewal
/// schedule.
///
/// The sum is kept until its expiry (the lease period from when it was asked for, less the
/// clock margin: no longer than the others' records could have lived in the store); past
/// it, and once the member has stopped, the runtime judges its own windows alone.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_aggregate::{WindowPeers, WindowTotals};
/// use autonomic_fleet::FleetWindows;
/// let windows = Arc::new(FleetWindows::new());
/// // Before the member's first exchange: no peers.
/// assert_eq!(windows.exchange(&WindowTotals::default()), WindowTotals::default());
/// assert_eq!(windows.in_force(), None);
/// ```
#[derive(Debug, Default)]
pub struct FleetWindows {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The runtime's own totals, as last handed.
    local: WindowTotals,
    /// The runtime's own tenants and patterns, as last handed (by `knowledge`).
    local_scopes: ScopeTotals,
    /// The others' sum and until when it counts.
    peers: Option<(FleetTotals, Instant)>,
}

impl FleetWindows {
    /// No local totals yet, no peers.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a plain assignment: a panic cannot leave the state half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The others' sum in force now, if any.
    pub fn in_force(&self) -> Option<FleetTotals> {
        let now = Instant::now();
        let state = self.state();
        state.peers.as_ref().filter(|(_, until)| now < *until).map(|(totals, _)| totals.clone())
    }

    /// The runtime's own totals and scopes as last handed (what the member publishes).
    pub(crate) fn local(&self) -> (WindowTotals, ScopeTotals) {
        let state = self.state();
        (state.local, state.local_scopes.clone())
    }

    /// A new sum of the others, in force until `until`.
    pub(crate) fn set_peers(&self, totals: FleetTotals, until: Instant) {
        self.state().peers = Some((totals, until));
    }

    /// The runtime judges its own windows alone from now on.
    pub(crate) fn clear(&self) {
        self.state().peers = None;
    }
}

impl WindowPeers for FleetWindows {
    /// What a runtime's loop publishes with a fleet: `windows`' knowledge at `now_ns` with
    /// the other instances' sums (as last fetched, if still in force) added to the whole
    /// runtime's figures and to each tenant's and pattern's, judged with `windows`' minimum
    /// volumes. A tenant or pattern the others publish but `windows` has no window of its
    /// own for joins the lists, so the lists hold at most the windows' caps plus
    /// [`FleetSpec::max_scopes`](crate::FleetSpec::max_scopes) entries.
    ///
    /// Hands `windows`' own totals and scopes to the member to publish. Takes the state's
    /// lock for copies: no network call.
    ///
    /// ```
    /// use autonomic_aggregate::{Cumulative, WindowConfig, WindowPeers, Windows};
    /// use autonomic_core::{WindowCounts, WindowGauges};
    /// use autonomic_fleet::FleetWindows;
    /// let mut windows = Windows::new(WindowConfig::default());
    /// let mut pass = windows.pass(1_000_000_000);
    /// let failed = Cumulative(WindowCounts { failed: 3, ..Default::default() });
    /// pass.global(failed, WindowGauges::default());
    /// pass.pattern(7, failed, WindowGauges::default());
    /// pass.finish();
    /// // Before the member's first exchange: the runtime's own knowledge.
    /// let fleet = FleetWindows::new();
    /// assert_eq!(fleet.knowledge(&windows, 1_000_000_000), windows.knowledge(1_000_000_000));
    /// ```
    fn knowledge(&self, windows: &Windows, now_ns: u64) -> WindowedKnowledge {
        let now = Instant::now();
        let mut state = self.state();
        state.local = windows.totals(now_ns);
        let peers = state.peers.as_ref().filter(|(_, until)| now < *until).map(|(p, _)| p);
        let none = WindowTotals::default();
        // The aggregate adds the others' whole-runtime totals; tenants and patterns are
        // still the runtime's own here.
        let mut knowledge =
            windows.knowledge_with_peers(now_ns, peers.map_or(&none, |p| &p.others));
        let local_scopes = ScopeTotals::of(&knowledge);
        if let Some(peers) = peers {
            peers.scopes.add_to(&mut knowledge, windows.config());
        }
        state.local_scopes = local_scopes;
        knowledge
    }

    fn exchange(&self, local: &WindowTotals) -> WindowTotals {
        let now = Instant::now();
        let mut state = self.state();
        state.local = *local;
        match &state.peers {
            Some((totals, until)) if now < *until => totals.others,
            _ => WindowTotals::default(),
        }
    }
}
