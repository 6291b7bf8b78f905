//! One session of the workload, from its arrival to its end.

use std::sync::Arc;
use std::time::Duration;

use autonomic::{AdmittedDecision, Analysis, CaseId, SessionAction, SessionHandle, SessionState};

use crate::workload::{Fate, Pattern, Rng, Script, Tenant};
use crate::world::{Mode, World};
use crate::{BACKOFF_SCALE, MAX_BACKOFF_WAIT, TIME_SCALE};

/// Runs session `index` of the workload.
pub(crate) async fn run_session(world: Arc<World>, index: u64) {
    let mut rng = Rng::for_session(world.args.seed, index);
    let script = Script::draw(&mut rng, &world, index);
    let tenant = &world.tenants[script.tenant];
    let tally = &world.tally.per_tenant[script.tenant];
    tally.sessions.add(1);
    if script.in_incident {
        tally.incident.add(1);
    }
    let runtime = &world.runtime;
    let new = runtime.create_session(CaseId::new(), tenant.id).with_pattern(script.pattern.id);
    if script.fate == Fate::CancelBeforeStart {
        if runtime.cancel_new_session(new).is_ok() {
            tally.cancelled.add(1);
        }
        return;
    }
    let Ok(handle) = runtime.start_session(new) else { return };

    let (spike_p, transient_p) = if script.in_incident {
        (0.15, 0.25)
    } else {
        (0.01, (world.args.fault_rate * 3.0).min(0.5))
    };
    let mut mode = Mode::default();
    let mut pending_wait_us = 0u64;
    for task in 0..script.tasks {
        if mode.shed_after.is_some_and(|last| task >= last) {
            break; // optional tasks shed
        }
        match script.fate {
            Fate::Fail(at) if task == at => break,
            Fate::CancelByOwner(at) if task == at => {
                if runtime.cancel_session(handle.clone()).is_ok() {
                    tally.cancelled.add(1);
                }
                return;
            }
            Fate::CancelFromOutside(at) if task == at => {
                // An operator cancels it through the table, without telling the adapter: no
                // event; a grant it holds comes back as the session ends.
                let cancelled = runtime.table().get(&handle.id()).map(|h| h.cancel());
                if matches!(cancelled, Ok(Ok(_))) {
                    tally.cancelled.add(1);
                }
            }
            _ => {}
        }

        // Transient failures: retried, with the adapter's say after each one.
        let held_retry =
            retry_transient_failures(&world, &handle, &mut rng, &mut mode, task, transient_p).await;

        // The task itself.
        let latency_us = run_task(&handle, &mut rng, &mode, script.pattern, tenant, spike_p);
        if let Some(decision) = held_retry {
            world.execute(&decision, &handle);
        }
        // A check every few tasks; a retry proposed here has no failed task to wait for.
        if task % 4 == 3
            && let Some(decision) = world.adapt(&handle, &mut mode, task)
        {
            world.execute(&decision, &handle);
        }

        // Let simulated time pass, in real time scaled down, every few tasks.
        pending_wait_us += latency_us / TIME_SCALE;
        if task % 3 == 2 {
            tokio::time::sleep(Duration::from_micros(pending_wait_us.max(1_000))).await;
            pending_wait_us = 0;
        } else {
            tokio::task::yield_now().await;
        }
    }

    finish(&world, &script, handle);
}

/// Up to eight transient failures of task `task`, each retried with the adapter's say. The
/// last `RetryTask` admitted is returned unexecuted: it holds its slot until the task has
/// run.
async fn retry_transient_failures(
    world: &World,
    handle: &SessionHandle,
    rng: &mut Rng,
    mode: &mut Mode,
    task: u32,
    transient_p: f64,
) -> Option<AdmittedDecision> {
    let mut held_retry: Option<AdmittedDecision> = None;
    for _attempt in 0..8 {
        if !rng.chance(transient_p) {
            break;
        }
        handle.record_retry();
        world.tally.retries.add(1);
        if let Some(decision) = world.adapt(handle, mode, task) {
            if let SessionAction::RetryTask { backoff_ms, .. } = decision.action {
                world.tally.backoff_ms.add(backoff_ms);
                // The backoff, simulated: a short real wait, not the whole backoff.
                let wait = Duration::from_millis(backoff_ms / BACKOFF_SCALE).min(MAX_BACKOFF_WAIT);
                tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
            }
            // Executed once its retry has run (by the caller, after the task), so the slot is
            // held meanwhile.
            if let Some(previous) = held_retry.replace(decision) {
                world.execute(&previous, handle);
            }
        }
    }
    held_retry
}

/// Runs one task: a simulated latency, sometimes a spike over the SLO; records it and any
/// violation, and returns the latency (µs).
fn run_task(
    handle: &SessionHandle,
    rng: &mut Rng,
    mode: &Mode,
    p: &Pattern,
    tenant: &Tenant,
    spike_p: f64,
) -> u64 {
    let mut latency = p.base_us as f64 * (0.5 + rng.unit()) * tenant.latency_scale;
    let spike = rng.chance(spike_p);
    if spike {
        latency *= 6.0 + 10.0 * rng.unit();
    }
    if mode.boosted {
        latency *= 0.6;
    }
    if mode.degraded {
        latency *= 1.2;
    }
    let latency_us = latency as u64;
    handle.record_task_execution_us(latency_us);
    // A degraded session runs with a relaxed SLO.
    let slo_us = if mode.degraded { p.slo_us * 3 } else { p.slo_us };
    if latency_us > slo_us {
        handle.record_violation();
    }
    latency_us
}

/// Ends the session as its script says: fails it (asking for its compensation) or completes
/// it (finding out if it was cancelled from outside meanwhile).
fn finish(world: &World, script: &Script, handle: SessionHandle) {
    if script.in_incident {
        let ended = u64::try_from(world.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Relaxed: a maximum read once every session task has been joined (the join orders
        // it), or by the progress lines, which only print it.
        world.tally.incident_ended_ms.fetch_max(ended, std::sync::atomic::Ordering::Relaxed);
    }
    let runtime = &world.runtime;
    let tally = &world.tally.per_tenant[script.tenant];
    match script.fate {
        Fate::Fail(_) => {
            if let Ok(failed) = runtime.fail_session(handle) {
                tally.failed.add(1);
                // A failed session asks for its compensation, like any other decision.
                if let Ok(Analysis::Admitted(decision)) = runtime.adapter().evaluate(&failed) {
                    world.execute(&decision, &failed);
                }
            }
        }
        _ => match runtime.complete_session(handle) {
            Ok(_) => {
                tally.completed.add(1);
            }
            Err(lost) if lost.found == SessionState::Cancelled => {
                world.tally.lost_races.add(1);
            }
            Err(lost) => eprintln!("unexpected: {lost}"),
        },
    }
}
