//! "Alle cijfers per uitsplitsing": every published cell of the report, one table per
//! indicator, rows by breakdown, and the marks a figure carries.

use maud::{Markup, Render, html};
use spiegel_aggregate::indicators::{INDICATORS, Indicator, Kind};
use spiegel_core::ReportKind;
use spiegel_publish::counts_rounded;

use crate::load::{Cell, Report, Status};
use crate::text::{Escaped, Language};

use super::Page;

/// The first outcome indicator of the catalogue; those before it are output indicators.
const FIRST_OUTCOME: &str = "ended_as_planned_share";

/// Breakdowns in the order the tables show them.
const DIMENSIONS: &[&str] = &[
    "total",
    "hulpvorm",
    "verblijf",
    "verwijzer",
    "age_band",
    "geslacht",
];

/// Every published cell of the report, one table per indicator, rows by breakdown.
pub(super) fn section(page: &Page<'_>) -> Markup {
    let note = if page.region.is_empty() && !page.national.is_empty() {
        page.t(
            "Elk gepubliceerd cijfer van deze rapportage, per hulpvorm, verblijf, \
             verwijzer, leeftijd en geslacht, met Nederland als referentie.",
            "Every published figure of this report, by form of care, residential care, \
             referrer, age and sex, with the Netherlands for reference.",
        )
    } else if page.region.is_empty() {
        page.t(
            "Elk gepubliceerd cijfer van deze rapportage, per hulpvorm, verblijf, \
             verwijzer, leeftijd en geslacht.",
            "Every published figure of this report, by form of care, residential care, \
             referrer, age and sex.",
        )
    } else {
        page.t(
            "Elk gepubliceerd cijfer van deze rapportage, per hulpvorm, verblijf, \
             verwijzer, leeftijd en geslacht, met de regio en Nederland als referentie.",
            "Every published figure of this report, by form of care, residential care, \
             referrer, age and sex, with the region and the Netherlands for reference.",
        )
    };
    let region = page.region.last().copied().flatten();
    let national = page.national.last().copied().flatten();
    let first_outcome = INDICATORS.iter().position(|i| i.code == FIRST_OUTCOME);
    // Each indicator with cells, and where a group (use of care, outcomes) begins, its heading.
    let mut group = None;
    let mut tables = Vec::new();
    for (at, indicator) in INDICATORS.iter().enumerate() {
        let cells: Vec<&Cell> = page
            .report
            .cells
            .iter()
            .filter(|c| c.indicator.code == indicator.code)
            .collect();
        if cells.is_empty() {
            continue;
        }
        let outcome = first_outcome.is_some_and(|first| at >= first);
        let heading = (group != Some(outcome)).then(|| {
            if outcome {
                page.t("Uitkomsten", "Outcomes")
            } else {
                page.t("Inzet van jeugdhulp", "Use of youth care")
            }
        });
        group = Some(outcome);
        tables.push((heading, indicator, cells));
    }
    html! {
        section id="cijfers" {
            h2 { (page.t("Alle cijfers per uitsplitsing", "All figures by breakdown")) }
            p class="note" { (note) }
            @for (heading, indicator, cells) in &tables {
                @if let Some(heading) = heading { h3 { (heading) } }
                (table(page, indicator, cells, region, national))
            }
        }
        "\n"
    }
}

fn table(
    page: &Page<'_>,
    indicator: &'static Indicator,
    cells: &[&Cell],
    region: Option<&Report>,
    national: Option<&Report>,
) -> Markup {
    let language = page.language;
    let unit = language.unit(indicator.unit);
    let (value_head, numerator, denominator) = match indicator.kind {
        Kind::Count => (language.t("Aantal", "Number"), false, false),
        Kind::Share => ("%", true, true),
        Kind::Statistic => (unit, false, true),
    };
    let with_region = !page.region.is_empty();
    let with_national = !page.national.is_empty();
    let references = with_region || with_national;
    let shown_references: Vec<Option<&Report>> = [(with_region, region), (with_national, national)]
        .into_iter()
        .filter(|(shown, _)| *shown)
        .map(|(_, reference)| reference)
        .collect();
    let columns = 2
        + usize::from(numerator)
        + usize::from(denominator)
        + usize::from(with_region)
        + usize::from(with_national);
    let kind = page.report.file.kind;
    let rank = |d: &str| {
        DIMENSIONS
            .iter()
            .position(|x| *x == d)
            .unwrap_or(DIMENSIONS.len())
    };
    let mut ordered: Vec<&Cell> = cells.to_vec();
    // Stable: categories keep the order of the file within their breakdown.
    ordered.sort_by_key(|c| rank(&c.dimension));
    let count = |n: Option<i64>| n.map_or(Shown::Missing, Shown::Count);
    let figure = |cell: Option<&Cell>, field: Field, shown: Shown| Figure {
        language,
        indicator,
        shown,
        classes: Some(classes(kind, indicator, cell, field)).filter(|c| !c.is_empty()),
    };
    // End tags of cells and rows are left out (HTML allows it, and `tr;`, `th;` and `td;`
    // write none): a page holds hundreds of rows, and thousands of pages are written per
    // release.
    html! {
        table class=[references.then_some("refs")] data-indicator=(indicator.code) {
            caption {
                (Escaped(&page.label(indicator)))
                @if indicator.kind == Kind::Count { " (" (unit) ")" }
                span class="def" { (Escaped(&language.definition(indicator, page.indicators))) }
            }
            thead {
                tr; th; (language.t("Categorie", "Category"))
                th class="v"; (value_head)
                @if numerator { th class="n"; (language.t("Teller", "Numerator")) }
                @if denominator {
                    th class="d";
                    @if indicator.kind == Kind::Statistic {
                        "n"
                    } @else {
                        (language.t("Noemer", "Denominator"))
                    }
                }
                @if with_region { th class="ref"; (language.t("Regio", "Region")) }
                @if with_national { th class="ref"; "Nederland" }
            }
            @for rows in ordered.chunk_by(|a, b| a.dimension == b.dimension) {
                tbody data-d=(Escaped(&rows[0].dimension)) {
                    @if &*rows[0].dimension != "total" {
                        tr class="dim"; th colspan=(columns); (language.dimension(&rows[0].dimension))
                    }
                    @for cell in rows {
                        tr data-c=(Escaped(&cell.category));
                        th; (Escaped(&language.category(&cell.dimension, &cell.category)))
                        @let value = match cell.value {
                            _ if cell.status == Status::Suppressed => Shown::Secret,
                            Some(v) => Shown::Value(v),
                            None => Shown::Missing,
                        };
                        @let f = figure(Some(cell), Field::Value, value);
                        td class=[f.classes]; (f)
                        @if numerator {
                            @let f = figure(Some(cell), Field::Numerator, count(cell.numerator));
                            td class=[f.classes]; (f)
                        }
                        @if denominator {
                            @let f = figure(Some(cell), Field::Denominator, count(cell.denominator));
                            td class=[f.classes]; (f)
                        }
                        @for reference in &shown_references {
                            @let other = reference
                                .and_then(|r| r.cell(indicator.code, &cell.dimension, &cell.category));
                            @let shown = match other {
                                Some(c) if c.status == Status::Suppressed => Shown::Secret,
                                Some(Cell { value: Some(v), .. }) => Shown::Value(*v),
                                _ => Shown::Missing,
                            };
                            @let f = figure(other, Field::Reference, shown);
                            td class=[f.classes]; (f)
                        }
                    }
                }
            }
        }
        "\n"
        @if cells.iter().any(|c| c.status == Status::Provisional) {
            (provisional_note(page, indicator))
        }
    }
}

/// Why an indicator's figures are provisional and which way the missing data push them, in
/// one paragraph under its chart or table.
pub(super) fn provisional_note(page: &Page<'_>, indicator: &Indicator) -> Markup {
    let config = page.indicators;
    let lookback = |language: Language| {
        let years = config.repeat_lookback_days / 365;
        if years > 0 && config.repeat_lookback_days % 365 <= years / 4 + 1 {
            format!(
                "{years} {}",
                language.t("jaar", if years == 1 { "year" } else { "years" })
            )
        } else {
            format!(
                "{} {}",
                config.repeat_lookback_days,
                language.t("dagen", "days")
            )
        }
    };
    let text = match (indicator.code, page.language) {
        ("repeat_request_share", Language::Nl) => format!(
            "Voorlopig: nog onvolledige historie. Herhaald beroep kijkt {} terug, maar de \
             gegevens in Spiegel gaan nog niet zo ver terug: een eerder traject kan ontbreken. \
             Het werkelijke percentage is daarom waarschijnlijk hoger; lees het cijfer als een \
             ondergrens.",
            lookback(Language::Nl)
        ),
        ("repeat_request_share", Language::En) => format!(
            "Provisional: history not yet complete. Repeat request looks back {}, but the data \
             in Spiegel do not yet reach that far back: an earlier trajectory may be missing. \
             The true share is therefore probably higher; read the figure as a lower bound.",
            lookback(Language::En)
        ),
        ("no_new_start_share", Language::Nl) => format!(
            "Voorlopig: de {} dagen na het einde zijn nog niet voor alle aanbieders geleverd. \
             Een nieuwe start die nog niet is aangeleverd, telt nu niet mee. Het werkelijke \
             percentage is daarom waarschijnlijk lager; lees het cijfer als een bovengrens.",
            config.no_new_start_days
        ),
        ("no_new_start_share", Language::En) => format!(
            "Provisional: the {} days after the end have not yet been delivered by every \
             provider. A new start not yet delivered does not count now. The true share is \
             therefore probably lower; read the figure as an upper bound.",
            config.no_new_start_days
        ),
        (_, language) => language
            .t(
                "Voorlopig: nog niet alle gegevens waar dit cijfer op rust zijn geleverd.",
                "Provisional: not all the data this figure rests on have been delivered yet.",
            )
            .to_owned(),
    };
    html! {
        p class="note provisional" { "\u{2020} " (Escaped(&text)) }
    }
}

/// What a table cell shows.
#[derive(Debug, Clone, Copy)]
enum Shown {
    /// "geheim": suppressed by the release rules.
    Secret,
    /// "–": no figure.
    Missing,
    /// The indicator's value.
    Value(f64),
    /// A numerator or denominator.
    Count(i64),
}

/// One figure of a table, its text written straight into the page.
struct Figure<'a> {
    language: Language,
    indicator: &'a Indicator,
    shown: Shown,
    /// The cell's [`classes`], if any.
    classes: Option<&'static str>,
}

impl Render for Figure<'_> {
    fn render_to(&self, out: &mut String) {
        match self.shown {
            Shown::Secret => out.push_str(self.language.t("geheim", "suppressed")),
            Shown::Missing => out.push('–'),
            Shown::Value(v) => self.language.value_into(out, self.indicator, v),
            Shown::Count(n) => self.language.number_into(out, n as f64, 0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Value,
    /// The value of the region's or the country's same cell, beside a municipality's.
    Reference,
    Numerator,
    Denominator,
}

/// CSS classes of a figure: `s` suppressed, `r` rounded to base 5, `p` provisional.
pub(crate) fn classes(
    kind: ReportKind,
    indicator: &Indicator,
    cell: Option<&Cell>,
    field: Field,
) -> &'static str {
    let Some(cell) = cell else { return "" };
    let value = matches!(field, Field::Value | Field::Reference);
    if cell.status == Status::Suppressed {
        return if value { "s" } else { "" };
    }
    let count = match field {
        Field::Value | Field::Reference => cell.value.filter(|_| indicator.kind == Kind::Count),
        Field::Numerator => cell.numerator.map(|n| n as f64),
        Field::Denominator => cell.denominator.map(|n| n as f64),
    };
    // A reference figure comes from a region or national report: always controlled.
    let controlled = field == Field::Reference || counts_rounded(kind, indicator);
    let rounded = count.is_some_and(|n| n != 0.0) && controlled;
    let provisional = value && cell.status == Status::Provisional;
    match (rounded, provisional) {
        (true, true) => "r p",
        (true, false) => "r",
        (false, true) => "p",
        (false, false) => "",
    }
}
