//! The headline figures of a page, each with its trend, and the distributions of the report's
//! own period drawn as bars.

use maud::{Markup, PreEscaped, html};
use spiegel_aggregate::indicators::{Indicator, Kind};

use crate::chart::{self, Point, Series};
use crate::load::{Cell, Report, Status};
use crate::text::Escaped;

use super::Page;
use super::details::{Field, classes, provisional_note};

/// A section of headline figures, opened and closed here: its cards for `codes`, then `more`
/// (the outcomes section carries the goals card and the distributions after its trends).
pub(super) fn section(
    page: &Page<'_>,
    id: &str,
    heading: &str,
    codes: &[&'static str],
    more: Markup,
) -> Markup {
    html! {
        section id=(id) {
            h2 { (heading) }
            div class="cards" {
                @for (n, code) in codes.iter().enumerate() {
                    @if let Some(card) = card(page, &format!("{id}{n}"), code) { (card) }
                }
            }
            (more)
        }
        "\n"
    }
}

/// One headline figure with its trend, unless the report's history has no figure for it.
fn card(page: &Page<'_>, chart_id: &str, code: &'static str) -> Option<Markup> {
    let indicator = spiegel_aggregate::indicators::indicator(code)?;
    let own = points(page.history, code);
    if own.iter().all(|p| *p == Point::Missing) {
        return None;
    }
    let mut series = vec![Series {
        class: "own",
        name: if page.mirror() {
            format!(
                "{} {}",
                page.t("aanbieder", "provider"),
                page.report.file.recipient
            )
        } else {
            page.municipality_name()
        },
        points: own,
    }];
    // Counts of a region or the country are on another scale than a gemeente's; shares
    // and statistics are the reference worth drawing beside it.
    if !page.region.is_empty() && indicator.kind != Kind::Count {
        series.push(Series {
            class: "region",
            name: format!(
                "{} {}",
                page.t("regio", "region"),
                page.region_name().unwrap_or_default()
            ),
            points: points(page.region, code),
        });
    }
    if !page.national.is_empty() && indicator.kind != Kind::Count {
        series.push(Series {
            class: "national",
            name: page.t("Nederland", "the Netherlands").to_owned(),
            points: points(page.national, code),
        });
    }
    let label = page.label(indicator);
    let mut svg = String::new();
    chart::trend(
        &mut svg,
        chart_id,
        page.language,
        (indicator, &label),
        page.periods,
        &series,
    );
    let provisional = series
        .iter()
        .flat_map(|s| &s.points)
        .any(|p| matches!(p, Point::Value(_, true)));
    Some(html! {
        figure {
            h3 { (Escaped(&label)) }
            p class="now" { (now(page, indicator, page.report.total(code))) }
            (PreEscaped(svg))
            @if provisional { (provisional_note(page, indicator)) }
            @if series.len() > 1 {
                p class="legend" {
                    @for s in &series {
                        span class={ "key " (s.class) } {}
                        (Escaped(&s.name))
                    }
                }
            }
        }
    })
}

/// Distributions shown as bars for the report's own period: why trajectories ended, and
/// whether the youth can continue without help, by informant.
const DISTRIBUTIONS: &[(&str, &str, &[&str])] = &[
    (
        "Reden van beëindiging",
        "Reason the trajectory ended",
        &[
            "end_reason_01",
            "end_reason_02",
            "end_reason_03",
            "end_reason_04",
            "end_reason_05",
        ],
    ),
    (
        "Zonder hulp verder, volgens de jeugdige",
        "Continuing without help, according to the youth",
        &[
            "continue_without_help_youth_01",
            "continue_without_help_youth_02",
            "continue_without_help_youth_03",
            "continue_without_help_youth_04",
        ],
    ),
    (
        "Zonder hulp verder, volgens de ouder",
        "Continuing without help, according to the parent",
        &[
            "continue_without_help_parent_01",
            "continue_without_help_parent_02",
            "continue_without_help_parent_03",
            "continue_without_help_parent_04",
        ],
    ),
    (
        "Doelen behaald (3.4)",
        "Goals achieved (3.4)",
        &[
            "goals_achieved_01",
            "goals_achieved_02",
            "goals_achieved_03",
        ],
    ),
    (
        "Problematiek afgenomen (3.3)",
        "Problems reduced (3.3)",
        &["problems_reduced_01", "problems_reduced_02"],
    ),
];

pub(super) fn distributions(page: &Page<'_>) -> Markup {
    html! {
        div class="cards" {
            @for (n, (nl, en, codes)) in DISTRIBUTIONS.iter().enumerate() {
                @if let Some(bars) = distribution(page, n, page.t(nl, en), codes) { (bars) }
            }
        }
    }
}

/// One distribution, unless the report has none of its figures.
fn distribution(page: &Page<'_>, n: usize, title: &str, codes: &[&'static str]) -> Option<Markup> {
    let items: Vec<(&str, Point, &'static Indicator)> = codes
        .iter()
        .filter_map(|code| {
            let indicator = spiegel_aggregate::indicators::indicator(code)?;
            let label = page.language.indicator(indicator);
            // "reden beëindiging: volgens plan" becomes "volgens plan" under its heading.
            let short = label.split_once(": ").map_or(label, |(_, s)| s);
            Some((short, point(page.report.total(code)), indicator))
        })
        .collect();
    let &(_, _, first) = items.first()?;
    if items.iter().all(|(_, p, _)| *p == Point::Missing) {
        return None;
    }
    let bars: Vec<(&str, Point)> = items.iter().map(|(l, p, _)| (*l, *p)).collect();
    let mut svg = String::new();
    chart::distribution(
        &mut svg,
        &format!("verdeling{n}"),
        page.language,
        first,
        &format!("{title}, {}", page.period()),
        &bars,
    );
    Some(html! {
        figure {
            h3 { (Escaped(title)) }
            (PreEscaped(svg))
            p class="legend" {
                (page.t("Aandelen in het", "Shares in the")) " " (Escaped(&page.period()))
            }
        }
    })
}

/// The figure of the report's own period, with its reference values on a municipality page.
fn now(page: &Page<'_>, indicator: &'static Indicator, cell: Option<&Cell>) -> Markup {
    let kind = page.report.file.kind;
    let shown = |cell: Option<&Cell>| -> String {
        match cell {
            Some(c) if c.status == Status::Suppressed => page.t("geheim", "suppressed").to_owned(),
            Some(Cell { value: Some(v), .. }) => page.language.value(indicator, *v),
            _ => "–".to_owned(),
        }
    };
    // A reference carries the provisional mark as text: it has no figure class.
    let reference = |cell: Option<&Cell>| {
        let mark = if cell.is_some_and(|c| c.status == Status::Provisional) {
            "\u{2020}"
        } else {
            ""
        };
        format!("{}{mark}", shown(cell))
    };
    let references: Vec<String> = [
        (page.region, page.t("regio", "region")),
        (page.national, page.t("Nederland", "the Netherlands")),
    ]
    .into_iter()
    .filter(|(reports, _)| !reports.is_empty())
    .map(|(reports, name)| {
        let last = reports.last().copied().flatten();
        format!(
            "{name} {}",
            reference(last.and_then(|r| r.total(indicator.code)))
        )
    })
    .collect();
    let unit = Some(page.language.unit(indicator.unit)).filter(|u| *u != "%");
    html! {
        span class=(classes(kind, indicator, cell, Field::Value)) { (shown(cell)) }
        @if let Some(unit) = unit {
            " " span class="unit" { (unit) }
        }
        @if !references.is_empty() {
            span class="refs" { (references.join(" · ")) }
        }
    }
}

fn points(reports: &[Option<&Report>], code: &'static str) -> Vec<Point> {
    reports
        .iter()
        .map(|r| point(r.and_then(|r| r.total(code))))
        .collect()
}

fn point(cell: Option<&Cell>) -> Point {
    match cell {
        None => Point::Missing,
        Some(c) if c.status == Status::Suppressed => Point::Secret,
        Some(c) => c.value.map_or(Point::Missing, |v| {
            Point::Value(v, c.status == Status::Provisional)
        }),
    }
}
