//! [`SessionAction`]: what a session may do to adapt itself, and [`ActionKind`], its name.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One local adaptation a session may take. Every action is scoped to the session that
/// proposed it; none of them reaches into another session.
///
/// Serialized with a `kind` tag: `{"kind": "degrade_performance", "factor": 0.5}`.
///
/// Texts are `Cow<'static, str>`: a fixed text (`"current"`) costs no allocation when the
/// action is built, copied into history or carried by an event. The constructors
/// ([`retry_task`](Self::retry_task), [`trigger_compensation`](Self::trigger_compensation),
/// [`log_and_continue`](Self::log_and_continue)) take a `String`, a `&'static str` or a `Cow`
/// as they are; with the struct form, write `.into()`.
///
/// ```
/// use autonomic_adapter::SessionAction;
/// let task = String::from("charge-card");
/// let action = SessionAction::retry_task(task, 200);
/// assert_eq!(action, SessionAction::RetryTask { task_id: "charge-card".into(), backoff_ms: 200 });
/// assert_eq!(action.to_string(), "retry task charge-card after 200 ms");
/// let json = serde_json::to_string(&action).unwrap();
/// assert_eq!(json, r#"{"kind":"retry_task","task_id":"charge-card","backoff_ms":200}"#);
/// assert_eq!(serde_json::from_str::<SessionAction>(&json).unwrap(), action);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionAction {
    /// Retry a task after waiting `backoff_ms` (the caller waits and retries).
    ///
    /// Executing it ([`SessionAdapter::execute`](crate::SessionAdapter::execute)) marks the
    /// session `Adapted`, like every action that changes the session's course: the session
    /// no longer runs as it would have (it waits, then runs the task again), and `Adapted`
    /// records that the adapter stepped in, which is what the aggregate's adaptation counts
    /// report. The quick reference's Pattern 2 matches on the proposed action and waits
    /// itself, without executing the decision; nothing is marked then. Only
    /// `LogAndContinue` (nothing changes) and `TriggerCompensation` (the session already
    /// failed) leave the state alone.
    RetryTask {
        /// The task to retry.
        task_id: Cow<'static, str>,
        /// How long to wait first, milliseconds.
        backoff_ms: u64,
    },
    /// Run at a fraction of normal performance (`factor` in `0.0..=1.0`: 0.5 = half).
    DegradePerformance {
        /// The fraction of normal performance to keep.
        factor: f64,
    },
    /// Ask for more resources: `amount` is a fraction of the global capacity (`0.0 < amount
    /// <= 1.0`), granted to the session until it ends.
    RequestResources {
        /// The fraction of capacity requested.
        amount: f64,
    },
    /// Shed the session's optional work.
    CancelOptionalTasks,
    /// Roll back what the session did (for a failed session).
    TriggerCompensation {
        /// What to roll back.
        scope: Cow<'static, str>,
    },
    /// Record an observation and change nothing.
    LogAndContinue {
        /// What was observed.
        message: Cow<'static, str>,
    },
}

/// The kind of a [`SessionAction`], without its values.
///
/// ```
/// use autonomic_adapter::{ActionKind, SessionAction};
/// assert_eq!(SessionAction::CancelOptionalTasks.kind(), ActionKind::CancelOptionalTasks);
/// assert_eq!(ActionKind::ALL.len(), 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// [`SessionAction::RetryTask`].
    RetryTask,
    /// [`SessionAction::DegradePerformance`].
    DegradePerformance,
    /// [`SessionAction::RequestResources`].
    RequestResources,
    /// [`SessionAction::CancelOptionalTasks`].
    CancelOptionalTasks,
    /// [`SessionAction::TriggerCompensation`].
    TriggerCompensation,
    /// [`SessionAction::LogAndContinue`].
    LogAndContinue,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 6] = [
        ActionKind::RetryTask,
        ActionKind::DegradePerformance,
        ActionKind::RequestResources,
        ActionKind::CancelOptionalTasks,
        ActionKind::TriggerCompensation,
        ActionKind::LogAndContinue,
    ];

    /// The snake-case name (`"retry_task"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionKind::RetryTask => "retry_task",
            ActionKind::DegradePerformance => "degrade_performance",
            ActionKind::RequestResources => "request_resources",
            ActionKind::CancelOptionalTasks => "cancel_optional_tasks",
            ActionKind::TriggerCompensation => "trigger_compensation",
            ActionKind::LogAndContinue => "log_and_continue",
        }
    }

    /// Whether executing this kind marks a running session `Adapted`
    /// ([`SessionHandle::mark_adapted`](autonomic_core::SessionHandle::mark_adapted)).
    ///
    /// All kinds do except `LogAndContinue` (an observation changes nothing) and
    /// `TriggerCompensation` (it concerns a session that already failed); `RetryTask` does,
    /// for the reason given on [`SessionAction::RetryTask`].
    pub const fn marks_adapted(self) -> bool {
        !matches!(self, ActionKind::LogAndContinue | ActionKind::TriggerCompensation)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposed action (or its expected impact) was refused before it reached the gate.
///
/// ```
/// use autonomic_adapter::SessionAction;
/// let err = SessionAction::DegradePerformance { factor: 1.5 }.validate().unwrap_err();
/// assert_eq!(err.to_string(), "degrade_performance: factor = 1.5: must be between 0.0 and 1.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}: {field} = {value}: {reason}")]
pub struct ActionError {
    /// The action's kind.
    pub kind: ActionKind,
    /// The refused field.
    pub field: &'static str,
    /// The refused value, printed (texts are shortened).
    pub value: String,
    /// What the value must be.
    pub reason: &'static str,
}

impl SessionAction {
    /// [`RetryTask`](Self::RetryTask) of `task_id` (a `String`, a `&'static str`, ...)
    /// after `backoff_ms`.
    pub fn retry_task(task_id: impl Into<Cow<'static, str>>, backoff_ms: u64) -> Self {
        SessionAction::RetryTask { task_id: task_id.into(), backoff_ms }
    }

    /// [`TriggerCompensation`](Self::TriggerCompensation) of `scope`.
    ///
    /// ```
    /// use autonomic_adapter::SessionAction;
    /// let order = 42;
    /// let action = SessionAction::trigger_compensation(format!("order-{order}"));
    /// assert_eq!(action.to_string(), "trigger compensation of order-42");
    /// ```
    pub fn trigger_compensation(scope: impl Into<Cow<'static, str>>) -> Self {
        SessionAction::TriggerCompensation { scope: scope.into() }
    }

    /// [`LogAndContinue`](Self::LogAndContinue) with `message`.
    pub fn log_and_continue(message: impl Into<Cow<'static, str>>) -> Self {
        SessionAction::LogAndContinue { message: message.into() }
    }

    /// Longest text (task id, scope, message) an action may carry, in bytes: events and
    /// histories hold copies, so their memory stays bounded.
    pub const MAX_TEXT_LEN: usize = 512;

    /// The action's kind.
    pub const fn kind(&self) -> ActionKind {
        match self {
            SessionAction::RetryTask { .. } => ActionKind::RetryTask,
            SessionAction::DegradePerformance { .. } => ActionKind::DegradePerformance,
            SessionAction::RequestResources { .. } => ActionKind::RequestResources,
            SessionAction::CancelOptionalTasks => ActionKind::CancelOptionalTasks,
            SessionAction::TriggerCompensation { .. } => ActionKind::TriggerCompensation,
            SessionAction::LogAndContinue { .. } => ActionKind::LogAndContinue,
        }
    }

    /// Checks the action's values: a finite `factor` in `0.0..=1.0`, a finite `amount` in
    /// `0.0 < amount <= 1.0`, texts of at most [`MAX_TEXT_LEN`](Self::MAX_TEXT_LEN) bytes.
    #[inline]
    pub fn validate(&self) -> Result<(), ActionError> {
        // The check is a few comparisons, inlined on the admission path; the error is built
        // apart, only for an action refused.
        match self.is_valid() {
            true => Ok(()),
            false => self.refusal().map_or(Ok(()), Err),
        }
    }

    /// Whether [`validate`](Self::validate) accepts the action: the one place its rules live.
    #[inline]
    fn is_valid(&self) -> bool {
        match self {
            SessionAction::DegradePerformance { factor } => (0.0..=1.0).contains(factor),
            SessionAction::RequestResources { amount } => *amount > 0.0 && *amount <= 1.0,
            SessionAction::RetryTask { task_id: text, .. }
            | SessionAction::TriggerCompensation { scope: text }
            | SessionAction::LogAndContinue { message: text } => text.len() <= Self::MAX_TEXT_LEN,
            SessionAction::CancelOptionalTasks => true,
        }
    }

    /// Why [`validate`](Self::validate) refuses the action (`None` for a kind it never
    /// refuses).
    #[cold]
    #[inline(never)]
    fn refusal(&self) -> Option<ActionError> {
        let kind = self.kind();
        let refuse =
            |field, value: String, reason| Some(ActionError { kind, field, value, reason });
        match self {
            SessionAction::DegradePerformance { factor } => {
                refuse("factor", factor.to_string(), "must be between 0.0 and 1.0")
            }
            SessionAction::RequestResources { amount } => {
                refuse("amount", amount.to_string(), "must be greater than 0.0 and at most 1.0")
            }
            SessionAction::RetryTask { task_id: text, .. }
            | SessionAction::TriggerCompensation { scope: text }
            | SessionAction::LogAndContinue { message: text } => {
                let field = match kind {
                    ActionKind::RetryTask => "task_id",
                    ActionKind::TriggerCompensation => "scope",
                    _ => "message",
                };
                refuse(
                    field,
                    format!("{} bytes", text.len()),
                    "is longer than SessionAction::MAX_TEXT_LEN",
                )
            }
            SessionAction::CancelOptionalTasks => None,
        }
    }
}

impl fmt::Display for SessionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionAction::RetryTask { task_id, backoff_ms } => {
                write!(f, "retry task {task_id} after {backoff_ms} ms")
            }
            SessionAction::DegradePerformance { factor } => {
                write!(f, "degrade performance to {:.0}%", factor * 100.0)
            }
            SessionAction::RequestResources { amount } => {
                write!(f, "request {:.1}% of capacity", amount * 100.0)
            }
            SessionAction::CancelOptionalTasks => f.write_str("cancel optional tasks"),
            SessionAction::TriggerCompensation { scope } => {
                write!(f, "trigger compensation of {scope}")
            }
            SessionAction::LogAndContinue { message } => write!(f, "log and continue: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> [SessionAction; 6] {
        [
            SessionAction::retry_task(String::from("t"), 5),
            SessionAction::DegradePerformance { factor: 0.5 },
            SessionAction::RequestResources { amount: 0.1 },
            SessionAction::CancelOptionalTasks,
            SessionAction::trigger_compensation(String::from("s")),
            SessionAction::log_and_continue("m"),
        ]
    }

    #[test]
    fn constructors_take_owned_and_static_texts() {
        let owned = String::from("task-7");
        assert_eq!(
            SessionAction::retry_task(owned, 3),
            SessionAction::RetryTask { task_id: Cow::Borrowed("task-7"), backoff_ms: 3 }
        );
        let SessionAction::LogAndContinue { message } = SessionAction::log_and_continue("fixed")
        else {
            unreachable!()
        };
        assert!(matches!(message, Cow::Borrowed("fixed")), "a static text is not copied");
    }

    #[test]
    fn every_kind_round_trips_and_displays() {
        for (action, kind) in one_of_each().into_iter().zip(ActionKind::ALL) {
            assert_eq!(action.kind(), kind);
            let json = serde_json::to_string(&action).unwrap();
            assert!(json.contains(kind.as_str()), "{json}");
            assert_eq!(serde_json::from_str::<SessionAction>(&json).unwrap(), action);
            assert!(!action.to_string().is_empty());
            assert!(action.validate().is_ok());
        }
    }

    #[test]
    fn bad_values_are_refused_by_field() {
        let bad = [
            (SessionAction::DegradePerformance { factor: f64::NAN }, "factor"),
            (SessionAction::DegradePerformance { factor: -0.1 }, "factor"),
            (SessionAction::DegradePerformance { factor: f64::INFINITY }, "factor"),
            (SessionAction::DegradePerformance { factor: f64::NEG_INFINITY }, "factor"),
            (SessionAction::RequestResources { amount: f64::NAN }, "amount"),
            (SessionAction::RequestResources { amount: -0.5 }, "amount"),
            (SessionAction::RequestResources { amount: 0.0 }, "amount"),
            (SessionAction::RequestResources { amount: f64::INFINITY }, "amount"),
            (SessionAction::RequestResources { amount: 1.5 }, "amount"),
            (SessionAction::LogAndContinue { message: "x".repeat(513).into() }, "message"),
            (
                SessionAction::RetryTask { task_id: "x".repeat(513).into(), backoff_ms: 1 },
                "task_id",
            ),
            (SessionAction::TriggerCompensation { scope: "x".repeat(513).into() }, "scope"),
        ];
        for (action, field) in bad {
            assert_eq!(action.validate().unwrap_err().field, field, "{action:?}");
        }
    }
}
