//! The service on an ephemeral loopback port, driven by a real HTTP client; `/metrics`
//! parsed with a real exposition parser and checked against what was sent.

use std::net::SocketAddr;
use std::time::Duration;

use autonomic_service_example::load::{self, HttpClient};
use autonomic_service_example::{API_KEY, App, AppConfig, FAIL, WORKFLOW_ID};
use axum::http::StatusCode;
use prometheus_parse::{Sample, Scrape, Value};

/// The service with its loop stopped (the test runs iterations itself) and nothing cleaned.
async fn serve() -> (App, SocketAddr) {
    let config = AppConfig {
        runtime: AppConfig::default().runtime.with_retention(Duration::from_secs(3600)),
        work: Duration::ZERO,
        ..AppConfig::default()
    };
    let app = App::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (app, addr)
}

async fn scrape(client: &HttpClient, addr: SocketAddr) -> Vec<Sample> {
    let (status, body) = load::get(client, addr, "/metrics", &[]).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap().samples
}

fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        other => panic!("{metric} {labels:?}: {other:?}"),
    }
}

/// Sends `n` GETs of `path` with `headers`; the statuses.
async fn send(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(axum::http::HeaderName, &str)],
    n: usize,
) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(load::get(client, addr, path, headers).await.unwrap().0);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_requests_sent() {
    let (app, addr) = serve().await;
    let client = load::client();
    let [acme, globex, _] = app.tenants() else { panic!("three tenants") };

    let ok = send(&client, addr, "/work", &[(API_KEY, acme.api_key)], 30).await;
    let failed = send(&client, addr, "/work", &[(API_KEY, globex.api_key), (FAIL, "1")], 10).await;
    let unknown = send(&client, addr, "/work", &[(API_KEY, "key-nobody")], 4).await;
    assert!(ok.iter().all(|s| *s == StatusCode::OK));
    assert!(failed.iter().all(|s| *s == StatusCode::INTERNAL_SERVER_ERROR));
    assert!(unknown.iter().all(|s| *s == StatusCode::UNAUTHORIZED));

    app.refresh();
    let m = scrape(&client, addr).await;
    assert_eq!(value(&m, "autonomic_sessions", &[("state", "completed")]), 30.0);
    assert_eq!(value(&m, "autonomic_sessions", &[("state", "failed")]), 10.0);
    assert_eq!(value(&m, "autonomic_tasks", &[]), 40.0, "no session for unauthenticated requests");
    assert_eq!(value(&m, "autonomic_retries", &[]), 10.0, "the failing handler's retries");
    let (acme_id, globex_id) = (acme.id.to_string(), globex.id.to_string());
    assert_eq!(
        value(&m, "autonomic_tenant_sessions", &[("tenant", &acme_id), ("state", "completed")]),
        30.0
    );
    assert_eq!(
        value(&m, "autonomic_tenant_sessions", &[("tenant", &globex_id), ("state", "failed")]),
        10.0
    );
    assert_eq!(value(&m, "autonomic_pattern_tasks", &[("pattern", "1")]), 40.0);
    assert_eq!(value(&m, "autonomic_failure_ratio", &[]), 0.25);
    assert_eq!(value(&m, "autonomic_loop_iterations_total", &[]), 1.0);

    // The dashboard and its data.
    let (status, page) = load::get(&client, addr, "/", &[]).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page).contains("fetch(\"/doctrine\""));
    let (status, doctrine) = load::get(&client, addr, "/doctrine", &[]).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let doctrine: serde_json::Value = serde_json::from_slice(&doctrine).unwrap();
    let tenants = doctrine["tenants"].as_array().unwrap();
    let acme_row = tenants.iter().find(|t| t["name"] == "acme").unwrap();
    assert_eq!(acme_row["sessions"]["completed"], 30);
    assert_eq!(doctrine["knowledge"]["generation"], 1);
    let view: autonomic::DoctrineView = serde_json::from_value(doctrine["view"].clone()).unwrap();
    assert_eq!(view.revision.knowledge_generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_503_and_counted_by_rule() {
    let (app, addr) = serve().await;
    let client = load::client();
    let [acme, globex, _] = app.tenants() else { panic!("three tenants") };
    let step =
        |tenant: &'static str, key: &'static str| vec![(API_KEY, tenant), (WORKFLOW_ID, key)];

    // Ten failing steps of acme's workflow wf-1: violations and retries on one session.
    let mut failing = step(acme.api_key, "wf-1");
    failing.push((FAIL, "1"));
    let failed = send(&client, addr, "/workflow/step", &failing, 10).await;
    assert!(failed.iter().all(|s| *s == StatusCode::INTERNAL_SERVER_ERROR));
    app.refresh(); // publishes SLO compliance 0: wf-1's adaptations are refused from now on

    let refused = send(&client, addr, "/workflow/step", &step(acme.api_key, "wf-1"), 5).await;
    assert_eq!(refused, vec![StatusCode::SERVICE_UNAVAILABLE; 5]);
    // A healthy workflow proposes nothing: admitted.
    let healthy = send(&client, addr, "/workflow/step", &step(acme.api_key, "wf-2"), 3).await;
    assert_eq!(healthy, vec![StatusCode::OK; 3]);
    // Globex sending acme's key gets a session of its own, healthy: never acme's.
    let other = send(&client, addr, "/workflow/step", &step(globex.api_key, "wf-1"), 2).await;
    assert_eq!(other, vec![StatusCode::OK; 2]);
    // A key that is not a key.
    let bad = send(&client, addr, "/workflow/step", &step(acme.api_key, "wf 1;drop"), 1).await;
    assert_eq!(bad, vec![StatusCode::BAD_REQUEST]);

    app.refresh();
    let m = scrape(&client, addr).await;
    assert_eq!(value(&m, "autonomic_refusals_total", &[("rule", "min_slo_compliance")]), 5.0);
    assert_eq!(value(&m, "autonomic_refusals_total", &[("rule", "max_failure_rate")]), 0.0);
    assert_eq!(
        value(&m, "autonomic_pattern_tasks", &[("pattern", "2")]),
        15.0,
        "refused steps record nothing"
    );
    assert_eq!(
        value(&m, "autonomic_pattern_sessions", &[("pattern", "2"), ("state", "active")]),
        3.0
    );
    let acme_id = acme.id.to_string();
    assert_eq!(value(&m, "autonomic_tenant_violations", &[("tenant", &acme_id)]), 10.0);
    let globex_id = globex.id.to_string();
    assert_eq!(value(&m, "autonomic_tenant_violations", &[("tenant", &globex_id)]), 0.0);
}
