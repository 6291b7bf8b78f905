//! Bad input to every public constructor and configuration loader.
//!
//! One table: each row is an input (NaN, infinities, negative or out-of-range values, empty
//! and oversized strings, wrong types, unknown fields, unknown enum tags, documents that are
//! not objects) and the name the refusal must carry: the field for a refused value or an
//! unknown field, the tag for an unknown enum tag. A row passes when the call returns an error
//! (never `Ok`, never a panic) whose typed field is that name, or, for errors without a typed
//! field (parse errors), whose message names it; and whose message stays under 2 KB, however
//! large the input.
//!
//! `cargo test -p autonomic-reliability --test bad_input -- --nocapture` prints the table
//! with each error message.

use std::sync::Arc;
use std::time::Duration;

use autonomic::RuntimeConfig;
use autonomic_adapter::{
    ActionError, ActionKind, AdapterError, FnPolicy, PolicyContext, Proposal, QRule, SessionAction,
    SessionAdapter, SessionAdapterConfig, config::load_json,
};
use autonomic_aggregate::LatencyHistogram;
use autonomic_core::{
    CaseId, ClockHandle, ConfigError, GlobalQ, KnowledgeBase, ManualClock, MetadataError,
    MetricsSnapshot, SessionBuilder, SessionHandle, SessionId, SessionState, Tag, TenantId,
};
use autonomic_table::{SessionTable, TableError};

/// What a refusal carried.
#[derive(Debug)]
struct Refused {
    /// The field (or argument) the typed error names, if it has such a notion.
    field: Option<String>,
    message: String,
}

type Outcome = Result<(), Refused>;

fn config_err(e: ConfigError) -> Refused {
    Refused { field: e.field().map(str::to_owned), message: e.to_string() }
}

fn action_err(e: ActionError) -> Refused {
    Refused { field: Some(e.field.to_owned()), message: e.to_string() }
}

fn adapter_err(e: AdapterError) -> Refused {
    let field = match &e {
        AdapterError::InvalidAction(a) => Some(a.field.to_owned()),
        AdapterError::InvalidImpact(_) => Some("expected_impact".to_owned()),
        _ => None,
    };
    Refused { field, message: e.to_string() }
}

fn tag_err(e: MetadataError) -> Refused {
    Refused { field: Some("tag".to_owned()), message: e.to_string() }
}

fn serde_err(e: impl std::fmt::Display) -> Refused {
    Refused { field: None, message: e.to_string() }
}

fn table_err(e: TableError) -> Refused {
    Refused { field: Some("id".to_owned()), message: e.to_string() }
}

/// Longest acceptable error message: an error may quote its input, but not without bound.
const MAX_MESSAGE: usize = 2048;

struct Case {
    input: String,
    /// The name the refusal must carry.
    names: &'static str,
    run: Box<dyn Fn() -> Outcome>,
}

fn case(
    input: impl Into<String>,
    names: &'static str,
    run: impl Fn() -> Outcome + 'static,
) -> Case {
    Case { input: input.into(), names, run: Box::new(run) }
}

const BAD_FLOATS: [(&str, f64); 3] =
    [("NaN", f64::NAN), ("inf", f64::INFINITY), ("-inf", f64::NEG_INFINITY)];

/// `doc` as shown in the table: its first 40 bytes and its length when it is long.
fn shorten(doc: &str) -> String {
    if doc.len() > 80 {
        let mut cut = 40;
        while !doc.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}... ({} bytes)", &doc[..cut], doc.len())
    } else {
        doc.to_owned()
    }
}

fn big(n: usize) -> String {
    "x".repeat(n)
}

/// An adapter whose policy always proposes `proposal`.
fn proposing(proposal: Proposal) -> Outcome {
    let adapter = SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
        .policy(FnPolicy(move |_: &MetricsSnapshot, _: &PolicyContext<'_>| Some(proposal.clone())))
        .build()
        .map_err(config_err)?;
    let handle = SessionHandle::new(CaseId::new(), TenantId::new()).start().expect("fresh");
    adapter.evaluate(&handle).map(drop).map_err(adapter_err)?;
    assert_eq!(adapter.active_adaptations(), 0);
    Ok(())
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();

    // ---- GlobalQ::new and GlobalQ::validate ------------------------------------------
    let q = GlobalQ::default();
    let new_q = |q: GlobalQ| {
        GlobalQ::new(
            q.max_total_resources,
            q.max_concurrent_adaptations,
            q.min_slo_compliance,
            q.max_failure_rate,
        )
        .map(drop)
        .map_err(config_err)
    };
    for (name, x) in BAD_FLOATS.into_iter().chain([("-0.1", -0.1), ("1.5", 1.5)]) {
        v.push(case(
            format!("GlobalQ::new(max_total_resources = {name})"),
            "max_total_resources",
            move || new_q(GlobalQ { max_total_resources: x, ..q }),
        ));
        v.push(case(
            format!("GlobalQ::new(min_slo_compliance = {name})"),
            "min_slo_compliance",
            move || new_q(GlobalQ { min_slo_compliance: x, ..q }),
        ));
        v.push(case(
            format!("GlobalQ::new(max_failure_rate = {name})"),
            "max_failure_rate",
            move || new_q(GlobalQ { max_failure_rate: x, ..q }),
        ));
    }
    v.push(case("GlobalQ { max_failure_rate: NaN }.validate()", "max_failure_rate", move || {
        GlobalQ { max_failure_rate: f64::NAN, ..q }.validate().map_err(config_err)
    }));

    // ---- GlobalQ through serde and the loaders ---------------------------------------
    for (doc, names) in [
        (r#"{"max_total_resources": 1.5}"#, "max_total_resources"),
        (r#"{"min_slo_compliance": -0.5}"#, "min_slo_compliance"),
        (r#"{"max_concurent_adaptations": 2}"#, "max_concurent_adaptations"),
    ] {
        v.push(case(format!("serde_json::from_str::<GlobalQ>({doc})"), names, move || {
            serde_json::from_str::<GlobalQ>(doc).map(drop).map_err(serde_err)
        }));
    }
    for (doc, names) in [
        (r#"{"max_total_resources": 1.5}"#, "max_total_resources"),
        (r#"{"max_total_resources": -1e-9}"#, "max_total_resources"),
        (r#"{"max_concurrent_adaptations": -3}"#, "max_concurrent_adaptations"),
        (r#"{"max_concurrent_adaptations": 2.5}"#, "max_concurrent_adaptations"),
        (r#"{"min_slo_compliance": "high"}"#, "min_slo_compliance"),
        (r#"{"max_failure_rate": 1e400}"#, "max_failure_rate"),
        (r#"{"max_failure_rate": null}"#, "max_failure_rate"),
        (r#"{"max_fail_rate": 0.1}"#, "max_fail_rate"),
        (r#"[0.9, 10, 0.95, 0.05]"#, "object"),
        (r#"{"max_failure_rate": 0.1, "max_failure_rate": 0.2}"#, "max_failure_rate"),
        ("", "EOF"),
    ] {
        v.push(case(format!("load_json::<GlobalQ>({doc})"), names, move || {
            load_json::<GlobalQ>(doc).map(drop).map_err(config_err)
        }));
    }
    for (doc, names) in [
        ("max_total_resources = nan", "max_total_resources"),
        ("max_total_resources = inf", "max_total_resources"),
        ("min_slo_compliance = -inf", "min_slo_compliance"),
        ("max_failure_rate = -0.5", "max_failure_rate"),
        ("max_failure_rate = 1e400", "max_failure_rate"),
        ("max_concurrent_adaptations = -1", "max_concurrent_adaptations"),
        ("max_concurrent_adaptations = \"ten\"", "max_concurrent_adaptations"),
        ("max_concurent_adaptations = 2", "max_concurent_adaptations"),
        ("max_failure_rate = 0.1\nmax_failure_rate = 0.2", "max_failure_rate"),
    ] {
        v.push(case(format!("config::load(toml, GlobalQ, {doc:?})"), names, move || {
            autonomic_core::config::load("toml", || toml::from_str::<GlobalQ>(doc))
                .map(drop)
                .map_err(config_err)
        }));
    }

    // ---- SessionAdapterConfig: validate, loaders, adapter constructors ----------------
    let c = SessionAdapterConfig::default;
    let mut configs: Vec<(String, &'static str, SessionAdapterConfig)> = Vec::new();
    for (name, x) in BAD_FLOATS.into_iter().chain([("-0.1", -0.1), ("1.01", 1.01)]) {
        configs.push((
            format!("max_violation_rate = {name}"),
            "max_violation_rate",
            SessionAdapterConfig { max_violation_rate: x, ..c() },
        ));
    }
    for (name, x) in BAD_FLOATS.into_iter().chain([("0", 0.0), ("-0.05", -0.05), ("2", 2.0)]) {
        configs.push((
            format!("resource_step = {name}"),
            "resource_step",
            SessionAdapterConfig { resource_step: x, ..c() },
        ));
    }
    configs.extend([
        (
            "max_latency_us = 0".into(),
            "max_latency_us",
            SessionAdapterConfig { max_latency_us: 0, ..c() },
        ),
        ("min_samples = 0".into(), "min_samples", SessionAdapterConfig { min_samples: 0, ..c() }),
        (
            "retry_base_backoff_ms = 0".into(),
            "retry_base_backoff_ms",
            SessionAdapterConfig { retry_base_backoff_ms: 0, ..c() },
        ),
        (
            "retry_max_backoff_ms < retry_base_backoff_ms".into(),
            "retry_max_backoff_ms",
            SessionAdapterConfig { retry_base_backoff_ms: 500, retry_max_backoff_ms: 499, ..c() },
        ),
        (
            "history_per_session = 0".into(),
            "history_per_session",
            SessionAdapterConfig { history_per_session: 0, ..c() },
        ),
        (
            "history_per_session = usize::MAX".into(),
            "history_per_session",
            SessionAdapterConfig { history_per_session: usize::MAX, ..c() },
        ),
        (
            "max_tracked_sessions = 0".into(),
            "max_tracked_sessions",
            SessionAdapterConfig { max_tracked_sessions: 0, ..c() },
        ),
        (
            "max_tracked_sessions = 2^24 + 1".into(),
            "max_tracked_sessions",
            SessionAdapterConfig { max_tracked_sessions: (1 << 24) + 1, ..c() },
        ),
        (
            "event_capacity = 0".into(),
            "event_capacity",
            SessionAdapterConfig { event_capacity: 0, ..c() },
        ),
        (
            "event_capacity = usize::MAX".into(),
            "event_capacity",
            SessionAdapterConfig { event_capacity: usize::MAX, ..c() },
        ),
    ]);
    for (what, names, config) in configs {
        let (a, b) = (config.clone(), config.clone());
        v.push(case(format!("SessionAdapterConfig {{ {what} }}.validate()"), names, move || {
            config.validate().map_err(config_err)
        }));
        v.push(case(format!("SessionAdapter::with_config({what})"), names, move || {
            SessionAdapter::with_config(Arc::new(KnowledgeBase::new()), a.clone())
                .map(drop)
                .map_err(config_err)
        }));
        v.push(case(
            format!("SessionAdapter::builder().config({what}).build()"),
            names,
            move || {
                SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
                    .config(b.clone())
                    .build()
                    .map(drop)
                    .map_err(config_err)
            },
        ));
    }
    v.push(case(
        "SessionAdapter::builder().global_q(max_failure_rate = NaN).build()",
        "max_failure_rate",
        || {
            SessionAdapter::builder(Arc::new(KnowledgeBase::new()))
                .global_q(GlobalQ { max_failure_rate: f64::NAN, ..GlobalQ::default() })
                .build()
                .map(drop)
                .map_err(config_err)
        },
    ));
    v.push(case(
        "adapter.update_global_q(max_total_resources = -inf)",
        "max_total_resources",
        || {
            let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
            let refused = adapter
                .update_global_q(GlobalQ {
                    max_total_resources: f64::NEG_INFINITY,
                    ..GlobalQ::default()
                })
                .map(drop)
                .map_err(config_err);
            assert_eq!(*adapter.global_q(), GlobalQ::default(), "a refused Q was swapped in");
            refused
        },
    ));
    let long_key = format!(r#"{{"{}": 1}}"#, big(100_000));
    let long_value = format!(r#"{{"max_retries": "{}"}}"#, big(100_000));
    for (doc, names) in [
        (r#"{"max_violation_rate": 1.5}"#.to_string(), "max_violation_rate"),
        (r#"{"max_violation_rate": -0.1}"#.into(), "max_violation_rate"),
        (r#"{"max_violation_rate": 1e400}"#.into(), "max_violation_rate"),
        (r#"{"resource_step": 0}"#.into(), "resource_step"),
        (r#"{"max_retries": -1}"#.into(), "max_retries"),
        (r#"{"max_retries": "three"}"#.into(), "max_retries"),
        (r#"{"min_samples": 0.5}"#.into(), "min_samples"),
        (r#"{"enable_auto_degrade": "yes"}"#.into(), "enable_auto_degrade"),
        (r#"{"event_capacity": 99999999999999999999999}"#.into(), "event_capacity"),
        (r#"{"history_per_session": 4097}"#.into(), "history_per_session"),
        (r#"{"max_retrys": 3}"#.into(), "max_retrys"),
        (r#"{"": 3}"#.into(), "unknown field"),
        (long_key.clone(), "unknown field"),
        (long_value.clone(), "max_retries"),
        ("[3, 0.1]".into(), "object"),
        ("null".into(), "object"),
        ("".into(), "EOF"),
    ] {
        let shown = shorten(&doc);
        v.push(case(format!("SessionAdapterConfig::from_json_str({shown})"), names, move || {
            SessionAdapterConfig::from_json_str(&doc).map(drop).map_err(config_err)
        }));
    }
    for (doc, names) in [
        ("max_violation_rate = nan", "max_violation_rate"),
        ("max_violation_rate = +inf", "max_violation_rate"),
        ("max_violation_rate = -inf", "max_violation_rate"),
        ("resource_step = -0.05", "resource_step"),
        ("resource_step = 1e400", "resource_step"),
        ("max_retries = -1", "max_retries"),
        ("max_retries = \"three\"", "max_retries"),
        ("event_capacity = 0", "event_capacity"),
        ("retry_base_backoff_ms = 1000\nretry_max_backoff_ms = 10", "retry_max_backoff_ms"),
        ("max_retrys = 3", "max_retrys"),
        ("[adapter]\nmax_retries = 3", "adapter"),
    ] {
        v.push(case(format!("SessionAdapterConfig::from_toml_str({doc:?})"), names, move || {
            SessionAdapterConfig::from_toml_str(doc).map(drop).map_err(config_err)
        }));
    }
    v.push(case(
        "serde_json::from_str::<SessionAdapterConfig>({min_samples: 0})",
        "min_samples",
        || {
            serde_json::from_str::<SessionAdapterConfig>(r#"{"min_samples": 0}"#)
                .map(drop)
                .map_err(serde_err)
        },
    ));

    // ---- RuntimeConfig (the facade): both formats, every section ----------------------
    let huge = "k".repeat(10 << 20);
    let json_docs: Vec<(String, &'static str)> = vec![
        (format!(r#"{{"{huge}": 1}}"#), "unknown field"),
        (format!(r#"{{"adapter": {{"{huge}": 1}}}}"#), "unknown field"),
        (format!(r#"{{"global_q": {{"{huge}": 1}}}}"#), "unknown field"),
        (format!(r#"{{"interval_ms": "{huge}"}}"#), "interval_ms"),
        (format!(r#"{{"adapter": {{"max_retries": "{huge}"}}}}"#), "max_retries"),
        (format!(r#"{{"global_q": {{"max_failure_rate": "{huge}"}}}}"#), "max_failure_rate"),
        (r#"{"interval_ms": 5, "interval_ms": 6}"#.into(), "interval_ms"),
        (r#"{"adapter": {"max_retries": 1, "max_retries": 2}}"#.into(), "max_retries"),
        (
            r#"{"global_q": {"max_failure_rate": 0.1, "max_failure_rate": 0.1}}"#.into(),
            "max_failure_rate",
        ),
        (r#"{"adapter": {"max_violation_rate": 1.5}}"#.into(), "max_violation_rate"),
        (r#"{"global_q": {"min_slo_compliance": -1}}"#.into(), "min_slo_compliance"),
        (r#"{"adapter": [3, 0.1]}"#.into(), "adapter"),
        (r#"{"interval_ms": 0}"#.into(), "interval_ms"),
    ];
    for (doc, names) in json_docs {
        let shown = shorten(&doc);
        v.push(case(format!("RuntimeConfig::from_json_str({shown})"), names, move || {
            RuntimeConfig::from_json_str(&doc).map(drop).map_err(config_err)
        }));
    }
    let toml_docs: Vec<(String, &'static str)> = vec![
        (format!("{huge} = 1"), "unknown field"),
        (format!("[adapter]\n{huge} = 1"), "unknown field"),
        (format!("[global_q]\n{huge} = 1"), "unknown field"),
        (format!("interval_ms = \"{huge}\""), "interval_ms"),
        (format!("[adapter]\nmax_retries = \"{huge}\""), "max_retries"),
        (format!("[global_q]\nmax_failure_rate = \"{huge}\""), "max_failure_rate"),
        ("interval_ms = 5\ninterval_ms = 6".into(), "interval_ms"),
        ("[adapter]\nmax_retries = 1\nmax_retries = 2".into(), "max_retries"),
        ("[global_q]\nmax_failure_rate = 0.1\nmax_failure_rate = 0.1".into(), "max_failure_rate"),
        ("[adapter]\nmax_violation_rate = nan".into(), "max_violation_rate"),
        ("[global_q]\nmax_total_resources = 2.0".into(), "max_total_resources"),
        ("retention_ms = 9999999999999".into(), "retention_ms"),
    ];
    for (doc, names) in toml_docs {
        let shown = shorten(&format!("{doc:?}"));
        v.push(case(format!("RuntimeConfig::from_toml_str({shown})"), names, move || {
            RuntimeConfig::from_toml_str(&doc).map(drop).map_err(config_err)
        }));
    }

    // ---- Tags --------------------------------------------------------------------------
    for (shown, text) in [
        ("\"\"".to_string(), String::new()),
        (format!("{} bytes", Tag::MAX_LEN + 1), big(Tag::MAX_LEN + 1)),
        ("1 MB".into(), big(1 << 20)),
    ] {
        let (a, b, d) = (text.clone(), text.clone(), text.clone());
        v.push(case(format!("Tag::new({shown})"), "tag", move || {
            Tag::new(&text).map(drop).map_err(tag_err)
        }));
        v.push(case(format!("SessionBuilder::tag({shown})"), "tag", move || {
            SessionBuilder::new(CaseId::new(), TenantId::new()).tag(&a).map(drop).map_err(tag_err)
        }));
        v.push(case(format!("SessionHandle::with_tag({shown})"), "tag", move || {
            SessionHandle::new(CaseId::new(), TenantId::new())
                .with_tag(&b)
                .map(drop)
                .map_err(tag_err)
        }));
        v.push(case(
            format!("NewSession::with_tag({shown}) (the session is cancelled)"),
            "tag",
            move || {
                let table = SessionTable::new();
                let new = table.create_session(CaseId::new(), TenantId::new());
                let id = new.id();
                let refused = new.with_tag(&d).map(drop).map_err(tag_err);
                assert_eq!(table.get(&id).map(|h| h.state()), Ok(SessionState::Cancelled));
                refused
            },
        ));
    }
    v.push(case(format!("a {}th distinct tag", Tag::MAX_PER_SESSION + 1), "tag", || {
        let mut b = SessionBuilder::new(CaseId::new(), TenantId::new());
        for i in 0..Tag::MAX_PER_SESSION {
            b = b.tag(format!("t{i}")).expect("within the limit");
        }
        b.tag("one-too-many").map(drop).map_err(tag_err)
    }));

    // ---- Actions: validate, and through the adapter ---------------------------------------
    let mut actions: Vec<(String, &'static str, SessionAction)> = Vec::new();
    for (name, x) in BAD_FLOATS.into_iter().chain([("-0.1", -0.1), ("1.01", 1.01)]) {
        actions.push((
            format!("DegradePerformance {{ factor: {name} }}"),
            "factor",
            SessionAction::DegradePerformance { factor: x },
        ));
    }
    for (name, x) in BAD_FLOATS.into_iter().chain([("0", 0.0), ("-0.5", -0.5), ("1.5", 1.5)]) {
        actions.push((
            format!("RequestResources {{ amount: {name} }}"),
            "amount",
            SessionAction::RequestResources { amount: x },
        ));
    }
    for len in [SessionAction::MAX_TEXT_LEN + 1, 1 << 20] {
        actions.extend([
            (
                format!("RetryTask {{ task_id: {len} bytes }}"),
                "task_id",
                SessionAction::RetryTask { task_id: big(len).into(), backoff_ms: 1 },
            ),
            (
                format!("TriggerCompensation {{ scope: {len} bytes }}"),
                "scope",
                SessionAction::TriggerCompensation { scope: big(len).into() },
            ),
            (
                format!("LogAndContinue {{ message: {len} bytes }}"),
                "message",
                SessionAction::LogAndContinue { message: big(len).into() },
            ),
        ]);
    }
    for (what, names, action) in actions {
        let proposed = action.clone();
        v.push(case(format!("SessionAction::{what}.validate()"), names, move || {
            action.validate().map_err(action_err)
        }));
        v.push(case(format!("a policy proposing {what}: adapter.evaluate"), names, move || {
            proposing(Proposal::new(proposed.clone(), "bad policy"))
        }));
    }
    for (name, x) in BAD_FLOATS.into_iter().chain([("-0.5", -0.5), ("1.5", 1.5)]) {
        v.push(case(
            format!("Proposal::with_impact({name}).validate()"),
            "expected_impact",
            move || {
                Proposal::new(SessionAction::CancelOptionalTasks, "r")
                    .with_impact(x)
                    .validate()
                    .map_err(adapter_err)
            },
        ));
        v.push(case(
            format!("a policy proposing expected_impact = {name}: adapter.evaluate"),
            "expected_impact",
            move || {
                proposing(Proposal::new(SessionAction::CancelOptionalTasks, "r").with_impact(x))
            },
        ));
    }
    // Values read from JSON are checked by `validate` (and at admission), not by serde.
    for (doc, names) in [
        (r#"{"kind":"degrade_performance","factor":-1}"#, "factor"),
        (r#"{"kind":"request_resources","amount":5}"#, "amount"),
    ] {
        v.push(case(format!("SessionAction from JSON {doc}, then validate()"), names, move || {
            let action: SessionAction = serde_json::from_str(doc).map_err(serde_err)?;
            action.validate().map_err(action_err)
        }));
    }

    // ---- Unknown enum tags and missing tags (JSON and TOML) ------------------------------
    for (doc, names) in [
        (r#"{"kind":"explode"}"#, "explode"),
        (r#"{"kind":"Degrade_Performance","factor":0.5}"#, "Degrade_Performance"),
        (r#"{"factor":0.5}"#, "kind"),
        (r#"{"kind":"degrade_performance"}"#, "factor"),
        (r#"{"kind":"request_resources","amount":"lots"}"#, "lots"),
        (r#"{"kind":"request_resources","amount":1e400}"#, "number out of range"),
    ] {
        v.push(case(format!("serde_json::from_str::<SessionAction>({doc})"), names, move || {
            serde_json::from_str::<SessionAction>(doc).map(drop).map_err(serde_err)
        }));
    }
    for (doc, names) in [
        ("kind = \"explode\"", "explode"),
        ("factor = 0.5", "kind"),
        ("kind = \"degrade_performance\"\nfactor = \"half\"", "half"),
    ] {
        v.push(case(format!("toml::from_str::<SessionAction>({doc:?})"), names, move || {
            toml::from_str::<SessionAction>(doc).map(drop).map_err(serde_err)
        }));
    }
    v.push(case("serde_json::from_str::<QRule>(\"max_fun\")", "max_fun", || {
        serde_json::from_str::<QRule>(r#""max_fun""#).map(drop).map_err(serde_err)
    }));
    v.push(case("serde_json::from_str::<ActionKind>(\"nuke\")", "nuke", || {
        serde_json::from_str::<ActionKind>(r#""nuke""#).map(drop).map_err(serde_err)
    }));
    v.push(case("serde_json::from_str::<SessionState>(\"exploded\")", "exploded", || {
        serde_json::from_str::<SessionState>(r#""exploded""#).map(drop).map_err(serde_err)
    }));
    v.push(case("toml::from_str::<MetricsSnapshot>(state = \"zombie\")", "zombie", || {
        let doc = "retry_count = 0\ntask_completions = 0\ntotal_latency_us = 0\nviolation_count = 0\n\
                   adaptation_count = 0\nstate = \"zombie\"\ntaken_at_ns = 0";
        toml::from_str::<MetricsSnapshot>(doc).map(drop).map_err(serde_err)
    }));

    // ---- Lookups of ids that name nothing -------------------------------------------------
    v.push(case("table.get(SessionId::from_raw(0))", "id", || {
        SessionTable::new().get(&SessionId::from_raw(0)).map(drop).map_err(table_err)
    }));
    v.push(case("table.remove(SessionId::from_raw(u64::MAX))", "id", || {
        SessionTable::new().remove(&SessionId::from_raw(u64::MAX)).map(drop).map_err(table_err)
    }));
    v
}

#[test]
fn every_bad_input_is_refused_with_a_typed_error_naming_it() {
    let cases = cases();
    let mut failures = Vec::new();
    println!("| input | must name | error |\n|---|---|---|");
    for c in &cases {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (c.run)()));
        let verdict = match outcome {
            Err(_) => Err("panicked".to_string()),
            Ok(Ok(())) => Err("accepted".to_string()),
            Ok(Err(refused)) => {
                let named = match &refused.field {
                    Some(field) => field == c.names,
                    None => refused.message.contains(c.names),
                };
                if !named {
                    Err(format!("does not name `{}`: {refused:?}", c.names))
                } else if refused.message.len() > MAX_MESSAGE {
                    Err(format!(
                        "a {}-byte message: errors must not echo huge inputs",
                        refused.message.len()
                    ))
                } else {
                    Ok(refused)
                }
            }
        };
        match verdict {
            Ok(refused) => {
                let mut message = refused.message.replace('\n', " ").replace('|', "\\|");
                if message.len() > 160 {
                    let mut cut = 150;
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    message = format!("{}... ({} bytes)", &message[..cut], refused.message.len());
                }
                let via = if refused.field.is_some() { "field" } else { "message" };
                println!("| `{}` | `{}` ({via}) | {message} |", c.input, c.names);
            }
            Err(why) => failures.push(format!("{}: {why}", c.input)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("\n{} cases", cases.len());
}

/// Values at the edge of their type where the API saturates or clamps instead of refusing:
/// none of these may panic, and each result is the documented one.
#[test]
fn saturating_inputs_never_panic() {
    let clock = Arc::new(ManualClock::new());
    clock.advance(Duration::MAX);
    clock.advance(Duration::MAX);
    assert_eq!(autonomic_core::Clock::now_nanos(&*clock), u64::MAX);

    let h = SessionHandle::new(CaseId::new(), TenantId::new()).start().unwrap();
    h.record_task_execution(Duration::MAX);
    h.record_task_execution_us(u64::MAX);
    let s = h.snapshot();
    assert_eq!((s.task_completions, s.total_latency_us), (2, u64::MAX));
    assert_eq!(s.duration_ms(), Some(s.duration().unwrap().as_millis() as u64));

    let table = SessionTable::with_clock(ClockHandle::custom(clock.clone()));
    let done = table.create_session(CaseId::new(), TenantId::new()).start().unwrap();
    done.complete().unwrap();
    assert_eq!(table.cleanup_terminal_sessions(Duration::MAX), 0);
    assert_eq!(table.cleanup_terminal_sessions(Duration::ZERO), 1);

    let mut hist = LatencyHistogram::new();
    assert_eq!(hist.value_at_quantile(0.5), None);
    hist.record(u64::MAX);
    hist.record(0);
    assert_eq!(hist.value_at_quantile(f64::NAN), None);
    for q in [f64::NEG_INFINITY, -1.0, 2.0, f64::INFINITY] {
        assert!(hist.value_at_quantile(q).is_some());
    }

    let config = SessionAdapterConfig::default();
    assert!(
        autonomic_adapter::ThresholdPolicy::backoff_ms(SessionId::from_raw(1), u64::MAX, &config)
            <= config.retry_max_backoff_ms
    );
    assert_eq!(KnowledgeBase::with_history(0).history().len(), 0);
}
