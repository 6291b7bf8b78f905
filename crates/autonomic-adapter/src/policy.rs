//! Policies: [`SessionPolicy`] turns a session's snapshot into at most one [`Proposal`];
//! [`ThresholdPolicy`] is the default.
//!
//! A policy only *proposes*: the adapter then checks the proposal against Global Q and
//! either admits it (a decision holding a permit) or refuses it (counted, traced, emitted).
//! A policy is called on every analysis, usually for a healthy session, so it should be
//! cheap when it proposes nothing: no allocation, no lock, no clock read.

use std::borrow::Cow;

use autonomic_core::{
    ClockHandle, GlobalKnowledge, KnowledgeBase, MetricsSnapshot, SessionId, SessionState,
    TenantId, WindowFigures,
};

use crate::{AdapterError, Metric, SessionAction, SessionAdapterConfig, SessionEvent};

/// Decides what (if anything) one session should do, from its metrics.
///
/// Plug your own into [`SessionAdapter::builder`](crate::SessionAdapter::builder):
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{PolicyContext, Proposal, SessionAction, SessionAdapter, SessionPolicy};
/// use autonomic_core::{CaseId, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId};
///
/// /// Sheds optional work as soon as a session has ever violated its SLO.
/// struct ZeroTolerance;
/// impl SessionPolicy for ZeroTolerance {
///     fn propose(&self, s: &MetricsSnapshot, _: &PolicyContext<'_>) -> Option<Proposal> {
///         (s.is_active() && s.violation_count > 0)
///             .then(|| Proposal::new(SessionAction::CancelOptionalTasks, "any violation"))
///     }
/// }
///
/// let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
///     .policy(ZeroTolerance)
///     .build()?;
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// handle.record_violation();
/// let decision = adapter.evaluate(&handle)?.into_decision().expect("admitted");
/// assert_eq!(decision.action, SessionAction::CancelOptionalTasks);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SessionPolicy: Send + Sync + 'static {
    /// At most one action for the session whose metrics are `snapshot`.
    ///
    /// `snapshot.taken_at_ns` is `0`: the analysis path reads no clock. A policy that needs
    /// the time calls [`PolicyContext::now_nanos`].
    fn propose(&self, snapshot: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal>;
}

impl<P: SessionPolicy + ?Sized> SessionPolicy for Box<P> {
    fn propose(&self, snapshot: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal> {
        (**self).propose(snapshot, ctx)
    }
}

impl<P: SessionPolicy + ?Sized> SessionPolicy for std::sync::Arc<P> {
    fn propose(&self, snapshot: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal> {
        (**self).propose(snapshot, ctx)
    }
}

/// A policy from a closure.
///
/// ```
/// use autonomic_adapter::{FnPolicy, Proposal, SessionAction};
/// let never_mind = FnPolicy(|_: &autonomic_core::MetricsSnapshot, _: &autonomic_adapter::PolicyContext<'_>| {
///     None::<Proposal>
/// });
/// # let _ = never_mind;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FnPolicy<F>(pub F);

impl<F> SessionPolicy for FnPolicy<F>
where
    F: Fn(&MetricsSnapshot, &PolicyContext<'_>) -> Option<Proposal> + Send + Sync + 'static,
{
    fn propose(&self, snapshot: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal> {
        (self.0)(snapshot, ctx)
    }
}

/// What a policy knows about the session besides its metrics, and the adapter's thresholds.
///
/// **The session's cohort.** A policy may read the windowed figures of the session's
/// workflow pattern and tenant ([`WindowFigures`]) from the knowledge the aggregator
/// published last: [`cohort`](Self::cohort), [`pattern_window`](Self::pattern_window),
/// [`tenant_window`](Self::tenant_window). They are read *lazily*: the context carries only a
/// reference to the adapter's [`KnowledgeBase`], and each call loads the current knowledge
/// (one lock-free `arc-swap` load) and looks the cohort up (a binary search in the sorted
/// windows). A policy that does not ask, or asks only on the way to a proposal, costs the
/// healthy analysis nothing.
///
/// A policy that prefers shedding over a retry while its pattern's window fails:
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{PolicyContext, Proposal, SessionAction, SessionAdapter, SessionPolicy};
/// use autonomic_core::{
///     CaseId, Evidence, GlobalKnowledge, KnowledgeBase, MetricsSnapshot, SessionHandle, TenantId,
///     WindowCounts, WindowFigures, WindowGauges, WindowedKnowledge,
/// };
///
/// struct ShedWhenTheCohortFails;
/// impl SessionPolicy for ShedWhenTheCohortFails {
///     fn propose(&self, s: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal> {
///         if s.retry_count <= ctx.config.max_retries {
///             return None; // the healthy path reads no knowledge
///         }
///         if ctx.cohort().worst_failure_rate().is_some_and(|rate| rate >= 0.5) {
///             return Some(Proposal::new(SessionAction::CancelOptionalTasks, "cohort failing"));
///         }
///         Some(Proposal::new(SessionAction::RetryTask { task_id: "t".into(), backoff_ms: 100 }, "retry"))
///     }
/// }
///
/// let knowledge = Arc::new(KnowledgeBase::new());
/// let failing = WindowCounts { completed: 20, failed: 80, ..Default::default() };
/// let sick = WindowFigures::new(failing, failing, WindowGauges::default(), 20, 1);
/// let windows = WindowedKnowledge { patterns: vec![(7, sick)], ..Default::default() };
/// knowledge.publish(GlobalKnowledge { windows: Some(windows), ..Default::default() });
///
/// let adapter = SessionAdapter::builder(knowledge).policy(ShedWhenTheCohortFails).build()?;
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).with_pattern(7).start()?;
/// for _ in 0..=adapter.config().max_retries { handle.record_retry(); }
/// let decision = adapter.evaluate(&handle)?.into_decision().expect("admitted");
/// assert_eq!(decision.action, SessionAction::CancelOptionalTasks);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// The session.
    pub session_id: SessionId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its workflow pattern, if set.
    pub pattern: Option<u8>,
    /// The adapter's configuration (thresholds).
    pub config: &'a SessionAdapterConfig,
    clock: &'a ClockHandle,
    /// Where the cohort's windows are read from, on call (`None`: no knowledge to read).
    knowledge: Option<&'a KnowledgeBase>,
}

impl<'a> PolicyContext<'a> {
    /// A context (for calling a policy directly, for example in its tests). It reads no
    /// knowledge until [`with_knowledge`](Self::with_knowledge) gives it some: its cohort is
    /// then [empty](CohortWindows::default).
    #[inline]
    pub fn new(
        session_id: SessionId,
        tenant_id: TenantId,
        pattern: Option<u8>,
        config: &'a SessionAdapterConfig,
        clock: &'a ClockHandle,
    ) -> Self {
        PolicyContext { session_id, tenant_id, pattern, config, clock, knowledge: None }
    }

    /// The same context reading its cohort from `knowledge` (the adapter passes its own).
    /// Nothing is loaded here: the cohort is read when asked for.
    #[inline]
    pub fn with_knowledge(self, knowledge: &'a KnowledgeBase) -> Self {
        PolicyContext { knowledge: Some(knowledge), ..self }
    }

    /// Now, in nanoseconds on the session's clock (reads the clock).
    pub fn now_nanos(&self) -> u64 {
        self.clock.now_nanos()
    }

    /// The session's cohort: its pattern's and its tenant's windows, read together from the
    /// [current](KnowledgeBase::current) knowledge (one lock-free load, two binary searches).
    pub fn cohort(&self) -> CohortWindows {
        CohortWindows::read(self.knowledge, self.pattern, self.tenant_id)
    }

    /// The session's pattern's window, if the session has a pattern and the knowledge holds
    /// a window of its own for it (one lock-free load, one binary search).
    pub fn pattern_window(&self) -> Option<WindowFigures> {
        let pattern = self.pattern?;
        self.read(|k| k.windows.as_ref()?.pattern(pattern).copied()).flatten()
    }

    /// The session's tenant's window, if the knowledge holds a window of its own for it (one
    /// lock-free load, one binary search).
    pub fn tenant_window(&self) -> Option<WindowFigures> {
        self.read(|k| k.windows.as_ref()?.tenant(self.tenant_id).copied()).flatten()
    }

    fn read<R>(&self, f: impl FnOnce(&GlobalKnowledge) -> R) -> Option<R> {
        self.knowledge.map(|kb| kb.with_current(f))
    }
}

/// A session's cohort as the published knowledge shows it: its pattern's and its tenant's
/// [`WindowFigures`] ([`PolicyContext::cohort`]).
///
/// A figure is `None` when the knowledge holds no window of the cohort's own: no windows
/// published yet, a session without a pattern, or a cohort beyond the windows' caps (those
/// are summed in `other_patterns` / `other_tenants`, which are not one cohort).
///
/// ```
/// use autonomic_adapter::CohortWindows;
/// use autonomic_core::{WindowCounts, WindowFigures, WindowGauges};
/// let counts = WindowCounts { completed: 30, failed: 70, ..Default::default() };
/// let failing = WindowFigures::new(counts, counts, WindowGauges::default(), 20, 1);
/// let cohort = CohortWindows { pattern: Some(failing), ..Default::default() };
/// assert_eq!(cohort.worst_failure_rate(), Some(0.7));
/// assert_eq!(CohortWindows::default().worst_failure_rate(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CohortWindows {
    /// The generation of the knowledge read (0: none published yet).
    pub generation: u64,
    /// The session's pattern's window.
    pub pattern: Option<WindowFigures>,
    /// The session's tenant's window.
    pub tenant: Option<WindowFigures>,
}

impl CohortWindows {
    /// The cohort of a session of `pattern` and `tenant` in the current knowledge of
    /// `knowledge` (empty without one).
    fn read(knowledge: Option<&KnowledgeBase>, pattern: Option<u8>, tenant: TenantId) -> Self {
        let Some(knowledge) = knowledge else { return CohortWindows::default() };
        knowledge.with_current(|k| {
            let windows = k.windows.as_ref();
            CohortWindows {
                generation: k.generation,
                pattern: pattern.and_then(|p| windows?.pattern(p).copied()),
                tenant: windows.and_then(|w| w.tenant(tenant).copied()),
            }
        })
    }

    /// The higher of the pattern's and the tenant's failure rates, among those judged (with
    /// enough evidence, see [`Evidence`](autonomic_core::Evidence)); `None` when neither is.
    pub fn worst_failure_rate(&self) -> Option<f64> {
        [self.pattern, self.tenant]
            .into_iter()
            .flatten()
            .filter_map(|f| f.failure_rate.rate())
            .reduce(f64::max)
    }
}

/// What a policy observed that made it propose an action; the adapter turns it into a
/// [`SessionEvent`] (`ViolationDetected` or `ThresholdExceeded`) whether or not the action is
/// then admitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// The violation rate passed its threshold.
    Violations {
        /// Violations recorded.
        violations: u64,
        /// Tasks completed.
        tasks: u64,
    },
    /// Another metric passed its threshold.
    Threshold {
        /// Which metric.
        metric: Metric,
        /// Its value.
        observed: f64,
        /// The threshold.
        limit: f64,
    },
}

impl Signal {
    pub(crate) fn to_event(self, session_id: SessionId, timestamp_ms: u64) -> SessionEvent {
        match self {
            Signal::Violations { violations, tasks } => SessionEvent::ViolationDetected {
                session_id,
                timestamp_ms,
                violation_rate: if tasks == 0 { 0.0 } else { violations as f64 / tasks as f64 },
                violations,
                tasks,
            },
            Signal::Threshold { metric, observed, limit } => SessionEvent::ThresholdExceeded {
                session_id,
                timestamp_ms,
                metric,
                observed,
                limit,
            },
        }
    }
}

/// An action a policy proposes, with its reason and expected impact.
///
/// ```
/// use autonomic_adapter::{Metric, Proposal, SessionAction, Signal};
/// let p = Proposal::new(SessionAction::RequestResources { amount: 0.1 }, "queue too deep")
///     .with_impact(0.3)
///     .with_signal(Signal::Threshold { metric: Metric::MeanLatencyUs, observed: 2e5, limit: 1e5 });
/// assert!(p.validate().is_ok());
/// assert!(Proposal::new(SessionAction::CancelOptionalTasks, "?").with_impact(2.0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The action.
    pub action: SessionAction,
    /// Why (a `&'static str` costs no allocation).
    pub reason: Cow<'static, str>,
    /// How much of the problem the action is expected to remove (`0.0..=1.0`).
    pub expected_impact: f64,
    /// What triggered it, if it was a threshold (emitted as an event).
    pub signal: Option<Signal>,
}

impl Proposal {
    /// A proposal with an expected impact of 0.5 and no signal.
    pub fn new(action: SessionAction, reason: impl Into<Cow<'static, str>>) -> Self {
        Proposal { action, reason: reason.into(), expected_impact: 0.5, signal: None }
    }

    /// Sets the expected impact.
    pub fn with_impact(mut self, expected_impact: f64) -> Self {
        self.expected_impact = expected_impact;
        self
    }

    /// Sets the signal.
    pub fn with_signal(mut self, signal: Signal) -> Self {
        self.signal = Some(signal);
        self
    }

    /// Checks the action's values and the expected impact.
    #[inline]
    pub fn validate(&self) -> Result<(), AdapterError> {
        self.action.validate()?;
        // `contains` is false for NaN and the infinities.
        if !(0.0..=1.0).contains(&self.expected_impact) {
            return Err(AdapterError::InvalidImpact(self.expected_impact));
        }
        Ok(())
    }
}

/// The default policy: thresholds from [`SessionAdapterConfig`], checked in this order, the
/// first that holds wins.
///
/// | condition | proposal |
/// |---|---|
/// | session `Failed` | `TriggerCompensation { scope: <session id> }` |
/// | not running (`Created`, `Completed`, `Cancelled`) | nothing |
/// | `retries > max_retries`, the session's cohort failing (opt-in, below) | `DegradePerformance { factor: 1 - cohort failure rate }` (clamped to `0.5..=0.9`) |
/// | `retries > max_retries` | `RetryTask { task_id: "current", backoff_ms }`, exponential with jitter (below) |
/// | violation rate `> max_violation_rate`, `tasks >= min_samples`, auto-degrade on, rate `<= 2 * max` | `DegradePerformance { factor: max / rate }` (clamped to `0.5..=0.9`) |
/// | same, rate `> 2 * max` | `CancelOptionalTasks` |
/// | same, auto-degrade off | `LogAndContinue` |
/// | mean latency `> max_latency_us`, `tasks >= min_samples` | `RequestResources { amount: resource_step }` |
/// | a rate over its threshold with `tasks < min_samples` | `LogAndContinue` (too few samples to act) |
///
/// **Backoff**: the `n`-th retry over the limit waits `base * 2^(n-1)` ms, capped at
/// `retry_max_backoff_ms`, with "equal jitter": a value between half and all of that, drawn
/// from a hash of the session id and the retry count. Sessions that fail together spread
/// out, yet a given session's backoff is reproducible, and no random-number state is shared.
///
/// **Shedding instead of retrying into a failing cohort** (opt-in:
/// [`shed_retries_at_cohort_failure_rate`](SessionAdapterConfig::shed_retries_at_cohort_failure_rate)).
/// When most sessions of a pattern or tenant fail, the fault is usually their shared
/// dependency, and a retry adds load to it. With the threshold set, a session past its
/// retries whose cohort's window ([`PolicyContext::cohort`]) fails at or above it, judged, is
/// proposed a degradation (a shedding action, which the cohort breaker lets through) instead.
/// The cohort is read only on that path: a healthy session never reads the knowledge.
///
/// The healthy path (nothing proposed) reads only the snapshot: no allocation, no division,
/// no clock, no knowledge.
///
/// ```
/// use autonomic_adapter::{PolicyContext, SessionAction, SessionAdapterConfig, SessionPolicy, ThresholdPolicy};
/// use autonomic_core::{CaseId, ClockHandle, SessionHandle, TenantId};
/// let config = SessionAdapterConfig::default();
/// let clock = ClockHandle::monotonic();
/// let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// let ctx = PolicyContext::new(handle.id(), handle.tenant_id(), None, &config, &clock);
/// for _ in 0..12 { handle.record_task_execution_us(150_000); } // 150 ms each: too slow
/// let proposal = ThresholdPolicy.propose(&handle.snapshot(), &ctx).unwrap();
/// assert_eq!(proposal.action, SessionAction::RequestResources { amount: 0.05 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ThresholdPolicy;

impl ThresholdPolicy {
    /// The backoff for a session that has retried `retries` times, `retries > max_retries`.
    pub fn backoff_ms(session: SessionId, retries: u64, config: &SessionAdapterConfig) -> u64 {
        let over = retries.saturating_sub(config.max_retries).max(1);
        let doubling = (over - 1).min(62) as u32;
        let exponential = config
            .retry_base_backoff_ms
            .saturating_mul(1u64 << doubling)
            .min(config.retry_max_backoff_ms);
        let half = exponential / 2;
        let spread = exponential - half;
        half + mix64(session.as_u64() ^ retries.rotate_left(32)) % (spread + 1)
    }
}

impl SessionPolicy for ThresholdPolicy {
    // The cold helpers take only the context's fields they read, copied (`RetryContext`):
    // inlined into `evaluate`, the context's address then never escapes, so the healthy
    // path does not write it to the stack (passed by reference or by value, it is built in
    // memory before the first branch).
    #[inline]
    fn propose(&self, s: &MetricsSnapshot, ctx: &PolicyContext<'_>) -> Option<Proposal> {
        match s.state {
            SessionState::Active | SessionState::Adapted => {}
            SessionState::Failed => return Some(compensate(ctx.session_id)),
            SessionState::Created | SessionState::Completed | SessionState::Cancelled => {
                return None;
            }
        }
        let c = ctx.config;
        if s.retry_count > c.max_retries {
            return Some(retry(s, RetryContext::of(ctx)));
        }
        let tasks = s.task_completions;
        // violations / tasks > max, without a division on the healthy path.
        let violations_high =
            s.violation_count > 0 && s.violation_count as f64 > c.max_violation_rate * tasks as f64;
        // total / tasks > max_latency_us, exactly, in integers.
        let latency_high = tasks > 0
            && u128::from(s.total_latency_us) > u128::from(c.max_latency_us) * u128::from(tasks);
        if !(violations_high || latency_high) {
            return None;
        }
        propose_for_threshold(s, c, violations_high)
    }
}

/// The proposal for a session past a threshold (a violation rate or a mean latency over its
/// limit): an observation below `min_samples` tasks, else shedding or degradation for
/// violations, a resource request for latency. Out of line and marked cold: healthy sessions,
/// the common case, never get here.
#[cold]
#[inline(never)]
fn propose_for_threshold(
    s: &MetricsSnapshot,
    c: &SessionAdapterConfig,
    violations_high: bool,
) -> Option<Proposal> {
    let tasks = s.task_completions;
    if tasks < c.min_samples {
        let message = if violations_high {
            format!(
                "violation rate {:.3} over {} after only {tasks} of {} tasks",
                s.violation_rate(),
                c.max_violation_rate,
                c.min_samples
            )
        } else {
            format!(
                "mean latency {:.0} us over {} us after only {tasks} of {} tasks",
                s.avg_latency_us().unwrap_or(0.0),
                c.max_latency_us,
                c.min_samples
            )
        };
        return Some(
            Proposal::new(
                SessionAction::LogAndContinue { message: message.into() },
                "threshold crossed with fewer than min_samples tasks",
            )
            .with_impact(0.0),
        );
    }
    if violations_high {
        let signal = Signal::Violations { violations: s.violation_count, tasks };
        let rate = s.violation_rate();
        let proposal = if !c.enable_auto_degrade {
            Proposal::new(
                SessionAction::LogAndContinue {
                    message: Cow::Owned(format!(
                        "violation rate {rate:.3} over {} (auto-degrade off)",
                        c.max_violation_rate
                    )),
                },
                "violation rate over max_violation_rate, auto-degrade disabled",
            )
            .with_impact(0.0)
        } else if rate > 2.0 * c.max_violation_rate {
            Proposal::new(
                SessionAction::CancelOptionalTasks,
                "violation rate over twice max_violation_rate",
            )
            .with_impact(0.5)
        } else {
            let factor = (c.max_violation_rate / rate).clamp(0.5, 0.9);
            Proposal::new(
                SessionAction::DegradePerformance { factor },
                "violation rate over max_violation_rate",
            )
            .with_impact(1.0 - factor)
        };
        return Some(proposal.with_signal(signal));
    }
    let mean = s.avg_latency_us().unwrap_or(0.0);
    Some(
        Proposal::new(
            SessionAction::RequestResources { amount: c.resource_step },
            "mean latency over max_latency_us",
        )
        .with_signal(Signal::Threshold {
            metric: Metric::MeanLatencyUs,
            observed: mean,
            limit: c.max_latency_us as f64,
        }),
    )
}

/// A retry, or, when `shed_retries_at_cohort_failure_rate` is set and the session's cohort
/// fails at or above it, a degradation (the cohort is read here, off the healthy path).
#[cold]
#[inline(never)]
fn retry(s: &MetricsSnapshot, ctx: RetryContext<'_>) -> Proposal {
    let signal = Signal::Threshold {
        metric: Metric::Retries,
        observed: s.retry_count as f64,
        limit: ctx.config.max_retries as f64,
    };
    let failing = ctx.config.shed_retries_at_cohort_failure_rate.and_then(|threshold| {
        let cohort = CohortWindows::read(ctx.knowledge, ctx.pattern, ctx.tenant_id);
        cohort.worst_failure_rate().filter(|&r| r >= threshold)
    });
    if let Some(rate) = failing {
        let factor = (1.0 - rate).clamp(0.5, 0.9);
        tracing::debug!(cohort_failure_rate = rate, "cohort failing: shedding instead of a retry");
        return Proposal::new(
            SessionAction::DegradePerformance { factor },
            "retries over max_retries while the session's cohort fails: shed, do not retry",
        )
        .with_impact(1.0 - factor)
        .with_signal(signal);
    }
    let backoff_ms = ThresholdPolicy::backoff_ms(ctx.session_id, s.retry_count, ctx.config);
    Proposal::new(
        SessionAction::RetryTask { task_id: Cow::Borrowed("current"), backoff_ms },
        "retries over max_retries",
    )
    .with_signal(signal)
}

#[cold]
#[inline(never)]
fn compensate(session_id: SessionId) -> Proposal {
    Proposal::new(
        SessionAction::TriggerCompensation { scope: session_id.to_string().into() },
        "session failed",
    )
    .with_impact(1.0)
}

/// What the default policy's retry reads of a [`PolicyContext`], copied field by field where
/// it is called (see `ThresholdPolicy::propose`).
#[derive(Clone, Copy)]
struct RetryContext<'a> {
    session_id: SessionId,
    tenant_id: TenantId,
    pattern: Option<u8>,
    config: &'a SessionAdapterConfig,
    knowledge: Option<&'a KnowledgeBase>,
}

impl<'a> RetryContext<'a> {
    #[inline(always)]
    fn of(ctx: &PolicyContext<'a>) -> Self {
        let PolicyContext { session_id, tenant_id, pattern, config, knowledge, .. } = *ctx;
        RetryContext { session_id, tenant_id, pattern, config, knowledge }
    }
}

/// SplitMix64's finalizer: a fast, well-spread 64-bit hash.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonomic_core::{CaseId, SessionHandle};

    fn propose(
        config: &SessionAdapterConfig,
        build: impl FnOnce(&SessionHandle),
    ) -> Option<Proposal> {
        let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
        build(&handle);
        let clock = ClockHandle::monotonic();
        let ctx = PolicyContext::new(handle.id(), handle.tenant_id(), None, config, &clock);
        ThresholdPolicy.propose(&handle.snapshot_at(0), &ctx)
    }

    fn tasks(h: &SessionHandle, n: u64, latency_us: u64, violations: u64) {
        for _ in 0..n {
            h.record_task_execution_us(latency_us);
        }
        for _ in 0..violations {
            h.record_violation();
        }
    }

    #[test]
    fn healthy_sessions_get_nothing() {
        let c = SessionAdapterConfig::default();
        assert!(propose(&c, |_| {}).is_none());
        assert!(propose(&c, |h| tasks(h, 100, 99_000, 10)).is_none()); // exactly at 10%
        assert!(propose(&c, |h| tasks(h, 100, 100_000, 0)).is_none()); // exactly at the limit
        assert!(propose(&c, |h| (0..3).for_each(|_| h.record_retry())).is_none());
    }

    #[test]
    fn every_action_kind_has_its_condition() {
        let c = SessionAdapterConfig::default();
        let p = propose(&c, |h| (0..4).for_each(|_| h.record_retry())).unwrap();
        assert!(matches!(p.action, SessionAction::RetryTask { .. }));
        assert!(matches!(p.signal, Some(Signal::Threshold { metric: Metric::Retries, .. })));

        let p = propose(&c, |h| tasks(h, 100, 1_000, 15)).unwrap();
        assert_eq!(p.action, SessionAction::DegradePerformance { factor: 0.1 / 0.15 });
        assert_eq!(p.signal, Some(Signal::Violations { violations: 15, tasks: 100 }));

        let p = propose(&c, |h| tasks(h, 100, 1_000, 30)).unwrap();
        assert_eq!(p.action, SessionAction::CancelOptionalTasks);

        let p = propose(&c, |h| tasks(h, 20, 150_000, 0)).unwrap();
        assert_eq!(p.action, SessionAction::RequestResources { amount: c.resource_step });

        let p = propose(&c, |h| tasks(h, 2, 1_000, 1)).unwrap(); // 50%, but 2 tasks
        assert!(matches!(p.action, SessionAction::LogAndContinue { .. }), "{p:?}");
        assert!(p.signal.is_none());

        let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
        let failed = handle.fail().unwrap();
        let clock = ClockHandle::monotonic();
        let ctx = PolicyContext::new(failed.id(), failed.tenant_id(), None, &c, &clock);
        let p = ThresholdPolicy.propose(&failed.snapshot_at(0), &ctx).unwrap();
        assert_eq!(
            p.action,
            SessionAction::TriggerCompensation { scope: failed.id().to_string().into() }
        );

        let off = SessionAdapterConfig { enable_auto_degrade: false, ..c };
        let p = propose(&off, |h| tasks(h, 100, 1_000, 15)).unwrap();
        assert!(matches!(p.action, SessionAction::LogAndContinue { .. }));
        assert!(p.signal.is_some());
    }

    #[test]
    fn one_bad_task_in_two_is_not_a_violation_rate() {
        let c = SessionAdapterConfig::default();
        let p = propose(&c, |h| tasks(h, 2, 1_000, 1)).unwrap();
        assert_ne!(p.action.kind(), crate::ActionKind::DegradePerformance);
        assert_ne!(p.action.kind(), crate::ActionKind::CancelOptionalTasks);
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let c = SessionAdapterConfig::default(); // base 100, cap 30 000, max_retries 3
        let id = SessionId::from_raw(99);
        let mut previous_ceiling = 0;
        for retries in 4..20 {
            let ceiling = (100u64 << (retries - 4)).min(30_000);
            let b = ThresholdPolicy::backoff_ms(id, retries, &c);
            assert!(b >= ceiling / 2 && b <= ceiling, "retries {retries}: {b} vs {ceiling}");
            assert!(ceiling >= previous_ceiling);
            previous_ceiling = ceiling;
        }
        assert!(ThresholdPolicy::backoff_ms(id, u64::MAX, &c) <= 30_000);
        // Jitter: different sessions at the same retry count do not all wait the same time.
        let waits: std::collections::HashSet<u64> =
            (0..50).map(|i| ThresholdPolicy::backoff_ms(SessionId::from_raw(i), 8, &c)).collect();
        assert!(waits.len() > 10, "{waits:?}");
        // Reproducible for one session.
        assert_eq!(ThresholdPolicy::backoff_ms(id, 8, &c), ThresholdPolicy::backoff_ms(id, 8, &c));
    }
}
