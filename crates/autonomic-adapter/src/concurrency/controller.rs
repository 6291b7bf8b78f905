//! The AIMD controller: one step per knowledge generation, from the runtime's short window.

use autonomic_core::{Evidence, GlobalKnowledge, WindowFigures};

use super::ConcurrencyConfig;

/// What one generation's short window says of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// Failures judged and under the maximum, latency judged and within the target.
    Healthy,
    /// Failures (timeouts included: slow running sessions count as failing) at or over the
    /// maximum, or latency over the target.
    Overloaded,
    /// Too little evidence to say: the limit holds.
    Unjudged,
}

/// The controller's state: the limit and how many overloaded generations in a row it saw.
#[derive(Debug)]
pub(crate) struct Controller {
    config: ConcurrencyConfig,
    limit: u64,
    overloaded_in_a_row: u32,
    generation: u64,
}

impl Controller {
    pub(crate) fn new(config: ConcurrencyConfig) -> Self {
        Controller { config, limit: config.initial, overloaded_in_a_row: 0, generation: 0 }
    }

    #[cfg(test)]
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Steps once for a knowledge generation it has not seen (older or repeated ones change
    /// nothing, and do not take the peak); returns the limit. `take_peak` gives the peak
    /// demand for a slot since the last step, and resets it.
    pub(crate) fn observe(
        &mut self,
        knowledge: &GlobalKnowledge,
        take_peak: impl FnOnce() -> u64,
    ) -> u64 {
        if knowledge.generation <= self.generation {
            return self.limit;
        }
        self.generation = knowledge.generation;
        let load = knowledge.windows.as_ref().map_or(Load::Unjudged, |w| self.judge(&w.global));
        self.step(load, take_peak())
    }

    /// Whether a peak demand of `peak` used the limit: reached `demand_fraction` of it.
    fn used(&self, peak: u64) -> bool {
        peak as f64 >= self.limit as f64 * self.config.demand_fraction
    }

    /// Reads the load from a scope's short window.
    pub(crate) fn judge(&self, figures: &WindowFigures) -> Load {
        let short = &figures.short;
        let slow = figures.gauges.slow_running;
        let failure = Evidence::of(
            short.failed.saturating_add(slow),
            short.finished().saturating_add(slow),
            self.config.min_finished_sessions,
        );
        let latency =
            (short.tasks >= self.config.min_tasks).then(|| short.avg_latency_us()).flatten();
        let failing = failure.rate().is_some_and(|r| r >= self.config.max_failure_rate);
        let slow_tasks = latency.is_some_and(|l| l > self.config.latency_target_us as f64);
        if failing || slow_tasks {
            Load::Overloaded
        } else if failure.rate().is_some() && latency.is_some() {
            Load::Healthy
        } else {
            Load::Unjudged
        }
    }

    /// One AIMD step: up by `increase` when healthy and the generation's `peak` demand used
    /// the limit (to the ceiling); down by `backoff` from the `patience`-th overloaded
    /// generation in a row on (to the floor); else hold.
    pub(crate) fn step(&mut self, load: Load, peak: u64) -> u64 {
        let used = self.used(peak);
        let c = &self.config;
        let before = self.limit;
        match load {
            Load::Healthy => {
                self.overloaded_in_a_row = 0;
                if used {
                    self.limit = self.limit.saturating_add(c.increase).min(c.ceiling);
                }
            }
            Load::Overloaded => {
                self.overloaded_in_a_row = self.overloaded_in_a_row.saturating_add(1);
                if self.overloaded_in_a_row >= c.patience {
                    // At least one lower, never below the floor.
                    let cut = (self.limit as f64 * c.backoff) as u64;
                    self.limit = cut.min(self.limit.saturating_sub(1)).max(c.floor);
                }
            }
            Load::Unjudged => {}
        }
        if self.limit != before {
            tracing::info!(
                from = before,
                to = self.limit,
                ?load,
                peak_demand = peak,
                "adaptive concurrency limit moved"
            );
        } else if load == Load::Healthy && !used {
            tracing::debug!(
                limit = self.limit,
                peak_demand = peak,
                "adaptive concurrency limit held: healthy, but demand did not reach it"
            );
        } else {
            tracing::debug!(limit = self.limit, ?load, "adaptive concurrency limit held");
        }
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use autonomic_core::{WindowCounts, WindowGauges, WindowedKnowledge};

    use super::*;

    fn config() -> ConcurrencyConfig {
        ConcurrencyConfig { floor: 2, ceiling: 40, initial: 10, ..ConcurrencyConfig::default() }
    }

    /// One generation's knowledge: `finished` sessions of which `failed` failed, `slow` still
    /// running past the slow threshold, `tasks` tasks of `latency_us` each.
    fn generation(
        n: u64,
        finished: u64,
        failed: u64,
        slow: u64,
        tasks: u64,
        latency_us: u64,
    ) -> GlobalKnowledge {
        let short = WindowCounts {
            completed: finished - failed,
            failed,
            tasks,
            latency_us: tasks * latency_us,
            ..WindowCounts::default()
        };
        let gauges = WindowGauges { running: slow, oldest_running_ns: 0, slow_running: slow };
        GlobalKnowledge {
            generation: n,
            windows: Some(WindowedKnowledge {
                global: WindowFigures::new(short, short, gauges, 1, 1),
                ..WindowedKnowledge::default()
            }),
            ..GlobalKnowledge::default()
        }
    }

    /// Steps with every slot of the limit in use during the generation (the limit used).
    fn busy(c: &mut Controller, k: &GlobalKnowledge) -> u64 {
        let peak = c.limit();
        c.observe(k, || peak)
    }

    fn healthy(n: u64) -> GlobalKnowledge {
        generation(n, 50, 1, 0, 500, 20_000)
    }

    #[test]
    fn increases_under_healthy_load_up_to_the_ceiling_only() {
        let mut c = Controller::new(config());
        assert_eq!(busy(&mut c, &healthy(1)), 11);
        assert_eq!(busy(&mut c, &healthy(1)), 11, "one step per generation");
        for n in 2..100 {
            busy(&mut c, &healthy(n));
        }
        assert_eq!(c.limit(), 40);
    }

    #[test]
    fn does_not_climb_under_steady_timeouts() {
        // Netflix concurrency-limits #137: under steady timeouts the latency of what does
        // complete looks steady, so a latency-gradient limiter keeps climbing. Here the
        // timed-out sessions fail (or sit slow), which is overload whatever the latency.
        let mut c = Controller::new(config());
        let mut max = c.limit();
        for n in 1..=200 {
            // 30% of sessions time out; the tasks that complete are fast and steady.
            let k = if n % 2 == 0 {
                generation(n, 40, 12, 0, 400, 20_000)
            } else {
                generation(n, 30, 0, 15, 300, 20_000)
            };
            max = max.max(busy(&mut c, &k));
        }
        assert_eq!(max, 10, "never above where it started");
        assert_eq!(c.limit(), 2, "sustained timeouts bring it down to the floor");
        // Timeouts that leave no finished session and no task: nothing judged, it holds.
        let mut c = Controller::new(config());
        for n in 1..=50 {
            busy(&mut c, &generation(n, 0, 0, 0, 0, 0));
        }
        assert_eq!(c.limit(), 10);
    }

    #[test]
    fn one_slow_window_does_not_move_it_and_sustained_overload_does() {
        let mut c = Controller::new(config());
        for n in 1..=10 {
            busy(&mut c, &healthy(n));
        }
        assert_eq!(c.limit(), 20);
        // One slow window between healthy ones: held, not cut.
        assert_eq!(busy(&mut c, &generation(11, 50, 1, 0, 500, 900_000)), 20);
        assert_eq!(busy(&mut c, &healthy(12)), 21);
        // Slow, healthy, slow: never two in a row, never cut.
        for n in 13..=30 {
            let k = if n % 2 == 1 { generation(n, 50, 1, 0, 500, 900_000) } else { healthy(n) };
            busy(&mut c, &k);
        }
        assert!(c.limit() >= 21, "{}", c.limit());
        let before = c.limit();
        // Sustained overload: cut from the second generation on, to the floor.
        let mut seen = Vec::new();
        for n in 31..=60 {
            seen.push(busy(&mut c, &generation(n, 50, 1, 0, 500, 900_000)));
        }
        assert_eq!(seen[0], before, "the first overloaded generation holds");
        assert!(seen[1] < before && seen[2] < seen[1], "{seen:?}");
        assert_eq!(c.limit(), 2);
        assert!(seen.iter().all(|&l| l >= 2));
    }

    #[test]
    fn without_windows_or_evidence_it_holds() {
        let mut c = Controller::new(config());
        let bare = GlobalKnowledge { generation: 1, ..GlobalKnowledge::default() };
        assert_eq!(busy(&mut c, &bare), 10);
        // Finished sessions but too few tasks to judge latency: no increase.
        assert_eq!(busy(&mut c, &generation(2, 50, 0, 0, 10, 1_000)), 10);
        // Tasks but too few finished sessions: no increase either.
        assert_eq!(busy(&mut c, &generation(3, 5, 0, 0, 500, 1_000)), 10);
    }

    #[test]
    fn an_unused_limit_does_not_rise() {
        // Healthy windows, nobody asking for a slot: the limit holds (it would otherwise
        // climb to the ceiling and admit the next burst all at once).
        let mut c = Controller::new(config());
        for n in 1..=100 {
            assert_eq!(c.observe(&healthy(n), || 0), 10);
        }
        // Light use (7 of 10 slots at the peak, under 80%): still held.
        assert_eq!(c.observe(&healthy(101), || 7), 10);
        // 8 of 10 used: it rises; so does a demand past the limit (refused at it).
        assert_eq!(c.observe(&healthy(102), || 8), 11);
        assert_eq!(c.observe(&healthy(103), || 12), 12);
        // A saturated healthy system climbs, one step per generation, to the ceiling.
        for n in 104..200 {
            let before = c.limit();
            assert_eq!(busy(&mut c, &healthy(n)), (before + 1).min(40));
        }
        assert_eq!(c.limit(), 40);
    }

    #[test]
    fn idle_generations_still_cut_under_sustained_overload() {
        // Demand guards the rise only: an overloaded runtime comes down whatever the demand.
        let mut c = Controller::new(config());
        for n in 1..=10 {
            c.observe(&generation(n, 50, 20, 0, 500, 20_000), || 0);
        }
        assert_eq!(c.limit(), 2);
    }

    #[test]
    fn a_repeated_generation_leaves_the_peak_for_the_next() {
        let mut c = Controller::new(config());
        assert_eq!(busy(&mut c, &healthy(1)), 11);
        let limit = c.observe(&healthy(1), || unreachable!("a repeated generation takes no peak"));
        assert_eq!(limit, 11);
    }
}
