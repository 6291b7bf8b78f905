//! [`Coverage`]: which sessions an aggregate, and the knowledge published from it, speak for.

use serde::{Deserialize, Serialize};

use crate::TenantId;

/// Which sessions an aggregate covered, carried into the [`GlobalKnowledge`] published from
/// it, so that an aggregate of part of the sessions (the active ones, one tenant's) cannot
/// pass for the whole picture.
///
/// Only [`All`](Self::All) knowledge becomes what the doctrine gate reads
/// ([`KnowledgeBase::current`]): a failure rate over the active sessions only is `0.0` (none
/// has finished), and one tenant's rates say nothing of the others'. Every publication, whole
/// or partial, is kept as [`KnowledgeBase::latest`] and in the history.
///
/// A source says what it covers: a whole table (`TableSource::all`, the runtime's loop) is
/// `All`, a table's tenant or pattern view is `Tenant` or `Pattern`, a slice of handles the
/// caller collected is a `Selection` unless the caller declares it whole.
///
/// ```
/// use autonomic_core::{Coverage, GlobalKnowledge, KnowledgeBase};
/// let kb = KnowledgeBase::new();
/// kb.publish(GlobalKnowledge { failure_rate: 0.2, ..Default::default() }); // `All`
/// let partial = GlobalKnowledge { coverage: Coverage::Selection, ..Default::default() };
/// kb.publish(partial);                                                  // failure rate 0.0
/// assert_eq!(kb.latest().coverage, Coverage::Selection);
/// assert_eq!(kb.current().failure_rate, 0.2); // what the doctrine gate still reads
/// ```
///
/// [`GlobalKnowledge`]: crate::GlobalKnowledge
/// [`KnowledgeBase::current`]: crate::KnowledgeBase::current
/// [`KnowledgeBase::latest`]: crate::KnowledgeBase::latest
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every session there is: the whole picture.
    All,
    /// The sessions of one tenant.
    Tenant(TenantId),
    /// The sessions of one workflow pattern.
    Pattern(u8),
    /// Sessions the caller chose (a slice of handles: the active ones, a sample, ...). The
    /// default: a set of sessions is not the whole picture unless it says so.
    #[default]
    Selection,
}

impl Coverage {
    /// Whether this covers every session (what the doctrine gate may read).
    pub const fn is_whole(&self) -> bool {
        matches!(self, Coverage::All)
    }

    /// The coverage of the part of an aggregate of `self` that is tenant `tenant`'s.
    ///
    /// ```
    /// use autonomic_core::{Coverage, TenantId};
    /// let t = TenantId::new();
    /// assert_eq!(Coverage::All.tenant(t), Coverage::Tenant(t));
    /// assert_eq!(Coverage::Selection.tenant(t), Coverage::Selection);
    /// ```
    pub fn tenant(self, tenant: TenantId) -> Coverage {
        match self {
            Coverage::All => Coverage::Tenant(tenant),
            Coverage::Tenant(t) if t == tenant => self,
            _ => Coverage::Selection,
        }
    }

    /// The coverage of the part of an aggregate of `self` that is pattern `pattern`'s.
    pub fn pattern(self, pattern: u8) -> Coverage {
        match self {
            Coverage::All => Coverage::Pattern(pattern),
            Coverage::Pattern(p) if p == pattern => self,
            _ => Coverage::Selection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GlobalKnowledge, KnowledgeBase};

    #[test]
    fn only_whole_knowledge_becomes_current_and_every_publication_is_numbered_and_kept() {
        let kb = KnowledgeBase::new();
        let whole = kb.publish(GlobalKnowledge { failure_rate: 0.5, ..Default::default() });
        let tenant = Coverage::Tenant(TenantId::new());
        for coverage in [Coverage::Selection, tenant, Coverage::Pattern(3)] {
            kb.publish(GlobalKnowledge { coverage, ..Default::default() });
            assert_eq!(kb.latest().coverage, coverage);
            assert_eq!(kb.current(), whole);
        }
        assert_eq!(kb.latest().generation, 4);
        let next = kb.publish(GlobalKnowledge::default());
        assert_eq!((next.generation, kb.current().generation), (5, 5));
        let kept: Vec<_> = kb.history().iter().map(|k| k.coverage).collect();
        assert_eq!(
            kept,
            [Coverage::All, Coverage::Selection, tenant, Coverage::Pattern(3), Coverage::All]
        );
    }

    #[test]
    fn parts_of_an_aggregate_narrow_its_coverage() {
        let (a, b) = (TenantId::new(), TenantId::new());
        assert_eq!(Coverage::Tenant(a).tenant(a), Coverage::Tenant(a));
        assert_eq!(Coverage::Tenant(a).tenant(b), Coverage::Selection);
        assert_eq!(Coverage::All.pattern(7), Coverage::Pattern(7));
        assert_eq!(Coverage::Tenant(a).pattern(7), Coverage::Selection);
        assert!(Coverage::All.is_whole() && !Coverage::default().is_whole());
    }
}
