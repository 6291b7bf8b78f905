//! The lifecycle word: a session's state, whether it ever started, and its end time, packed in
//! one `u64` so that a single compare-and-swap decides a transition *and* publishes the end
//! time with it (a reader can never see a terminal state without its end time).
//!
//! ```text
//!  63                                 10   9   8   7        0
//! +-------------------------------------+---+---+----------+
//! |  end, as an offset (54 bits)        | U | S |  state   |
//! +-------------------------------------+---+---+----------+
//! ```
//! `S` is set once the session has been started. The end is stored as an offset from the
//! session's start time (kept in its own word, written once before the word that sets `S`),
//! or from the clock's origin for a session that never started, so the word's range bounds
//! how long one session can run, not how long the process has been up:
//!
//! * `U` clear: the offset is in nanoseconds, exact, up to 2^54 - 1 ns (about 208 days);
//! * `U` set: the offset is in whole microseconds (rounded down), up to 2^54 - 1 µs (about
//!   570 years); past that it saturates.
//!
//! So a session that ends within 208 days of its start has an exact end time and duration,
//! whatever the clock reads (decades of uptime, or a clock counting from the Unix epoch);
//! a longer one, or one cancelled before it started on a clock more than 208 days past its
//! origin, is exact to the microsecond, for up to 570 years.

use crate::SessionState;

const STATE_MASK: u64 = 0xff;
const STARTED_BIT: u64 = 1 << 8;
const MICROS_BIT: u64 = 1 << 9;
const OFFSET_SHIFT: u32 = 10;
/// Largest offset the word can hold, in its unit (ns or µs).
const MAX_OFFSET: u64 = (1 << (64 - OFFSET_SHIFT)) - 1;

/// A decoded lifecycle word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LifecycleWord {
    pub(crate) state: SessionState,
    pub(crate) started: bool,
    /// The end, as an offset in nanoseconds from the session's start (or from the clock's
    /// origin if it never started); present exactly when `state` is terminal.
    end_offset_ns: Option<u64>,
}

impl LifecycleWord {
    pub(crate) const CREATED: u64 = SessionState::Created as u64;

    #[inline]
    pub(crate) fn decode(word: u64) -> LifecycleWord {
        // Only `encode` writes the word, so the state byte is always valid; fall back to
        // `Created` rather than panic should that ever not hold.
        let state =
            SessionState::from_u8((word & STATE_MASK) as u8).unwrap_or(SessionState::Created);
        let end_offset_ns = state.is_terminal().then(|| {
            let offset = word >> OFFSET_SHIFT;
            if word & MICROS_BIT != 0 { offset.saturating_mul(1_000) } else { offset }
        });
        LifecycleWord { state, started: word & STARTED_BIT != 0, end_offset_ns }
    }

    /// The word for `state`; `end_offset_ns` (the end, in ns after the start, or after the
    /// clock's origin for a session never started) is kept only for a terminal state.
    #[inline]
    pub(crate) fn encode(state: SessionState, started: bool, end_offset_ns: u64) -> u64 {
        let (offset, unit) = match end_offset_ns {
            _ if !state.is_terminal() => (0, 0),
            ns if ns <= MAX_OFFSET => (ns, 0),
            ns => ((ns / 1_000).min(MAX_OFFSET), MICROS_BIT),
        };
        (offset << OFFSET_SHIFT) | unit | if started { STARTED_BIT } else { 0 } | state as u64
    }

    /// The end time on the session's clock, given its start time (`None` if it never
    /// started); present exactly when the state is terminal.
    #[inline]
    pub(crate) fn ended_at(&self, started_at: Option<u64>) -> Option<u64> {
        self.end_offset_ns.map(|offset| started_at.unwrap_or(0).saturating_add(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    const YEAR_NS: u64 = 365 * DAY_NS + DAY_NS / 4;

    #[test]
    fn round_trips_every_state() {
        for st in SessionState::ALL {
            for started in [false, true] {
                let w = LifecycleWord::encode(st, started, 123_456_789);
                let d = LifecycleWord::decode(w);
                assert_eq!(d.state, st);
                assert_eq!(d.started, started);
                assert_eq!(d.ended_at(Some(1)), st.is_terminal().then_some(123_456_790));
            }
        }
    }

    #[test]
    fn offsets_up_to_208_days_are_exact_to_the_nanosecond() {
        let start = 20 * YEAR_NS + 7; // the start itself is a full u64 and costs no range
        for offset in [0, 1, 999, 200 * DAY_NS + 1, MAX_OFFSET] {
            let w = LifecycleWord::encode(SessionState::Completed, true, offset);
            assert_eq!(LifecycleWord::decode(w).ended_at(Some(start)), Some(start + offset));
        }
        const { assert!(MAX_OFFSET >= 208 * DAY_NS) };
    }

    #[test]
    fn longer_offsets_are_exact_to_the_microsecond_for_five_centuries() {
        for offset in [MAX_OFFSET + 1, 418 * DAY_NS + 1_234_567, 100 * YEAR_NS + 999, 570 * YEAR_NS]
        {
            let w = LifecycleWord::encode(SessionState::Cancelled, false, offset);
            let d = LifecycleWord::decode(w);
            assert_eq!(d.state, SessionState::Cancelled);
            assert_eq!(d.ended_at(None), Some(offset / 1_000 * 1_000), "offset {offset}");
        }
    }

    #[test]
    fn past_the_bound_the_end_saturates_instead_of_wrapping() {
        let w = LifecycleWord::encode(SessionState::Failed, true, u64::MAX);
        let d = LifecycleWord::decode(w);
        assert_eq!(d.state, SessionState::Failed);
        assert_eq!(d.ended_at(Some(5)), Some(5 + MAX_OFFSET * 1_000));
        const { assert!(MAX_OFFSET * 1_000 >= 570 * YEAR_NS) };
    }
}
