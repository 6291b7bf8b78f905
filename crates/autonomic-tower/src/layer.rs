//! [`SessionLayer`]: the tower layer, in per-request or keyed mode.

use std::fmt;
use std::sync::Arc;

use autonomic::{AutonomicRuntime, SessionPolicy, ThresholdPolicy};
use tower_layer::Layer;

use crate::keyed::{KeyedConfigError, KeyedSessions};
use crate::{Classify, KeyedConfig, PatternFrom, ServerErrorsFail, SessionService, TenantFrom};

/// What every service of one layer shares.
pub(crate) struct Shared<P: SessionPolicy> {
    pub(crate) runtime: Arc<AutonomicRuntime<P>>,
    pub(crate) tenant: TenantFrom,
    pub(crate) pattern: PatternFrom,
    pub(crate) keyed: Option<Arc<KeyedSessions>>,
    /// Whether per-request sessions tell the adapter they started and ended (its `Started`,
    /// `Completed`, `Failed`, `Cancelled` events).
    pub(crate) lifecycle_events: bool,
}

impl<P: SessionPolicy> Clone for Shared<P> {
    fn clone(&self) -> Self {
        Shared {
            runtime: self.runtime.clone(),
            tenant: self.tenant.clone(),
            pattern: self.pattern.clone(),
            keyed: self.keyed.clone(),
            lifecycle_events: self.lifecycle_events,
        }
    }
}

/// A tower [`Layer`] that runs every request in a session of an [`AutonomicRuntime`].
///
/// * **Per request** ([`per_request`](Self::per_request)): each request is a session of its
///   tenant, started on `call`, completed or failed by its response (one task recorded with
///   the request's latency), cancelled if the response future is dropped.
/// * **Keyed** ([`keyed`](Self::keyed)): a key read from the request (a workflow-instance
///   header) names one long-lived session per tenant; each request records one task on it
///   (a failed one also a violation) and the layer never ends it, except when the key has
///   been idle for `idle_after` (see [`KeyedSessions`]).
///
/// In both modes the session is put in the request's extensions (a
/// [`SessionHandle`](autonomic::SessionHandle)), so a handler can record on it, and the doctrine is asked
/// first: if the session's policy proposes an adaptation and Global Q refuses it, the request
/// is refused with [`SessionError::Refused`](crate::SessionError::Refused) and the inner
/// service is not called; an admitted adaptation is executed and its record put in the
/// extensions too ([`SessionDecision`](autonomic::SessionDecision)).
///
/// ```
/// use std::sync::Arc;
/// use autonomic::{AutonomicRuntime, RuntimeConfig, SessionHandle, SessionState};
/// use autonomic_tower::SessionLayer;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = Arc::new(AutonomicRuntime::new(RuntimeConfig::default())?);
/// let (inner, mut backend) = tower_test::mock::pair::<http::Request<()>, http::Response<()>>();
/// let mut service = SessionLayer::per_request(runtime.clone()).layer(inner);
///
/// backend.allow(1);
/// std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(|e| e.to_string())?;
/// let response = service.call(http::Request::new(()));
/// let (request, reply) = backend.next_request().await.unwrap();
/// let session = request.extensions().get::<SessionHandle>().unwrap().clone();
/// reply.send_response(http::Response::new(()));
/// response.await.map_err(|e| e.to_string())?; // a mock's error is boxed
/// assert_eq!(session.state(), SessionState::Completed);
/// assert_eq!(runtime.aggregate().total_completions, 1);
/// # Ok(()) }
/// ```
pub struct SessionLayer<P: SessionPolicy = ThresholdPolicy, C = ServerErrorsFail> {
    shared: Arc<Shared<P>>,
    classify: C,
}

impl<P: SessionPolicy> SessionLayer<P, ServerErrorsFail> {
    /// One session per request, of the default tenant, without a pattern; 5xx and errors
    /// fail.
    pub fn per_request(runtime: Arc<AutonomicRuntime<P>>) -> Self {
        SessionLayer::with_mode(runtime, None)
    }

    /// One long-lived session per (tenant, key).
    ///
    /// Errors: a bound of `config` out of range.
    pub fn keyed(
        runtime: Arc<AutonomicRuntime<P>>,
        config: KeyedConfig,
    ) -> Result<Self, KeyedConfigError> {
        Ok(SessionLayer::with_mode(runtime, Some(Arc::new(KeyedSessions::new(config)?))))
    }

    fn with_mode(runtime: Arc<AutonomicRuntime<P>>, keyed: Option<Arc<KeyedSessions>>) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                runtime,
                tenant: TenantFrom::default(),
                pattern: PatternFrom::default(),
                keyed,
                lifecycle_events: false,
            }),
            classify: ServerErrorsFail,
        }
    }
}

impl<P: SessionPolicy, C> SessionLayer<P, C> {
    fn shared_mut(&mut self) -> &mut Shared<P> {
        // Unique while the layer is being built; copied (a few `Arc`s) if it was cloned.
        Arc::make_mut(&mut self.shared)
    }

    /// Where each request's tenant comes from (default: the default tenant).
    pub fn tenant(mut self, tenant: TenantFrom) -> Self {
        self.shared_mut().tenant = tenant;
        self
    }

    /// The pattern of each request's session (default: none). In keyed mode, the pattern of
    /// the key's first request.
    pub fn pattern(mut self, pattern: PatternFrom) -> Self {
        self.shared_mut().pattern = pattern;
        self
    }

    /// Whether per-request sessions emit the adapter's lifecycle events (`Started`, then
    /// `Completed`, `Failed` or `Cancelled`; default: no).
    ///
    /// Off by default: at request rates they would fill the adapter's bounded event buffer
    /// within milliseconds and push out the events someone acts on (refusals, admitted
    /// adaptations, signals), which are emitted either way; and they cost about a sixth of a
    /// request's overhead. A per-request session is counted all the same: it is in the table,
    /// so the loop, its windows and the aggregate see it start and end; its resource grant,
    /// if any, comes back when it ends. Keyed sessions always emit them (they start and end
    /// rarely).
    pub fn lifecycle_events(mut self, on: bool) -> Self {
        self.shared_mut().lifecycle_events = on;
        self
    }

    /// How a response's outcome is decided (default: [`ServerErrorsFail`]).
    pub fn classify<D: Classify>(self, classify: D) -> SessionLayer<P, D> {
        SessionLayer { shared: self.shared, classify }
    }

    /// The runtime the sessions live in.
    pub fn runtime(&self) -> &Arc<AutonomicRuntime<P>> {
        &self.shared.runtime
    }

    /// The keyed sessions, in keyed mode.
    pub fn keyed_sessions(&self) -> Option<&KeyedSessions> {
        self.shared.keyed.as_deref()
    }
}

impl<S, P: SessionPolicy, C: Classify> Layer<S> for SessionLayer<P, C> {
    type Service = SessionService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone(), self.classify.clone())
    }
}

impl<P: SessionPolicy, C: Clone> Clone for SessionLayer<P, C> {
    fn clone(&self) -> Self {
        SessionLayer { shared: self.shared.clone(), classify: self.classify.clone() }
    }
}

impl<P: SessionPolicy, C: fmt::Debug> fmt::Debug for SessionLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("keyed", &self.shared.keyed.as_deref().map(KeyedSessions::config))
            .field("classify", &self.classify)
            .finish_non_exhaustive()
    }
}
