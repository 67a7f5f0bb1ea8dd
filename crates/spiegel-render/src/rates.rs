//! Youths in care per 1,000 inhabitants and the coverage line of a municipality page.
//!
//! Both are computed here, where the page is rendered, from what the release already publishes:
//! a rate is the *published* (protected) count over the public population table
//! (`schemas/reference/bevolking-2026.csv`, or the operator's), so it discloses nothing the
//! Parquet report and that table do not; the coverage line counts the municipality's mirror
//! reports in the manifest and shows the number only from [`COVERAGE_EXACT_FROM`] upward
//! (schemas/README.md, docs/release-rules.md).

use std::sync::OnceLock;

use maud::{Markup, html};
use spiegel_core::{GemeenteCode, Population, PopulationKind, ReportKind};
use spiegel_publish::Manifest;

use crate::load::{Report, Status};
use crate::page::Page;
use crate::text::{Escaped, Language};

/// The number of contributing providers from which the coverage line gives the exact number:
/// below it, the number would tell a municipality that one or two providers' figures are all
/// it reads, which contributor protection (NB-3) keeps from it.
pub(crate) const COVERAGE_EXACT_FROM: usize = 3;

static POPULATION: OnceLock<Population> = OnceLock::new();

/// Uses `population` instead of the embedded table for every page rendered by this process
/// (an operator's newer table, or one of 0–22-year-olds). Only the first call counts: the pages
/// of one release must all divide by the same table. Returns whether this table is the one used.
pub fn use_population(population: Population) -> bool {
    POPULATION.set(population).is_ok()
}

fn population() -> &'static Population {
    POPULATION.get().unwrap_or_else(|| Population::embedded())
}

/// `count` per 1,000 of `inhabitants`, with one decimal as the pages show it.
pub(crate) fn per_thousand(count: f64, inhabitants: u64) -> Option<f64> {
    (inhabitants > 0).then(|| (count * 10_000.0 / inhabitants as f64).round() / 10.0)
}

/// The report of the page's own period among a reference series (the last one).
fn last<'a>(reports: &[Option<&'a Report>]) -> Option<&'a Report> {
    reports.last().copied().flatten()
}

/// The published number of youths in care of a report, when it is published.
fn youths_in_care(report: &Report) -> Option<f64> {
    report
        .cells
        .iter()
        .find(|c| c.indicator.code == "youths_in_care" && &*c.dimension == "total")
        .filter(|c| c.status != Status::Suppressed)
        .and_then(|c| c.value)
}

/// How many providers delivered for `gemeente` in `period`: the aggregate stage writes a
/// mirror report for each.
pub(crate) fn providers_delivering(manifest: &Manifest, gemeente: &str, period: &str) -> usize {
    manifest
        .files
        .iter()
        .filter(|f| {
            f.kind == ReportKind::Mirror
                && f.period == period
                && f.municipality.as_deref() == Some(gemeente)
        })
        .count()
}

/// The coverage as the page writes it.
pub(crate) fn coverage_text(language: Language, providers: usize) -> String {
    match providers {
        0 => language.t("geen", "none").to_owned(),
        n if n < COVERAGE_EXACT_FROM => language.t("minder dan 3", "fewer than 3").to_owned(),
        n => n.to_string(),
    }
}

/// The section "Bereik en dekking" of a municipality page: youths in care per 1,000
/// inhabitants of the municipality, its region and the country, and the coverage line.
/// Other pages have none.
pub(crate) fn section(page: &Page<'_>) -> Markup {
    if page.report.file.kind != ReportKind::Municipality {
        return html! {};
    }
    let language = page.language;
    let population = population();
    let per = match population.kind() {
        PopulationKind::Inwoners => language.t("per 1.000 inwoners", "per 1,000 inhabitants"),
        PopulationKind::Jeugdigen => language.t(
            "per 1.000 jeugdigen (0 tot en met 22 jaar)",
            "per 1,000 young inhabitants (aged 0 to 22)",
        ),
    };
    let gemeente = page.municipality_code();
    let code: Option<GemeenteCode> = gemeente.parse().ok();
    let own = code.and_then(|c| population.gemeente(c));
    let region_name = page.report.region.as_deref();
    let region = region_name.and_then(|r| population.region(r));
    let rows = [
        (page.municipality_name(), Some(page.report), own),
        (
            region_name.unwrap_or("–").to_owned(),
            last(page.region),
            region,
        ),
        (
            language.t("Nederland", "The Netherlands").to_owned(),
            last(page.national),
            Some(population.national()),
        ),
    ];
    let providers = providers_delivering(page.manifest, gemeente, &page.report.file.period);
    html! {
        section id="bereik" {
            h2 { (language.t("Bereik en dekking", "Reach and coverage")) }
            p { (language.t("Jeugdigen in zorg", "Youths in care")) " " (per) ":" }
            dl class="rates" {
                @for (name, report, inhabitants) in rows {
                    @let rate = report
                        .and_then(youths_in_care)
                        .zip(inhabitants)
                        .and_then(|(count, inhabitants)| per_thousand(count, inhabitants));
                    dt { (Escaped(&name)) }
                    dd class="rate" {
                        @match rate {
                            Some(r) => { (language.number(r, 1)) }
                            None => { (language.t("niet gepubliceerd", "not published")) }
                        }
                    }
                }
            }
            p class="coverage" {
                (language.t(
                    "Aanbieders die voor deze gemeente en periode gegevens leverden",
                    "Providers who delivered data for this municipality and period"
                ))
                ": " strong { (coverage_text(language, providers)) } "."
            }
            p class="note" {
                (language.t(
                    "Het aantal per 1.000 is het gepubliceerde aantal jeugdigen in zorg gedeeld door het aantal inwoners (bevolkingstabel van Spiegel, bron CBS), maal 1.000. Minder dan 3 aanbieders wordt niet precies genoemd, om de cijfers van één of twee aanbieders niet herkenbaar te maken.",
                    "The rate per 1,000 is the published number of youths in care divided by the number of inhabitants (Spiegel's population table, source CBS), times 1,000. Fewer than 3 providers are not counted exactly, so that one or two providers' figures cannot be recognised."
                ))
            }
        }
        "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_the_count_per_thousand_with_one_decimal() {
        assert_eq!(per_thousand(650.0, 41_158), Some(15.8));
        assert_eq!(per_thousand(10.0, 977), Some(10.2));
        assert_eq!(per_thousand(0.0, 1_000), Some(0.0));
        assert_eq!(per_thousand(5.0, 0), None);
    }

    #[test]
    fn coverage_below_three_is_not_counted_exactly() {
        assert_eq!(coverage_text(Language::Nl, 0), "geen");
        assert_eq!(coverage_text(Language::Nl, 1), "minder dan 3");
        assert_eq!(coverage_text(Language::Nl, 2), "minder dan 3");
        assert_eq!(coverage_text(Language::Nl, 3), "3");
        assert_eq!(coverage_text(Language::Nl, 5), "5");
        assert_eq!(coverage_text(Language::En, 2), "fewer than 3");
    }
}
