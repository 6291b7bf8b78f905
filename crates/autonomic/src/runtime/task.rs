//! The periodic loop's task: starting, stopping and driving it, and the reports it publishes.

use std::sync::{Arc, PoisonError};

use autonomic_adapter::SessionPolicy;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{AutonomicRuntime, Shared};
use crate::{LoopReport, RuntimeError};

/// The running loop: its stop signal and its task, aborted when dropped.
pub(super) struct LoopTask {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl LoopTask {
    fn is_running(&self) -> bool {
        !self.join.is_finished()
    }
}

impl Drop for LoopTask {
    fn drop(&mut self) {
        // A no-op once the task has finished (after `shutdown`).
        self.join.abort();
    }
}

impl<P: SessionPolicy> AutonomicRuntime<P> {
    // ---------------------------------------------------------------- the loop ----

    /// Runs one iteration of the loop now, on this thread, and returns its report (also
    /// kept as the [last report](Self::last_report)). Iterations never overlap: this waits
    /// for one the loop task may be running.
    pub fn run_once(&self) -> LoopReport {
        let report = self.shared.iterate();
        self.shared.publish_report(&report);
        report
    }

    /// The report of the last iteration, if any ran.
    pub fn last_report(&self) -> Option<LoopReport> {
        self.shared.reports.borrow().clone()
    }

    /// A receiver that sees each new report (a `tokio::sync::watch`: a slow reader sees the
    /// latest one, not every one). It ends when the runtime is dropped.
    pub fn reports(&self) -> watch::Receiver<Option<LoopReport>> {
        self.shared.reports.subscribe()
    }

    /// Starts the periodic loop on the current tokio runtime: the first iteration one
    /// `interval` from now, then one every `interval` (a late iteration delays the next
    /// ones rather than bunching them).
    ///
    /// Errors: [`RuntimeError::NoTokioRuntime`] outside a tokio runtime,
    /// [`RuntimeError::AlreadyRunning`] if the loop runs already.
    pub fn start_loop(&self) -> Result<(), RuntimeError> {
        let mut task = self.task();
        if task.as_ref().is_some_and(LoopTask::is_running) {
            return Err(RuntimeError::AlreadyRunning);
        }
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| RuntimeError::NoTokioRuntime)?;
        let (stop, stopped) = watch::channel(false);
        let join = handle.spawn(run_loop(self.shared.clone(), stopped));
        *task = Some(LoopTask { stop, join });
        tracing::debug!(interval = ?self.shared.config.interval, "autonomic loop started");
        Ok(())
    }

    /// Whether the loop task is running.
    pub fn is_running(&self) -> bool {
        self.task().as_ref().is_some_and(LoopTask::is_running)
    }

    /// Stops the loop cleanly: the loop exits before its next iteration (one in progress
    /// finishes first), and its task is joined. The runtime stays usable (`run_once`, the
    /// helpers, `start_loop` again). Does nothing if the loop is not running.
    ///
    /// If this future is dropped before it completes, the loop task is aborted.
    ///
    /// Errors: [`RuntimeError::LoopPanicked`] if the loop task panicked.
    pub async fn shutdown(&self) -> Result<(), RuntimeError> {
        // Taken out under the lock, awaited without it.
        let Some(mut task) = self.task().take() else {
            return Ok(());
        };
        // Fails only if the loop has exited already; joining below is all that is left.
        let _ = task.stop.send(true);
        let joined = (&mut task.join).await;
        tracing::debug!("autonomic loop shut down");
        match joined {
            Ok(()) => Ok(()),
            Err(e) if e.is_panic() => Err(RuntimeError::LoopPanicked(e.to_string())),
            // Cancelled: the tokio runtime is shutting down; the task is gone either way.
            Err(_) => Ok(()),
        }
    }
}

impl<P: SessionPolicy> AutonomicRuntime<P> {
    fn task(&self) -> std::sync::MutexGuard<'_, Option<LoopTask>> {
        // Only `Option` moves happen under this lock: a panic cannot leave it half-written.
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The periodic loop: waits for the next tick or the stop signal, runs one iteration on the
/// blocking pool, and again.
async fn run_loop<P: SessionPolicy>(shared: Arc<Shared<P>>, mut stop: watch::Receiver<bool>) {
    let interval = shared.config.interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // A stop request, or the runtime gone (the sender dropped): either way, stop.
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        let iteration = shared.clone();
        // The report is published here, once the blocking task has returned (and dropped its
        // reference to the shared state): whoever sees a report sees a loop that holds
        // nothing but its own reference.
        match tokio::task::spawn_blocking(move || iteration.iterate()).await {
            Ok(report) => shared.publish_report(&report),
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "autonomic loop iteration panicked; the loop goes on");
            }
            // The tokio runtime is shutting down.
            Err(_) => break,
        }
    }
    tracing::debug!("autonomic loop stopped");
}
