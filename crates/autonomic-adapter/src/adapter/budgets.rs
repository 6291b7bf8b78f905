//! The budgets below Global Q in the adapter: tenant shares and the retry budget in force
//! (part of the doctrine in force, [`in_force`](super::in_force)), what admission asks of
//! the gate for them, and introspection.

use std::sync::Arc;

use autonomic_core::{ConfigError, GlobalQ, TenantId};

use super::SessionAdapter;
use super::analyse::Breach;
use super::figures::Figures;
use crate::gate::{self, Gate, GateRefusal, ShareIndex, ShareRefusal};
use crate::sync;
use crate::{ActionKind, Budgets, QRule, SessionPolicy, TenantHolding};

/// The budgets in force and the share index built from them against the Q in force.
#[derive(Debug, Clone)]
pub(crate) struct BudgetsInForce {
    pub(crate) budgets: Budgets,
    /// The tenant shares' index, or an index without classes when they are off: either
    /// way what permits hold (it holds the gate).
    index: Arc<ShareIndex>,
}

impl BudgetsInForce {
    /// `budgets` (validated) against `q`, for `gate`, reusing the class counters of
    /// `previous`.
    pub(crate) fn new(
        budgets: Budgets,
        q: &GlobalQ,
        previous: Option<&BudgetsInForce>,
        gate: &sync::Arc<Gate>,
    ) -> Self {
        let index = match &budgets.tenant_shares {
            None => ShareIndex::without_shares(gate),
            Some(shares) => {
                let previous = previous.map(|p| &*p.index);
                let capacity = gate::capacity_units(q.max_total_resources);
                ShareIndex::new(gate, shares, q.max_concurrent_adaptations, capacity, previous)
            }
        };
        BudgetsInForce { budgets, index: Arc::new(index) }
    }

    /// The same budgets against `q` (the share index rebuilt against its caps, the class
    /// counters kept; nothing to rebuild without tenant shares).
    pub(crate) fn against(&self, q: &GlobalQ) -> Self {
        match &self.budgets.tenant_shares {
            None => self.clone(),
            Some(_) => BudgetsInForce::new(self.budgets.clone(), q, Some(self), self.index.gate()),
        }
    }

    /// What an admission of `kind` for `tenant` asks beyond the global caps: a retry token
    /// (with the retries allowed in flight, from the sessions running in `figures`), the share
    /// index and the tenant's class in it (tenant shares on).
    #[inline]
    pub(super) fn ask(
        &self,
        figures: &Figures<'_>,
        tenant: TenantId,
        kind: ActionKind,
    ) -> (Option<u64>, &Arc<ShareIndex>, Option<usize>) {
        let retry_bound = match (&self.budgets.retry_budget, kind) {
            (Some(budget), ActionKind::RetryTask) => Some(budget.allowed(figures.get().running)),
            _ => None,
        };
        (retry_bound, &self.index, self.index.class_for(tenant))
    }
}

/// The breach a budget refusal of the gate is reported as (`None`: not a budget's).
pub(super) fn budget_breach(refusal: GateRefusal) -> Option<Breach> {
    let amount = gate::units_to_amount;
    let (observed, limit) = match refusal {
        GateRefusal::Retries { in_flight, bound } => {
            return Some(Breach {
                rule: QRule::RetryBudget,
                observed: in_flight as f64,
                limit: bound as f64,
            });
        }
        GateRefusal::TenantSlots(ShareRefusal::Ceiling { held, ceiling }) => {
            (held as f64, ceiling as f64)
        }
        GateRefusal::TenantSlots(ShareRefusal::Pool { borrowed, pool }) => {
            (borrowed as f64, pool as f64)
        }
        GateRefusal::TenantUnits {
            refusal: ShareRefusal::Ceiling { held, ceiling },
            requested,
        } => (amount(held.saturating_add(requested)), amount(ceiling)),
        GateRefusal::TenantUnits { refusal: ShareRefusal::Pool { borrowed, pool }, .. } => {
            (amount(borrowed), amount(pool))
        }
        GateRefusal::Slots { .. } | GateRefusal::Resources { .. } => return None,
    };
    Some(Breach { rule: QRule::TenantShare, observed, limit })
}

impl<P: SessionPolicy> SessionAdapter<P> {
    /// The budgets in force (tenant shares and retry budget).
    pub fn budgets(&self) -> Budgets {
        self.doctrine.load().budgets.budgets.clone()
    }

    /// Validates `budgets` and swaps them in without blocking readers; returns the budgets
    /// they replaced.
    ///
    /// Permits already held are not revoked and stay counted in their tenant's class (a
    /// class the new budgets keep keeps its counters); see the [crate
    /// documentation](crate#tenant-shares) for how the guarantees behave across a swap.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::{Budgets, RetryBudget, SessionAdapter};
    /// use autonomic_core::KnowledgeBase;
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let retry_budget = Some(RetryBudget { budget_percent: 10.0, min_retry_concurrency: 2 });
    /// adapter.update_budgets(Budgets { retry_budget, ..Budgets::default() })?;
    /// assert_eq!(adapter.budgets().retry_budget, retry_budget);
    /// let bad = RetryBudget { budget_percent: f64::NAN, min_retry_concurrency: 2 };
    /// let err = adapter.update_budgets(Budgets { retry_budget: Some(bad), ..Budgets::default() });
    /// assert_eq!(err.unwrap_err().field(), Some("retry_budget.budget_percent"));
    /// # Ok::<(), autonomic_core::ConfigError>(())
    /// ```
    pub fn update_budgets(&self, budgets: Budgets) -> Result<Budgets, ConfigError> {
        budgets.validate()?;
        let previous = self.doctrine.replace(|now| {
            let next = BudgetsInForce::new(budgets, &now.q, Some(&now.budgets), &self.gate);
            tracing::info!(budgets = ?next.budgets, "budgets updated");
            now.with_budgets(next)
        });
        Ok(previous.budgets.budgets.clone())
    }

    /// What each tenant class holds now, with its guarantee and ceiling: the listed tenants
    /// (sorted), then the default class (`tenant: None`). Empty when tenant shares are off.
    /// One read of each class's counters: exact for each, possibly a few updates apart.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::{Analysis, Budgets, Share, SessionAdapter, TenantShare, TenantShares};
    /// use autonomic_core::{CaseId, KnowledgeBase, SessionHandle, TenantId};
    ///
    /// let acme = TenantId::new();
    /// let half = Share { guaranteed_slots: 0.5, ..Share::default() };
    /// let shares = TenantShares { tenants: vec![TenantShare::new(acme, half)], ..Default::default() };
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new())); // 10 slots
    /// adapter.update_budgets(Budgets { tenant_shares: Some(shares), ..Budgets::default() })?;
    /// let session = SessionHandle::new(CaseId::new(), acme).start()?;
    /// for _ in 0..4 { session.record_retry(); }
    /// let Analysis::Admitted(decision) = adapter.evaluate(&session)? else { unreachable!() };
    /// let holdings = adapter.tenant_holdings();
    /// assert_eq!((holdings[0].tenant, holdings[0].slots_held), (Some(acme), 1));
    /// assert_eq!((holdings[0].guaranteed_slots, holdings[0].ceiling_slots), (5, 10));
    /// assert_eq!((holdings[1].tenant, holdings[1].slots_held), (None, 0));
    /// # drop(decision);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tenant_holdings(&self) -> Vec<TenantHolding> {
        let doctrine = self.doctrine.load();
        let amount = gate::units_to_amount;
        doctrine
            .budgets
            .index
            .classes()
            .iter()
            .map(|class| TenantHolding {
                tenant: class.tenant,
                slots_held: class.counters.slots_held(),
                guaranteed_slots: class.slots.guaranteed,
                ceiling_slots: class.slots.ceiling,
                resources_held: amount(class.counters.units_held()),
                guaranteed_resources: amount(class.units.guaranteed),
                ceiling_resources: amount(class.units.ceiling),
            })
            .collect()
    }

    /// `RetryTask` decisions holding a retry token now (admitted under a retry budget, not
    /// yet executed or dropped).
    pub fn retries_in_flight(&self) -> u64 {
        self.gate.retries_in_flight()
    }
}
