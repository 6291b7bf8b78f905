//! [`SessionService`]: the service a [`SessionLayer`](crate::SessionLayer) wraps around
//! another.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use autonomic::{Analysis, SessionHandle, SessionPolicy, ThresholdPolicy};
use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use crate::case::next_case_id;
use crate::future::{End, Guard, Mode, end};
use crate::layer::Shared;
use crate::{Classify, ResponseFuture, ServerErrorsFail, SessionError};

/// Runs each request in a session (see [`SessionLayer`](crate::SessionLayer)).
///
/// # The tower contract
/// `poll_ready` is the inner service's and reserves nothing of its own: every session is
/// started in `call`, so a service made ready and dropped without a call leaves nothing
/// behind. `call` calls the inner service synchronously, before it returns, so the inner
/// service called is always the one `poll_ready` made ready (no clone is moved into the
/// future; the `mem::replace` dance is not needed, and the inner service need not be
/// `Clone`). A refused request does not call the inner service: the readiness it was given
/// stays with it for the next call.
pub struct SessionService<S, P: SessionPolicy = ThresholdPolicy, C = ServerErrorsFail> {
    inner: S,
    shared: Arc<Shared<P>>,
    classify: C,
}

impl<S, P: SessionPolicy, C> SessionService<S, P, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<P>>, classify: C) -> Self {
        SessionService { inner, shared, classify }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S, B, ResBody, P, C> Service<Request<B>> for SessionService<S, P, C>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    P: SessionPolicy,
    C: Classify,
{
    type Response = Response<ResBody>;
    type Error = SessionError<S::Error>;
    type Future = ResponseFuture<S::Future, S::Error, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(SessionError::Inner)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        match self.shared.admit(&mut parts) {
            Ok(guard) => {
                let future = self.inner.call(Request::from_parts(parts, body));
                ResponseFuture::running(future, guard, self.classify.clone())
            }
            Err(error) => ResponseFuture::refused(error, self.classify.clone()),
        }
    }
}

impl<P: SessionPolicy> Shared<P> {
    /// The request's session, admitted by the doctrine, in its extensions.
    fn admit(&self, parts: &mut Parts) -> Result<Guard<P>, SessionError<Infallible>> {
        let runtime = &self.runtime;
        let tenant = self.tenant.tenant(parts)?;
        // `started_ns`: where the request's latency is measured from, on the runtime's clock.
        let (session, started_ns, per_request) = match &self.keyed {
            None => {
                let mut new = runtime.create_session(next_case_id(), tenant);
                if let Some(pattern) = self.pattern.pattern(parts) {
                    new = new.with_pattern(pattern);
                }
                let session =
                    if self.lifecycle_events { runtime.start_session(new)? } else { new.start()? };
                // The session's start, which its start read the runtime's clock for: no
                // clock read of our own. (Started, so it has a start time.)
                let started_ns =
                    session.started_at_ns().unwrap_or_else(|| runtime.clock().now_nanos());
                (session, started_ns, true)
            }
            Some(keyed) => {
                let now_ns = runtime.clock().now_nanos();
                let key = keyed.key(parts)?;
                let pattern = self.pattern.pattern(parts);
                let session = keyed.session(runtime, tenant, key, pattern, now_ns)?;
                keyed.maybe_sweep(runtime, now_ns);
                (session, now_ns, false)
            }
        };
        match runtime.adapter().evaluate(&session) {
            Ok(Analysis::NoAction) => {}
            Ok(Analysis::Admitted(decision)) => {
                if let Err(e) = runtime.adapter().execute(&decision, &session) {
                    tracing::warn!(session_id = %session.id(), error = %e, "adaptation not applied");
                }
                parts.extensions.insert(decision.into_record());
            }
            Ok(Analysis::Refused(refusal)) => {
                if per_request {
                    end(self.lifecycle_events.then_some(&**runtime), session, End::Cancel);
                }
                return Err(SessionError::Refused(Box::new(refusal)));
            }
            Err(e) => {
                // The policy's proposal was invalid: the request goes on, the error is seen.
                tracing::warn!(session_id = %session.id(), error = %e, "policy proposal refused as invalid");
            }
        }
        parts.extensions.insert::<SessionHandle>(session.clone());
        let mode = match per_request {
            false => Mode::Keyed,
            true => Mode::PerRequest { events: self.lifecycle_events.then(|| runtime.clone()) },
        };
        Ok(Guard::new(session, started_ns, mode))
    }
}

impl<S: Clone, P: SessionPolicy, C: Clone> Clone for SessionService<S, P, C> {
    fn clone(&self) -> Self {
        SessionService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, P: SessionPolicy, C: fmt::Debug> fmt::Debug for SessionService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .field("classify", &self.classify)
            .finish_non_exhaustive()
    }
}
