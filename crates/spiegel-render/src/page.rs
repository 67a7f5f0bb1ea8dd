//! One report as one self-contained HTML page, following the agenda of the quality
//! conversation: how to read it, the provider's own story, use of care, outcomes, and every
//! published figure by breakdown.
//!
//! The markup is written with `maud` templates, checked when the crate compiles: every element
//! is opened and closed by the same template, and text goes through [`Escaped`]. The SVG
//! charts of `crate::chart` are the exception: they are drawn by hand and inserted whole.

mod cards;
mod details;
mod intro;
mod story;

use std::str::FromStr;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use spiegel_aggregate::AggregateConfig;
use spiegel_aggregate::indicators::Indicator;
use spiegel_core::{GemeenteCode, Period, Reference, ReportKind};
use spiegel_publish::Manifest;

use crate::load::Report;
use crate::text::{Escaped, Language};

pub(crate) use details::{Field, classes};
pub(crate) use intro::legend;

/// Output indicators drawn as a trend (the contract conversation).
const OUTPUT_CHARTS: &[&str] = &[
    "youths_in_care",
    "trajectories_started",
    "trajectories_ended",
    "duration_days_median",
    "waiting_days_median",
    "repeat_request_share",
];

/// Outcome indicators drawn as a trend (the harmonised outcome set).
const OUTCOME_CHARTS: &[&str] = &[
    "ended_as_planned_share",
    "dropout_share",
    "satisfaction_response_share_youth",
    "satisfaction_mean_youth",
    "satisfaction_response_share_parent",
    "satisfaction_mean_parent",
    "continue_without_help_youth_04",
    "no_new_start_share",
];

pub(crate) const STYLE: &str = include_str!("page.css");

/// What one page shows.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub(crate) language: Language,
    pub(crate) manifest: &'a Manifest,
    /// The report this page renders (its period is the last of `periods`).
    pub(crate) report: &'a Report,
    /// The periods of the trend, oldest first, ending with the report's own.
    pub(crate) periods: &'a [String],
    /// The same recipient's report for each of `periods`, where one was published.
    pub(crate) history: &'a [Option<&'a Report>],
    /// Municipality pages: the jeugdzorgregio's report for each of `periods`; empty on other
    /// pages, which then show no region column.
    pub(crate) region: &'a [Option<&'a Report>],
    /// Municipality and region pages: the national report for each of `periods`; empty on
    /// other pages.
    pub(crate) national: &'a [Option<&'a Report>],
    /// Mirror pages: the provider's explanation, shown as text.
    pub(crate) annotation: Option<&'a str>,
    /// Mirror pages: the provider asked to share it, and the request waits (NB-4).
    pub(crate) share_pending: bool,
    /// The file name of this page in the other language, when that variant exists.
    pub(crate) other_language: Option<&'a str>,
    /// The windows and norms the figures were computed with, written into their labels.
    pub(crate) indicators: &'a AggregateConfig,
    /// Shown after "how to read": the links and lists of `crate::recipients`.
    pub(crate) extra: Option<Markup>,
}

impl Page<'_> {
    fn mirror(&self) -> bool {
        self.report.file.kind == ReportKind::Mirror
    }

    pub(crate) fn municipality_code(&self) -> &str {
        self.report
            .file
            .municipality
            .as_deref()
            .unwrap_or(&self.report.file.recipient)
    }

    pub(crate) fn municipality_name(&self) -> String {
        if let Some(name) = crate::recipients::scope_name(self) {
            return name;
        }
        let code = self.municipality_code();
        GemeenteCode::from_str(code)
            .ok()
            .and_then(|c| Reference::embedded().gemeente(c))
            .map_or_else(|| code.to_owned(), |g| g.naam.clone())
    }

    fn region_name(&self) -> Option<&str> {
        self.report.region.as_deref()
    }

    fn t(&self, nl: &'static str, en: &'static str) -> &'static str {
        self.language.t(nl, en)
    }

    /// An indicator's label with its configured window or norm.
    fn label(&self, indicator: &Indicator) -> std::borrow::Cow<'static, str> {
        self.language.label(indicator, self.indicators)
    }

    /// The report's period in words.
    fn period(&self) -> String {
        self.language.period(&self.report.file.period)
    }
}

/// The page as HTML.
pub(crate) fn render(page: &Page<'_>) -> String {
    let period = &page.period();
    let gemeente = page.municipality_name();
    let code = page.municipality_code();
    let title = if let Some(title) = crate::recipients::scope_title(page) {
        title
    } else if page.mirror() {
        format!(
            "{} {period} — {} {}, {gemeente}",
            page.t("Spiegelrapportage", "Mirror report"),
            page.t("aanbieder", "provider"),
            page.report.file.recipient
        )
    } else {
        format!(
            "{} {gemeente} {period}",
            page.t("Gemeenterapportage", "Municipality report")
        )
    };
    let body = html! {
        (header(page, &gemeente, code))
        main {
            "\n"
            (intro::how_to_read(page, &gemeente))
            @if let Some(extra) = &page.extra { (extra) }
            (crate::rates::section(page))
            @if let Some(story) = page.annotation.filter(|_| page.mirror()) {
                (story::told(page, story))
            } @else if page.mirror() {
                (story::empty(page))
            }
            (cards::section(
                page,
                "inzet",
                page.t("Inzet van jeugdhulp", "Use of youth care"),
                OUTPUT_CHARTS,
                html! {},
            ))
            (cards::section(
                page,
                "uitkomsten",
                page.t("Uitkomsten", "Outcomes"),
                OUTCOME_CHARTS,
                html! { (crate::goals::section(page)) (cards::distributions(page)) },
            ))
            (details::section(page))
        }
        "\n"
        (footer(page.language, &page.manifest.release))
    };
    document(page.language, &title, STYLE, body)
}

/// A whole page: the document's head, with `style` as its stylesheet, around `body`.
pub(crate) fn document(language: Language, title: &str, style: &str, body: Markup) -> String {
    html! {
        (DOCTYPE) "\n"
        html lang=(language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'";
                title { (Escaped(title)) }
                style { (PreEscaped(style)) }
            }
            body { "\n" (body) }
        }
        "\n"
    }
    .into_string()
}

fn header(page: &Page<'_>, gemeente: &str, code: &str) -> Markup {
    let file = &page.report.file;
    html! {
        header {
            p class="kicker" {
                "Spiegel · "
                (page.t("rapportage voor het kwaliteitsgesprek", "report for the quality conversation"))
            }
            @if let Some(heading) = crate::recipients::scope_heading(page) {
                (heading)
            } @else if page.mirror() {
                h1 {
                    (page.t("Spiegelrapportage", "Mirror report")) " "
                    (page.t("aanbieder", "provider")) " " (Escaped(&file.recipient))
                }
                p class="sub" {
                    (page.t("Jeugdigen uit gemeente", "Youths from the municipality of")) " "
                    (Escaped(gemeente)) " (" (Escaped(code)) ") · "
                    (page.t("periode", "period")) " " (Escaped(&page.period()))
                }
            } @else {
                h1 {
                    (page.t("Gemeenterapportage", "Municipality report")) " " (Escaped(gemeente))
                }
                p class="sub" {
                    (Escaped(code)) " · " (page.t("jeugdzorgregio", "youth-care region")) " "
                    (Escaped(page.region_name().unwrap_or("–"))) " · "
                    (page.t("periode", "period")) " " (Escaped(&page.period()))
                }
            }
            (meta(page.language, page.manifest, page.other_language))
        }
        "\n"
    }
}

/// The release and method of a page, and the link to its variant in the other language.
pub(crate) fn meta(
    language: Language,
    manifest: &Manifest,
    other_language: Option<&str>,
) -> Markup {
    let other = match language {
        Language::Nl => ("en", "English"),
        Language::En => ("nl", "Nederlands"),
    };
    html! {
        p class="meta" {
            "Release " (Escaped(&manifest.release)) " · " (language.t("methode", "method")) " "
            (Escaped(&manifest.method_version))
            @if let Some(href) = other_language {
                " · "
                a class="lang" href=(Escaped(href)) hreflang=(other.0) lang=(other.0) { (other.1) }
            }
        }
    }
}

/// The footer of every page: the release, and that Spiegel compares no providers.
pub(crate) fn footer(language: Language, release: &str) -> Markup {
    html! {
        footer {
            p {
                (language.t("Publicatie", "Release")) " " (Escaped(release)) " · "
                (language.t(
                    "Spiegel publiceert alleen geaggregeerde cijfers en vergelijkt geen aanbieders.",
                    "Spiegel publishes aggregated figures only and compares no providers."
                ))
            }
        }
        "\n"
    }
}

/// Periods in time order (a period that does not parse sorts after those that do).
pub(crate) fn sort_periods(periods: &mut [String]) {
    periods.sort_by_key(|p| (Period::from_str(p).map_err(|_| ()), p.clone()));
}
