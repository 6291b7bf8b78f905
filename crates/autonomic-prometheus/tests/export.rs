//! The collector's text, parsed back with a real exposition parser.

use std::time::Duration;

use autonomic::{ActionKind, Analysis, AutonomicRuntime, CaseId, QRule, RuntimeConfig, TenantId};
use autonomic_prometheus::{AutonomicCollector, ExportConfig};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use prometheus_parse::{Sample, Scrape, Value};

fn scrape(registry: &Registry) -> Vec<Sample> {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap().samples
}

fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{metric} is not a single value"),
        })
}

#[test]
fn a_scrape_counts_what_the_runtime_holds() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    let tenant = TenantId::new();
    for i in 0..20 {
        let h = runtime
            .start_session(runtime.create_session(CaseId::new(), tenant).with_pattern(3))
            .unwrap();
        h.record_task_execution(Duration::from_millis(2));
        if i % 4 == 0 {
            runtime.fail_session(h).unwrap();
        } else {
            runtime.complete_session(h).unwrap();
        }
    }
    runtime.run_once(); // failure rate 0.25 published
    let stuck = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
    for _ in 0..5 {
        stuck.record_retry();
    }
    for _ in 0..3 {
        assert!(matches!(runtime.adapter().evaluate(&stuck).unwrap(), Analysis::Refused(_)));
    }

    let collector = AutonomicCollector::new(ExportConfig::default()).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    assert!(scrape(&registry).is_empty(), "nothing observed, nothing encoded");
    collector.observe_runtime(&runtime);
    let s = scrape(&registry);

    assert_eq!(value(&s, "autonomic_sessions", &[("state", "completed")]), Some(15.0));
    assert_eq!(value(&s, "autonomic_sessions", &[("state", "failed")]), Some(5.0));
    assert_eq!(value(&s, "autonomic_sessions", &[("state", "active")]), Some(1.0));
    assert_eq!(value(&s, "autonomic_tasks", &[]), Some(20.0));
    assert_eq!(value(&s, "autonomic_retries", &[]), Some(5.0));
    assert_eq!(value(&s, "autonomic_failure_ratio", &[]), Some(0.25));
    assert_eq!(value(&s, "autonomic_task_latency_mean_seconds", &[]), Some(0.002));
    assert_eq!(
        value(&s, "autonomic_refusals_total", &[("rule", QRule::MaxFailureRate.as_str())]),
        Some(3.0)
    );
    assert_eq!(value(&s, "autonomic_refusals_total", &[("rule", "min_slo_compliance")]), Some(0.0));
    let t = tenant.to_string();
    assert_eq!(
        value(&s, "autonomic_tenant_sessions", &[("tenant", &t), ("state", "failed")]),
        Some(5.0)
    );
    assert_eq!(value(&s, "autonomic_pattern_tasks", &[("pattern", "3")]), Some(20.0));
    assert_eq!(
        value(&s, "autonomic_pattern_sessions", &[("pattern", "none"), ("state", "active")]),
        Some(1.0)
    );
    assert_eq!(value(&s, "autonomic_loop_iterations_total", &[]), Some(1.0));
    assert_eq!(value(&s, "autonomic_knowledge_generation", &[]), Some(1.0));
    assert_eq!(value(&s, "autonomic_adaptations_max", &[]), Some(10.0));
}

#[test]
fn tenants_beyond_the_bound_are_folded_into_other() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    // Tenant i has i + 1 sessions: the three largest keep their labels.
    let tenants: Vec<TenantId> = (0..10).map(|_| TenantId::new()).collect();
    for (i, &tenant) in tenants.iter().enumerate() {
        for _ in 0..=i {
            let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
            h.record_task_execution_us(100);
        }
    }
    let collector =
        AutonomicCollector::new(ExportConfig { max_tenants: 3, max_patterns: 1 }).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    collector.observe_runtime(&runtime);
    let s = scrape(&registry);

    let labelled: Vec<&str> = s
        .iter()
        .filter(|x| x.metric == "autonomic_tenant_tasks")
        .map(|x| x.labels.get("tenant").unwrap())
        .collect();
    assert_eq!(labelled.len(), 4, "three tenants and other: {labelled:?}");
    for (i, tenant) in tenants.iter().enumerate().skip(7) {
        let tasks = value(&s, "autonomic_tenant_tasks", &[("tenant", &tenant.to_string())]);
        assert_eq!(tasks, Some(i as f64 + 1.0));
    }
    // Tenants 0..7 have 1 + 2 + ... + 7 = 28 sessions.
    assert_eq!(value(&s, "autonomic_tenant_tasks", &[("tenant", "other")]), Some(28.0));
    assert_eq!(
        value(&s, "autonomic_tenant_sessions", &[("tenant", "other"), ("state", "active")]),
        Some(28.0)
    );
    assert_eq!(value(&s, "autonomic_tasks", &[]), Some(55.0));
}

#[test]
fn out_of_range_bounds_are_refused() {
    let err =
        AutonomicCollector::new(ExportConfig { max_tenants: 1, max_patterns: 5000 }).unwrap_err();
    assert_eq!(err.field, "max_patterns");
}

#[test]
fn the_rolling_window_is_exported_only_where_it_judges() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    let (sick, quiet) = (TenantId::new(), TenantId::new());
    let run = |tenant: TenantId, n: usize, failures: usize| {
        for i in 0..n {
            let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
            h.record_task_execution(Duration::from_millis(1));
            if i < failures {
                runtime.fail_session(h).unwrap();
            } else {
                runtime.complete_session(h).unwrap();
            }
        }
    };
    run(sick, 20, 5); // 5 of 20 fail: judged (the minimum is 20 finished sessions)
    run(quiet, 5, 0); // 5 finished: not enough evidence for its own window
    runtime.run_once();
    let collector = AutonomicCollector::new(ExportConfig::default()).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    collector.observe_runtime(&runtime);
    let s = scrape(&registry);

    assert_eq!(value(&s, "autonomic_window_length_seconds", &[]), Some(60.0));
    assert_eq!(value(&s, "autonomic_window_sessions_finished", &[]), Some(25.0));
    assert_eq!(value(&s, "autonomic_window_failure_ratio", &[]), Some(0.2));
    assert_eq!(value(&s, "autonomic_window_judged", &[("rule", "max_failure_rate")]), Some(1.0));
    // 25 tasks: under the 100 the SLO rule needs, so no ratio, and `judged` says why.
    assert_eq!(value(&s, "autonomic_window_judged", &[("rule", "min_slo_compliance")]), Some(0.0));
    assert_eq!(value(&s, "autonomic_window_slo_compliance_ratio", &[]), None);
    let sick_label = sick.to_string();
    let quiet_label = quiet.to_string();
    assert_eq!(
        value(&s, "autonomic_tenant_window_failure_ratio", &[("tenant", &sick_label)]),
        Some(0.25)
    );
    assert_eq!(
        value(&s, "autonomic_tenant_window_failure_ratio", &[("tenant", &quiet_label)]),
        None,
        "five sessions are not evidence"
    );
}

#[test]
fn refusals_are_exported_by_rule_and_action_and_by_bounded_tenant() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    let fine = TenantId::new();
    for i in 0..20 {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), fine)).unwrap();
        h.record_task_execution(Duration::from_millis(1));
        if i % 4 == 0 {
            runtime.fail_session(h).unwrap();
        } else {
            runtime.complete_session(h).unwrap();
        }
    }
    runtime.run_once(); // failure rate 0.25: capacity-consuming proposals are refused
    // Tenant `heavy` is refused 3 times, `light` once; the export names one tenant.
    let (heavy, light) = (TenantId::new(), TenantId::new());
    let mut kinds = Vec::new();
    for (tenant, times) in [(heavy, 3), (light, 1)] {
        let stuck = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
        for _ in 0..5 {
            stuck.record_retry();
        }
        for _ in 0..times {
            match runtime.adapter().evaluate(&stuck).unwrap() {
                Analysis::Refused(r) => {
                    assert_eq!(r.rule, QRule::MaxFailureRate);
                    kinds.push(r.action.kind());
                }
                other => panic!("not refused: {other:?}"),
            }
        }
    }
    let collector =
        AutonomicCollector::new(ExportConfig { max_tenants: 1, max_patterns: 1 }).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    collector.observe_runtime(&runtime);
    let s = scrape(&registry);

    let rule = QRule::MaxFailureRate.as_str();
    for kind in ActionKind::ALL {
        let expected = kinds.iter().filter(|&&k| k == kind).count() as f64;
        let labels = [("rule", rule), ("action", kind.as_str())];
        assert_eq!(value(&s, "autonomic_action_refusals_total", &labels), Some(expected));
    }
    let by_action: f64 = s
        .iter()
        .filter(|x| x.metric == "autonomic_action_refusals_total")
        .map(|x| match x.value {
            Value::Counter(v) | Value::Untyped(v) => v,
            _ => panic!("not a counter"),
        })
        .sum();
    assert_eq!(by_action, 4.0, "every refusal once");
    assert_eq!(
        s.iter().filter(|x| x.metric == "autonomic_action_refusals_total").count(),
        QRule::ALL.len() * ActionKind::ALL.len(),
        "bounded: one series per rule and kind"
    );
    let tenants: Vec<&str> = s
        .iter()
        .filter(|x| x.metric == "autonomic_tenant_refusals_total")
        .map(|x| x.labels.get("tenant").unwrap())
        .collect();
    assert_eq!(tenants.len(), 2, "one named tenant and other: {tenants:?}");
    let heavy_label = heavy.to_string();
    assert_eq!(
        value(&s, "autonomic_tenant_refusals_total", &[("tenant", &heavy_label)]),
        Some(3.0)
    );
    assert_eq!(value(&s, "autonomic_tenant_refusals_total", &[("tenant", "other")]), Some(1.0));
}

#[test]
fn latency_is_a_histogram_with_monotone_buckets() {
    let runtime = AutonomicRuntime::new(RuntimeConfig::default()).unwrap();
    let tenant = TenantId::new();
    // One task per session: 50 µs, 3 ms, 40 ms, 2 s, each 5 times, and 30 s once.
    let latencies_us = [50u64, 3_000, 40_000, 2_000_000];
    let mut sum_us = 0;
    for us in latencies_us.into_iter().flat_map(|us| std::iter::repeat_n(us, 5)).chain([30_000_000])
    {
        let h = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
        h.record_task_execution_us(us);
        sum_us += us;
        runtime.complete_session(h).unwrap();
    }
    let idle = runtime.start_session(runtime.create_session(CaseId::new(), tenant)).unwrap();
    let collector = AutonomicCollector::new(ExportConfig::default()).unwrap();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    collector.observe_runtime(&runtime);
    let s = scrape(&registry);

    let name = "autonomic_session_mean_latency_seconds";
    let buckets = s
        .iter()
        .find_map(|x| match &x.value {
            Value::Histogram(b) if x.metric == name => Some(b.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no histogram {name}"));
    assert!(buckets.windows(2).all(|w| w[0].less_than < w[1].less_than), "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "{buckets:?}");
    let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
    assert_eq!(at(0.0001), Some(5.0));
    assert_eq!(at(0.005), Some(10.0));
    assert_eq!(at(0.05), Some(15.0));
    assert_eq!(at(2.5), Some(20.0));
    assert_eq!(at(10.0), Some(20.0));
    assert_eq!(at(f64::INFINITY), Some(21.0));
    let tasks = value(&s, "autonomic_tasks", &[]).unwrap();
    assert_eq!(value(&s, &format!("{name}_count"), &[]), Some(tasks), "one task per session");
    assert_eq!(value(&s, &format!("{name}_sum"), &[]), Some(sum_us as f64 / 1e6));
    drop(idle); // running, no task: not a value of the histogram
}
