//! Time: a monotonic, injectable [`Clock`] measured in nanoseconds since the clock's origin.
//!
//! Durations are computed from a monotonic source, so a wall-clock step can never make one
//! negative; every subtraction saturates. The hot metric path reads no clock at all: only
//! lifecycle transitions (start, end) and snapshots do. The default [`MonotonicClock`] is a
//! zero-sized type; a [`ClockHandle`] holding it costs one branch, not a virtual call.

use std::fmt;
use std::sync::Arc as StdArc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source, in nanoseconds since an origin of the clock's choosing.
///
/// Implementations must never go backwards. Tests and simulations use [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;
}

/// The process's monotonic clock (`std::time::Instant`), with its origin at first use.
///
/// ```
/// use autonomic_core::{Clock, MonotonicClock};
/// let a = MonotonicClock.now_nanos();
/// let b = MonotonicClock.now_nanos();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // `Instant` is monotonic; `duration_since` saturates at zero and the cast saturates
        // after 584 years.
        u64::try_from(Instant::now().duration_since(origin()).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to: deterministic tests and simulations.
///
/// ```
/// use std::time::Duration;
/// use autonomic_core::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// assert_eq!(clock.now_nanos(), 0);
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now_nanos(), 5_000_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward (saturating at `u64::MAX` nanoseconds).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the clock value is a single independent word; callers that need ordering
        // with other memory synchronise through their own operations.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_add(by)));
    }

    /// Moves the clock to `nanos` if that is later than now (it never goes back).
    pub fn set_nanos(&self, nanos: u64) {
        // Relaxed: as in `advance`.
        self.nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        // Relaxed: as in `advance`.
        self.nanos.load(Ordering::Relaxed)
    }
}

/// A cheap, cloneable reference to a clock: the monotonic clock by default, or a shared
/// custom one.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_core::{ClockHandle, ManualClock};
/// let manual = Arc::new(ManualClock::new());
/// let clock = ClockHandle::custom(manual.clone());
/// manual.advance(std::time::Duration::from_secs(1));
/// assert_eq!(clock.now_nanos(), 1_000_000_000);
/// assert!(ClockHandle::monotonic().is_monotonic());
/// ```
#[derive(Clone, Default)]
pub struct ClockHandle(Option<StdArc<StdArc<dyn Clock>>>);

// One word, not two: every session holds a `ClockHandle`, and the inner `Arc` keeps the
// `dyn Clock`'s two-word pointer out of the session (a custom clock is read through one
// more pointer; the monotonic clock, `None`, through none). That word is what a session's
// end hook takes, within the same 160-byte chunk.
const _: () = assert!(std::mem::size_of::<ClockHandle>() == std::mem::size_of::<usize>());

impl ClockHandle {
    /// The process's monotonic clock (no allocation).
    pub const fn monotonic() -> Self {
        ClockHandle(None)
    }

    /// A custom clock, shared.
    pub fn custom(clock: StdArc<dyn Clock>) -> Self {
        ClockHandle(Some(StdArc::new(clock)))
    }

    /// Whether this is the default monotonic clock.
    pub fn is_monotonic(&self) -> bool {
        self.0.is_none()
    }

    /// Nanoseconds since the clock's origin.
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match &self.0 {
            None => MonotonicClock.now_nanos(),
            Some(c) => c.now_nanos(),
        }
    }

    /// Time elapsed since `earlier` (nanoseconds on this clock); zero if `earlier` is later.
    pub fn elapsed_since(&self, earlier: u64) -> Duration {
        Duration::from_nanos(self.now_nanos().saturating_sub(earlier))
    }
}

impl fmt::Debug for ClockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("ClockHandle(monotonic)"),
            Some(c) => f.debug_tuple("ClockHandle").field(c).finish(),
        }
    }
}
