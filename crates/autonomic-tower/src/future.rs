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
    /// On the inner response it records one task (latency from `call` to the response)
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

struct Running<P: SessionPolicy> {
    runtime: Arc<AutonomicRuntime<P>>,
    session: SessionHandle,
    started_ns: u64,
    per_request: bool,
}

impl<P: SessionPolicy> Guard<P> {
    pub(crate) fn new(
        runtime: Arc<AutonomicRuntime<P>>,
        session: SessionHandle,
        started_ns: u64,
        per_request: bool,
    ) -> Self {
        Guard { inner: Some(Running { runtime, session, started_ns, per_request }) }
    }

    fn finish(&mut self, outcome: Outcome) {
        let Some(Running { runtime, session, started_ns, per_request }) = self.inner.take() else {
            return;
        };
        session.record_task_execution(runtime.clock().elapsed_since(started_ns));
        let ended = match (per_request, outcome) {
            (false, Outcome::Success) => return,
            (false, Outcome::Failure) => {
                session.record_violation();
                return;
            }
            (true, Outcome::Success) => runtime.complete_session(session).map(drop),
            (true, Outcome::Failure) => runtime.fail_session(session).map(drop),
        };
        if let Err(e) = ended {
            // Ended from outside (cancelled by id) while the request ran.
            tracing::debug!(error = %e, "request session already ended");
        }
    }
}

impl<P: SessionPolicy> Drop for Guard<P> {
    fn drop(&mut self) {
        let Some(running) = self.inner.take() else { return };
        if running.per_request {
            tracing::debug!(session_id = %running.session.id(), "request dropped: session cancelled");
            // Err: ended from outside already.
            let _ = running.runtime.cancel_session(running.session);
        }
    }
}
