//! [`FaultPlan`]: which faults, on whom, when; validated.

use std::time::Duration;

use autonomic::TenantId;
use thiserror::Error;

/// Who a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every session.
    All,
    /// The sessions of one tenant.
    Tenant(TenantId),
    /// The sessions of one workflow pattern.
    Pattern(u8),
}

impl Target {
    /// Whether a session of `tenant` running `pattern` is hit.
    #[inline]
    pub fn matches(&self, tenant: TenantId, pattern: Option<u8>) -> bool {
        match *self {
            Target::All => true,
            Target::Tenant(t) => t == tenant,
            Target::Pattern(p) => pattern == Some(p),
        }
    }
}

/// What a fault does while it lasts. Rates are probabilities in `0.0..=1.0`; factors are
/// multipliers `>= 1.0` (at most [`FaultKind::MAX_FACTOR`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// A session that ends meanwhile fails with probability `rate` (instead of its usual
    /// rate, if that is lower).
    SessionFailures {
        /// The failure probability.
        rate: f64,
    },
    /// A task fails transiently (and is retried) with probability `rate`.
    TaskFailures {
        /// The transient failure probability.
        rate: f64,
    },
    /// A fraction `rate` of tasks take `factor` times as long.
    LatencySpike {
        /// The latency multiplier.
        factor: f64,
        /// The fraction of tasks hit.
        rate: f64,
    },
    /// A fraction `rate` of the sessions that start meanwhile run every task `factor` times
    /// slower, to their end (even after the fault).
    SlowSessions {
        /// The latency multiplier.
        factor: f64,
        /// The fraction of sessions hit.
        rate: f64,
    },
    /// The tenant's (or everyone's) arrivals come `factor` times as often.
    Flood {
        /// The arrival rate multiplier.
        factor: f64,
    },
    /// A `fraction` of the resource capacity is held by something else: the doctrine's
    /// `max_total_resources` shrinks by that fraction meanwhile. Applies to everyone
    /// (its target is ignored).
    ResourcePressure {
        /// The fraction of capacity held.
        fraction: f64,
    },
}

impl FaultKind {
    /// The largest factor a fault may have.
    pub const MAX_FACTOR: f64 = 1000.0;

    /// The kind's name, as scenario files spell it.
    pub const fn name(&self) -> &'static str {
        match self {
            FaultKind::SessionFailures { .. } => "session_failures",
            FaultKind::TaskFailures { .. } => "task_failures",
            FaultKind::LatencySpike { .. } => "latency_spike",
            FaultKind::SlowSessions { .. } => "slow_sessions",
            FaultKind::Flood { .. } => "flood",
            FaultKind::ResourcePressure { .. } => "resource_pressure",
        }
    }

    fn validate(&self) -> Result<(), FaultError> {
        let rate = |field, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(FaultError::Invalid { field, value: v, reason: "must be between 0.0 and 1.0" })
            }
        };
        let factor = |v: f64| {
            if (1.0..=Self::MAX_FACTOR).contains(&v) {
                Ok(())
            } else {
                Err(FaultError::Invalid {
                    field: "factor",
                    value: v,
                    reason: "must be between 1.0 and 1000.0",
                })
            }
        };
        match *self {
            FaultKind::SessionFailures { rate: r } | FaultKind::TaskFailures { rate: r } => {
                rate("rate", r)
            }
            FaultKind::LatencySpike { factor: f, rate: r }
            | FaultKind::SlowSessions { factor: f, rate: r } => {
                factor(f)?;
                rate("rate", r)
            }
            FaultKind::Flood { factor: f } => factor(f),
            FaultKind::ResourcePressure { fraction } => rate("fraction", fraction),
        }
    }
}

/// One fault: what, on whom, from when until when (on the clock of whoever injects it:
/// the simulator's virtual time, or a test's own).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// Who it hits.
    pub target: Target,
    /// What it does.
    pub kind: FaultKind,
    /// When it starts.
    pub from: Duration,
    /// When it ends (exclusive).
    pub until: Duration,
}

impl Fault {
    /// A fault of `kind` on `target` over `from..until`.
    pub fn new(target: Target, kind: FaultKind, from: Duration, until: Duration) -> Self {
        Fault { target, kind, from, until }
    }

    /// Whether it is in force at `at`.
    #[inline]
    pub fn active_at(&self, at: Duration) -> bool {
        self.from <= at && at < self.until
    }
}

/// A fault was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FaultError {
    /// A rate, fraction or factor out of range (NaN included).
    #[error("fault {field} = {value}: {reason}")]
    Invalid {
        /// The field: `rate`, `fraction` or `factor`.
        field: &'static str,
        /// The refused value.
        value: f64,
        /// What it must be.
        reason: &'static str,
    },
    /// A fault that ends before it starts.
    #[error("fault ends ({until:?}) before it starts ({from:?})")]
    EndsBeforeStart {
        /// Its start.
        from: Duration,
        /// Its end.
        until: Duration,
    },
    /// More faults than a plan may hold.
    #[error("{count} faults: a plan holds at most {max}")]
    TooMany {
        /// Faults given.
        count: usize,
        /// The bound.
        max: usize,
    },
}

/// A validated list of faults.
///
/// ```
/// use std::time::Duration;
/// use autonomic::TenantId;
/// use autonomic_sim::faults::{Fault, FaultError, FaultKind, FaultPlan, Target};
///
/// let s = Duration::from_secs;
/// let plan = FaultPlan::new(vec![Fault::new(
///     Target::Tenant(TenantId::from_u128(3)),
///     FaultKind::SessionFailures { rate: 0.4 },
///     s(60),
///     s(660),
/// )])?;
/// assert_eq!(plan.faults().len(), 1);
/// let bad = Fault::new(Target::All, FaultKind::TaskFailures { rate: 1.5 }, s(0), s(1));
/// assert!(matches!(FaultPlan::new(vec![bad]), Err(FaultError::Invalid { field: "rate", .. })));
/// # Ok::<(), FaultError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    faults: Vec<Fault>,
}

impl FaultPlan {
    /// The most faults a plan holds (each task checks every fault in force).
    pub const MAX_FAULTS: usize = 256;

    /// A plan of `faults`, each checked.
    pub fn new(faults: Vec<Fault>) -> Result<Self, FaultError> {
        if faults.len() > Self::MAX_FAULTS {
            return Err(FaultError::TooMany { count: faults.len(), max: Self::MAX_FAULTS });
        }
        for fault in &faults {
            fault.kind.validate()?;
            if fault.until < fault.from {
                return Err(FaultError::EndsBeforeStart { from: fault.from, until: fault.until });
            }
        }
        Ok(FaultPlan { faults })
    }

    /// The faults, in the order given.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}
