//! The load generator: real HTTP requests over loopback, bounded in count and time, with a
//! failure burst in the middle.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderName, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{API_KEY, FAIL, Tenant, WORKFLOW_ID};

/// The HTTP client the generator (and the tests) use.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for plain HTTP/1 over loopback.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The largest response body read (the dashboard page and `/metrics` are far smaller).
const MAX_BODY: usize = 4 << 20;

/// A request that got no response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The URI or a header was invalid.
    #[error("invalid request: {0}")]
    Invalid(#[from] axum::http::Error),
    /// The connection failed.
    #[error("request failed: {0}")]
    Client(#[from] hyper_util::client::legacy::Error),
    /// The body could not be read.
    #[error("reading the body failed: {0}")]
    Body(#[from] hyper::Error),
    /// The body is larger than 4 MiB.
    #[error("response body over {MAX_BODY} bytes")]
    TooLarge,
    /// No response within the timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
}

/// GETs `http://{addr}{path}` with `headers`; the status and the body (at most 4 MiB).
pub async fn get(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(HeaderName, &str)],
) -> Result<(StatusCode, Bytes), RequestError> {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let mut request = Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request.body(Empty::new())?;
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                Ok(e) => RequestError::Body(*e),
                Err(_) => RequestError::TooLarge,
            })?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| RequestError::Timeout(TIMEOUT))?
}

/// What the generator sends.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Requests to send at most.
    pub requests: usize,
    /// Stop sending after this long, whatever is left.
    pub max_duration: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The failure burst, as a range of request numbers: there half the `/work` requests
    /// and most workflow steps ask the handler to fail.
    pub burst: Range<usize>,
    /// Distinct workflow keys.
    pub workflows: usize,
}

impl LoadConfig {
    /// `requests` requests in at most `max_duration`, 8 at a time, the burst over the
    /// second quarter of the run.
    pub fn new(requests: usize, max_duration: Duration) -> Self {
        LoadConfig {
            requests,
            max_duration,
            concurrency: 8,
            burst: requests / 4..requests / 2,
            workflows: 24,
        }
    }
}

/// What came back, counted as the responses arrive.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests sent.
    pub sent: AtomicU64,
    /// 2xx responses.
    pub ok: AtomicU64,
    /// 500 responses (the injected failures).
    pub failed: AtomicU64,
    /// 503 responses (refused by the doctrine).
    pub refused: AtomicU64,
    /// Anything else, and requests without a response.
    pub other: AtomicU64,
}

/// A copy of [`Counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests sent.
    pub sent: u64,
    /// 2xx responses.
    pub ok: u64,
    /// 500 responses.
    pub failed: u64,
    /// 503 responses.
    pub refused: u64,
    /// Anything else.
    pub other: u64,
}

impl Counts {
    /// The counts now.
    pub fn summary(&self) -> Summary {
        // Relaxed (all): counters read for a report.
        Summary {
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// Sends the load to `addr` as the `tenants` in turn, counting into `counts`; returns when
/// every request is answered or `max_duration` has passed.
pub async fn run(addr: SocketAddr, tenants: &[Tenant], config: &LoadConfig, counts: Arc<Counts>) {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let client = client();
    let tenants: Arc<[Tenant]> = tenants.into();
    let workers: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| {
            let (next, counts, client, tenants, config) =
                (next.clone(), counts.clone(), client.clone(), tenants.clone(), config.clone());
            tokio::spawn(async move {
                loop {
                    // Relaxed: only hands out distinct numbers.
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= config.requests || started.elapsed() >= config.max_duration {
                        break;
                    }
                    one(&client, addr, &tenants, &config, i, &counts).await;
                }
            })
        })
        .collect();
    for worker in workers {
        // A worker only ends by its loop; a panic would be a bug worth seeing.
        worker.await.expect("load worker panicked");
    }
}

async fn one(
    client: &HttpClient,
    addr: SocketAddr,
    tenants: &[Tenant],
    config: &LoadConfig,
    i: usize,
    counts: &Counts,
) {
    let tenant = &tenants[i % tenants.len().max(1)];
    let in_burst = config.burst.contains(&i);
    let workflow = i % 10 >= 7;
    let fail = in_burst && if workflow { i % 10 != 9 } else { i.is_multiple_of(2) };
    let key = format!("wf-{}", i % config.workflows.max(1));
    let mut headers = vec![(API_KEY, tenant.api_key)];
    if workflow {
        headers.push((WORKFLOW_ID, &key));
    }
    if fail {
        headers.push((FAIL, "1"));
    }
    let path = if workflow { "/workflow/step" } else { "/work" };
    // Relaxed (all): counters read for a report.
    counts.sent.fetch_add(1, Ordering::Relaxed);
    let counter = match get(client, addr, path, &headers).await {
        Ok((status, _)) if status.is_success() => &counts.ok,
        Ok((StatusCode::INTERNAL_SERVER_ERROR, _)) => &counts.failed,
        Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => &counts.refused,
        Ok(_) | Err(_) => &counts.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}
