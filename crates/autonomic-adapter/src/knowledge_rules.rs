//! Which knowledge rules of Global Q judge which kinds of action ([`KnowledgeRules`], a set of
//! [`ActionKinds`] per rule), and what each rule said of an admitted decision
//! ([`KnowledgeChecks`], [`RuleCheck`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ActionKind;

/// A set of [`ActionKind`]s (a bit per kind). In documents, a list of kind names
/// (`["retry_task", "request_resources"]`).
///
/// ```
/// use autonomic_adapter::{ActionKind, ActionKinds};
/// let consuming = ActionKinds::CONSUMING;
/// assert!(consuming.contains(ActionKind::RetryTask));
/// assert!(!consuming.contains(ActionKind::DegradePerformance));
/// assert_eq!(serde_json::to_string(&consuming).unwrap(), r#"["retry_task","request_resources"]"#);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionKinds(u8);

impl ActionKinds {
    /// No kind.
    pub const NONE: ActionKinds = ActionKinds(0);
    /// Every kind.
    pub const ALL: ActionKinds = ActionKinds((1 << ActionKind::ALL.len()) - 1);
    /// The kinds that consume capacity: `RetryTask` and `RequestResources`.
    pub const CONSUMING: ActionKinds =
        ActionKinds::NONE.with(ActionKind::RetryTask).with(ActionKind::RequestResources);

    const fn bit(kind: ActionKind) -> u8 {
        1 << kind as u8
    }

    /// This set and `kind`.
    pub const fn with(self, kind: ActionKind) -> ActionKinds {
        ActionKinds(self.0 | Self::bit(kind))
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub const fn contains(self, kind: ActionKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The kinds in the set, in [`ActionKind::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = ActionKind> {
        ActionKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl FromIterator<ActionKind> for ActionKinds {
    fn from_iter<I: IntoIterator<Item = ActionKind>>(kinds: I) -> Self {
        kinds.into_iter().fold(ActionKinds::NONE, ActionKinds::with)
    }
}

impl fmt::Debug for ActionKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for ActionKinds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ActionKinds {
    /// A list of kind names; an unknown name is refused, and so is a list longer than there
    /// are kinds (a repeated name is refused too).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Kinds;
        impl<'de> serde::de::Visitor<'de> for Kinds {
            type Value = ActionKinds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of action kinds")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut set = ActionKinds::NONE;
                while let Some(kind) = seq.next_element::<ActionKind>()? {
                    if set.contains(kind) {
                        return Err(serde::de::Error::custom(format!("{kind} is listed twice")));
                    }
                    set = set.with(kind);
                }
                Ok(set)
            }
        }
        deserializer.deserialize_seq(Kinds)
    }
}

/// Which action kinds each knowledge rule of Global Q judges. A rule that does not judge an
/// action is reported as [`RuleCheck::NotApplied`] in the decision.
///
/// # The default table
/// A high failure rate or a low SLO compliance is a reason to stop *adding* load, not to stop
/// shedding it. So by default the two knowledge rules block only the actions that consume
/// capacity:
///
/// | action | `max_failure_rate` | `min_slo_compliance` |
/// |---|---|---|
/// | `RetryTask` (runs the work again) | blocks | blocks |
/// | `RequestResources` (takes capacity) | blocks | blocks |
/// | `DegradePerformance` (sheds load) | – | – |
/// | `CancelOptionalTasks` (sheds load) | – | – |
/// | `TriggerCompensation` (repairs) | – | – |
/// | `LogAndContinue` (observes) | – | – |
///
/// The capacity rules (`max_concurrent_adaptations`, `max_total_resources`) apply to every
/// action, always; a shedding headroom, when one is set, raises the slot bound for the actions
/// outside [`ActionKinds::CONSUMING`] only (see
/// [`set_shedding_headroom`](crate::SessionAdapter::set_shedding_headroom)).
///
/// ```
/// use autonomic_adapter::{ActionKind, ActionKinds, KnowledgeRules};
/// let rules = KnowledgeRules::default();
/// assert!(rules.max_failure_rate.contains(ActionKind::RetryTask));
/// assert!(!rules.max_failure_rate.contains(ActionKind::TriggerCompensation));
/// let strict = KnowledgeRules { max_failure_rate: ActionKinds::ALL, ..rules };
/// assert!(strict.max_failure_rate.contains(ActionKind::LogAndContinue));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeRules {
    /// The kinds `min_slo_compliance` judges (default: [`ActionKinds::CONSUMING`]).
    pub min_slo_compliance: ActionKinds,
    /// The kinds `max_failure_rate` judges (default: [`ActionKinds::CONSUMING`]).
    pub max_failure_rate: ActionKinds,
}

impl Default for KnowledgeRules {
    fn default() -> Self {
        KnowledgeRules {
            min_slo_compliance: ActionKinds::CONSUMING,
            max_failure_rate: ActionKinds::CONSUMING,
        }
    }
}

/// What one knowledge rule said of an admitted decision. One byte: it is copied with every
/// decision (how much evidence the window held is in the knowledge the rule read, and traced
/// at `debug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RuleCheck {
    /// The rule judged, and the value it read (windowed when the knowledge has windows) was
    /// within the limit.
    Passed,
    /// The window held too little evidence for the rule to judge (fewer finished sessions,
    /// or tasks for SLO compliance, than the configured minimum). Never a silent pass: it is
    /// recorded here and traced.
    NotEnoughEvidence,
    /// The rule does not judge this kind of action ([`KnowledgeRules`]), or the knowledge
    /// rules are off (`verify_global_q = false`).
    #[default]
    NotApplied,
}

/// What the knowledge rules said of an admitted decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KnowledgeChecks {
    /// `min_slo_compliance`.
    pub min_slo_compliance: RuleCheck,
    /// `max_failure_rate`.
    pub max_failure_rate: RuleCheck,
}

impl KnowledgeChecks {
    /// Whether a rule that applied could not judge for lack of evidence.
    pub fn lacked_evidence(&self) -> bool {
        [self.min_slo_compliance, self.max_failure_rate].contains(&RuleCheck::NotEnoughEvidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_refuse_unknown_or_repeated_names() {
        let all: ActionKinds = ActionKind::ALL.into_iter().collect();
        assert_eq!(all, ActionKinds::ALL);
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(serde_json::from_str::<ActionKinds>(&json).unwrap(), all);
        assert!(serde_json::from_str::<ActionKinds>(r#"["retry"]"#).is_err());
        assert!(serde_json::from_str::<ActionKinds>(r#"["retry_task", "retry_task"]"#).is_err());
        assert_eq!(serde_json::from_str::<ActionKinds>("[]").unwrap(), ActionKinds::NONE);
    }

    #[test]
    fn rules_load_from_toml_with_defaults() {
        let rules: KnowledgeRules = toml::from_str("max_failure_rate = []").unwrap();
        assert_eq!(rules.max_failure_rate, ActionKinds::NONE);
        assert_eq!(rules.min_slo_compliance, ActionKinds::CONSUMING);
        assert!(toml::from_str::<KnowledgeRules>("max_failure = []").is_err());
    }
}
