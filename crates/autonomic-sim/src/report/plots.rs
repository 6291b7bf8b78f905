//! The plots: SVG line charts over virtual time ([`Plot`]), drawn with plotters' SVG backend
//! (no fonts or system libraries: text is laid out by plotters' built-in estimate).

use std::fmt;

use autonomic::QRule;
use plotters::prelude::*;

use super::{Sample, SimReport};

/// One of the report's plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plot {
    /// Windowed failure rate by tenant, and `max_failure_rate`.
    FailureRate,
    /// Windowed SLO compliance by tenant, and `min_slo_compliance`.
    SloCompliance,
    /// Refusals per loop pass, by rule.
    Refusals,
    /// Adaptations in flight (peak per pass) against `max_concurrent_adaptations`.
    Adaptations,
    /// Resources granted (peak per pass) against `max_total_resources`.
    Resources,
    /// Sessions running, and in the table.
    Sessions,
}

impl Plot {
    /// Every plot, in the report's order.
    pub const ALL: [Plot; 6] = [
        Plot::FailureRate,
        Plot::SloCompliance,
        Plot::Refusals,
        Plot::Adaptations,
        Plot::Resources,
        Plot::Sessions,
    ];

    /// The file it is written to.
    pub const fn file_name(self) -> &'static str {
        match self {
            Plot::FailureRate => "failure_rate.svg",
            Plot::SloCompliance => "slo_compliance.svg",
            Plot::Refusals => "refusals.svg",
            Plot::Adaptations => "adaptations.svg",
            Plot::Resources => "resources.svg",
            Plot::Sessions => "sessions.svg",
        }
    }

    /// Its title.
    pub const fn title(self) -> &'static str {
        match self {
            Plot::FailureRate => "Windowed failure rate by tenant (%)",
            Plot::SloCompliance => "Windowed SLO compliance by tenant (%)",
            Plot::Refusals => "Refusals per loop pass, by rule",
            Plot::Adaptations => "Adaptations in flight (peak per pass) and the cap",
            Plot::Resources => "Resources granted (peak per pass) and the cap",
            Plot::Sessions => "Sessions running, and in the table",
        }
    }

    fn y_label(self) -> &'static str {
        match self {
            Plot::FailureRate | Plot::SloCompliance => "%",
            Plot::Refusals => "refusals",
            Plot::Adaptations => "adaptations",
            Plot::Resources => "fraction of capacity",
            Plot::Sessions => "sessions",
        }
    }
}

impl fmt::Display for Plot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// One line of a chart: its name, its segments (a gap where there is no value), its colour
/// index, and whether it is dashed (a limit, or the candidate of a what-if).
pub(super) struct Line {
    pub(super) name: String,
    pub(super) segments: Vec<Vec<(f64, f64)>>,
    pub(super) color: usize,
    pub(super) dashed: bool,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const LIMIT: RGBColor = RGBColor(0, 0, 0);
/// Plot lines as the report's colours: the limit is black, the rest cycle the palette.
pub(super) const LIMIT_COLOR: usize = usize::MAX;

fn color(index: usize) -> RGBColor {
    if index == LIMIT_COLOR { LIMIT } else { PALETTE[index % PALETTE.len()] }
}

/// A series of optional values as segments split at the gaps.
fn segments(points: impl Iterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) => current.push((x, y)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn secs(s: &Sample) -> f64 {
    s.at_ms as f64 / 1e3
}

impl SimReport {
    /// Every plot as SVG text, in [`Plot::ALL`]'s order.
    pub fn plots(&self) -> Vec<(Plot, String)> {
        Plot::ALL
            .iter()
            .map(|&plot| (plot, render(plot, &self.lines(plot, "", false), self.duration_ms)))
            .collect()
    }

    /// The lines of `plot`, their names suffixed with `suffix`, dashed if `dashed` (limits
    /// are always dashed).
    pub(super) fn lines(&self, plot: Plot, suffix: &str, dashed: bool) -> Vec<Line> {
        let s = &self.samples;
        let line = |name: String, color, dashed, points: Vec<Vec<(f64, f64)>>| Line {
            name: format!("{name}{suffix}"),
            segments: points,
            color,
            dashed,
        };
        let limit = |name: &str, f: &dyn Fn(&Sample) -> f64| {
            line(
                name.to_string(),
                LIMIT_COLOR,
                true,
                segments(s.iter().map(|x| (secs(x), Some(f(x))))),
            )
        };
        let mut lines = Vec::new();
        match plot {
            Plot::FailureRate | Plot::SloCompliance => {
                let failure = plot == Plot::FailureRate;
                for (i, name) in self.tenants.iter().enumerate() {
                    let points = s.iter().map(|x| {
                        let t = x.tenants.get(i);
                        let v = if failure {
                            t.and_then(|t| t.failure_rate)
                        } else {
                            t.and_then(|t| t.slo_compliance)
                        };
                        (secs(x), v.map(|v| v * 100.0))
                    });
                    lines.push(line(name.clone(), i, dashed, segments(points)));
                }
                lines.push(if failure {
                    limit("max_failure_rate", &|x| x.failure_rate_cap * 100.0)
                } else {
                    limit("min_slo_compliance", &|x| x.slo_floor * 100.0)
                });
            }
            Plot::Refusals => {
                for (r, rule) in QRule::ALL.iter().enumerate() {
                    let mut previous = 0;
                    let points = s.iter().map(|x| {
                        let delta = x.refusals[r].saturating_sub(previous);
                        previous = x.refusals[r];
                        (secs(x), Some(delta as f64))
                    });
                    lines.push(line(rule.to_string(), r, dashed, segments(points)));
                }
            }
            Plot::Adaptations => {
                let points = s.iter().map(|x| (secs(x), Some(x.in_flight_peak as f64)));
                lines.push(line("in flight".into(), 0, dashed, segments(points)));
                lines.push(limit("max_concurrent_adaptations", &|x| x.in_flight_cap as f64));
            }
            Plot::Resources => {
                let points = s.iter().map(|x| (secs(x), Some(x.resources_peak)));
                lines.push(line("granted".into(), 0, dashed, segments(points)));
                lines.push(limit("max_total_resources", &|x| x.resources_cap));
            }
            Plot::Sessions => {
                let live = s.iter().map(|x| (secs(x), Some(x.live_sessions as f64)));
                lines.push(line("running".into(), 0, dashed, segments(live)));
                let table = s.iter().map(|x| (secs(x), Some(x.table_sessions as f64)));
                lines.push(line("in the table".into(), 1, dashed, segments(table)));
            }
        }
        lines
    }
}

/// Renders `lines` as an SVG chart of `plot` over `0..duration_ms`.
pub(super) fn render(plot: Plot, lines: &[Line], duration_ms: u64) -> String {
    let mut svg = String::new();
    // Drawing into a string cannot fail for I/O; a drawing error leaves what was drawn.
    if let Err(e) = draw(&mut svg, plot, lines, duration_ms) {
        tracing::warn!(plot = %plot, error = %e, "plot not fully drawn");
    }
    svg
}

fn draw(
    svg: &mut String,
    plot: Plot,
    lines: &[Line],
    duration_ms: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let x_max = (duration_ms as f64 / 1e3).max(1.0);
    let mut y_min = f64::INFINITY;
    let mut y_max = f64::NEG_INFINITY;
    for (_, y) in lines.iter().flat_map(|l| l.segments.iter().flatten()) {
        y_min = y_min.min(*y);
        y_max = y_max.max(*y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    y_min = y_min.min(0.0);
    let y_max = if y_max <= y_min { y_min + 1.0 } else { y_max + (y_max - y_min) * 0.05 };

    let root = SVGBackend::with_string(svg, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title(), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, y_min..y_max)?;
    chart.configure_mesh().x_desc("virtual time (s)").y_desc(plot.y_label()).draw()?;
    for line in lines {
        let style =
            ShapeStyle { color: color(line.color).to_rgba(), filled: false, stroke_width: 2 };
        let mut first = true;
        for segment in &line.segments {
            let drawn = if line.dashed {
                chart.draw_series(DashedLineSeries::new(segment.iter().copied(), 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(segment.iter().copied(), style))?
            };
            if std::mem::take(&mut first) {
                drawn
                    .label(line.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
