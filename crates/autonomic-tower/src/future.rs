//! [`ResponseFuture`]: runs the inner service's future and records its latency and outcome
//! on the request's session; dropped early, it cancels a per-request session.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use autonomic::{AutonomicRuntime, SessionHandle, SessionPolicy};
use http::Response;
use pin_project_lite::pin_project;

use crate::{Classify, Outcome, SessionError};

pin_project! {
    /// The future of a [`SessionService`](crate::SessionService) call.
    ///
    /// On the inner response it records one task (latency from `call` to the response:
    /// from the session's start, in `call`, per request; from the key's lookup, keyed)
    /// with the outcome the classifier gives, and, in per-request mode, completes or fails
    /// the session. If it is dropped first (the client went away, a timeout fired), a
    /// per-request session is cancelled and nothing is recorded.
    pub struct ResponseFuture<F, E, P: SessionPolicy, C> {
        #[pin]
        inner: Option<F>,
        refused: Option<SessionError<E>>,
        guard: Guard<P>,
        classify: C,
    }
}

impl<F, E, P: SessionPolicy, C> ResponseFuture<F, E, P, C> {
    pub(crate) fn running(inner: F, guard: Guard<P>, classify: C) -> Self {
        ResponseFuture { inner: Some(inner), refused: None, guard, classify }
    }

    pub(crate) fn refused(error: SessionError<Infallible>, classify: C) -> Self {
        ResponseFuture {
            inner: None,
            refused: Some(widen(error)),
            guard: Guard { inner: None },
            classify,
        }
    }
}

impl<F, B, E, P, C> Future for ResponseFuture<F, E, P, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    P: SessionPolicy,
    C: Classify,
{
    type Output = Result<Response<B>, SessionError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(this.refused.take().unwrap_or(SessionError::Polled)));
        };
        let result = ready!(inner.poll(cx));
        let outcome = match &result {
            Ok(response) => this.classify.classify(response),
            Err(_) => Outcome::Failure,
        };
        this.guard.finish(outcome);
        Poll::Ready(result.map_err(SessionError::Inner))
    }
}

fn widen<E>(error: SessionError<Infallible>) -> SessionError<E> {
    match error {
        SessionError::Refused(r) => SessionError::Refused(r),
        SessionError::Key(k) => SessionError::Key(k),
        SessionError::Start(t) => SessionError::Start(t),
        SessionError::Polled => SessionError::Polled,
        SessionError::Inner(never) => match never {},
    }
}

/// The request's session while its response is pending.
pub(crate) struct Guard<P: SessionPolicy> {
    inner: Option<Running<P>>,
}

/// What a pending request holds: its session, when it started, and, only if the session's
/// end is told to the adapter, the runtime (otherwise the request touches no reference count
/// of the runtime: the session's own clock is the runtime's).
struct Running<P: SessionPolicy> {
    session: SessionHandle,
    /// ns on the session's clock, which is the runtime's (its table builds every session
    /// on it).
    started_ns: u64,
    mode: Mode<P>,
}

/// Whose session a request runs in.
pub(crate) enum Mode<P: SessionPolicy> {
    /// Its own: ended by the response (or cancelled by the future's drop).
    PerRequest {
        /// The runtime, if the session's end is told to the adapter (its lifecycle event).
        events: Option<Arc<AutonomicRuntime<P>>>,
    },
    /// Its key's: never ended by a request.
    Keyed,
}

/// How a per-request session ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// Completed by its response, read at this instant (ns on the session's clock).
    Complete(u64),
    /// Failed by its response, read at this instant (ns on the session's clock).
    Fail(u64),
    Cancel,
}

/// Ends a per-request session, through the runtime if `events` gives it (which tells the
/// adapter: its lifecycle event) or on the handle alone. Either way the end is the handle's
/// one compare-and-swap, which also returns any resource grant. On the handle alone, a
/// response's end is dated with the instant its latency was measured at (no second clock
/// read).
pub(crate) fn end<P: SessionPolicy>(
    events: Option<&AutonomicRuntime<P>>,
    session: SessionHandle,
    how: End,
) {
    let ended = match (how, events) {
        (End::Complete(_), Some(runtime)) => runtime.complete_session(session).map(drop),
        (End::Fail(_), Some(runtime)) => runtime.fail_session(session).map(drop),
        (End::Cancel, Some(runtime)) => runtime.cancel_session(session).map(drop),
        (End::Complete(now_ns), None) => session.complete_at(now_ns).map(drop),
        (End::Fail(now_ns), None) => session.fail_at(now_ns).map(drop),
        (End::Cancel, None) => session.cancel().map(drop),
    };
    if let Err(e) = ended {
        // Ended from outside (cancelled by id) while the request ran.
        tracing::debug!(error = %e, "request session already ended");
    }
}

impl<P: SessionPolicy> Guard<P> {
    pub(crate) fn new(session: SessionHandle, started_ns: u64, mode: Mode<P>) -> Self {
        Guard { inner: Some(Running { session, started_ns, mode }) }
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(Running { session, started_ns, mode }) = self.inner.take() else {
            return;
        };
        // One clock read: the latency's end, and a per-request session's end.
        let now_ns = session.context().clock().now_nanos();
        // Whole microseconds, as `record_task_execution` keeps a `Duration`.
        session.record_task_execution_us(now_ns.saturating_sub(started_ns) / 1_000);
        match (mode, outcome) {
            (Mode::Keyed, Outcome::Success) => {}
            (Mode::Keyed, Outcome::Failure) => session.record_violation(),
            (Mode::PerRequest { events }, Outcome::Success) => {
                end(events.as_deref(), session, End::Complete(now_ns))
            }
            (Mode::PerRequest { events }, Outcome::Failure) => {
                end(events.as_deref(), session, End::Fail(now_ns))
            }
        }
    }
}

impl<P: SessionPolicy> Drop for Guard<P> {
    fn drop(&mut self) {
        let Some(running) = self.inner.take() else { return };
        if let Mode::PerRequest { events } = running.mode {
            tracing::debug!(session_id = %running.session.id(), "request dropped: session cancelled");
            end(events.as_deref(), running.session, End::Cancel);
        }
    }
}
