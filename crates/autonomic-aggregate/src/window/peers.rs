//! [`WindowTotals`]: one scope's window as a value another process can add to its own, and
//! [`WindowPeers`], where the windows of other processes come from.

use serde::{Deserialize, Serialize};

use autonomic_core::{WindowCounts, WindowGauges, WindowedKnowledge};

use super::Windows;

/// What one scope's window holds at one instant: its events over the window and over the
/// short window, and its gauges. A plain value (serde), so that processes can publish theirs
/// and add up each other's: the sum of several processes' totals is the totals of the
/// fleet, from which [`Windows::knowledge_with_peers`](crate::Windows::knowledge_with_peers)
/// computes the figures a rule reads.
///
/// ```
/// use autonomic_aggregate::WindowTotals;
/// use autonomic_core::{WindowCounts, WindowGauges};
///
/// let one = WindowTotals {
///     counts: WindowCounts { failed: 2, completed: 8, ..Default::default() },
///     short: WindowCounts::default(),
///     gauges: WindowGauges { running: 3, oldest_running_ns: 50, slow_running: 1 },
/// };
/// let mut fleet = one;
/// fleet.add(&WindowTotals { gauges: WindowGauges { running: 1, oldest_running_ns: 90, slow_running: 0 }, ..one });
/// assert_eq!(fleet.counts.failed, 4);
/// assert_eq!(fleet.gauges, WindowGauges { running: 4, oldest_running_ns: 90, slow_running: 1 });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTotals {
    /// Events over the whole window.
    pub counts: WindowCounts,
    /// Events over the short window.
    pub short: WindowCounts,
    /// Levels at the last pass.
    pub gauges: WindowGauges,
}

impl WindowTotals {
    /// Adds `other` into `self`: events and running sessions add up (saturating), the oldest
    /// running session is the older of the two.
    pub fn add(&mut self, other: &WindowTotals) {
        self.counts.add(&other.counts);
        self.short.add(&other.short);
        let (g, o) = (&mut self.gauges, &other.gauges);
        g.running = g.running.saturating_add(o.running);
        g.slow_running = g.slow_running.saturating_add(o.slow_running);
        g.oldest_running_ns = g.oldest_running_ns.max(o.oldest_running_ns);
    }

    /// Whether nothing was counted and nothing runs.
    pub fn is_empty(&self) -> bool {
        *self == WindowTotals::default()
    }
}

/// The windows of the other processes of a fleet, for a runtime whose doctrine judges the
/// fleet's figures instead of its own.
///
/// The runtime's loop calls [`knowledge`](Self::knowledge) once per iteration; by default
/// it hands [`exchange`](Self::exchange) its own global totals and adds what that returns
/// before it computes the global figures it publishes (see
/// [`Windows::knowledge_with_peers`](crate::Windows::knowledge_with_peers)).
/// It is called on the loop's thread, under the loop's locks: an implementation must
/// return at once (hand the local totals to a background task, return the last sum that
/// task fetched), never wait on a network.
///
/// ```
/// use std::sync::Mutex;
/// use autonomic_aggregate::{WindowPeers, WindowTotals};
///
/// /// Peers that always report what a test set.
/// struct Fixed(Mutex<WindowTotals>);
/// impl WindowPeers for Fixed {
///     fn exchange(&self, _local: &WindowTotals) -> WindowTotals {
///         *self.0.lock().unwrap()
///     }
/// }
/// ```
pub trait WindowPeers: Send + Sync + 'static {
    /// Takes this process's global totals (to publish them on its own schedule) and returns
    /// the sum of the other processes' totals as last known (empty when none is known).
    fn exchange(&self, local: &WindowTotals) -> WindowTotals;

    /// What the loop publishes: `windows`' knowledge at `now_ns` with the peers' global
    /// totals added (by default through [`exchange`](Self::exchange)); an implementation that
    /// knows the peers' tenants and patterns adds theirs too. Same rule: return at once.
    fn knowledge(&self, windows: &Windows, now_ns: u64) -> WindowedKnowledge {
        windows.knowledge_with_peers(now_ns, &self.exchange(&windows.totals(now_ns)))
    }
}
