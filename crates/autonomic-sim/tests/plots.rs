//! The plots are well-formed SVG documents with one line per series.

use autonomic::GlobalQ;
use autonomic_sim::{Plot, Scenario, WhatIf, simulate};

const SCENARIO: &str = r#"
name = "plots"
seed = 9
duration_s = 90
[[patterns]]
name = "p"
tasks = [3, 6]
latency = { kind = "uniform", min_ms = 10, max_ms = 90 }
slo_ms = 60
task_failure_rate = 0.2
[[tenants]]
name = "alpha"
rate_per_s = 20
patterns = ["p"]
[[tenants]]
name = "beta_2"
rate_per_s = 5
patterns = ["p"]
[[faults]]
kind = "session_failures"
tenant = "alpha"
from_s = 20
until_s = 40
rate = 0.6
"#;

fn check_svg(plot: Plot, svg: &str, names: &[&str]) {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("{plot}: not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{plot}");
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    let joined = texts.join("\n");
    assert!(joined.contains(plot.title()), "{plot}: no title in {joined}");
    for name in names {
        assert!(joined.contains(name), "{plot}: no legend entry {name}");
    }
    let lines = doc.descendants().filter(|n| n.has_tag_name("polyline")).count();
    assert!(lines > 0, "{plot}: no line drawn");
}

#[test]
fn every_plot_is_well_formed_and_labelled() {
    let report = simulate(&Scenario::from_toml_str(SCENARIO).unwrap()).unwrap();
    for (plot, svg) in report.plots() {
        let names: &[&str] = match plot {
            Plot::FailureRate => &["alpha", "beta_2", "max_failure_rate"],
            Plot::SloCompliance => &["alpha", "min_slo_compliance"],
            Plot::Refusals => &["max_failure_rate", "max_concurrent_adaptations"],
            Plot::Adaptations => &["in flight", "max_concurrent_adaptations"],
            Plot::Resources => &["granted", "max_total_resources"],
            Plot::Sessions => &["running", "in the table"],
        };
        check_svg(plot, &svg, names);
    }
}

#[test]
fn a_what_if_overlays_both_runs_and_writes_everything() {
    let scenario = Scenario::from_toml_str(SCENARIO).unwrap();
    let tight =
        GlobalQ { max_concurrent_adaptations: 2, max_failure_rate: 0.02, ..GlobalQ::default() };
    let what_if = WhatIf::run(&scenario, tight).unwrap();
    for (plot, svg) in what_if.plots() {
        if plot == Plot::FailureRate {
            check_svg(plot, &svg, &["alpha (live)", "alpha (candidate)"]);
        }
    }
    assert!(what_if.candidate.totals.peak_in_flight <= 2);
    let dir = std::env::temp_dir().join(format!("autonomic-sim-whatif-{}", std::process::id()));
    let report = what_if.write(&dir).unwrap();
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| max_concurrent_adaptations | 10 | 2 |"), "{md}");
    for plot in Plot::ALL {
        for sub in ["", "live", "candidate"] {
            let svg = std::fs::read_to_string(dir.join(sub).join(plot.file_name())).unwrap();
            roxmltree::Document::parse(&svg).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
