//! Time: a monotonic, injectable [`Clock`] measured in nanoseconds since the clock's origin.
//!
//! Durations are computed from a monotonic source, so a wall-clock step can never make one
//! negative; every subtraction saturates. A clock also knows the wall-clock time of its
//! origin ([`Clock::unix_origin_nanos`]), so one monotonic reading gives a time a person can
//! read too ([`ClockHandle::unix_nanos_at`]): records meant for people (decisions, events)
//! carry both without a second clock read. The hot metric path reads no clock at all: only
//! lifecycle transitions (start, end) and snapshots do. The default [`MonotonicClock`] is a
//! zero-sized type; a [`ClockHandle`] holding it costs one branch, not a virtual call.

use std::fmt;
use std::sync::Arc as StdArc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic time source, in nanoseconds since an origin of the clock's choosing.
///
/// Implementations must never go backwards. Tests and simulations use [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;

    /// The wall-clock time of this clock's origin, in nanoseconds since the Unix epoch:
    /// a reading `r` happened at wall-clock time `unix_origin_nanos() + r`.
    fn unix_origin_nanos(&self) -> u64;
}

/// The process's monotonic clock (`std::time::Instant`'s clock; on Linux `CLOCK_MONOTONIC`,
/// read directly), with its origin at first use.
///
/// Its wall-clock origin is the system time read once, at that first use: wall-clock times
/// derived from it move with the monotonic clock (never backwards, no second clock read), and
/// do not follow a step of the system clock made while the process runs.
///
/// ```
/// use autonomic_core::{Clock, MonotonicClock};
/// let a = MonotonicClock.now_nanos();
/// let b = MonotonicClock.now_nanos();
/// assert!(b >= a);
/// assert!(MonotonicClock.unix_origin_nanos() > 1_600_000_000_000_000_000); // after 2020
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

/// The monotonic origin and the wall-clock time read with it.
struct Origin {
    instant: Instant,
    /// The same instant as `instant`, as a raw reading of `CLOCK_MONOTONIC` (Linux; `None`
    /// if it could not be read: then `instant` serves).
    #[cfg(target_os = "linux")]
    raw_nanos: Option<u64>,
    unix_nanos: u64,
}

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(|| {
        // Read together: the raw reading and the `Instant` are the same clock on Linux, so a
        // raw reading minus `raw_nanos` is the `Instant` reading minus `instant`.
        #[cfg(target_os = "linux")]
        let raw_nanos = monotonic_raw_nanos();
        let instant = Instant::now();
        // A system clock set before 1970 reads as the epoch; the cast saturates after 584 years.
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Origin {
            instant,
            #[cfg(target_os = "linux")]
            raw_nanos,
            unix_nanos,
        }
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds (saturating after 584 years of uptime): the clock
/// `Instant` reads on Linux, without `Instant`'s checked `Duration` arithmetic. `None` if the
/// clock could not be read (it always can on Linux).
#[cfg(target_os = "linux")]
#[inline]
fn monotonic_raw_nanos() -> Option<u64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` for the call's whole duration, and
    // `CLOCK_MONOTONIC` is a clock id every Linux kernel knows.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    // The kernel returns `tv_sec >= 0` and `tv_nsec` in `0..1_000_000_000`.
    (read == 0).then(|| {
        (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
    })
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        let origin = origin();
        // Linux: one raw read of the clock `Instant` reads, less the origin's (it never goes
        // backwards, and the subtraction saturates at zero all the same).
        #[cfg(target_os = "linux")]
        if let (Some(at_origin), Some(raw)) = (origin.raw_nanos, monotonic_raw_nanos()) {
            return raw.saturating_sub(at_origin);
        }
        // `Instant` is monotonic; `duration_since` saturates at zero and the cast saturates
        // after 584 years.
        u64::try_from(Instant::now().duration_since(origin.instant).as_nanos()).unwrap_or(u64::MAX)
    }

    #[inline]
    fn unix_origin_nanos(&self) -> u64 {
        origin().unix_nanos
    }
}

/// A clock that moves only when told to: deterministic tests and simulations.
///
/// Its wall-clock origin is fixed when it is built: the Unix epoch by default, or the time
/// given to [`with_unix_origin`](Self::with_unix_origin).
///
/// ```
/// use std::time::Duration;
/// use autonomic_core::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// assert_eq!(clock.now_nanos(), 0);
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now_nanos(), 5_000_000);
///
/// // 2026-01-01T00:00:00Z at the origin.
/// let dated = ManualClock::with_unix_origin(Duration::from_secs(1_767_225_600));
/// dated.advance(Duration::from_millis(5));
/// assert_eq!(dated.unix_origin_nanos() + dated.now_nanos(), 1_767_225_600_005_000_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
    unix_origin_nanos: u64,
}

impl ManualClock {
    /// A clock standing at zero, whose origin is the Unix epoch.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock standing at zero, whose origin is `since_epoch` after the Unix epoch
    /// (saturating at `u64::MAX` nanoseconds).
    pub fn with_unix_origin(since_epoch: Duration) -> Self {
        ManualClock {
            nanos: AtomicU64::new(0),
            unix_origin_nanos: u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
        }
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

    fn unix_origin_nanos(&self) -> u64 {
        self.unix_origin_nanos
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

    /// The wall-clock time of the clock's origin, nanoseconds since the Unix epoch.
    #[inline]
    pub fn unix_origin_nanos(&self) -> u64 {
        match &self.0 {
            None => MonotonicClock.unix_origin_nanos(),
            Some(c) => c.unix_origin_nanos(),
        }
    }

    /// The wall-clock time of `reading` (a [`now_nanos`](Self::now_nanos) of this clock), in
    /// nanoseconds since the Unix epoch (saturating). Reads no clock.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use autonomic_core::{ClockHandle, ManualClock};
    /// let manual = Arc::new(ManualClock::with_unix_origin(Duration::from_secs(1_000)));
    /// let clock = ClockHandle::custom(manual.clone());
    /// manual.advance(Duration::from_millis(250));
    /// let now = clock.now_nanos();
    /// assert_eq!(clock.unix_nanos_at(now), 1_000_250_000_000);
    /// ```
    #[inline]
    pub fn unix_nanos_at(&self, reading: u64) -> u64 {
        self.unix_origin_nanos().saturating_add(reading)
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

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use super::*;

    /// The monotonic clock reads what `Instant` reads, since the same origin (on Linux, a
    /// raw read of the same clock; the origin's two readings are taken together, so allow
    /// them a millisecond apart).
    #[test]
    fn the_monotonic_clock_reads_the_instant_since_its_origin() {
        let origin = origin().instant;
        for _ in 0..1_000 {
            let before = Instant::now().duration_since(origin).as_nanos() as u64;
            let reading = MonotonicClock.now_nanos();
            let after = Instant::now().duration_since(origin).as_nanos() as u64;
            assert!(
                before.saturating_sub(1_000_000) <= reading && reading <= after + 1_000_000,
                "{before} <= {reading} <= {after}"
            );
        }
    }
}
