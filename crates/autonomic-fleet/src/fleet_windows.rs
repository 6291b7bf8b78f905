//! [`FleetWindows`]: where a runtime's loop and its fleet member meet, the runtime handing
//! its own window totals and reading the fleet's.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use autonomic_aggregate::{WindowPeers, WindowTotals};

use crate::FleetTotals;

/// The other instances' windows, for a runtime whose doctrine judges the fleet.
///
/// Give it to the runtime (`autonomic::RuntimeBuilder::window_peers`, as a
/// [`WindowPeers`]) and to the instance's member
/// ([`FleetMember::start_with_knowledge`](crate::FleetMember::start_with_knowledge)). Each
/// loop iteration hands it the runtime's own global totals and adds back the other
/// instances' sum as the member last fetched it: no network call on the loop's path, let
/// alone on the admission path. The member publishes the local totals on its renewal
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
        self.state().peers.filter(|(_, until)| now < *until).map(|(totals, _)| totals)
    }

    /// The runtime's own totals as last handed (what the member publishes).
    pub(crate) fn local(&self) -> WindowTotals {
        self.state().local
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
    fn exchange(&self, local: &WindowTotals) -> WindowTotals {
        let now = Instant::now();
        let mut state = self.state();
        state.local = *local;
        match state.peers {
            Some((totals, until)) if now < until => totals.others,
            _ => WindowTotals::default(),
        }
    }
}
