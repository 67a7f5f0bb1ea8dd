//! Pages for every recipient (docs/reports.md): the region and national pages, the links
//! between the pages, the mirror reports shared with a municipality, and what a region or
//! national page lists of its parts.
//!
//! Every figure listed here is a published cell of another report, shown as published:
//! "geheim" where that report suppressed it, and never a figure recomputed from others.

use std::str::FromStr;

use maud::{Markup, html};
use spiegel_aggregate::indicators::indicator;
use spiegel_core::{GemeenteCode, Reference, ReportKind};
use spiegel_publish::{Manifest, ManifestFile, region_slug};

use crate::ProviderNotes;
use crate::index::url;
use crate::load::{Cell, Report, Status};
use crate::page::{Field, Page, classes};
use crate::text::{Escaped, Language, Value};

/// The figures a region page lists per municipality, the national page per region and a
/// provider's overview per municipality: the use of care and how trajectories ended.
pub(crate) const HEADLINE: [&str; 4] = [
    "youths_in_care",
    "trajectories_started",
    "trajectories_ended",
    "ended_as_planned_share",
];

/// The headline cells of one report, as published.
#[derive(Debug, Clone)]
pub(crate) struct Headline {
    pub(crate) file: ManifestFile,
    /// The jeugdzorgregio the report is about, as its rows name it.
    pub(crate) region: Option<String>,
    /// One per [`HEADLINE`] code; `None` where the report has no such cell.
    pub(crate) cells: Vec<Option<Cell>>,
}

impl Headline {
    pub(crate) fn of(report: &Report) -> Self {
        Self {
            file: report.file.clone(),
            region: report.region.clone(),
            cells: HEADLINE
                .iter()
                .map(|code| report.total(code).cloned())
                .collect(),
        }
    }
}

/// What the links and lists of a page are made from besides the report itself.
pub(crate) struct Context<'a> {
    pub(crate) manifest: &'a Manifest,
    pub(crate) notes: &'a ProviderNotes,
    /// The windows and norms the release was computed with, which labels name.
    pub(crate) indicators: &'a spiegel_aggregate::AggregateConfig,
    /// The headline figures of the reports a page may list (member municipalities of a
    /// region, the regions of the country); others are ignored.
    pub(crate) headlines: &'a [Headline],
}

fn suffix(language: Language) -> &'static str {
    match language {
        Language::Nl => "html",
        Language::En => "en.html",
    }
}

/// Where a provider's overview of `period` in `language` goes, beside the directories of its
/// mirror pages: `release=R/mirror/provider=A/2026-H1.html`.
pub fn overview_path(release: &str, provider: &str, period: &str, language: Language) -> String {
    format!(
        "release={release}/{}/provider={provider}/{period}.{}",
        ReportKind::Mirror.as_str(),
        suffix(language)
    )
}

/// `to` as a URL relative to the page at `from`, both paths under the same output directory.
pub(crate) fn relative(from: &str, to: &str) -> String {
    let mut dirs: Vec<&str> = from.split('/').collect();
    dirs.pop();
    let parts: Vec<&str> = to.split('/').collect();
    let common = dirs
        .iter()
        .zip(&parts[..parts.len().saturating_sub(1)])
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = "../".repeat(dirs.len() - common);
    out.push_str(&parts[common..].join("/"));
    url(&out)
}

/// The jeugdzorgregio of a municipality by the embedded reference.
pub(crate) fn region_of(code: &str) -> Option<String> {
    GemeenteCode::from_str(code)
        .ok()
        .and_then(|c| Reference::embedded().gemeente(c))
        .map(|g| g.regio.clone())
}

/// A municipality's name by the embedded reference, its code when unknown.
pub(crate) fn municipality_name(code: &str) -> String {
    GemeenteCode::from_str(code)
        .ok()
        .and_then(|c| Reference::embedded().gemeente(c))
        .map_or_else(|| code.to_owned(), |g| g.naam.clone())
}

/// The name of what a region or national page is about.
pub(crate) fn scope_name(page: &Page<'_>) -> Option<String> {
    match page.report.file.kind {
        ReportKind::Region => Some(page.report.file.recipient.clone()),
        ReportKind::National => Some(page.language.t("Nederland", "the Netherlands").to_owned()),
        _ => None,
    }
}

/// The title of a region or national page.
pub(crate) fn scope_title(page: &Page<'_>) -> Option<String> {
    let period = page.language.period(&page.report.file.period);
    match page.report.file.kind {
        ReportKind::Region => Some(format!(
            "{} {} {period}",
            page.language.t("Regiorapportage", "Region report"),
            page.report.file.recipient
        )),
        ReportKind::National => Some(format!(
            "{} {period}",
            page.language.t("Landelijke rapportage", "National report")
        )),
        _ => None,
    }
}

/// The heading of a region or national page, if the page is one.
pub(crate) fn scope_heading(page: &Page<'_>) -> Option<Markup> {
    let language = page.language;
    let file = &page.report.file;
    let period = language.period(&file.period);
    match file.kind {
        ReportKind::Region => {
            let members = Reference::embedded()
                .gemeenten()
                .iter()
                .filter(|g| g.regio == file.recipient)
                .count();
            Some(html! {
                h1 { (language.t("Regiorapportage", "Region report")) " " (Escaped(&file.recipient)) }
                p class="sub" {
                    (language.t("jeugdzorgregio", "youth-care region")) " · " (members) " "
                    (language.t("gemeenten", "municipalities")) " · "
                    (language.t("periode", "period")) " " (Escaped(&period))
                }
            })
        }
        ReportKind::National => Some(html! {
            h1 { (language.t("Landelijke rapportage", "National report")) }
            p class="sub" {
                (language.t("alle gemeenten", "all municipalities")) " · "
                (language.t("periode", "period")) " " (Escaped(&period))
            }
        }),
        _ => None,
    }
}

/// The opening paragraph of a region or national page.
pub(crate) fn scope_intro(page: &Page<'_>) -> Option<Markup> {
    match (page.report.file.kind, page.language) {
        (ReportKind::Region, Language::Nl) => Some(html! {
            p {
                "Deze rapportage toont de jeugdhulp aan jeugdigen uit de gemeenten van \
                 jeugdzorgregio " (Escaped(&page.report.file.recipient)) " (woonplaatsbeginsel), \
                 voor alle aanbieders samen, met heel Nederland ernaast als referentie. Ze noemt \
                 geen aanbieders en bevat geen cijfers per aanbieder. Onder \"Gemeenten in de \
                 regio\" staan de kerncijfers van elke gemeente zoals die in haar eigen \
                 rapportage zijn gepubliceerd."
            }
        }),
        (ReportKind::Region, Language::En) => Some(html! {
            p {
                "This report shows the youth care given to youths from the municipalities of \
                 the youth-care region " (Escaped(&page.report.file.recipient)) " (by residence), \
                 for all providers together, with the whole of the Netherlands beside it for \
                 reference. It names no provider and holds no figures per provider. Under \
                 \"Municipalities in the region\" are each municipality's key figures as \
                 published in its own report."
            }
        }),
        (ReportKind::National, Language::Nl) => Some(html! {
            p {
                "Deze rapportage toont de jeugdhulp aan alle jeugdigen in Nederland, voor alle \
                 aanbieders samen. Ze noemt geen aanbieders en bevat geen cijfers per aanbieder. \
                 Onder \"Jeugdzorgregio's\" staan de kerncijfers van elke regio zoals die in haar \
                 eigen rapportage zijn gepubliceerd."
            }
        }),
        (ReportKind::National, Language::En) => Some(html! {
            p {
                "This report shows the youth care given to all youths in the Netherlands, for \
                 all providers together. It names no provider and holds no figures per provider. \
                 Under \"Youth-care regions\" are each region's key figures as published in its \
                 own report."
            }
        }),
        _ => None,
    }
}

/// The links and lists a page shows after "how to read": on a municipality page its region
/// page and the mirror reports shared with it; on a mirror page the provider's overview; on a
/// region page the national page and its municipalities; on the national page its regions.
pub(crate) fn extra(report: &Report, context: &Context<'_>, language: Language) -> Option<Markup> {
    let file = &report.file;
    let release = &context.manifest.release;
    let from = crate::page_path(release, file, language);
    let link = |to: &str, text: Markup| {
        html! {
            p class="links" { a href=(Escaped(&relative(&from, to))) { (text) } }
            "\n"
        }
    };
    Some(match file.kind {
        ReportKind::Mirror => link(
            &overview_path(release, &file.recipient, &file.period, language),
            html! {
                (language.t(
                    "Overzicht van al uw gemeenten in deze periode, per jeugdzorgregio",
                    "Overview of all your municipalities in this period, by youth-care region"
                ))
            },
        ),
        ReportKind::Municipality => {
            let region = report.region.as_deref();
            let region_file = context.manifest.files.iter().find(|f| {
                f.kind == ReportKind::Region
                    && Some(f.recipient.as_str()) == region
                    && f.period == file.period
            });
            html! {
                @if let Some(target) = region_file {
                    (link(
                        &crate::page_path(release, target, language),
                        html! {
                            (language.t("Regiorapportage", "Region report")) " "
                            (Escaped(&target.recipient))
                        },
                    ))
                }
                (shared_mirrors(file, context, language, &from))
            }
        }
        ReportKind::Region => {
            let national = context
                .manifest
                .files
                .iter()
                .find(|f| f.kind == ReportKind::National && f.period == file.period);
            html! {
                @if let Some(target) = national {
                    (link(
                        &crate::page_path(release, target, language),
                        html! { (language.t("Landelijke rapportage", "National report")) },
                    ))
                }
                (members(file, context, language))
            }
        }
        ReportKind::National => regions(file, context, language),
    })
}

/// The mirror reports of the municipality's period that their providers shared with it, in
/// the order of their AGB codes (no figure beside them, so nothing ranks or compares them),
/// and how many requests to share still wait, by count only: which providers asked is theirs
/// to tell until the request takes effect (NB-4).
fn shared_mirrors(
    file: &ManifestFile,
    context: &Context<'_>,
    language: Language,
    from: &str,
) -> Markup {
    let shared: Vec<&ManifestFile> = context
        .manifest
        .files
        .iter()
        .filter(|f| {
            f.kind == ReportKind::Mirror
                && f.period == file.period
                && f.municipality.as_deref() == Some(file.recipient.as_str())
                && f.shared == Some(true)
        })
        .collect();
    let pending = context
        .notes
        .pending_shares
        .iter()
        .filter(|s| s.period == file.period && s.municipality == file.recipient)
        .count();
    let pending_text = match (language, pending) {
        (Language::Nl, 1) => "1 verzoek om te delen wacht nog".to_owned(),
        (Language::Nl, n) => format!("{n} verzoeken om te delen wachten nog"),
        (Language::En, 1) => "1 request to share is pending".to_owned(),
        (Language::En, n) => format!("{n} requests to share are pending"),
    };
    html! {
        section id="gedeeld" {
            h2 {
                (language.t(
                    "Spiegelrapportages die met de gemeente gedeeld zijn",
                    "Mirror reports shared with the municipality"
                ))
            }
            @if shared.is_empty() {
                p class="shared none" {
                    (language.t(
                        "Geen aanbieder heeft zijn spiegelrapportage van deze periode met de \
                         gemeente gedeeld.",
                        "No provider has shared its mirror report of this period with the \
                         municipality."
                    ))
                }
            } @else {
                p {
                    (language.t(
                        "Deze aanbieders delen hun eigen spiegelrapportage met de gemeente, voor \
                         het kwaliteitsgesprek. De volgorde is die van de AGB-code; Spiegel \
                         vergelijkt aanbieders niet.",
                        "These providers share their own mirror report with the municipality, for \
                         the quality conversation. They are listed by AGB code; Spiegel does not \
                         compare providers."
                    ))
                }
                ul class="shared" {
                    @for mirror in &shared {
                        li {
                            a href=(Escaped(&relative(
                                from,
                                &crate::page_path(&context.manifest.release, mirror, language)
                            ))) {
                                (language.t("Spiegelrapportage aanbieder", "Mirror report of provider"))
                                " " (Escaped(&mirror.recipient))
                            }
                        }
                    }
                }
            }
            p class="pending" data-pending=(pending) {
                (pending_text) ". "
                (language.t(
                    "Zo'n verzoek gaat pas in als genoeg andere aanbieders van de gemeente ook \
                     delen; tot dan blijft verborgen welke aanbieder het deed.",
                    "Such a request takes effect once enough other providers of the municipality \
                     share too; until then which provider asked stays hidden."
                ))
            }
        }
        "\n"
    }
}

/// The cells of one table row of headline figures, each as published, without end tags like
/// the other tables' cells.
pub(crate) fn headline_cells(headline: &Headline, language: Language) -> Markup {
    html! {
        @for (code, cell) in HEADLINE.iter().zip(&headline.cells) {
            @if let Some(indicator) = indicator(code) {
                @let class = classes(headline.file.kind, indicator, cell.as_ref(), Field::Value);
                td class=[Some(class).filter(|c| !c.is_empty())];
                @match cell {
                    Some(c) if c.status == Status::Suppressed => {
                        (language.t("geheim", "suppressed"))
                    }
                    Some(Cell { value: Some(v), .. }) => { (Value(language, indicator, *v)) }
                    _ => { "–" }
                }
            }
        }
    }
}

/// The table head of a headline table: `first`, the headline figures, then `last`.
pub(crate) fn headline_head(first: &str, last: Option<&str>, language: Language) -> Markup {
    html! {
        thead {
            tr; th; (Escaped(first))
            @for code in HEADLINE {
                @if let Some(indicator) = indicator(code) {
                    th class="v"; (Escaped(language.indicator(indicator)))
                }
            }
            @if let Some(last) = last { th; (last) }
        }
    }
}

/// One part listed on a region or national page.
struct Part<'h> {
    /// Its code, for the row's `data-c`.
    key: String,
    label: String,
    headline: &'h Headline,
    /// Its figures are shown only in its own report.
    own_only: bool,
}

/// The texts of a table of parts, each in Dutch and English.
struct PartsTable {
    id: &'static str,
    heading: (&'static str, &'static str),
    note: (&'static str, &'static str),
    caption: (&'static str, &'static str),
    first: (&'static str, &'static str),
    own_only: (&'static str, &'static str),
}

fn parts_table(table: &PartsTable, parts: &[Part<'_>], language: Language) -> Markup {
    let t = |(nl, en): (&'static str, &'static str)| language.t(nl, en);
    html! {
        section id=(table.id) {
            h2 { (t(table.heading)) }
            p class="note" { (t(table.note)) }
            table class="members" {
                caption { (t(table.caption)) }
                (headline_head(t(table.first), None, language))
                tbody {
                    @for part in parts {
                        tr data-c=(Escaped(&part.key)); th; (Escaped(&part.label))
                        @if part.own_only {
                            td class="own-only" colspan=(HEADLINE.len()); (t(table.own_only))
                        } @else {
                            (headline_cells(part.headline, language))
                        }
                    }
                }
            }
        }
        "\n"
    }
}

/// The member municipalities of a region with their headline figures as their own reports
/// publish them. A municipality with a share in effect in the period is listed without
/// figures: NB-3 judged its cells with its own shares, so they are safe for it alone.
fn members(file: &ManifestFile, context: &Context<'_>, language: Language) -> Markup {
    let mut parts: Vec<Part<'_>> = context
        .headlines
        .iter()
        .filter(|h| {
            h.file.kind == ReportKind::Municipality
                && h.file.period == file.period
                && h.region.as_deref() == Some(file.recipient.as_str())
        })
        .map(|h| Part {
            key: h.file.recipient.clone(),
            label: format!(
                "{} ({})",
                municipality_name(&h.file.recipient),
                h.file.recipient
            ),
            headline: h,
            own_only: context
                .notes
                .shares_in_effect(&file.period, &h.file.recipient),
        })
        .collect();
    parts.sort_by(|a, b| a.label.cmp(&b.label));
    let table = PartsTable {
        id: "gemeenten",
        heading: ("Gemeenten in de regio", "Municipalities in the region"),
        note: (
            "De kerncijfers van elke gemeente zoals haar eigen rapportage ze publiceert, niet \
             opnieuw berekend: \"geheim\" waar die rapportage het cijfer niet publiceert. Een \
             gemeente waarmee een aanbieder zijn spiegelrapportage deelt, staat er zonder \
             cijfers: haar cijfers zijn voor haar alleen beschermd.",
            "Each municipality's key figures as its own report publishes them, not \
             recomputed: \"suppressed\" where that report does not publish the figure. A \
             municipality with which a provider shares its mirror report is listed without \
             figures: its figures are protected for it alone.",
        ),
        caption: ("Kerncijfers per gemeente", "Key figures by municipality"),
        first: ("Gemeente", "Municipality"),
        own_only: (
            "alleen in de rapportage van de gemeente zelf",
            "only in the municipality's own report",
        ),
    };
    parts_table(&table, &parts, language)
}

/// The jeugdzorgregio's of the country with their headline figures as their own reports
/// publish them. A region in which a share took effect in the period is listed without
/// figures: its cells may have been judged with that share, for the region's municipalities.
fn regions(file: &ManifestFile, context: &Context<'_>, language: Language) -> Markup {
    let with_shares: Vec<String> = context
        .notes
        .effective_shares
        .iter()
        .filter(|s| s.period == file.period)
        .filter_map(|s| region_of(&s.municipality))
        .collect();
    let mut parts: Vec<Part<'_>> = context
        .headlines
        .iter()
        .filter(|h| h.file.kind == ReportKind::Region && h.file.period == file.period)
        .map(|h| Part {
            key: region_slug(&h.file.recipient),
            label: h.file.recipient.clone(),
            headline: h,
            own_only: with_shares.contains(&h.file.recipient),
        })
        .collect();
    parts.sort_by(|a, b| a.label.cmp(&b.label));
    let table = PartsTable {
        id: "regios",
        heading: ("Jeugdzorgregio's", "Youth-care regions"),
        note: (
            "De kerncijfers van elke regio zoals haar eigen rapportage ze publiceert, niet \
             opnieuw berekend: \"geheim\" waar die rapportage het cijfer niet publiceert.",
            "Each region's key figures as its own report publishes them, not recomputed: \
             \"suppressed\" where that report does not publish the figure.",
        ),
        caption: ("Kerncijfers per regio", "Key figures by region"),
        first: ("Regio", "Region"),
        own_only: (
            "alleen in de rapportage van de regio zelf",
            "only in the region's own report",
        ),
    };
    parts_table(&table, &parts, language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_page() {
        assert_eq!(
            relative(
                "release=a/municipality/GM0344/2026-H1.html",
                "release=a/region/utrecht-stad/2026-H1.html"
            ),
            "../../region/utrecht-stad/2026-H1.html"
        );
        assert_eq!(
            relative(
                "release=a/mirror/provider=1/municipality=GM0344/2026-H1.html",
                "release=a/mirror/provider=1/2026-H1.html"
            ),
            "../2026-H1.html"
        );
        assert_eq!(
            relative(
                "release=a/national/2026-H1.en.html",
                "release=a/national/x y.html"
            ),
            "x%20y.html"
        );
    }
}
