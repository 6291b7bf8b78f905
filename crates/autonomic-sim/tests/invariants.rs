//! The invariants a run asserts: held when they hold, broken when they do not.

use autonomic_sim::{Invariant, Scenario, Verdict, simulate};

fn scenario(base_failure_rate: f64, extra: &str) -> Scenario {
    Scenario::from_toml_str(&format!(
        r#"
name = "inv"
seed = 4
duration_s = 150
invariants = ["caps", "recovery", "tenant_shares"]

[runtime.windows]
length_ms = 20000
buckets = 4

[runtime.global_q]
max_concurrent_adaptations = 2

[[patterns]]
name = "p"
tasks = [4, 8]
latency = {{ kind = "lognormal", median_ms = 30, sigma = 0.8 }}
slo_ms = 200
failure_rate = {base_failure_rate}
task_failure_rate = 0.25

[[tenants]]
name = "a"
rate_per_s = 30
patterns = ["p"]

[[tenants]]
name = "b"
rate_per_s = 10
patterns = ["p"]

[[faults]]
kind = "session_failures"
tenant = "a"
from_s = 30
until_s = 60
rate = 0.6
{extra}
"#
    ))
    .unwrap()
}

fn verdict(report: &autonomic_sim::SimReport, invariant: Invariant) -> &Verdict {
    &report.invariants.iter().find(|c| c.invariant == invariant).unwrap().verdict
}

#[test]
fn a_healthy_run_holds_every_invariant_and_skips_tenant_shares() {
    let report = simulate(&scenario(0.01, "")).unwrap();
    assert!(report.totals.peak_in_flight <= 2, "{:?}", report.totals);
    assert!(report.totals.refusals_by(autonomic::QRule::MaxConcurrentAdaptations) > 0);
    assert!(report.totals.refusals_by(autonomic::QRule::MaxFailureRate) > 0, "the fault bit");
    assert!(matches!(verdict(&report, Invariant::Caps), Verdict::Held(_)));
    assert!(
        matches!(verdict(&report, Invariant::Recovery), Verdict::Held(t) if t.starts_with("1 fault")),
        "{:?}",
        verdict(&report, Invariant::Recovery)
    );
    assert!(matches!(verdict(&report, Invariant::TenantShares), Verdict::Skipped(_)));
    assert_eq!(report.totals.unexpected, 0);
    assert!(report.invariants_hold());
}

#[test]
fn a_run_that_never_recovers_breaks_recovery() {
    // Sessions fail at 8% outside the fault too: over the 5% ceiling for good.
    let report = simulate(&scenario(0.08, "")).unwrap();
    match verdict(&report, Invariant::Recovery) {
        Verdict::Broken(why) => {
            assert!(why.contains("session_failures on tenant a"), "{why}");
            assert!(why.contains("windowed failure rate"), "says what the window showed: {why}");
        }
        other => panic!("expected a broken recovery, got {other:?}"),
    }
    assert!(!report.invariants_hold());
    assert!(report.markdown().contains("**recovery**: BROKEN"));
}

#[test]
fn caps_are_judged_against_the_q_in_force_when_it_changes() {
    // Tightened to one slot mid-run: admissions after the change hold to it.
    let tightened = scenario(
        0.01,
        "[[changes]]\nat_s = 90\nglobal_q = { max_concurrent_adaptations = 1, max_total_resources = 0.05 }",
    );
    let report = simulate(&tightened).unwrap();
    assert!(matches!(verdict(&report, Invariant::Caps), Verdict::Held(_)));
    let after: Vec<_> = report.samples.iter().filter(|s| s.at_ms > 91_000).collect();
    assert!(after.iter().all(|s| s.in_flight_cap == 1 && s.in_flight_peak <= 1));
    assert!(after.iter().all(|s| s.resources_peak <= 0.05 + 1e-6));
    assert!(report.samples.iter().any(|s| s.at_ms < 90_000 && s.in_flight_cap == 2));
}

#[test]
fn resource_pressure_shrinks_the_resource_cap_while_it_lasts() {
    let pressed = scenario(
        0.01,
        "[[faults]]\nkind = \"resource_pressure\"\nfrom_s = 100\nuntil_s = 120\nfraction = 0.5",
    );
    let report = simulate(&pressed).unwrap();
    let cap_at = |ms: u64| report.samples.iter().find(|s| s.at_ms == ms).unwrap().resources_cap;
    assert_eq!(cap_at(99_000), 0.9);
    assert_eq!(cap_at(110_000), 0.45);
    assert_eq!(cap_at(121_000), 0.9);
}

#[test]
fn every_scenario_of_the_library_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut loaded = 0;
    let files = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path());
    for path in files.chain([dir.join("perf/hour-1m.toml")]) {
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario =
                Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!scenario.description().is_empty(), "{}", path.display());
            loaded += 1;
        }
    }
    assert!(loaded >= 6, "{loaded} scenarios");
}

/// Tenant "c" is guaranteed half the slots and resources while "a" and "b" share the rest:
/// with a share in the scenario the invariant is judged (not skipped), the others are refused
/// for capacity, and "c" never is while within its guarantee.
#[test]
fn tenant_shares_are_judged_when_a_tenant_has_a_share_and_hold() {
    let c = r#"
[[tenants]]
name = "c"
rate_per_s = 5
patterns = ["p"]
share = { guaranteed_slots = 0.5, guaranteed_resources = 0.5 }
"#;
    let scenario = scenario(0.01, c);
    let shares = scenario.runtime().budgets.tenant_shares.as_ref().expect("c's share is read");
    assert_eq!(shares.tenants.len(), 1);
    let report = simulate(&scenario).unwrap();
    // "a" and "b" have no guarantee: the pool (the slot nobody is guaranteed) refuses them.
    assert!(report.totals.refusals_by(autonomic::QRule::TenantShare) > 0);
    match verdict(&report, Invariant::TenantShares) {
        Verdict::Held(why) => assert!(!why.starts_with("0 capacity refusals"), "{why}"),
        other => panic!("tenant_shares: {other:?}"),
    }
}

#[test]
fn shares_in_two_places_and_invalid_shares_are_refused_by_field() {
    let both = "[runtime.budgets.tenant_shares]\n[[tenants]]\nname = \"c\"\nrate_per_s = 1\npatterns = [\"p\"]\nshare = { guaranteed_slots = 0.5 }\n";
    let text = |extra: &str| {
        format!(
            "name = \"x\"\nseed = 1\nduration_s = 10\n[[patterns]]\nname = \"p\"\ntasks = [1, 2]\nlatency = {{ kind = \"fixed\", ms = 1 }}\nslo_ms = 10\n{extra}"
        )
    };
    let err = Scenario::from_toml_str(&text(both)).unwrap_err();
    assert!(err.to_string().starts_with("tenants[0].share"), "{err}");
    let over = "[[tenants]]\nname = \"c\"\nrate_per_s = 1\npatterns = [\"p\"]\nshare = { guaranteed_slots = 0.8, ceiling_slots = 0.5 }\n";
    let err = Scenario::from_toml_str(&text(over)).unwrap_err();
    assert!(err.to_string().contains("ceiling_slots"), "{err}");
}
