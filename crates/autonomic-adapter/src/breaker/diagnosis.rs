//! The diagnosis: whether a cohort's window says most of its sessions fail now.

use autonomic_core::{Evidence, WindowCounts, WindowFigures};

use super::BreakerConfig;

/// The lengths of the windows the knowledge was computed over, nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lengths {
    pub(crate) window_ns: u64,
    pub(crate) short_ns: u64,
}

/// The failure rate to open a cohort's breaker with, or `None` to leave it closed.
///
/// * The whole window, from `min_finished_sessions` on, fails at or over
///   `failure_threshold`, and the short window does not show it recovered (judged and
///   under the threshold): the cohort is sick, and still is.
/// * Or the short window alone, judged, fails at or over the threshold: the cohort fails
///   right now.
///
/// `since_close`: how long ago the cohort's breaker last closed (its probes succeeded), if it
/// did while the adapter tracked it. A window that still holds events from before the close
/// is not read (the failures that opened the breaker are not news): the whole window only
/// once a window's length has passed, the short window once a short window's length has.
pub(crate) fn sick(
    config: &BreakerConfig,
    figures: &WindowFigures,
    since_close: Option<u64>,
    lengths: Lengths,
) -> Option<f64> {
    let judged = |c: &WindowCounts| {
        Evidence::of(c.failed, c.finished(), config.min_finished_sessions).rate()
    };
    let fresh = |length: u64| since_close.is_none_or(|since| since >= length);
    let threshold = config.failure_threshold;
    let short = fresh(lengths.short_ns).then(|| judged(&figures.short)).flatten();
    if let Some(rate) = short.filter(|&r| r >= threshold) {
        return Some(rate);
    }
    let recovered = short.is_some_and(|r| r < threshold);
    let whole = fresh(lengths.window_ns).then(|| judged(&figures.counts)).flatten();
    whole.filter(|&r| r >= threshold && !recovered)
}

#[cfg(test)]
mod tests {
    use autonomic_core::WindowGauges;

    use super::*;

    fn figures(whole: (u64, u64), short: (u64, u64)) -> WindowFigures {
        let counts = |(finished, failed): (u64, u64)| WindowCounts {
            completed: finished - failed,
            failed,
            ..WindowCounts::default()
        };
        WindowFigures::new(counts(whole), counts(short), WindowGauges::default(), 1, 1)
    }

    const LENGTHS: Lengths = Lengths { window_ns: 60, short_ns: 5 };

    #[test]
    fn the_whole_window_or_the_short_one_with_enough_evidence() {
        let c = BreakerConfig::default();
        // The whole window sick, the short one without evidence: open.
        assert_eq!(sick(&c, &figures((100, 80), (5, 5)), None, LENGTHS), Some(0.8));
        // The short window recovered: not open.
        assert_eq!(sick(&c, &figures((100, 80), (30, 3)), None, LENGTHS), None);
        // The short window alone sick: open with its rate.
        assert_eq!(sick(&c, &figures((200, 30), (20, 15)), None, LENGTHS), Some(0.75));
        // Too little evidence anywhere: never.
        assert_eq!(sick(&c, &figures((19, 19), (19, 19)), None, LENGTHS), None);
        // Under the threshold: never.
        assert_eq!(sick(&c, &figures((100, 49), (100, 49)), None, LENGTHS), None);
    }

    #[test]
    fn after_a_close_only_windows_past_it_are_read() {
        let c = BreakerConfig::default();
        let f = figures((100, 80), (40, 30));
        assert_eq!(sick(&c, &f, Some(4), LENGTHS), None, "both windows predate the close");
        assert_eq!(sick(&c, &f, Some(5), LENGTHS), Some(0.75), "the short one is past it");
        let old = figures((100, 80), (3, 3));
        assert_eq!(sick(&c, &old, Some(59), LENGTHS), None);
        assert_eq!(sick(&c, &old, Some(60), LENGTHS), Some(0.8));
    }
}
