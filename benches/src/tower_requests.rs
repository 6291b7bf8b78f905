//! One HTTP request through a tower service, called directly (no network): what
//! `tower_bench` times and the instruction driver counts.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use autonomic::{AutonomicRuntime, RuntimeConfig, TenantId};
use autonomic_tower::{KeyFrom, KeyedConfig, SessionLayer};
use http::{HeaderName, Request, Response};
use tower::{Layer, Service, service_fn};

/// The keyed layer's key header.
pub const WORKFLOW: HeaderName = HeaderName::from_static("x-workflow-id");

/// The request every row sends: one header (the workflow key).
pub fn request() -> Request<()> {
    let mut request = Request::new(());
    request.headers_mut().insert(WORKFLOW, http::HeaderValue::from_static("wf-0000000000001"));
    request
}

/// One request through `service`, with a waker that does nothing: every future here is
/// ready at its first poll.
#[inline]
pub fn one<S>(service: &mut S) -> S::Response
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("not ready"),
    }
    one_ready(service, request())
}

/// Calls a service that is ready and answers at once with `request`.
#[inline]
pub fn one_ready<S>(service: &mut S, request: Request<()>) -> S::Response
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("not answered at once"),
    }
}

/// The inner service: answers at once with an empty response.
pub fn inner()
-> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send> + Clone {
    service_fn(|_: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(()))))
}

/// A runtime whose sweep removes every ended session.
pub fn runtime() -> Arc<AutonomicRuntime> {
    Arc::new(
        AutonomicRuntime::new(RuntimeConfig::default().with_retention(Duration::ZERO))
            .expect("default config"),
    )
}

/// `SessionLayer::per_request` over [`inner`].
pub fn per_request(
    runtime: &Arc<AutonomicRuntime>,
) -> impl Service<Request<()>, Response = Response<()>, Error: std::fmt::Debug> {
    SessionLayer::per_request(runtime.clone()).layer(inner())
}

/// The keyed layer (key: [`WORKFLOW`]).
pub fn keyed_layer(runtime: &Arc<AutonomicRuntime>) -> SessionLayer {
    SessionLayer::keyed(runtime.clone(), KeyedConfig::new(KeyFrom::header(WORKFLOW)))
        .expect("default keyed config")
}

/// `SessionLayer::keyed` over [`inner`].
pub fn keyed(
    runtime: &Arc<AutonomicRuntime>,
) -> impl Service<Request<()>, Response = Response<()>, Error: std::fmt::Debug> {
    keyed_layer(runtime).layer(inner())
}

/// A keyed layer holding `n` keys of the default tenant, and the keys.
pub fn keyed_population(n: usize) -> (Arc<AutonomicRuntime>, SessionLayer, Vec<String>) {
    let runtime = runtime();
    let layer = keyed_layer(&runtime);
    let keys: Vec<String> = (0..n).map(|i| format!("wf-{i:012}")).collect();
    let keyed = layer.keyed_sessions().expect("keyed");
    for key in &keys {
        keyed.session(&runtime, TenantId::default_tenant(), key, None, 1).expect("new key");
    }
    (runtime, layer, keys)
}

/// Times `iters` requests through `service`, sweeping the table every 4096, untimed.
pub fn timed<S>(service: &mut S, runtime: &AutonomicRuntime, iters: u64) -> Duration
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(4096);
        let start = Instant::now();
        for _ in 0..batch {
            black_box(one(service));
        }
        total += start.elapsed();
        runtime.run_once();
        left -= batch;
    }
    total
}
