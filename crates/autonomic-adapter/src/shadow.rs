//! The shadow doctrine: a candidate [`GlobalQ`] judged beside the live one on every admission,
//! without effect. Its configuration ([`ShadowConfig`]), what it reports ([`ShadowReport`]),
//! and the counters and sample it keeps while it runs.
//!
//! # What the shadow guarantees
//! * **No effect.** The shadow never takes a slot, never reserves a resource, never emits an
//!   event, never changes what the live Q decides: the live decision is the same, bit for bit,
//!   whether a shadow is set or not.
//! * **Same proposals, same order.** It judges every proposal that reaches the rules (a
//!   healthy `evaluate`, where the policy proposes nothing, does not touch it), with the rules
//!   in the live order ([`QRule::ALL`], adaptation off first) and the adapter's configuration
//!   (`verify_global_q`, which kinds each knowledge rule judges): only the Q differs.
//! * **Knowledge rules** read the same knowledge the live rules read.
//! * **Capacity rules, read-only.** "Would have admitted" means: the candidate's
//!   `max_concurrent_adaptations` is above the live gate's slots in use, and the live gate's
//!   granted resources plus the request stay within the candidate's `max_total_resources`,
//!   both read just before the live gate judges the same proposal. The shadow has no counters
//!   of its own: it answers "with what the live doctrine holds now, would the candidate admit
//!   this?", not "what would be held had the candidate been in force all along". The two
//!   readings are not one atomic step with the live compare-and-swap, so under concurrency a
//!   would-be answer can be off by the admissions racing with it; in one thread it is exact.
//! * **Bounded.** Counts are kept for the first `top_tenants` tenants seen and the rest
//!   together (`other_tenants`); disagreements (the live Q and the candidate decided
//!   differently) are kept in a ring of `disagreement_sample`, the oldest overwritten and
//!   counted.
//! * **Promotion** ([`SessionAdapter::promote_shadow`](crate::SessionAdapter::promote_shadow))
//!   swaps the candidate in as the live Q (`arc-swap`) and ends the shadow: its final report
//!   is handed back, and the counts do not carry on (they described a Q that is now live, whose
//!   refusals the adapter's statistics count from then on). An admission that loaded the
//!   shadow just before promotion may still count into the ended shadow, after the report was
//!   taken.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use autonomic_core::config::ConfigError;
use autonomic_core::{GlobalQ, SessionId, TenantId};
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::policy::mix64;
use crate::{QRule, SessionAction};

/// How a shadow doctrine is set: the candidate Q and the bounds of what it keeps.
///
/// Loads from JSON or TOML; every value is validated (the candidate Q like any Q), and a
/// refused one names its field.
///
/// ```
/// use autonomic_adapter::ShadowConfig;
/// let c = ShadowConfig::from_toml_str("top_tenants = 4\n[global_q]\nmax_failure_rate = 0.01")?;
/// assert_eq!((c.top_tenants, c.global_q.max_failure_rate), (4, 0.01));
/// let err = ShadowConfig::from_json_str(r#"{"global_q": {"max_failure_rate": -1}}"#).unwrap_err();
/// assert_eq!(err.field(), Some("max_failure_rate"));
/// let err = ShadowConfig::from_json_str(r#"{"disagreement_sample": 0}"#).unwrap_err();
/// assert_eq!(err.field(), Some("disagreement_sample"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct ShadowConfig {
    /// The candidate doctrine.
    pub global_q: GlobalQ,
    /// Tenants counted on their own; later ones are counted together as `other_tenants`
    /// (`1..=1024`; default 16).
    pub top_tenants: usize,
    /// Disagreements kept, newest last; older ones are overwritten and counted
    /// (`1..=4096`; default 64).
    pub disagreement_sample: usize,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        ShadowConfig { global_q: GlobalQ::default(), top_tenants: 16, disagreement_sample: 64 }
    }
}

impl ShadowConfig {
    /// Largest `top_tenants`.
    pub const MAX_TOP_TENANTS: usize = 1024;
    /// Largest `disagreement_sample`.
    pub const MAX_DISAGREEMENT_SAMPLE: usize = 4096;

    /// A shadow of `global_q` with the default bounds.
    pub fn of(global_q: GlobalQ) -> Self {
        ShadowConfig { global_q, ..ShadowConfig::default() }
    }

    /// Checks every field; the error names the first one refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.global_q.validate()?;
        crate::config::within("top_tenants", self.top_tenants, Self::MAX_TOP_TENANTS)?;
        crate::config::within(
            "disagreement_sample",
            self.disagreement_sample,
            Self::MAX_DISAGREEMENT_SAMPLE,
        )
    }
}

crate::validated::validated_document!(ShadowConfig);

/// What one doctrine decided for one proposal.
///
/// ```
/// use autonomic_adapter::{QRule, Verdict};
/// let v = Verdict::Refused { rule: QRule::MaxFailureRate, observed: 0.1, limit: 0.05 };
/// assert_eq!(v.rule(), Some(QRule::MaxFailureRate));
/// assert!(Verdict::Admitted.is_admitted());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Admitted.
    Admitted,
    /// Refused by `rule`, which saw `observed` against `limit` (as in a
    /// [`Refusal`](crate::Refusal)).
    Refused {
        /// The rule that refused.
        rule: QRule,
        /// What it saw.
        observed: f64,
        /// The limit it held that against.
        limit: f64,
    },
}

impl Verdict {
    /// Whether it admitted.
    #[inline]
    pub fn is_admitted(&self) -> bool {
        matches!(self, Verdict::Admitted)
    }

    /// The rule that refused, if any.
    pub fn rule(&self) -> Option<QRule> {
        match *self {
            Verdict::Admitted => None,
            Verdict::Refused { rule, .. } => Some(rule),
        }
    }

    /// Cell of a [`CountRow`]: 0 for admitted, `1 + rule index` for a refusal.
    #[inline]
    fn cell(&self) -> usize {
        self.rule().map_or(0, |rule| 1 + rule.index())
    }
}

/// A proposal the live Q and the candidate decided differently (one admitted, the other
/// refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// Its number among the shadow's disagreements (0, 1, ...): gaps are overwritten ones.
    pub seq: u64,
    /// The session.
    pub session_id: SessionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// When it was judged (wall-clock ms, the stamp the live decision carries).
    pub timestamp_ms: u64,
    /// The action proposed.
    pub action: SessionAction,
    /// What the live Q decided.
    pub live: Verdict,
    /// What the candidate would have decided.
    pub shadow: Verdict,
}

/// Proposals a doctrine would have admitted, and refused by rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    /// Would have admitted.
    pub admitted: u64,
    /// Would have refused, one entry per rule in [`QRule::ALL`] order.
    pub refused: Vec<RuleCount>,
}

/// Refusals by one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// The rule.
    pub rule: QRule,
    /// Refusals by it.
    pub count: u64,
}

impl VerdictCounts {
    /// Refusals by `rule`.
    pub fn refused_by(&self, rule: QRule) -> u64 {
        self.refused.iter().filter(|r| r.rule == rule).map(|r| r.count).sum()
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().map(|r| r.count).fold(0, u64::saturating_add)
    }

    /// Proposals judged.
    pub fn judged(&self) -> u64 {
        self.admitted.saturating_add(self.refused_total())
    }

    fn add(&mut self, other: &VerdictCounts) {
        self.admitted = self.admitted.saturating_add(other.admitted);
        for r in &other.refused {
            match self.refused.iter_mut().find(|mine| mine.rule == r.rule) {
                Some(mine) => mine.count = mine.count.saturating_add(r.count),
                None => self.refused.push(*r),
            }
        }
    }
}

/// One tenant's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantVerdicts {
    /// The tenant.
    pub tenant: TenantId,
    /// What the candidate would have decided for its proposals.
    pub counts: VerdictCounts,
}

/// What a shadow doctrine has seen: would-be admissions and refusals by rule (in all, per
/// tenant for the first `top_tenants`, the rest together) and a sample of disagreements.
///
/// ```
/// use std::sync::Arc;
/// use autonomic_adapter::{QRule, SessionAdapter, ShadowConfig};
/// use autonomic_core::{CaseId, GlobalQ, KnowledgeBase, SessionHandle, TenantId};
///
/// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
/// adapter.set_shadow(ShadowConfig::of(GlobalQ { max_concurrent_adaptations: 0, ..GlobalQ::default() }))?;
/// let h = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start()?;
/// for _ in 0..5 { h.record_retry(); }
/// assert!(adapter.evaluate(&h)?.into_decision().is_some()); // the live Q admits
/// let report = adapter.shadow_report().expect("a shadow is set");
/// assert_eq!(report.total.refused_by(QRule::MaxConcurrentAdaptations), 1);
/// assert_eq!(report.disagreements.len(), 1);
/// assert_eq!(adapter.active_adaptations(), 0); // the shadow never held a slot
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowReport {
    /// The candidate.
    pub global_q: GlobalQ,
    /// Every proposal judged.
    pub total: VerdictCounts,
    /// The first `top_tenants` tenants seen, sorted by tenant.
    pub tenants: Vec<TenantVerdicts>,
    /// The tenants past `top_tenants`, together.
    pub other_tenants: VerdictCounts,
    /// Proposals the live Q admitted and the candidate would have refused.
    pub live_admitted_shadow_refused: u64,
    /// Proposals the live Q refused and the candidate would have admitted.
    pub live_refused_shadow_admitted: u64,
    /// The most recent disagreements, oldest first (at most `disagreement_sample`).
    pub disagreements: Vec<Disagreement>,
    /// Disagreements overwritten in the sample by newer ones.
    pub disagreements_overwritten: u64,
}

/// What [`SessionAdapter::promote_shadow`](crate::SessionAdapter::promote_shadow) did: the Q
/// it replaced and the shadow's final report.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowPromotion {
    /// The Q that was in force before.
    pub previous: std::sync::Arc<GlobalQ>,
    /// What the shadow had seen when it was promoted.
    pub report: ShadowReport,
}

// ------------------------------------------------------------------- the counters ----

/// Cells of a [`CountRow`]: admitted, then one per rule.
const CELLS: usize = 1 + QRule::ALL.len();

/// Would-be admissions and refusals by rule, one relaxed counter each.
#[derive(Debug, Default)]
struct CountRow {
    cells: [AtomicU64; CELLS],
}

impl CountRow {
    #[inline]
    fn count(&self, verdict: &Verdict) {
        // Relaxed: a statistic; nothing is decided from it.
        self.cells[verdict.cell()].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> VerdictCounts {
        // Relaxed: a statistic, each cell exact, possibly a few updates apart.
        let cell = |i: usize| self.cells[i].load(Ordering::Relaxed);
        VerdictCounts {
            admitted: cell(0),
            refused: QRule::ALL
                .iter()
                .map(|&rule| RuleCount { rule, count: cell(1 + rule.index()) })
                .collect(),
        }
    }
}

/// A tenant's row: claimed once (the first tenant to set it owns it), then counted into.
#[derive(Debug, Default)]
struct TenantRow {
    tenant: OnceLock<TenantId>,
    counts: CountRow,
}

/// The disagreement sample: a fixed ring of slots written by a ticket (`fetch_add`), read
/// whole without stopping writers.
#[derive(Debug)]
struct Ring {
    slots: Box<[ArcSwapOption<Disagreement>]>,
    next: AtomicU64,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Ring {
            slots: (0..capacity.max(1)).map(|_| ArcSwapOption::empty()).collect(),
            next: AtomicU64::new(0),
        }
    }

    fn push(&self, mut disagreement: Disagreement) {
        // Relaxed: the ticket only spreads writers over the slots; each slot is published by
        // its own arc-swap store.
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        disagreement.seq = seq;
        let slot = (seq % self.slots.len() as u64) as usize;
        self.slots[slot].store(Some(std::sync::Arc::new(disagreement)));
    }

    /// The disagreements held, oldest first, and how many were overwritten.
    fn read(&self) -> (Vec<Disagreement>, u64) {
        let mut held: Vec<Disagreement> =
            self.slots.iter().filter_map(|s| s.load_full()).map(|d| (*d).clone()).collect();
        held.sort_by_key(|d| d.seq);
        // Relaxed: a statistic.
        let pushed = self.next.load(Ordering::Relaxed);
        (held, pushed.saturating_sub(self.slots.len() as u64))
    }
}

/// A running shadow: the candidate and what it has seen.
#[derive(Debug)]
pub(crate) struct Shadow {
    config: ShadowConfig,
    /// The candidate's `max_total_resources` in ledger units.
    capacity_units: u64,
    rows: Box<[CachePadded<TenantRow>]>,
    other: CachePadded<CountRow>,
    live_admitted_shadow_refused: AtomicU64,
    live_refused_shadow_admitted: AtomicU64,
    ring: Ring,
}

/// One proposal as both doctrines judged it, for [`Shadow::observe`].
pub(crate) struct Judged<'a> {
    pub(crate) session_id: SessionId,
    pub(crate) tenant: TenantId,
    pub(crate) timestamp_ms: u64,
    pub(crate) action: &'a SessionAction,
    pub(crate) live: Verdict,
    pub(crate) shadow: Verdict,
}

impl Shadow {
    /// A shadow of a validated configuration.
    pub(crate) fn new(config: ShadowConfig) -> Self {
        Shadow {
            capacity_units: crate::gate::capacity_units(config.global_q.max_total_resources),
            rows: (0..config.top_tenants).map(|_| CachePadded::default()).collect(),
            other: CachePadded::default(),
            live_admitted_shadow_refused: AtomicU64::new(0),
            live_refused_shadow_admitted: AtomicU64::new(0),
            ring: Ring::new(config.disagreement_sample),
            config,
        }
    }

    /// The candidate Q.
    #[inline]
    pub(crate) fn q(&self) -> &GlobalQ {
        &self.config.global_q
    }

    /// The candidate's `max_total_resources` in the gate's units.
    #[inline]
    pub(crate) fn capacity_units(&self) -> u64 {
        self.capacity_units
    }

    /// Counts the candidate's verdict for the proposal's tenant and, if the two doctrines
    /// disagree, keeps it in the sample.
    #[inline]
    pub(crate) fn observe(&self, judged: Judged<'_>) {
        self.row(judged.tenant).count(&judged.shadow);
        if judged.live.is_admitted() != judged.shadow.is_admitted() {
            self.disagree(judged);
        }
    }

    /// The tenant's row: found by probing from its hash, claimed if free; the shared row
    /// once every row is taken by other tenants.
    #[inline]
    fn row(&self, tenant: TenantId) -> &CountRow {
        let raw = tenant.as_uuid().as_u128();
        let len = self.rows.len();
        let hash = mix64((raw as u64) ^ ((raw >> 64) as u64));
        // The hash scaled to `0..len` by a multiply (no division on this path).
        let mut at = ((u128::from(hash) * len as u128) >> 64) as usize;
        for _ in 0..len {
            let row = &self.rows[at];
            at = if at + 1 == len { 0 } else { at + 1 };
            let owner = match row.tenant.get() {
                Some(owner) => *owner,
                // A race for a free row: one tenant wins it, the others probe on.
                None => *row.tenant.get_or_init(|| tenant),
            };
            if owner == tenant {
                return &row.counts;
            }
        }
        &self.other
    }

    #[cold]
    fn disagree(&self, judged: Judged<'_>) {
        let counter = if judged.live.is_admitted() {
            &self.live_admitted_shadow_refused
        } else {
            &self.live_refused_shadow_admitted
        };
        // Relaxed: a statistic.
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            session_id = %judged.session_id,
            action = %judged.action,
            live = ?judged.live,
            shadow = ?judged.shadow,
            "shadow doctrine disagrees with the live one"
        );
        self.ring.push(Disagreement {
            seq: 0,
            session_id: judged.session_id,
            tenant: judged.tenant,
            timestamp_ms: judged.timestamp_ms,
            action: judged.action.clone(),
            live: judged.live,
            shadow: judged.shadow,
        });
    }

    /// What it has seen so far.
    pub(crate) fn report(&self) -> ShadowReport {
        let mut tenants: Vec<TenantVerdicts> = self
            .rows
            .iter()
            .filter_map(|row| {
                row.tenant.get().map(|&tenant| TenantVerdicts { tenant, counts: row.counts.read() })
            })
            .collect();
        tenants.sort_by_key(|t| t.tenant);
        let other_tenants = self.other.read();
        let mut total = other_tenants.clone();
        for t in &tenants {
            total.add(&t.counts);
        }
        let (disagreements, disagreements_overwritten) = self.ring.read();
        ShadowReport {
            global_q: self.config.global_q,
            total,
            tenants,
            other_tenants,
            // Relaxed: statistics.
            live_admitted_shadow_refused: self.live_admitted_shadow_refused.load(Ordering::Relaxed),
            live_refused_shadow_admitted: self.live_refused_shadow_admitted.load(Ordering::Relaxed),
            disagreements,
            disagreements_overwritten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(tenant: TenantId, shadow: Verdict) -> Judged<'static> {
        static ACTION: SessionAction = SessionAction::CancelOptionalTasks;
        Judged {
            session_id: SessionId::from_raw(1),
            tenant,
            timestamp_ms: 0,
            action: &ACTION,
            live: Verdict::Admitted,
            shadow,
        }
    }

    #[test]
    fn tenants_past_the_top_share_one_row_and_totals_add_up() {
        let shadow = Shadow::new(ShadowConfig { top_tenants: 2, ..ShadowConfig::default() });
        let refused = Verdict::Refused { rule: QRule::MaxFailureRate, observed: 0.2, limit: 0.1 };
        let tenants: Vec<TenantId> = (0..5).map(|_| TenantId::new()).collect();
        for (i, &t) in tenants.iter().enumerate() {
            for _ in 0..=i {
                shadow.observe(judged(t, refused));
            }
            shadow.observe(judged(t, Verdict::Admitted));
        }
        let report = shadow.report();
        assert_eq!(report.tenants.len(), 2);
        assert_eq!(report.total.refused_by(QRule::MaxFailureRate), 1 + 2 + 3 + 4 + 5);
        assert_eq!(report.total.admitted, 5);
        let own: u64 = report.tenants.iter().map(|t| t.counts.judged()).sum();
        assert_eq!(own + report.other_tenants.judged(), report.total.judged());
        assert_eq!(report.other_tenants.admitted, 3);
        assert_eq!(report.total.refused.len(), QRule::ALL.len());
    }

    #[test]
    fn the_sample_keeps_the_newest_and_counts_the_overwritten() {
        let shadow =
            Shadow::new(ShadowConfig { disagreement_sample: 3, ..ShadowConfig::default() });
        let refused = Verdict::Refused { rule: QRule::MaxFailureRate, observed: 0.2, limit: 0.1 };
        for _ in 0..10 {
            shadow.observe(judged(TenantId::default_tenant(), refused));
        }
        shadow.observe(judged(TenantId::default_tenant(), Verdict::Admitted)); // agrees
        let report = shadow.report();
        let seqs: Vec<u64> = report.disagreements.iter().map(|d| d.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9]);
        assert_eq!(report.disagreements_overwritten, 7);
        assert_eq!(report.live_admitted_shadow_refused, 10);
        assert_eq!(report.live_refused_shadow_admitted, 0);
    }

    #[test]
    fn every_bad_field_is_named() {
        let d = ShadowConfig::default;
        for (config, field) in [
            (ShadowConfig { top_tenants: 0, ..d() }, "top_tenants"),
            (ShadowConfig { top_tenants: 1025, ..d() }, "top_tenants"),
            (ShadowConfig { disagreement_sample: 0, ..d() }, "disagreement_sample"),
            (ShadowConfig { disagreement_sample: 4097, ..d() }, "disagreement_sample"),
            (
                ShadowConfig::of(GlobalQ { max_failure_rate: f64::NAN, ..GlobalQ::default() }),
                "max_failure_rate",
            ),
            (
                ShadowConfig::of(GlobalQ { max_total_resources: -0.5, ..GlobalQ::default() }),
                "max_total_resources",
            ),
        ] {
            assert_eq!(config.validate().unwrap_err().field(), Some(field), "{config:?}");
        }
        for (toml, field) in [
            ("top_tenants = 0", "top_tenants"),
            ("[global_q]\nmin_slo_compliance = nan", "min_slo_compliance"),
            ("[global_q]\nmax_failure_rate = 1.5", "max_failure_rate"),
        ] {
            assert_eq!(ShadowConfig::from_toml_str(toml).unwrap_err().field(), Some(field));
        }
        for (json, field) in [
            (r#"{"top_tenants": -1}"#, "top_tenants"),
            (r#"{"global_q": {"max_total_resources": "all"}}"#, "global_q.max_total_resources"),
            (r#"{"top_tenant": 3}"#, "top_tenant"),
        ] {
            let err = ShadowConfig::from_json_str(json).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Parse { message, .. } if message.contains(field)),
                "{json}: {err}"
            );
        }
        let c = ShadowConfig { top_tenants: 3, ..d() };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(ShadowConfig::from_json_str(&json).unwrap(), c);
        assert_eq!(ShadowConfig::from_toml_str(&toml::to_string(&c).unwrap()).unwrap(), c);
    }
}
