//! The doctrine seen from outside: the shadow doctrine's set / clear / promote, the change
//! feed, and the introspection view ([`SessionAdapter::doctrine_view`]).

use std::sync::Arc;

use autonomic_core::{ConfigError, Evidence, GlobalQ, WindowFigures};
use tokio::sync::watch;

use super::SessionAdapter;
use super::analyse::{max_failure_rate, min_slo_compliance};
use crate::gate;
use crate::introspection::{
    CapacityView, DoctrineView, GrantsView, Health, HealthFigures, SessionGrant, TenantHealth,
    TenantHealthView, ViewOptions,
};
use crate::shadow::{Shadow, ShadowConfig, ShadowPromotion, ShadowReport};
use crate::{DoctrineChange, DoctrineRevision, SessionPolicy};

impl<P: SessionPolicy> SessionAdapter<P> {
    // ------------------------------------------------------------------- shadow -----

    /// Validates `config` and sets its Q as the shadow doctrine: from the next admission on,
    /// every proposal that reaches the rules is also judged by it, without effect (see
    /// [`ShadowReport`] and the guarantees in the crate documentation). Replaces a shadow
    /// already set and returns that one's final report.
    pub fn set_shadow(&self, config: ShadowConfig) -> Result<Option<ShadowReport>, ConfigError> {
        config.validate()?;
        tracing::info!(q = ?config.global_q, "shadow doctrine set");
        let shadow = Some(Arc::new(Shadow::new(config)));
        let previous = self.doctrine.replace(|now| now.with_shadow(shadow));
        self.feed.changed(DoctrineChange::ShadowSet);
        Ok(previous.shadow.as_deref().map(Shadow::report))
    }

    /// Removes the shadow doctrine, if any, and returns its final report.
    pub fn clear_shadow(&self) -> Option<ShadowReport> {
        let previous = self.doctrine.replace_if(|now| {
            now.shadow.as_ref()?;
            Some(now.with_shadow(None))
        })?;
        tracing::info!("shadow doctrine cleared");
        self.feed.changed(DoctrineChange::ShadowCleared);
        previous.shadow.as_deref().map(Shadow::report)
    }

    /// What the shadow doctrine has seen so far, if one is set.
    pub fn shadow_report(&self) -> Option<ShadowReport> {
        self.doctrine.load().shadow.as_deref().map(Shadow::report)
    }

    /// Makes the shadow's Q the Q in force (one `arc-swap`, like
    /// [`update_global_q`](Self::update_global_q)) and ends the shadow; `None` if none was
    /// set. Its counts do not carry on: the returned [`ShadowPromotion`] holds its final
    /// report and the Q it replaced. The candidate was validated when it was set.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use autonomic_adapter::{SessionAdapter, ShadowConfig};
    /// use autonomic_core::{GlobalQ, KnowledgeBase};
    /// let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    /// let tight = GlobalQ { max_concurrent_adaptations: 2, ..GlobalQ::default() };
    /// adapter.set_shadow(ShadowConfig::of(tight))?;
    /// let promoted = adapter.promote_shadow().expect("a shadow was set");
    /// assert_eq!(promoted.previous.max_concurrent_adaptations, 10);
    /// assert_eq!(*adapter.global_q(), tight);
    /// assert!(adapter.shadow_report().is_none() && adapter.promote_shadow().is_none());
    /// # Ok::<(), autonomic_core::ConfigError>(())
    /// ```
    pub fn promote_shadow(&self) -> Option<ShadowPromotion> {
        // The candidate becomes Q and the shadow ends in one swap: no admission sees the
        // candidate both live and as its own shadow, nor neither.
        let previous = self.doctrine.replace_if(|now| {
            let shadow = now.shadow.as_deref()?;
            Some(now.with_q(*shadow.q(), None))
        })?;
        let shadow = previous.shadow.as_deref()?;
        let q = *shadow.q();
        tracing::info!(?q, previous = ?*previous.q, "shadow doctrine promoted to global Q");
        self.feed.changed(DoctrineChange::ShadowPromoted);
        Some(ShadowPromotion { previous: previous.q.clone(), report: shadow.report() })
    }

    // --------------------------------------------------------------------- feed -----

    /// A receiver of the doctrine's change feed (see [`DoctrineRevision`] and the semantics
    /// in the crate documentation: the latest value only; a slow reader misses intermediate
    /// ones).
    pub fn doctrine_feed(&self) -> watch::Receiver<DoctrineRevision> {
        self.feed.subscribe()
    }

    /// Tells the adapter that knowledge was published: the feed moves if the knowledge base's
    /// current generation is newer than the last it announced. Returns whether it moved.
    /// The runtime's loop calls it after every publication; call it after publishing by hand.
    pub fn knowledge_published(&self) -> bool {
        let generation = self.knowledge.with_current(|k| k.generation);
        self.feed.knowledge(generation)
    }

    // --------------------------------------------------------------------- view -----

    /// The doctrine's state now, with the default [`ViewOptions`].
    pub fn doctrine_view(&self) -> DoctrineView {
        self.doctrine_view_with(&ViewOptions::default())
    }

    /// The doctrine's state now: the Q in force, the shadow and its counts, what the gate
    /// holds, statistics, tenant health from the windows and grants by session (at most
    /// `options.max_grants`). Cold: locks each shard of the session store in turn.
    pub fn doctrine_view_with(&self, options: &ViewOptions) -> DoctrineView {
        let revision = self.feed.latest();
        let q = *self.doctrine.load().q;
        let (granted, sessions_holding) = self.sessions.granted_first(options.max_grants);
        let sessions: Vec<SessionGrant> = granted
            .into_iter()
            .map(|(session_id, units)| SessionGrant {
                session_id,
                amount: gate::units_to_amount(units),
            })
            .collect();
        DoctrineView {
            revision,
            global_q: q,
            shadow: self.shadow_report(),
            capacity: CapacityView {
                slots_in_use: self.gate.slots_in_use(),
                max_concurrent_adaptations: q.max_concurrent_adaptations,
                shedding_headroom: self.shedding_headroom(),
                resources_granted: self.granted_resources(),
                max_total_resources: q.max_total_resources,
            },
            stats: self.snapshot_stats(),
            tenant_health: self.tenant_health(&q),
            grants: GrantsView {
                truncated: sessions.len() < sessions_holding,
                sessions,
                sessions_holding,
            },
            budgets: self.budgets(),
            tenant_holdings: self.tenant_holdings(),
            retries_in_flight: self.retries_in_flight(),
            breakers: self.breakers(),
        }
    }

    fn tenant_health(&self, q: &GlobalQ) -> TenantHealthView {
        let knowledge = self.knowledge.current();
        let figures = |f: &WindowFigures| HealthFigures::of(f, health(q, f));
        match &knowledge.windows {
            Some(w) => TenantHealthView {
                knowledge_generation: knowledge.generation,
                windowed: true,
                tenants: w
                    .tenants
                    .iter()
                    .map(|(tenant, f)| TenantHealth { tenant: *tenant, figures: figures(f) })
                    .collect(),
                other_tenants: Some(figures(&w.other_tenants)),
            },
            None => TenantHealthView {
                knowledge_generation: knowledge.generation,
                windowed: false,
                tenants: Vec::new(),
                other_tenants: None,
            },
        }
    }
}

/// A scope's figures against `q`, by the knowledge rules' own tests.
fn health(q: &GlobalQ, f: &WindowFigures) -> Health {
    let judged = |e: &Evidence| matches!(e, Evidence::Judged(_));
    if max_failure_rate(q, f.failure_rate).is_err() {
        Health::Failing
    } else if min_slo_compliance(q, f.slo_compliance).is_err() {
        Health::Degraded
    } else if !judged(&f.failure_rate) && !judged(&f.slo_compliance) {
        Health::NotJudged
    } else {
        Health::Healthy
    }
}
