//! Bad scenario files: each refused with its typed error, naming the field.

use autonomic_sim::{Scenario, ScenarioError};

const GOOD: &str = r#"
name = "good"
seed = 1
duration_s = 60

[[patterns]]
name = "p"
tasks = [1, 3]
latency = { kind = "fixed", ms = 10 }
slo_ms = 50

[[tenants]]
name = "t"
rate_per_s = 5
patterns = ["p"]
"#;

fn with(extra: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml_str(&format!("{GOOD}\n{extra}"))
}

fn replaced(from: &str, to: &str) -> Result<Scenario, ScenarioError> {
    assert!(GOOD.contains(from), "{from}");
    Scenario::from_toml_str(&GOOD.replacen(from, to, 1))
}

#[test]
fn the_good_one_loads() {
    let s = Scenario::from_toml_str(GOOD).unwrap();
    assert_eq!(s.patterns()[0].id, 1);
    assert_eq!(s.invariants().len(), 2);
}

#[test]
fn values_out_of_range_name_their_field() {
    let cases: Vec<(Result<Scenario, ScenarioError>, &str)> = vec![
        (replaced("duration_s = 60", "duration_s = -1"), "duration_s"),
        (replaced("duration_s = 60", "duration_s = 1e9"), "duration_s"),
        (replaced("duration_s = 60", "duration_s = nan"), "duration_s"),
        (replaced("rate_per_s = 5", "rate_per_s = -5"), "tenants[0].rate_per_s"),
        (replaced("tasks = [1, 3]", "tasks = [4, 3]"), "patterns[0].tasks"),
        (replaced("tasks = [1, 3]", "tasks = [0, 3]"), "patterns[0].tasks"),
        (replaced("ms = 10", "ms = 0"), "patterns[0].latency.ms"),
        (
            replaced(
                r#"{ kind = "fixed", ms = 10 }"#,
                r#"{ kind = "lognormal", median_ms = 10, sigma = 9 }"#,
            ),
            "patterns[0].latency.sigma",
        ),
        (replaced("slo_ms = 50", "slo_ms = 50\nfailure_rate = 1.5"), "patterns[0].failure_rate"),
        (replaced(r#"name = "good""#, r#"name = "bad/name""#), "name"),
        (
            with("[[faults]]\nkind = \"flood\"\nfrom_s = 1\nuntil_s = 2\nfactor = 0.5"),
            "faults[0].factor",
        ),
        (
            with("[[faults]]\nkind = \"task_failures\"\nfrom_s = 5\nuntil_s = 2\nrate = 0.5"),
            "faults[0].until_s",
        ),
        (
            with("[[faults]]\nkind = \"task_failures\"\nfrom_s = 500\nuntil_s = 600\nrate = 0.5"),
            "faults[0].from_s",
        ),
        (
            with("[[changes]]\nat_s = 5\nglobal_q = { max_failure_rate = 2.0 }"),
            "changes[0].global_q.max_failure_rate",
        ),
        (with("[[changes]]\nat_s = 5"), "changes[0].global_q"),
        (
            Scenario::from_toml_str(&format!("invariants = [\"caps\", \"fairness\"]\n{GOOD}")),
            "invariants[1]",
        ),
    ];
    for (result, field) in cases {
        let err = result.expect_err(field);
        assert!(matches!(err, ScenarioError::InvalidField { .. }), "{field}: {err:?}");
        assert_eq!(err.field(), Some(field), "{err}");
    }
}

#[test]
fn names_must_exist_and_be_unique() {
    let err = replaced(r#"patterns = ["p"]"#, r#"patterns = ["q"]"#).unwrap_err();
    assert!(matches!(err, ScenarioError::UnknownName { kind: "pattern", .. }), "{err}");
    assert_eq!(err.field(), Some("tenants[0].patterns[0]"));
    let err = with(
        "[[faults]]\nkind = \"flood\"\ntenant = \"nobody\"\nfrom_s = 1\nuntil_s = 2\nfactor = 2",
    )
    .unwrap_err();
    assert!(matches!(err, ScenarioError::UnknownName { kind: "tenant", .. }), "{err}");
    let err = with("[[tenants]]\nname = \"t\"\nrate_per_s = 1\npatterns = [\"p\"]").unwrap_err();
    assert!(matches!(err, ScenarioError::DuplicateName { .. }), "{err}");
    assert_eq!(err.field(), Some("tenants[1].name"));
}

#[test]
fn each_fault_kind_takes_exactly_its_fields() {
    let err = with("[[faults]]\nkind = \"latency_spike\"\nfrom_s = 1\nuntil_s = 2\nrate = 0.5")
        .unwrap_err();
    assert!(matches!(err, ScenarioError::Missing { kind: "latency_spike", .. }), "{err}");
    assert_eq!(err.field(), Some("faults[0].factor"));
    let err = with("[[faults]]\nkind = \"flood\"\nfrom_s = 1\nuntil_s = 2\nfactor = 2\nrate = 0.1")
        .unwrap_err();
    assert!(matches!(err, ScenarioError::Unused { kind: "flood", .. }), "{err}");
    assert_eq!(err.field(), Some("faults[0].rate"));
}

#[test]
fn lists_are_bounded_and_required() {
    let mut many = String::new();
    for i in 0..=Scenario::MAX_TENANTS {
        many.push_str(&format!(
            "[[tenants]]\nname = \"x{i}\"\nrate_per_s = 1\npatterns = [\"p\"]\n"
        ));
    }
    let err = with(&many).unwrap_err();
    assert!(
        matches!(err, ScenarioError::TooMany { field: "tenants", count: 66, max: 64 }),
        "{err}"
    );
    let err = replaced("[[tenants]]", "[[tenantz]]").unwrap_err();
    assert!(matches!(err, ScenarioError::Config(_)), "unknown table: {err}");
    let no_tenants = GOOD.split("[[tenants]]").next().unwrap();
    let err = Scenario::from_toml_str(no_tenants).unwrap_err();
    assert!(matches!(err, ScenarioError::Empty { field: "tenants" }), "{err}");
    let err = with("[[faults]]\nkind = \"flood\"\nfrom_s = 0\nuntil_s = 60\nfactor = 1000\n[[tenants]]\nname = \"big\"\nrate_per_s = 100000\npatterns = [\"p\"]").unwrap_err();
    assert_eq!(err.field(), Some("tenants"), "expected sessions bounded: {err}");
}

#[test]
fn the_runtime_section_is_the_runtimes_own_validation() {
    let err = with("[runtime]\ninterval_ms = 0").unwrap_err();
    assert!(matches!(err, ScenarioError::Config(_)), "{err}");
    assert_eq!(err.field(), Some("interval_ms"));
    let err = with("[runtime.global_q]\nmax_failure_rate = 7").unwrap_err();
    assert_eq!(err.field(), Some("max_failure_rate"));
}

#[test]
fn input_is_bounded_and_so_are_messages() {
    let huge = format!("{GOOD}\n# {}", "x".repeat(Scenario::MAX_BYTES as usize));
    let err = Scenario::from_toml_str(&huge).unwrap_err();
    assert!(matches!(err, ScenarioError::TooLarge { .. }), "{err}");

    let dir = std::env::temp_dir().join(format!("autonomic-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.toml");
    std::fs::write(&path, &huge).unwrap();
    assert!(matches!(Scenario::load(&path), Err(ScenarioError::TooLarge { .. })));
    assert!(matches!(Scenario::load(&dir.join("missing.toml")), Err(ScenarioError::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();

    // A parse error quoting a huge key, and an unknown name as long as a file allows.
    let key = "k".repeat(500_000);
    for err in [
        with(&format!("{key} = 1")).unwrap_err(),
        replaced(r#"patterns = ["p"]"#, &format!("patterns = [\"{key}\"]")).unwrap_err(),
        replaced(r#"name = "good""#, &format!("name = \"{key}\"")).unwrap_err(),
    ] {
        assert!(err.to_string().len() <= 1024, "{} bytes", err.to_string().len());
    }
}
