//! [`SessionMetrics`]: one session's lock-free counters and lifecycle word.
//!
//! # The hot path
//! `record_task_us` is one `fetch_add` (Release, which on x86 is the same `lock xadd` as
//! Relaxed) on a word that packs the task count (high 24
//! bits) and the latency sum in microseconds (low 40 bits), so a snapshot reads the pair in
//! one load and can never see a count without its latency (no tearing). The other counters
//! are one relaxed `fetch_add` each. Nothing on the hot path allocates, locks or reads a clock.
//!
//! # Widening
//! Before either packed field can overflow, the adder that sees it past half range moves the
//! whole word into two 64-bit overflow counters (a rare, cold path: every 8M tasks or 6.4
//! days of summed latency). That move runs under a sequence word (a seqlock whose writer side
//! is only this cold path) so a snapshot sees either all of a moved amount in the packed word
//! or all of it in the overflow counters, never both or neither. Latencies too large for the
//! packed field (over 2^30 µs, about 18 minutes for one task) go straight to the cold path.

use crate::lifecycle::LifecycleWord;
use crate::sync::{AtomicU64, Ordering, spin_hint};
use crate::{MetricsSnapshot, SessionId, SessionState, TransitionError};

/// Bits of the packed word that hold the latency sum.
const LAT_BITS: u32 = 40;
const LAT_MASK: u64 = (1 << LAT_BITS) - 1;
/// One task, in the packed word.
const ONE_TASK: u64 = 1 << LAT_BITS;

// Where the packed word gets widened. Under loom the thresholds are tiny so that the model
// reaches the cold path in a handful of operations.
#[cfg(not(autonomic_loom))]
const COUNT_FLUSH_LOG2: u32 = 23; // count field is 24 bits: flush at half
#[cfg(not(autonomic_loom))]
const LAT_FLUSH_LOG2: u32 = 39; // latency field is 40 bits: flush at half
#[cfg(not(autonomic_loom))]
const MAX_PACKED_US: u64 = (1 << 30) - 1;
#[cfg(autonomic_loom)]
const COUNT_FLUSH_LOG2: u32 = 1;
#[cfg(autonomic_loom)]
const LAT_FLUSH_LOG2: u32 = 4;
#[cfg(autonomic_loom)]
const MAX_PACKED_US: u64 = 7;

/// Any of these bits set in the packed word means "widen now".
const FLUSH_MASK: u64 =
    (u64::MAX << (LAT_BITS + COUNT_FLUSH_LOG2)) | (LAT_MASK & (u64::MAX << LAT_FLUSH_LOG2));
/// Past three quarters of either field, an adder waits for a busy widening instead of leaving
/// the word to the lock holder: a quarter of the range is still left, far more than any burst.
#[inline]
fn is_urgent(word: u64) -> bool {
    (word >> LAT_BITS) >= 3 << (COUNT_FLUSH_LOG2 - 1)
        || (word & LAT_MASK) >= 3 << (LAT_FLUSH_LOG2 - 1)
}

/// Lock-free counters of one session, plus its lifecycle word.
///
/// Most users reach it through a [`SessionHandle`](crate::SessionHandle); it is public so
/// that other layers (table, aggregator) and users who want the bare counters can hold it.
///
/// ```
/// use autonomic_core::{SessionMetrics, SessionState};
/// let m = SessionMetrics::new();
/// m.record_task_us(250);
/// m.record_task_us(750);
/// m.record_retry();
/// let s = m.read(0);
/// assert_eq!((s.task_completions, s.total_latency_us), (2, 1000));
/// assert_eq!(s.avg_latency_us(), Some(500.0));
/// assert_eq!(s.state, SessionState::Created);
/// ```
///
/// `repr(C)` keeps the words in the order declared: hot counters and lifecycle first, then the
/// words a snapshot reads, and last the two overflow words, which a snapshot reads only once
/// the session has widened.
#[derive(Debug)]
#[repr(C)]
pub struct SessionMetrics {
    // --- written on the hot path -------------------------------------------------------
    /// `count << 40 | latency_us`.
    tasks: AtomicU64,
    retries: AtomicU64,
    violations: AtomicU64,
    adaptations: AtomicU64,
    /// See [`crate::lifecycle`].
    lifecycle: AtomicU64,
    // --- written once or rarely ---------------------------------------------------------
    /// Start time (ns on the session's clock); meaningful once the lifecycle's started bit is set.
    started_at: AtomicU64,
    /// Sequence of the widening seqlock: odd while a widening is moving counts.
    widen_seq: AtomicU64,
    overflow_tasks: AtomicU64,
    overflow_latency_us: AtomicU64,
}

impl Default for SessionMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionMetrics {
    /// Fresh counters, state `Created`.
    pub fn new() -> Self {
        SessionMetrics {
            tasks: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            violations: AtomicU64::new(0),
            adaptations: AtomicU64::new(0),
            lifecycle: AtomicU64::new(LifecycleWord::CREATED),
            started_at: AtomicU64::new(0),
            widen_seq: AtomicU64::new(0),
            overflow_tasks: AtomicU64::new(0),
            overflow_latency_us: AtomicU64::new(0),
        }
    }

    // ---------------------------------------------------------------- hot path -------

    /// Records one finished task and its latency in microseconds: one atomic add (Release,
    /// which on x86 is the same single `lock xadd` a relaxed add is; see the comment inside).
    #[inline]
    pub fn record_task_us(&self, latency_us: u64) {
        if latency_us > MAX_PACKED_US {
            return self.record_wide(latency_us);
        }
        let delta = ONE_TASK | latency_us;
        // Release (free on x86: the same `lock xadd`): a snapshot that reads this add (its
        // load in `read_tasks` is SeqCst, hence Acquire) also sees everything this thread
        // recorded before, including a task it pushed through the cold path into the overflow
        // counters. With Relaxed, a snapshot could show this task without that earlier one.
        let prev = self.tasks.fetch_add(delta, Ordering::Release);
        if prev.wrapping_add(delta) & FLUSH_MASK != 0 {
            self.widen(prev.wrapping_add(delta));
        }
    }

    /// Records one retry: one relaxed RMW.
    #[inline]
    pub fn record_retry(&self) {
        // Relaxed: an independent statistic, read by snapshots only.
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one SLO violation: one relaxed RMW.
    #[inline]
    pub fn record_violation(&self) {
        // Relaxed: an independent statistic, read by snapshots only.
        self.violations.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one local adaptation (normally through `mark_adapted`).
    #[inline]
    pub fn record_adaptation(&self) {
        // Relaxed: an independent statistic, read by snapshots only.
        self.adaptations.fetch_add(1, Ordering::Relaxed);
    }

    // ---------------------------------------------------------------- cold path ------

    #[cold]
    #[inline(never)]
    fn widen(&self, seen: u64) {
        loop {
            if self.try_lock_widen().is_some_and(|seq| {
                // SeqCst: the swap is ordered inside the seqlock's write section with the
                // overflow adds (see `read_tasks`); SeqCst keeps that argument simple and
                // this path runs once per millions of tasks.
                let moved = self.tasks.swap(0, Ordering::SeqCst);
                self.add_overflow(moved >> LAT_BITS, moved & LAT_MASK);
                self.unlock_widen(seq);
                true
            }) {
                return;
            }
            // Another thread is widening; it will take our delta with its swap, unless it
            // swapped before our add landed. Only wait for it when the word is running out.
            if !is_urgent(seen) {
                return;
            }
            spin_hint();
            // SeqCst: see `widen`.
            if self.tasks.load(Ordering::SeqCst) & FLUSH_MASK == 0 {
                return;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn record_wide(&self, latency_us: u64) {
        loop {
            if let Some(seq) = self.try_lock_widen() {
                self.add_overflow(1, latency_us);
                self.unlock_widen(seq);
                return;
            }
            spin_hint();
        }
    }

    /// Takes the widening lock: an even sequence becomes odd. Returns the odd value.
    fn try_lock_widen(&self) -> Option<u64> {
        // SeqCst: seqlock write side (cold); see `read_tasks` for the reader's half.
        let seq = self.widen_seq.load(Ordering::SeqCst);
        if seq & 1 == 1 {
            return None;
        }
        self.widen_seq
            .compare_exchange(seq, seq + 1, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| seq + 1)
    }

    fn unlock_widen(&self, odd: u64) {
        // SeqCst: closes the seqlock write section.
        self.widen_seq.store(odd.wrapping_add(1), Ordering::SeqCst);
    }

    fn add_overflow(&self, tasks: u64, latency_us: u64) {
        // SeqCst: inside the seqlock write section. The sums saturate at u64::MAX (584,000
        // years of microseconds) instead of wrapping.
        let _ = self
            .overflow_tasks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v.saturating_add(tasks)));
        let _ = self.overflow_latency_us.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
            Some(v.saturating_add(latency_us))
        });
    }

    /// `(task count, latency sum µs)`, never torn against each other or against a widening.
    #[inline]
    pub fn read_tasks(&self) -> (u64, u64) {
        // A session never widened (almost every one): the packed word, then one sequence
        // read. SeqCst, as every access of the seqlock: if that read still sees 0, no
        // widening had begun before it, so none had swapped the packed word before the earlier
        // read of it (a later swap cannot be what an earlier SeqCst load read), and the
        // overflow words were still zero: the packed word is the whole count. Anything else
        // takes the bracketed reads below.
        let packed = self.tasks.load(Ordering::SeqCst);
        if self.widen_seq.load(Ordering::SeqCst) == 0 {
            return (packed >> LAT_BITS, packed & LAT_MASK);
        }
        loop {
            // SeqCst (reader half of the seqlock): with every write-section access SeqCst, a
            // reader whose two sequence reads agree and are even read all three words either
            // wholly before or wholly after any widening. On x86 a SeqCst load is a plain load.
            let s1 = self.widen_seq.load(Ordering::SeqCst);
            if s1 == 0 {
                // Never widened: the overflow words are still zero and need not be read (nor
                // their cache line). The same bracket as below: if the second read is still
                // zero, no widening began before it, so the packed word is the whole count.
                let packed = self.tasks.load(Ordering::SeqCst);
                if self.widen_seq.load(Ordering::SeqCst) == 0 {
                    return (packed >> LAT_BITS, packed & LAT_MASK);
                }
            } else if s1 & 1 == 0 {
                let packed = self.tasks.load(Ordering::SeqCst);
                let tasks = self.overflow_tasks.load(Ordering::SeqCst);
                let lat = self.overflow_latency_us.load(Ordering::SeqCst);
                // No fence needed: every access here and in the write section is SeqCst, so
                // all of them sit in one total order consistent with each thread's program
                // order; equal even sequence reads bracket no write section.
                if self.widen_seq.load(Ordering::SeqCst) == s1 {
                    return (
                        tasks.saturating_add(packed >> LAT_BITS),
                        lat.saturating_add(packed & LAT_MASK),
                    );
                }
            }
            spin_hint();
        }
    }

    // ---------------------------------------------------------------- lifecycle ------

    /// The current run-time state.
    #[inline]
    pub fn state(&self) -> SessionState {
        // Acquire: pairs with the AcqRel transition CAS, so what the transition published
        // (the start time) is visible to whoever sees its state.
        LifecycleWord::decode(self.lifecycle.load(Ordering::Acquire)).state
    }

    /// Moves to `to` if the current state is one of `from`; `now` is read only when the
    /// transition needs a time (start or a terminal state), once, before the CAS.
    ///
    /// Returns the state that was replaced. The only writer of a terminal state is the one
    /// CAS that wins; a terminal state is never left.
    #[inline]
    pub(crate) fn transition(
        &self,
        session: SessionId,
        from: &[SessionState],
        to: SessionState,
        now: impl FnOnce() -> u64,
    ) -> Result<SessionState, TransitionError> {
        let mut now = Some(now);
        let mut time = 0;
        // Acquire: see `state`.
        let mut current = self.lifecycle.load(Ordering::Acquire);
        loop {
            let seen = LifecycleWord::decode(current);
            if !from.contains(&seen.state) {
                return Err(TransitionError { session, found: seen.state, attempted: to });
            }
            if (to == SessionState::Active || to.is_terminal())
                && let Some(now) = now.take()
            {
                time = now();
            }
            let started = seen.started || to == SessionState::Active;
            if to == SessionState::Active && !seen.started {
                // Written before the CAS that sets the started bit, by the unique owner of the
                // `Created` handle (it is not `Clone`), so there is one writer. Relaxed: the
                // AcqRel CAS below publishes it to every reader that Acquire-loads the word.
                self.started_at.store(time, Ordering::Relaxed);
            }
            // The word keeps the end relative to the start (see `crate::lifecycle`).
            let since = if seen.started {
                // Relaxed: `current` was Acquire-loaded with the started bit set, so the
                // start time written before that bit's Release CAS is visible.
                self.started_at.load(Ordering::Relaxed)
            } else {
                0
            };
            let next = LifecycleWord::encode(to, started, time.saturating_sub(since));
            // AcqRel on success: Release publishes `started_at` (above) with the state;
            // Acquire orders this transition after the one it replaces. Acquire on failure:
            // we re-decode the winner's word.
            match self.lifecycle.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(seen.state),
                Err(actual) => current = actual,
            }
        }
    }

    /// When the session started (ns on its clock), if it has: two loads, no snapshot.
    #[inline]
    pub fn started_at_ns(&self) -> Option<u64> {
        // Acquire: see `state`; makes `started_at` below visible if the started bit is set.
        let life = LifecycleWord::decode(self.lifecycle.load(Ordering::Acquire));
        // Relaxed: written before the Release CAS we just Acquire-read (see `transition`).
        life.started.then(|| self.started_at.load(Ordering::Relaxed))
    }

    /// A consistent-enough view of every counter and the lifecycle, taken at `now` (ns on the
    /// session's clock, used for the duration of a still-running session).
    ///
    /// The lifecycle (state, start, end) is read together from one word, the task count and
    /// latency sum together from another; the other counters are each exact but may be a few
    /// updates apart from one another under concurrent recording.
    #[inline]
    pub fn read(&self, now: u64) -> MetricsSnapshot {
        // Acquire: see `state`; makes `started_at` below visible if the started bit is set.
        let life = LifecycleWord::decode(self.lifecycle.load(Ordering::Acquire));
        // Relaxed: written before the Release CAS we just Acquire-read (see `transition`).
        let started_at = life.started.then(|| self.started_at.load(Ordering::Relaxed));
        let (task_completions, total_latency_us) = self.read_tasks();
        MetricsSnapshot {
            // Relaxed (all three): independent statistics.
            retry_count: self.retries.load(Ordering::Relaxed),
            violation_count: self.violations.load(Ordering::Relaxed),
            adaptation_count: self.adaptations.load(Ordering::Relaxed),
            task_completions,
            total_latency_us,
            state: life.state,
            started_at_ns: started_at,
            ended_at_ns: life.ended_at(started_at),
            taken_at_ns: now,
        }
    }
}
