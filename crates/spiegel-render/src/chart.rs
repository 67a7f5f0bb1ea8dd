//! Trend charts drawn as inline SVG: a few rectangles, lines and labels, so a page needs no
//! script, font or file from elsewhere and prints sharply.

use spiegel_aggregate::indicators::{Indicator, Kind};

use crate::text::{Escaped, Language, push};

const WIDTH: f64 = 340.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 18.0;
/// Room for the period names under the plot, in two lines.
const BOTTOM: f64 = 34.0;

/// One period's point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Point {
    /// No report for the period (nothing delivered, or before the series starts).
    Missing,
    /// Suppressed by the release rules.
    Secret,
    /// A published value, and whether it is provisional.
    Value(f64, bool),
}

/// A line of a chart.
#[derive(Debug)]
pub(crate) struct Series {
    /// `own`, `region` or `national`: the CSS class that draws it.
    pub(crate) class: &'static str,
    pub(crate) name: String,
    pub(crate) points: Vec<Point>,
}

/// Draws the trend of `indicator` (shown as `label`) over `periods`: bars for counts, lines for
/// shares and statistics (with the reference series drawn beside the own one). A provisional
/// value is an open point, joined to its neighbours by a dotted line.
pub(crate) fn trend(
    out: &mut String,
    id: &str,
    language: Language,
    (indicator, label): (&Indicator, &str),
    periods: &[String],
    series: &[Series],
) {
    let max = series
        .iter()
        .flat_map(|s| &s.points)
        .filter_map(|p| match p {
            Point::Value(v, _) => Some(*v),
            _ => None,
        })
        .fold(0.0_f64, f64::max);
    let top = match indicator.kind {
        Kind::Share => 100.0,
        _ => nice_ceiling(max),
    };
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = plot_width / periods.len().max(1) as f64;
    // Whole units of the view box: sharp enough for a chart this size, and integers format
    // far faster than floats over thousands of pages.
    let x = |i: usize| (LEFT + step * (i as f64 + 0.5)).round() as i64;
    let y = |v: f64| (TOP + plot_height * (1.0 - (v / top).clamp(0.0, 1.0))).round() as i64;
    open(
        out,
        id,
        HEIGHT as i64,
        &format!(
            "{label}: {}",
            language.t("verloop over de perioden", "trend over the periods")
        ),
    );
    for (n, s) in series.iter().enumerate() {
        if n > 0 {
            out.push_str(" | ");
        }
        push(out, format_args!("{}: ", Escaped(&s.name)));
        for (i, (period, point)) in periods.iter().zip(&s.points).enumerate() {
            let shown = shown(language, indicator, *point);
            let separator = if i > 0 { "; " } else { "" };
            push(
                out,
                format_args!(
                    "{separator}{} {}",
                    Escaped(&language.period(period)),
                    Escaped(&shown)
                ),
            );
        }
    }
    out.push_str("</desc>");
    // Axis and grid: zero, half and the top. Attribute values are bare numbers (the HTML
    // parser reads inline SVG), and shared styling sits on groups: thousands of charts are
    // written per release.
    out.push_str("<g class=\"axis\">");
    for fraction in [0.0, 0.5, 1.0] {
        let value = top * fraction;
        let at = y(value);
        push(
            out,
            format_args!(
                "<line x1={LEFT} x2={} y1={at} y2={at} /><text x={} y={}>{}</text>",
                WIDTH - RIGHT,
                LEFT - 4.0,
                at + 4,
                Escaped(&tick(language, indicator, value)),
            ),
        );
    }
    out.push_str("</g><g class=\"periods\">");
    for (i, period) in periods.iter().enumerate() {
        // "1e halfjaar" over "2026": a period in words is too wide for one line.
        let (part, year) = language.period_parts(period);
        push(
            out,
            format_args!(
                "<text x={} y={}>{}",
                x(i),
                HEIGHT - BOTTOM + 14.0,
                Escaped(&part)
            ),
        );
        if let Some(year) = year {
            push(out, format_args!("<tspan x={} dy=11>{year}</tspan>", x(i)));
        }
        out.push_str("</text>");
    }
    out.push_str("</g>");
    let baseline = y(0.0);
    let mut labels = String::new();
    let mut label = |at: (i64, i64), point: Point| {
        let class = if matches!(point, Point::Value(..)) {
            ""
        } else {
            " class=\"none\""
        };
        push(
            &mut labels,
            format_args!(
                "<text{class} x={} y={}>{}</text>",
                at.0,
                at.1,
                Escaped(&shown(language, indicator, point))
            ),
        );
    };
    match indicator.kind {
        Kind::Count => {
            let bar = (step * 0.55).min(40.0).round() as i64;
            out.push_str("<g class=\"bars\">");
            for (i, point) in series
                .iter()
                .take(1)
                .flat_map(|s| s.points.iter().enumerate())
            {
                match *point {
                    Point::Value(v, provisional) => {
                        push(
                            out,
                            format_args!(
                                "<rect{} x={} y={} width={bar} height={} />",
                                if provisional { " class=prov" } else { "" },
                                x(i) - bar / 2,
                                y(v),
                                baseline - y(v),
                            ),
                        );
                        label((x(i), y(v) - 4), *point);
                    }
                    Point::Secret | Point::Missing => label((x(i), baseline - 4), *point),
                }
            }
            out.push_str("</g>");
        }
        Kind::Share | Kind::Statistic => {
            for (n, s) in series.iter().enumerate() {
                push(out, format_args!("<g class=\"{}\">", s.class));
                // A line joins neighbouring published values only: a gap stays a gap. A
                // segment touching a provisional value is dotted, apart from the solid run.
                let mut run: Vec<(i64, i64)> = Vec::new();
                let mut circles = String::new();
                let mut dotted = String::new();
                let mut previous: Option<((i64, i64), bool)> = None;
                for (i, point) in s.points.iter().enumerate() {
                    let here = match *point {
                        Point::Value(v, provisional) => Some(((x(i), y(v)), provisional)),
                        _ => None,
                    };
                    match here {
                        Some(((cx, cy), provisional)) => {
                            match previous {
                                Some(((px, py), was)) if was || provisional => {
                                    polyline(out, &mut run);
                                    push(
                                        &mut dotted,
                                        format_args!(
                                            "<polyline class=prov points=\"{px},{py} {cx},{cy}\" />"
                                        ),
                                    );
                                }
                                _ => {}
                            }
                            if provisional {
                                polyline(out, &mut run);
                            } else {
                                run.push((cx, cy));
                            }
                            let class = if provisional { " class=prov" } else { "" };
                            push(
                                &mut circles,
                                format_args!("<circle{class} cx={cx} cy={cy} r=3 />"),
                            );
                        }
                        None => polyline(out, &mut run),
                    }
                    previous = here;
                    // Only the own series is labelled; the references are in the table.
                    if n == 0 {
                        match here {
                            Some(((cx, cy), _)) => label((cx, cy - 7), *point),
                            None => label((x(i), baseline - 4), *point),
                        }
                    }
                }
                polyline(out, &mut run);
                out.push_str(&dotted);
                out.push_str(&circles);
                out.push_str("</g>");
            }
        }
    }
    push(out, format_args!("<g class=\"labels\">{labels}</g></svg>"));
}

/// Draws a distribution of shares (one category per row, a bar of 0–100%) for one period.
pub(crate) fn distribution(
    out: &mut String,
    id: &str,
    language: Language,
    indicator: &Indicator,
    title: &str,
    items: &[(&str, Point)],
) {
    const ROW: i64 = 30;
    const BAR: f64 = 280.0;
    let height = ROW * items.len() as i64 + 4;
    open(out, id, height, title);
    for (i, (label, point)) in items.iter().enumerate() {
        let separator = if i > 0 { "; " } else { "" };
        push(
            out,
            format_args!(
                "{separator}{}: {}",
                Escaped(label),
                Escaped(&shown(language, indicator, *point))
            ),
        );
    }
    out.push_str("</desc><g class=\"rows\">");
    for (i, (label, point)) in items.iter().enumerate() {
        let top = ROW * i as i64;
        push(
            out,
            format_args!("<text x=0 y={}>{}</text>", top + 11, Escaped(label)),
        );
        let shown = Escaped(&shown(language, indicator, *point)).to_string();
        match *point {
            Point::Value(v, _) => {
                let width = (BAR * (v / 100.0).clamp(0.0, 1.0)).round() as i64;
                push(
                    out,
                    format_args!(
                        "<rect x=0 y={} width={width} height=10 /><text x={} y={}>{shown}</text>",
                        top + 15,
                        width + 4,
                        top + 24
                    ),
                );
            }
            Point::Secret | Point::Missing => push(
                out,
                format_args!("<text class=\"none\" x=0 y={}>{shown}</text>", top + 24),
            ),
        }
    }
    out.push_str("</g></svg>");
}

/// Opens a chart's SVG with its title and the start of its text alternative, which the caller
/// fills with every value in words and closes with `</desc>`.
fn open(out: &mut String, id: &str, height: i64, title: &str) {
    push(
        out,
        format_args!(
            "<svg class=\"chart\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" width=\"{WIDTH}\" \
             height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\"><title id=\"{id}-t\">{}</title>\
             <desc id=\"{id}-d\">",
            Escaped(title)
        ),
    );
}

/// Draws the points gathered so far as one line, if there are two or more.
fn polyline(out: &mut String, run: &mut Vec<(i64, i64)>) {
    if run.len() > 1 {
        out.push_str("<polyline points=\"");
        for (i, (x, y)) in run.iter().enumerate() {
            let separator = if i > 0 { " " } else { "" };
            push(out, format_args!("{separator}{x},{y}"));
        }
        out.push_str("\" />");
    }
    run.clear();
}

fn shown(language: Language, indicator: &Indicator, point: Point) -> String {
    match point {
        // The provisional mark of the tables (†).
        Point::Value(v, true) => format!("{}\u{2020}", language.value(indicator, v)),
        Point::Value(v, false) => language.value(indicator, v),
        Point::Secret => language.t("geheim", "secret").to_owned(),
        Point::Missing => "–".to_owned(),
    }
}

fn tick(language: Language, indicator: &Indicator, value: f64) -> String {
    match indicator.kind {
        Kind::Share => format!("{}%", language.number(value, 0)),
        _ if value.fract() == 0.0 => language.number(value, 0),
        _ => language.number(value, 1),
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `max` (and at least 1).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 1.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|&c| c >= max)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use spiegel_aggregate::indicators::indicator;

    use super::*;

    #[test]
    fn the_axis_top_is_a_round_number_above_the_maximum() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(240.0), 250.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(1001.0), 2000.0);
    }

    #[test]
    fn a_chart_describes_every_point_in_words() {
        let mut out = String::new();
        let dropout = indicator("dropout_share").unwrap();
        let periods = vec!["2025-H1".to_owned(), "2025-H2".to_owned()];
        trend(
            &mut out,
            "c1",
            Language::Nl,
            (dropout, "uitval"),
            &periods,
            &[
                Series {
                    class: "own",
                    name: "Utrecht".into(),
                    points: vec![Point::Secret, Point::Value(12.0, false)],
                },
                Series {
                    class: "national",
                    name: "Nederland".into(),
                    points: vec![Point::Value(10.0, false), Point::Value(11.0, true)],
                },
            ],
        );
        assert!(out.contains(
            "<desc id=\"c1-d\">Utrecht: 1e halfjaar 2025 geheim; 2e halfjaar 2025 12% | \
             Nederland: 1e halfjaar 2025 10%; 2e halfjaar 2025 11%\u{2020}</desc>"
        ));
        assert!(out.starts_with("<svg") && out.ends_with("</svg>"));
        let own = &out[out.find("<g class=\"own\">").unwrap()..];
        let own = &own[..own.find("</g>").unwrap()];
        assert_eq!(
            own.matches("<circle").count(),
            1,
            "a secret value has no point"
        );
        let national = &out[out.find("<g class=\"national\">").unwrap()..];
        let national = &national[..national.find("</g>").unwrap()];
        assert_eq!(
            national.matches("<polyline points=\"").count(),
            0,
            "a segment to a provisional value is not solid"
        );
        assert_eq!(national.matches("<polyline class=prov").count(), 1);
        assert_eq!(national.matches("<circle class=prov").count(), 1);
        assert_eq!(national.matches("<circle cx").count(), 1);
        assert!(out.contains(">geheim</text>"));
        assert!(!out.contains("2025-H"), "no period code in the chart");
    }

    #[test]
    fn provisional_values_are_drawn_apart_from_the_solid_line() {
        let mut out = String::new();
        let share = indicator("no_new_start_share").unwrap();
        let periods: Vec<String> = ["2025-H1", "2025-H2", "2026-H1", "2026-H2"]
            .map(String::from)
            .to_vec();
        trend(
            &mut out,
            "c2",
            Language::En,
            (share, "no new start"),
            &periods,
            &[Series {
                class: "own",
                name: "Utrecht".into(),
                points: vec![
                    Point::Value(60.0, false),
                    Point::Value(62.0, false),
                    Point::Value(65.0, false),
                    Point::Value(81.0, true),
                ],
            }],
        );
        let own = &out[out.find("<g class=\"own\">").unwrap()..];
        let own = &own[..own.find("</g>").unwrap()];
        // Three settled values on one solid line, the last joined to them dotted.
        assert_eq!(own.matches("<polyline points=\"").count(), 1);
        let solid = &own[own.find("<polyline points=\"").unwrap()..];
        assert_eq!(solid[..solid.find("/>").unwrap()].matches(',').count(), 3);
        assert_eq!(own.matches("<polyline class=prov").count(), 1);
        assert_eq!(own.matches("<circle class=prov").count(), 1);
        assert!(out.contains("second half of 2026 81%\u{2020}"));
    }
}
