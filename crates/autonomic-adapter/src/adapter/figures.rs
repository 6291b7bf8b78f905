//! [`Figures`]: the knowledge figures one admission reads (the knowledge rules' rates and the
//! retry budget's running gauge), read from the knowledge base at most once, and only if a
//! rule asks for them.

use std::cell::OnceCell;

use autonomic_core::{Evidence, KnowledgeBase};

/// What one admission reads from the knowledge the aggregator published: one `arc-swap` load
/// serves the live knowledge rules, the retry budget and the shadow's knowledge rules, so
/// they all judge the same publication.
pub(super) struct Figures<'a> {
    knowledge: &'a KnowledgeBase,
    read: OnceCell<Read>,
}

/// The figures of one publication.
#[derive(Debug, Clone, Copy)]
pub(super) struct Read {
    /// SLO compliance: the windows' when the knowledge has windows (judged only from their
    /// minimum volume on), else over the sessions it covered.
    pub(super) compliance: Evidence,
    /// The failure rate, likewise.
    pub(super) failure_rate: Evidence,
    /// Sessions running: the windows' running gauge when the knowledge has windows, else the
    /// sessions it saw running. As stale as the last publication (one loop interval in the
    /// runtime).
    pub(super) running: u64,
}

impl<'a> Figures<'a> {
    /// Nothing read yet.
    #[inline]
    pub(super) fn of(knowledge: &'a KnowledgeBase) -> Self {
        Figures { knowledge, read: OnceCell::new() }
    }

    /// The figures of the knowledge in force: read on the first call, the same after.
    #[inline]
    pub(super) fn get(&self) -> Read {
        *self.read.get_or_init(|| {
            self.knowledge.with_current(|k| match &k.windows {
                Some(w) => Read {
                    compliance: w.global.slo_compliance,
                    failure_rate: w.global.failure_rate,
                    running: w.global.gauges.running,
                },
                None => Read {
                    compliance: Evidence::Judged(k.slo_compliance),
                    failure_rate: Evidence::Judged(k.failure_rate),
                    running: k.active_sessions,
                },
            })
        })
    }
}

#[cfg(all(test, not(autonomic_loom)))]
mod tests {
    use autonomic_core::GlobalKnowledge;

    use super::*;

    /// Read once: a publication after the first read is not seen by the same admission.
    #[test]
    fn one_admission_reads_one_publication() {
        let knowledge = KnowledgeBase::new();
        knowledge.publish(GlobalKnowledge { active_sessions: 3, ..GlobalKnowledge::default() });
        let figures = Figures::of(&knowledge);
        assert_eq!(figures.get().running, 3);
        knowledge.publish(GlobalKnowledge { active_sessions: 7, ..GlobalKnowledge::default() });
        assert_eq!(figures.get().running, 3);
        assert_eq!(Figures::of(&knowledge).get().running, 7);
    }
}
