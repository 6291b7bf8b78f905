//! The layer against `tower-test` mocks: outcomes, cancellation, the readiness contract,
//! keyed sessions and their tenant scoping, refusals.

use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    ActionKinds, AutonomicRuntime, ClockHandle, KnowledgeRules, ManualClock, QRule, RuntimeConfig,
    SessionAdapterConfig, SessionHandle, SessionState, TenantId, WindowConfig,
};
use autonomic_tower::{
    KeyError, KeyFrom, KeyedConfig, SessionError, SessionLayer, SessionService, TenantFrom,
};
use http::{HeaderName, Request, Response, StatusCode};
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower_layer::Layer;
use tower_service::Service;
use tower_test::mock;

type Mock = mock::Mock<Request<()>, Response<&'static str>>;
type Handle = mock::Handle<Request<()>, Response<&'static str>>;

fn runtime() -> Arc<AutonomicRuntime> {
    Arc::new(AutonomicRuntime::new(RuntimeConfig::default()).unwrap())
}

/// A runtime whose doctrine judges every kind of adaptation by its knowledge rules, from 10
/// tasks on: a workflow's violations make its next request refused.
fn strict_runtime() -> Arc<AutonomicRuntime> {
    let rules = KnowledgeRules { min_slo_compliance: ActionKinds::ALL, ..Default::default() };
    let config = RuntimeConfig::default()
        .with_windows(WindowConfig { min_tasks: 10, ..WindowConfig::default() })
        .with_adapter(SessionAdapterConfig { knowledge_rules: rules, ..Default::default() });
    Arc::new(AutonomicRuntime::new(config).unwrap())
}

fn per_request(rt: &Arc<AutonomicRuntime>) -> (SessionService<Mock>, Handle) {
    let (mock, handle) = mock::pair();
    (SessionLayer::per_request(rt.clone()).layer(mock), handle)
}

const WORKFLOW: HeaderName = HeaderName::from_static("x-workflow-id");

fn keyed(rt: &Arc<AutonomicRuntime>, config: KeyedConfig) -> (SessionService<Mock>, Handle) {
    let (mock, handle) = mock::pair();
    let layer = SessionLayer::keyed(rt.clone(), config).unwrap().tenant(TenantFrom::extension());
    (layer.layer(mock), handle)
}

fn keyed_request(tenant: TenantId, key: &str) -> Request<()> {
    Request::get("/step").header(WORKFLOW, key).extension(tenant).body(()).unwrap()
}

fn status(code: u16) -> Response<&'static str> {
    Response::builder().status(code).body("").unwrap()
}

/// Makes `svc` ready, calls it and answers with `code`; returns the session the mock saw.
async fn round_trip<S>(
    svc: &mut S,
    handle: &mut Handle,
    request: Request<()>,
    code: u16,
) -> SessionHandle
where
    S: Service<Request<()>, Response = Response<&'static str>>,
    S::Error: std::fmt::Debug,
{
    handle.allow(1);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let future = svc.call(request);
    let (seen, reply) = handle.next_request().await.unwrap();
    let session = seen.extensions().get::<SessionHandle>().cloned().expect("session in extensions");
    reply.send_response(status(code));
    future.await.unwrap();
    session
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_is_a_session_completed_or_failed_by_its_response() {
    let rt = runtime();
    let (mut svc, mut handle) = per_request(&rt);
    let ok = round_trip(&mut svc, &mut handle, Request::new(()), 200).await;
    let bad = round_trip(&mut svc, &mut handle, Request::new(()), 503).await;
    assert_eq!(ok.state(), SessionState::Completed);
    assert_eq!(bad.state(), SessionState::Failed);
    assert_ne!(ok.id(), bad.id());
    let m = rt.aggregate();
    assert_eq!((m.total_sessions, m.completed_sessions, m.failed_sessions), (2, 1, 1));
    assert_eq!(m.total_completions, 2, "one task per request");
}

#[tokio::test(flavor = "current_thread")]
async fn an_inner_error_fails_the_session() {
    let rt = runtime();
    let (mut svc, mut handle) = per_request(&rt);
    handle.allow(1);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let future = svc.call(Request::new(()));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("backend down");
    let err = future.await.unwrap_err();
    assert!(matches!(err, SessionError::Inner(_)));
    assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(rt.aggregate().failed_sessions, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_response_future_cancels_the_session() {
    let rt = runtime();
    let (mut svc, mut handle) = per_request(&rt);
    handle.allow(1);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let mut future = task::spawn(svc.call(Request::new(())));
    assert_pending!(future.poll());
    let (seen, _reply) = handle.next_request().await.unwrap();
    let session = seen.extensions().get::<SessionHandle>().cloned().unwrap();
    assert_eq!(session.state(), SessionState::Active);
    drop(future); // the client went away
    assert_eq!(session.state(), SessionState::Cancelled);
    let m = rt.aggregate();
    assert_eq!((m.cancelled_sessions, m.total_completions), (1, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn poll_ready_reserves_nothing() {
    let rt = runtime();
    let (mut svc, mut handle) = per_request(&rt);
    handle.allow(1);
    let mut ready = task::spawn(std::future::poll_fn(|cx| svc.poll_ready(cx)));
    assert_ready_ok!(ready.poll());
    drop(ready);
    drop(svc); // made ready, never called
    assert_eq!(rt.table().total_sessions(), 0);
    assert_eq!(rt.adapter().snapshot_stats().tracked_sessions, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_clone_is_called_only_after_it_is_made_ready() {
    let rt = runtime();
    let (mut svc, mut handle) = per_request(&rt);
    handle.allow(2);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    // Cloned after the original was made ready: the clone's inner mock is not ready (a
    // tower-test mock panics if called before `poll_ready`), and the original's is.
    let mut clone = svc.clone();
    let first = svc.call(Request::new(()));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(status(200));
    first.await.unwrap();
    let second = round_trip(&mut clone, &mut handle, Request::new(()), 200).await;
    assert_eq!(second.state(), SessionState::Completed);
    assert_eq!(rt.aggregate().completed_sessions, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_is_one_long_lived_session_never_ended_by_a_request() {
    let rt = runtime();
    let (mut svc, mut handle) = keyed(&rt, KeyedConfig::new(KeyFrom::header(WORKFLOW)));
    let tenant = TenantId::new();
    let a = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-1"), 200).await;
    let b = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-1"), 500).await;
    let other = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-2"), 200).await;
    assert!(a.ptr_eq(&b));
    assert!(!a.ptr_eq(&other));
    assert_eq!(a.state(), SessionState::Active, "the layer never ends a keyed session");
    let s = a.snapshot();
    assert_eq!((s.task_completions, s.violation_count), (2, 1), "a failed task is a violation");
    assert_eq!(a.tenant_id(), tenant);
    assert_eq!(rt.table().total_sessions(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_never_reaches_another_tenants_session() {
    let rt = runtime();
    let (mut svc, mut handle) = keyed(&rt, KeyedConfig::new(KeyFrom::header(WORKFLOW)));
    let (alice, mallory) = (TenantId::new(), TenantId::new());
    let hers = round_trip(&mut svc, &mut handle, keyed_request(alice, "wf-shared"), 200).await;
    let before = hers.snapshot();
    // Mallory sends Alice's workflow key, failing: it lands on a session of Mallory's own.
    let his = round_trip(&mut svc, &mut handle, keyed_request(mallory, "wf-shared"), 500).await;
    assert!(!his.ptr_eq(&hers));
    assert_eq!(his.tenant_id(), mallory);
    let after = hers.snapshot();
    assert_eq!(
        (after.task_completions, after.violation_count),
        (before.task_completions, before.violation_count),
        "nothing recorded on the other tenant's session"
    );
    // No tenant at all (no authenticated tenant in the extensions): refused, not defaulted.
    let (mut svc, _handle) = keyed(&rt, KeyedConfig::new(KeyFrom::header(WORKFLOW)));
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.ok();
    let no_tenant = Request::get("/").header(WORKFLOW, "wf-shared").body(()).unwrap();
    let err = svc.call(no_tenant).await.unwrap_err();
    assert!(matches!(err, SessionError::Key(KeyError::Missing)));
}

#[tokio::test(flavor = "current_thread")]
async fn bad_keys_are_refused_before_any_session() {
    let rt = runtime();
    let config = KeyedConfig::new(KeyFrom::header(WORKFLOW)).max_key_len(8).max_keys(1);
    let (mut svc, mut handle) = keyed(&rt, config);
    let tenant = TenantId::new();
    for (key, expected) in
        [("much-too-long", KeyError::TooLong { len: 13, max: 8 }), ("a/b", KeyError::Invalid)]
    {
        let err = svc.call(keyed_request(tenant, key)).await.unwrap_err();
        assert_eq!(err.status_code(), StatusCode::BAD_REQUEST);
        assert!(matches!(err, SessionError::Key(ref k) if *k == expected), "{err}");
    }
    let missing = Request::get("/").extension(tenant).body(()).unwrap();
    assert!(matches!(svc.call(missing).await.unwrap_err(), SessionError::Key(KeyError::Missing)));
    assert_eq!(rt.table().total_sessions(), 0);
    round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-1"), 200).await;
    let full = svc.call(keyed_request(tenant, "wf-2")).await.unwrap_err();
    assert!(matches!(full, SessionError::Key(KeyError::TooManyKeys { max: 1 })));
    assert_eq!(full.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rt.table().total_sessions(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn idle_keys_are_forgotten_and_their_sessions_completed() {
    let clock = Arc::new(ManualClock::new());
    let rt = Arc::new(
        AutonomicRuntime::builder().clock(ClockHandle::custom(clock.clone())).build().unwrap(),
    );
    let config = KeyedConfig::new(KeyFrom::header(WORKFLOW)).idle_after(Duration::from_secs(60));
    let (mock, mut handle) = mock::pair();
    let layer = SessionLayer::keyed(rt.clone(), config).unwrap().tenant(TenantFrom::extension());
    let mut svc = layer.layer(mock);
    let keys = layer.keyed_sessions().unwrap();
    let tenant = TenantId::new();
    let old = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-old"), 200).await;
    clock.advance(Duration::from_secs(45));
    let kept = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-kept"), 200).await;
    assert_eq!(keys.len(), 2);
    clock.advance(Duration::from_secs(30)); // wf-old idle 75 s, wf-kept 30 s
    let again = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-kept"), 200).await;
    assert!(again.ptr_eq(&kept));
    assert_eq!(keys.len(), 1, "the idle key was swept by a request");
    assert_eq!(old.state(), SessionState::Completed);
    assert_eq!(kept.state(), SessionState::Active);
    // The key comes back as a new session.
    let new = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-old"), 200).await;
    assert!(!new.ptr_eq(&old));
}

#[tokio::test(flavor = "current_thread")]
async fn a_refusal_by_the_doctrine_is_a_typed_error_and_the_inner_service_is_not_called() {
    let rt = strict_runtime();
    let (mut svc, mut handle) = keyed(&rt, KeyedConfig::new(KeyFrom::header(WORKFLOW)));
    let tenant = TenantId::new();
    // Ten failed steps: the session's violation rate is high, and so is everyone's.
    for _ in 0..10 {
        round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-1"), 500).await;
    }
    rt.run_once(); // publishes SLO compliance 0.0
    handle.allow(1);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let mut refused = task::spawn(svc.call(keyed_request(tenant, "wf-1")));
    let err = match refused.poll() {
        std::task::Poll::Ready(Err(e)) => e,
        other => panic!("expected a refusal at once, got {:?}", other.map(|r| r.map(drop))),
    };
    assert_eq!(err.refused_by(), Some(QRule::MinSloCompliance));
    assert_eq!(err.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rt.adapter().snapshot_stats().rejections.min_slo_compliance, 1);
    // The inner service was not called: the readiness it was given is still there.
    let healthy = round_trip(&mut svc, &mut handle, keyed_request(tenant, "wf-2"), 200).await;
    assert_eq!(healthy.snapshot().task_completions, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn per_request_lifecycle_events_are_opt_in_and_sessions_count_either_way() {
    use autonomic::SessionEvent;
    let lifecycle = |events: &[SessionEvent]| {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    SessionEvent::Started { .. }
                        | SessionEvent::Completed { .. }
                        | SessionEvent::Failed { .. }
                )
            })
            .count()
    };
    for on in [false, true] {
        let rt = runtime();
        let (mock, mut handle) = mock::pair();
        let mut svc = SessionLayer::per_request(rt.clone()).lifecycle_events(on).layer(mock);
        let ok = round_trip(&mut svc, &mut handle, Request::new(()), 200).await;
        let failed = round_trip(&mut svc, &mut handle, Request::new(()), 500).await;
        assert_eq!((ok.state(), failed.state()), (SessionState::Completed, SessionState::Failed));
        let events = rt.adapter().take_events();
        assert_eq!(lifecycle(&events), if on { 4 } else { 0 }, "lifecycle_events({on})");
        let totals = rt.aggregate();
        assert_eq!((totals.completed_sessions, totals.failed_sessions), (1, 1));
        rt.run_once();
        let windows = rt.windows();
        assert_eq!(windows.global.counts.finished(), 2, "the loop's windows count them");
    }
}
