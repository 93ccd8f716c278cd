//! Charts drawn on the server as SVG (no script, no inline style: the page's CSP allows
//! neither): the dashboard's bar and line charts and a trace's waterfall. Colours come from
//! classes in `console.css`; each chart has a title and a text description for screen
//! readers, and its numbers are also in a table beside it.

use maud::{Markup, html};

use crate::bindings::exports::orderdesk::mcp::console::Trace;

const W: f64 = 420.0;
const H: f64 = 150.0;
const PAD_L: f64 = 44.0;
const PAD_B: f64 = 20.0;

/// One series of a chart: its name, CSS class and values (one per slot).
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<f64>,
}

pub enum Kind {
    /// Stacked bars.
    Bars,
    /// One line per series.
    Lines,
}

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn fmt(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A chart of `series` over slots labelled `first` … `last` (e.g. "60 min ago", "now").
pub fn chart(
    title: &str,
    unit: &str,
    first: &str,
    last: &str,
    kind: Kind,
    series: &[Series],
) -> Markup {
    let slots = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let top = match kind {
        Kind::Bars => (0..slots)
            .map(|i| {
                series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        Kind::Lines => series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max),
    };
    let top = nice_max(top);
    let plot_w = W - PAD_L;
    let plot_h = H - PAD_B;
    let slot_w = plot_w / slots as f64;
    let y = |v: f64| plot_h - (v / top) * plot_h;
    // Bars add up (calls in the window); lines do not (a latency), so they show their peak.
    let totals: Vec<String> = series
        .iter()
        .map(|s| match kind {
            Kind::Bars => format!("{} {}", s.name, fmt(s.values.iter().sum::<f64>())),
            Kind::Lines => format!(
                "{} peak {}",
                s.name,
                fmt(s.values.iter().copied().fold(0.0, f64::max))
            ),
        })
        .collect();
    let mut bars = Vec::new();
    if matches!(kind, Kind::Bars) {
        for i in 0..slots {
            let mut base = 0.0;
            for s in series {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if v > 0.0 {
                    bars.push((
                        s.class,
                        PAD_L + i as f64 * slot_w + 0.5,
                        y(base + v),
                        (slot_w - 1.0).max(0.5),
                        y(base) - y(base + v),
                    ));
                }
                base += v;
            }
        }
    }
    let description = format!("{title}, from {first} to {last}: {}", totals.join(", "));
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(description) {
                title { (title) }
                line.axis x1=(PAD_L) y1=(plot_h) x2=(W) y2=(plot_h) {}
                text.tick x=(PAD_L - 4.0) y="10" text-anchor="end" { (fmt(top)) }
                text.tick x=(PAD_L - 4.0) y=(plot_h) text-anchor="end" { "0" }
                text.tick x=(PAD_L) y=(H - 4.0) { (first) }
                text.tick x=(W) y=(H - 4.0) text-anchor="end" { (last) }
                @match kind {
                    Kind::Bars => {
                        @for (class, rx, ry, rw, rh) in &bars {
                            rect class=(class) x=(format!("{rx:.1}")) y=(format!("{ry:.1}"))
                                width=(format!("{rw:.1}")) height=(format!("{rh:.1}")) {}
                        }
                    }
                    Kind::Lines => {
                        @for s in series {
                            @let points: Vec<String> = s.values.iter().enumerate()
                                .map(|(i, v)| format!("{:.1},{:.1}", PAD_L + (i as f64 + 0.5) * slot_w, y(*v)))
                                .collect();
                            polyline class=(format!("{} line", s.class)) points=(points.join(" ")) {}
                        }
                    }
                }
            }
            figcaption {
                strong { (title) }
                " (" (unit) ")"
                ul.legend {
                    @for (s, total) in series.iter().zip(&totals) {
                        li { span class=(format!("swatch {}", s.class)) {} (total) }
                    }
                }
            }
        }
    }
}

/// A trace as a waterfall: one row per step, a bar from its start for its duration, on
/// the call's own time scale; the numbers are in the table below it.
pub fn waterfall(trace: &Trace) -> Markup {
    let total_us = trace
        .steps
        .iter()
        .map(|s| s.start_us + s.duration_us)
        .chain([trace.summary.duration_us])
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let row_h = 22.0;
    let label_w = 250.0;
    let width = 900.0;
    let plot_w = width - label_w - 10.0;
    let height = row_h * (trace.steps.len() as f64 + 1.0) + 10.0;
    let x = |us: u64| label_w + (us as f64 / total_us) * plot_w;
    html! {
        figure.waterfall {
            svg viewBox=(format!("0 0 {width} {height}")) role="img"
                aria-label=(format!("Waterfall of {} steps over {:.1} ms", trace.steps.len(), total_us / 1000.0)) {
                title { "Steps of the call, in order" }
                rect.whole x=(label_w) y="2" width=(format!("{:.1}", plot_w)) height=(row_h - 6.0) {}
                text.step x="4" y=(row_h - 8.0) { (trace.summary.name) " (" (format!("{:.1} ms", trace.summary.duration_us as f64 / 1000.0)) ")" }
                @for (i, step) in trace.steps.iter().enumerate() {
                    @let top = row_h * (i as f64 + 1.0) + 2.0;
                    @let label: String = step.label.chars().take(38).collect();
                    text.step x="4" y=(format!("{:.1}", top + row_h - 8.0)) { (step.kind) ": " (label) }
                    rect class=(format!("bar kind-{}", css_word(&step.kind)))
                        x=(format!("{:.1}", x(step.start_us)))
                        y=(format!("{:.1}", top))
                        width=(format!("{:.1}", ((step.duration_us as f64 / total_us) * plot_w).max(1.5)))
                        height=(row_h - 6.0) {}
                }
            }
        }
    }
}

/// A step kind as a CSS class word (kinds are the component's; anything odd becomes `other`).
fn css_word(kind: &str) -> &str {
    if !kind.is_empty()
        && kind.len() <= 20
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        kind
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_a_round_top_and_escape_titles() {
        let svg = chart(
            "<Calls>",
            "per minute",
            "60 min ago",
            "now",
            Kind::Bars,
            &[
                Series {
                    name: "ok",
                    class: "ok",
                    values: vec![1.0, 3.0],
                },
                Series {
                    name: "failed",
                    class: "failed",
                    values: vec![0.0, 4.0],
                },
            ],
        )
        .into_string();
        assert!(svg.contains("&lt;Calls&gt;") && !svg.contains("<Calls>"));
        assert!(svg.contains(">10<"), "7 rounds up to 10: {svg}");
        assert_eq!(svg.matches("<rect").count(), 3, "zero values draw nothing");
        assert!(svg.contains("ok 4, failed 4"));
    }

    #[test]
    fn odd_step_kinds_do_not_reach_a_class() {
        assert_eq!(css_word("upstream"), "upstream");
        assert_eq!(css_word("x\" onload=\"y"), "other");
    }
}
