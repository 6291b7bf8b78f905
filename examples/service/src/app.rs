//! [`App`]: the runtime, its collector and the axum router.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use autonomic::{
    ActionKinds, AutonomicRuntime, ConfigError, KnowledgeRules, LoopReport, RuntimeConfig,
    SessionAdapterConfig, SessionHandle, TenantId, WindowConfig,
};
use autonomic_prometheus::{AutonomicCollector, ExportConfig, ExportConfigError};
use autonomic_tower::{
    KeyFrom, KeyedConfig, KeyedConfigError, PatternFrom, SessionError, SessionLayer, TenantFrom,
};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use prometheus_client::registry::Registry;
use tower::ServiceBuilder;

/// The header carrying a client's API key (what authenticates its tenant).
pub const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The header naming the workflow instance of a `/workflow/step` request.
pub const WORKFLOW_ID: HeaderName = HeaderName::from_static("x-workflow-id");
/// A request header asking the handler to fail (the load generator's fault injection).
pub const FAIL: HeaderName = HeaderName::from_static("x-fail");

/// Pattern of `/work` sessions.
const PATTERN_WORK: u8 = 1;
/// Pattern of `/workflow/step` sessions.
const PATTERN_WORKFLOW: u8 = 2;

/// One tenant of the service: its name, id and API key.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Display name.
    pub name: &'static str,
    /// The runtime's id for it.
    pub id: TenantId,
    /// The key its clients send in `x-api-key`.
    pub api_key: &'static str,
}

/// The service's configuration.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The runtime's configuration (loop interval, retention, doctrine).
    pub runtime: RuntimeConfig,
    /// How long a handler works for a request.
    pub work: Duration,
    /// Idle workflow keys are forgotten after this.
    pub workflow_idle: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            runtime: RuntimeConfig::default()
                .with_interval(Duration::from_millis(250))
                .with_retention(Duration::from_secs(1))
                // A short window with small minimum volumes, for a run of a few seconds.
                .with_windows(WindowConfig {
                    length_ms: 1_000,
                    buckets: 4,
                    min_finished_sessions: 10,
                    min_tasks: 10,
                    ..WindowConfig::default()
                })
                // A request is load: every adaptation a refused workflow asks for is refused,
                // shedding ones too, so the request gets its 503.
                .with_adapter(SessionAdapterConfig {
                    knowledge_rules: KnowledgeRules {
                        min_slo_compliance: ActionKinds::ALL,
                        max_failure_rate: ActionKinds::ALL,
                    },
                    ..SessionAdapterConfig::default()
                }),
            work: Duration::from_millis(5),
            workflow_idle: Duration::from_secs(30),
        }
    }
}

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The runtime's configuration was refused.
    #[error(transparent)]
    Runtime(#[from] ConfigError),
    /// The keyed layer's configuration was refused.
    #[error(transparent)]
    Keyed(#[from] KeyedConfigError),
    /// The export bounds were refused.
    #[error(transparent)]
    Export(#[from] ExportConfigError),
}

/// The service: the runtime, its Prometheus collector and registry, and three tenants.
///
/// ```
/// use autonomic_service_example::{App, AppConfig};
/// let app = App::new(AppConfig::default())?;
/// assert_eq!(app.tenants().len(), 3);
/// let _router = app.router();
/// # Ok::<(), autonomic_service_example::AppError>(())
/// ```
#[derive(Clone)]
pub struct App {
    runtime: Arc<AutonomicRuntime>,
    collector: AutonomicCollector,
    registry: Arc<Registry>,
    tenants: Arc<[Tenant]>,
    config: AppConfig,
    per_request: SessionLayer,
    keyed: SessionLayer,
}

impl App {
    /// Builds the runtime (its loop is not started: see [`start_loop`](Self::start_loop)).
    pub fn new(config: AppConfig) -> Result<Self, AppError> {
        let runtime = Arc::new(AutonomicRuntime::new(config.runtime.clone())?);
        let collector = AutonomicCollector::new(ExportConfig::default())?;
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector.clone()));
        let tenants: Arc<[Tenant]> =
            [("acme", "key-acme"), ("globex", "key-globex"), ("initech", "key-initech")]
                .into_iter()
                .map(|(name, api_key)| Tenant { name, id: TenantId::new(), api_key })
                .collect();
        let per_request = SessionLayer::per_request(runtime.clone())
            .tenant(TenantFrom::extension())
            .pattern(PatternFrom::func(|_| Some(PATTERN_WORK)));
        let keyed_config = KeyedConfig::new(KeyFrom::header(WORKFLOW_ID))
            .idle_after(config.workflow_idle)
            .max_keys(10_000)
            .max_key_len(64);
        let keyed = SessionLayer::keyed(runtime.clone(), keyed_config)?
            .tenant(TenantFrom::extension())
            .pattern(PatternFrom::func(|_| Some(PATTERN_WORKFLOW)));
        Ok(App {
            runtime,
            collector,
            registry: Arc::new(registry),
            tenants,
            config,
            per_request,
            keyed,
        })
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<AutonomicRuntime> {
        &self.runtime
    }

    /// The tenants and their API keys.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The collector `/metrics` encodes.
    pub fn collector(&self) -> &AutonomicCollector {
        &self.collector
    }

    /// Runs one loop iteration now and observes its result for `/metrics` and `/doctrine`.
    pub fn refresh(&self) -> LoopReport {
        let report = self.runtime.run_once();
        self.collector.observe_runtime(&self.runtime);
        report
    }

    /// Starts the runtime's loop and a task that observes each report for `/metrics` and
    /// `/doctrine` (it ends with the runtime's report channel). Call inside a tokio runtime.
    pub fn start_loop(&self) -> Result<(), autonomic::RuntimeError> {
        self.runtime.start_loop()?;
        let (runtime, collector) = (self.runtime.clone(), self.collector.clone());
        let mut reports = runtime.reports();
        tokio::spawn(async move {
            while reports.changed().await.is_ok() {
                collector.observe_runtime(&runtime);
            }
        });
        Ok(())
    }

    /// The routes: `/work` (one session per request), `/workflow/step` (one session per
    /// workflow key), `/metrics`, `/doctrine` and the dashboard at `/`.
    pub fn router(&self) -> Router {
        let work_delay = self.config.work;
        let work = Router::new().route("/work", get(move |e, h| handle(e, h, work_delay))).layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(refused))
                .layer(self.per_request.clone()),
        );
        let workflow =
            Router::new().route("/workflow/step", get(move |e, h| handle(e, h, work_delay))).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(refused))
                    .layer(self.keyed.clone()),
            );
        let tenants = self.tenants.clone();
        let served = work
            .merge(workflow)
            .layer(middleware::from_fn(move |req, next| authenticate(tenants.clone(), req, next)));

        Router::new()
            .route("/", get(|| async { Html(include_str!("dashboard.html")) }))
            .route("/metrics", get(metrics))
            .route("/doctrine", get(doctrine))
            .with_state(self.clone())
            .merge(served)
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("tenants", &self.tenants).finish_non_exhaustive()
    }
}

/// The `HandleErrorLayer` recipe: a refusal by the doctrine is a 503, a bad key a 400.
async fn refused(error: SessionError<Infallible>) -> (StatusCode, String) {
    (error.status_code(), error.to_string())
}

/// Authenticates the request's tenant from its API key and puts its [`TenantId`] in the
/// extensions, where the session layers read it; an unknown key is a 401.
async fn authenticate(tenants: Arc<[Tenant]>, mut request: Request, next: Next) -> Response {
    let key = request.headers().get(&API_KEY).map(|v| v.as_bytes());
    let Some(tenant) = tenants.iter().find(|t| Some(t.api_key.as_bytes()) == key) else {
        return (StatusCode::UNAUTHORIZED, "unknown API key").into_response();
    };
    request.extensions_mut().insert(tenant.id);
    next.run(request).await
}

/// The work of a request: a short wait, then success, or a 500 when asked to fail.
async fn handle(
    Extension(session): Extension<SessionHandle>,
    headers: HeaderMap,
    delay: Duration,
) -> Result<&'static str, StatusCode> {
    tokio::time::sleep(delay).await;
    if headers.contains_key(&FAIL) {
        // The handler records what it knows: this attempt will be retried by the client.
        session.record_retry();
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok("done")
}

/// `/metrics`: the registry in OpenMetrics text.
async fn metrics(State(app): State<App>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &app.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

/// `/doctrine`: the runtime's state as JSON.
async fn doctrine(State(app): State<App>) -> Json<serde_json::Value> {
    Json(crate::doctrine::view(&app.runtime, app.collector.observation().as_deref(), &app.tenants))
}
