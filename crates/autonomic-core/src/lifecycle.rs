//! The lifecycle word: a session's state, whether it ever started, and its end time, packed in
//! one `u64` so that a single compare-and-swap decides a transition *and* publishes the end
//! time with it (a reader can never see a terminal state without its end time).
//!
//! ```text
//!  63                                   9   8   7        0
//! +--------------------------------------+---+----------+
//! |  end time, ns since clock origin (55) | S |  state   |
//! +--------------------------------------+---+----------+
//! ```
//! `S` is set once the session has been started. The end time saturates at 2^55 - 1 ns
//! (about 417 days after the clock's origin) rather than wrapping.

use crate::SessionState;

const STATE_MASK: u64 = 0xff;
const STARTED_BIT: u64 = 1 << 8;
const END_SHIFT: u32 = 9;
/// Largest end time the word can hold, in nanoseconds.
pub(crate) const MAX_END_NANOS: u64 = (1 << (64 - END_SHIFT)) - 1;

/// A decoded lifecycle word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    pub(crate) state: SessionState,
    pub(crate) started: bool,
    /// Present exactly when `state` is terminal.
    pub(crate) ended_at: Option<u64>,
}

impl Lifecycle {
    pub(crate) const CREATED: u64 = SessionState::Created as u64;

    #[inline]
    pub(crate) fn decode(word: u64) -> Lifecycle {
        // Only `encode` writes the word, so the state byte is always valid; fall back to
        // `Created` rather than panic should that ever not hold.
        let state =
            SessionState::from_u8((word & STATE_MASK) as u8).unwrap_or(SessionState::Created);
        let ended_at = state.is_terminal().then_some(word >> END_SHIFT);
        Lifecycle { state, started: word & STARTED_BIT != 0, ended_at }
    }

    #[inline]
    pub(crate) fn encode(state: SessionState, started: bool, ended_at: u64) -> u64 {
        let end = if state.is_terminal() { ended_at.min(MAX_END_NANOS) } else { 0 };
        (end << END_SHIFT) | if started { STARTED_BIT } else { 0 } | state as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_state() {
        for st in SessionState::ALL {
            for started in [false, true] {
                let w = Lifecycle::encode(st, started, 123_456_789);
                let d = Lifecycle::decode(w);
                assert_eq!(d.state, st);
                assert_eq!(d.started, started);
                assert_eq!(d.ended_at, st.is_terminal().then_some(123_456_789));
            }
        }
    }

    #[test]
    fn end_time_saturates() {
        let w = Lifecycle::encode(SessionState::Failed, true, u64::MAX);
        assert_eq!(Lifecycle::decode(w).ended_at, Some(MAX_END_NANOS));
        assert_eq!(Lifecycle::decode(w).state, SessionState::Failed);
    }
}
