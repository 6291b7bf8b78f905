//! How numbers, rules and events are printed.

use autonomic::{QRule, SessionEvent};

pub(crate) fn short_rule(rule: QRule) -> &'static str {
    match rule {
        QRule::MinSloCompliance => "slo",
        QRule::MaxFailureRate => "failure rate",
        QRule::MaxConcurrentAdaptations => "slots",
        QRule::MaxTotalResources => "resources",
        QRule::TenantShare => "tenant share",
        QRule::RetryBudget => "retry budget",
        QRule::CohortBreaker => "cohort breaker",
    }
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub(crate) fn ms(us: u64) -> String {
    format!("{:.1}ms", us as f64 / 1e3)
}

pub(crate) fn event_name(event: &SessionEvent) -> &'static str {
    match event {
        SessionEvent::Started { .. } => "started",
        SessionEvent::Completed { .. } => "completed",
        SessionEvent::Failed { .. } => "failed",
        SessionEvent::Cancelled { .. } => "cancelled",
        SessionEvent::Adapted { .. } => "adapted",
        SessionEvent::ViolationDetected { .. } => "violation_detected",
        SessionEvent::ThresholdExceeded { .. } => "threshold_exceeded",
        SessionEvent::Rejected { .. } => "rejected",
        SessionEvent::BreakerChanged { .. } => "breaker_changed",
    }
}
