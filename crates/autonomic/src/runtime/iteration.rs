//! One iteration of the loop: aggregate, publish, clean up, report.

use std::sync::PoisonError;
use std::time::Instant;

use autonomic_adapter::SessionPolicy;

use super::Shared;
use super::pass::{Gone, LoopPass};
use crate::LoopReport;

impl<P: SessionPolicy> Shared<P> {
    /// Makes `report` the last one, unless a later iteration's is already there (the loop's
    /// and `run_once`'s iterations may finish their publication in either order).
    pub(super) fn publish_report(&self, report: &LoopReport) {
        self.reports.send_if_modified(|last| {
            let newer = last.as_ref().is_none_or(|l| l.iteration < report.iteration);
            if newer {
                *last = Some(report.clone());
            }
            newer
        });
    }

    /// One iteration of the loop; the caller publishes the report.
    pub(super) fn iterate(&self) -> LoopReport {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let started = Instant::now();
        let iteration = state.iteration + 1;
        let span = tracing::debug_span!("autonomic_loop", iteration);
        let _entered = span.enter();

        // Monitor / Analyze, and the cleanup of Execute: one sweep of the table, with sums and
        // running gauges by tenant and pattern for the windows. Every session is aggregated;
        // those past the retention then leave.
        let now = self.aggregator.clock().now_nanos();
        let state = &mut *state;
        // Split over threads when the table is large enough (see `SweepThreads`).
        let parts = self.config.sweep_threads.parts(self.table.total_sessions(), state.cores);
        let pass = LoopPass::new(
            self,
            Gone { departures: std::mem::take(&mut state.departures), ..Gone::default() },
        );
        let metrics = state.aggregation.run_split(&pass, now, parts);
        let mut gone = pass.gone.into_inner();
        // The windows: this pass's events, then the departures of the sessions it removed
        // (it counted them, so they leave after it).
        let windowed = {
            let mut windows = self.windows();
            let mut update = windows.pass(now);
            state.aggregation.feed_windows(&mut update);
            update.finish();
            windows.depart_all(&mut gone.departures);
            match &self.peers {
                // A fleet's other processes: their last known totals join the figures.
                Some(peers) => peers.knowledge(&windows, now),
                None => windows.knowledge(now),
            }
        };
        let Gone { cleaned: sessions_cleaned, grants_released, resources_released, departures } =
            gone;
        state.departures = departures;
        // Knowledge: what the doctrine gate reads from now on.
        let published = self.aggregator.publish_windowed(&metrics, windowed);
        // The doctrine follows it: cohort breakers, adaptive concurrency (when configured).
        self.adapter.observe_knowledge(self.aggregator.clock());
        // Then the doctrine's change feed announces the generation.
        self.adapter.knowledge_published();

        state.iteration = iteration;
        state.totals.sessions_cleaned += sessions_cleaned as u64;
        state.totals.grants_released += grants_released as u64;
        let report = LoopReport {
            iteration,
            at_ns: metrics.taken_at_ns,
            metrics,
            knowledge_generation: published.generation,
            grants_released,
            resources_released,
            sessions_cleaned,
            sessions_remaining: self.table.total_sessions(),
            adapter: self.adapter.snapshot_stats(),
            took: started.elapsed(),
            totals: state.totals,
        };
        tracing::info!(
            iteration,
            sessions = metrics.total_sessions,
            active = metrics.active_sessions,
            completed = metrics.completed_sessions,
            failed = metrics.failed_sessions,
            failure_rate = metrics.failure_rate,
            slo_compliance = published.slo_compliance,
            p99_latency_us = metrics.latency.p99_us,
            generation = published.generation,
            cleaned = sessions_cleaned,
            grants_released,
            decisions = report.adapter.total_decisions,
            refusals = report.adapter.rejections.total(),
            sweep_parts = parts,
            took_us = u64::try_from(report.took.as_micros()).unwrap_or(u64::MAX),
            "autonomic loop iteration"
        );
        report
    }
}
