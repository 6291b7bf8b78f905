//! [`WindowMemory`]: the heap the rolling windows hold, per tenant window and per pattern
//! window.

/// The heap bytes [`Windows`](crate::Windows) holds, by what holds them (an estimate from
/// sizes and capacities: allocator overhead and hash-map control bytes are not counted).
/// From [`Windows::memory`](crate::Windows::memory).
///
/// A tenant or pattern with a window of its own costs [`tenant_window`](Self::tenant_window)
/// or [`pattern_window`](Self::pattern_window) bytes: its entry in its group's map and its
/// ring of buckets. At most `max_tenants` and `max_patterns` such windows are held
/// ([`WindowConfig`](crate::WindowConfig)), so [`tenants`](Self::tenants) and
/// [`patterns`](Self::patterns) are bounded by the caps times those figures.
///
/// ```
/// use autonomic_aggregate::{Cumulative, WindowConfig, Windows};
/// use autonomic_core::{TenantId, WindowGauges};
///
/// let mut windows = Windows::new(WindowConfig { max_tenants: 2, ..WindowConfig::default() });
/// let mut pass = windows.pass(1_000_000_000);
/// for _ in 0..3 {
///     pass.tenant(TenantId::new(), Cumulative::default(), WindowGauges::default());
/// }
/// pass.finish();
/// let memory = windows.memory();
/// assert_eq!(memory.tenant_windows, 2, "the third tenant shares the `other` window");
/// assert_eq!(memory.tenants, 2 * memory.tenant_window);
/// assert_eq!(memory.total(), windows.heap_bytes());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowMemory {
    /// Bytes one tenant's window holds: its map entry and its ring of buckets.
    pub tenant_window: usize,
    /// Bytes one pattern's window holds: its map entry and its ring of buckets.
    pub pattern_window: usize,
    /// Tenants with a window of their own.
    pub tenant_windows: usize,
    /// Patterns with a window of their own.
    pub pattern_windows: usize,
    /// The rings of the runtime's window and of the two `other` windows (tenants and
    /// patterns beyond the caps).
    pub global: usize,
    /// The tenants' own windows: `tenant_windows * tenant_window`.
    pub tenants: usize,
    /// The patterns' own windows: `pattern_windows * pattern_window`.
    pub patterns: usize,
    /// Map entries reserved beyond the windows held (a map keeps its capacity when idle
    /// windows are dropped).
    pub spare: usize,
    /// The per-key ledgers of cumulative counters (one per tenant and pattern with sessions
    /// in the table, whether or not it has a window of its own), by capacity.
    pub ledgers: usize,
}

impl WindowMemory {
    /// Every byte above together: what [`Windows::heap_bytes`](crate::Windows::heap_bytes)
    /// reports.
    pub fn total(&self) -> usize {
        self.global + self.tenants + self.patterns + self.spare + self.ledgers
    }
}
