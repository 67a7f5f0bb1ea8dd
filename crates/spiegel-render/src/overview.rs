//! A provider's overview of one period: its mirror reports of every municipality together and
//! by jeugdzorgregio, read by that provider alone (NB-2).
//!
//! The overview lists each mirror report's headline figures as published and adds nothing
//! computed from protected figures. The one total it shows, the provider's trajectories
//! started and ended, is a sum of its own exact volumes: a mirror report publishes those
//! exactly (docs/release-rules.md), so their sum is the true total. Where any of them is not
//! exact the total is left out, never estimated from rounded or suppressed cells. Youths are
//! not summed: a youth who moved is counted in each municipality.

use std::collections::BTreeMap;

use maud::{Markup, html};
use spiegel_aggregate::indicators::{Indicator, indicator};
use spiegel_core::ReportKind;
use spiegel_publish::{Manifest, counts_rounded};

use crate::load::Status;
use crate::page::{document, footer, meta};
use crate::recipients::{
    HEADLINE, Headline, headline_cells, headline_head, municipality_name, overview_path, relative,
};
use crate::text::{Escaped, Language, Value};
use crate::{ProviderNotes, page_path};

/// The headline figures that are summed, when every one of them is exact.
const SUMMED: [&str; 2] = ["trajectories_started", "trajectories_ended"];

/// Where the overview stands for the region of a municipality the reference does not know.
const UNKNOWN_REGION: (&str, &str) = ("onbekende regio", "unknown region");

/// The overview page of `provider` for `period` from the headline figures of its mirror
/// reports of that period (`mirrors`, all of them that provider's).
pub(crate) fn page(
    manifest: &Manifest,
    provider: &str,
    period: &str,
    mirrors: &[&Headline],
    notes: &ProviderNotes,
    language: Language,
    variants: &[Language],
) -> String {
    let from = overview_path(&manifest.release, provider, period, language);
    let title = format!(
        "{} {} {provider} {}",
        language.t("Overzicht", "Overview"),
        language.t("aanbieder", "provider"),
        language.period(period),
    );
    let other = match language {
        Language::Nl => Language::En,
        Language::En => Language::Nl,
    };
    let other_path = overview_path(&manifest.release, provider, period, other);
    let other_href = variants
        .contains(&other)
        .then(|| relative(&from, &other_path));
    // By region name, then municipality name.
    let mut regions: BTreeMap<String, Vec<(String, &Headline)>> = BTreeMap::new();
    for mirror in mirrors {
        let code = mirror.file.municipality.as_deref().unwrap_or_default();
        let region = mirror
            .region
            .clone()
            .unwrap_or_else(|| language.t(UNKNOWN_REGION.0, UNKNOWN_REGION.1).to_owned());
        regions
            .entry(region)
            .or_default()
            .push((municipality_name(code), mirror));
    }
    for rows in regions.values_mut() {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // One region of the overview: its totals and a row per municipality.
    let region_table = |region: &str, rows: &[(String, &Headline)]| -> Markup {
        let headlines: Vec<&Headline> = rows.iter().map(|(_, h)| *h).collect();
        html! {
            h3 {
                (Escaped(region)) " (" (rows.len()) " "
                @if rows.len() == 1 {
                    (language.t("gemeente", "municipality"))
                } @else {
                    (language.t("gemeenten", "municipalities"))
                }
                ")"
            }
            (totals(&headlines, language, region))
            table class="members" data-region=(Escaped(region)) {
                caption {
                    (language.t("Kerncijfers per gemeente,", "Key figures by municipality,")) " "
                    (Escaped(region))
                }
                (headline_head(
                    language.t("Gemeente", "Municipality"),
                    Some(language.t("Gedeeld", "Shared")),
                    language,
                ))
                tbody {
                    @for (name, mirror) in rows {
                        @let code = mirror.file.municipality.as_deref().unwrap_or_default();
                        @let href = relative(&from, &page_path(&manifest.release, &mirror.file, language));
                        tr data-c=(Escaped(code));
                        th; a href=(Escaped(&href)) { (Escaped(name)) " (" (Escaped(code)) ")" }
                        (headline_cells(mirror, language))
                        td;
                        @if mirror.file.shared == Some(true) {
                            (language.t("gedeeld", "shared"))
                        } @else if notes.share_pending(provider, period, code) {
                            (language.t("verzoek wacht", "request pending"))
                        } @else {
                            (language.t("niet gedeeld", "not shared"))
                        }
                    }
                }
            }
            "\n"
        }
    };
    let body = html! {
        header {
            p class="kicker" {
                "Spiegel · "
                (language.t(
                    "overzicht van de eigen spiegelrapportages",
                    "overview of the provider's own mirror reports"
                ))
            }
            h1 {
                (language.t("Overzicht", "Overview")) " " (language.t("aanbieder", "provider"))
                " " (Escaped(provider))
            }
            p class="sub" {
                (language.t(
                    "alle gemeenten en per jeugdzorgregio",
                    "all municipalities and by youth-care region"
                ))
                " · " (language.t("periode", "period")) " " (Escaped(&language.period(period)))
            }
            (meta(language, manifest, other_href.as_deref()))
        }
        "\n"
        main {
            "\n"
            section id="lezen" {
                h2 { (language.t("Zo leest u dit overzicht", "How to read this overview")) }
                p {
                    (language.t(
                        "Dit overzicht zet de spiegelrapportages van deze aanbieder in deze periode bij \
                         elkaar: per jeugdzorgregio elke gemeente met haar kerncijfers zoals haar \
                         spiegelrapportage ze publiceert. Het toont alleen de eigen cijfers van de \
                         aanbieder en niets over andere aanbieders; alleen de aanbieder leest het. De \
                         eigen aantallen trajecten zijn exact en tellen op tot het totaal; een \
                         percentage wordt niet over gemeenten gemiddeld, en jeugdigen worden niet \
                         opgeteld, omdat een jeugdige die verhuisde in elke gemeente meetelt. \"geheim\", \
                         ° en – betekenen hier hetzelfde als in de spiegelrapportage.",
                        "This overview brings together this provider's mirror reports of this period: \
                         by youth-care region, each municipality with its key figures as its mirror \
                         report publishes them. It shows the provider's own figures only and nothing \
                         about other providers; only the provider reads it. The provider's own numbers \
                         of trajectories are exact and add up to the total; a percentage is not \
                         averaged over municipalities, and youths are not added up, since a youth who \
                         moved counts in each municipality. \"suppressed\", ° and – mean the same as in \
                         the mirror report."
                    ))
                }
            }
            "\n"
            (crate::page::legend(language, &manifest.config))
            section id="samen" {
                h2 { (language.t("Alle gemeenten samen", "All municipalities together")) }
                p class="together" {
                    (language.t(
                        "Gemeenten met een spiegelrapportage:",
                        "Municipalities with a mirror report:"
                    ))
                    " " strong data-count="municipalities" { (mirrors.len()) }
                    " · " (language.t("jeugdzorgregio's:", "youth-care regions:"))
                    " " strong data-count="regions" { (regions.len()) }
                }
                (totals(mirrors, language, "all"))
            }
            "\n"
            section id="regios" {
                h2 { (language.t("Per jeugdzorgregio", "By youth-care region")) }
                @for (region, rows) in &regions {
                    (region_table(region, rows))
                }
            }
            "\n"
        }
        "\n"
        (footer(language, &manifest.release))
    };
    document(language, &title, crate::page::STYLE, body)
}

/// The provider's trajectories started and ended over `mirrors`, each a sum of exact own
/// volumes, or "–" with the reason when one of them is not exact.
fn totals(mirrors: &[&Headline], language: Language, group: &str) -> Markup {
    html! {
        dl class="totals" data-group=(Escaped(group)) {
            @for code in SUMMED {
                @if let Some(indicator) = indicator(code) {
                    dt { (Escaped(language.indicator(indicator))) }
                    dd {
                        @match sum(mirrors, code, indicator) {
                            Some(total) => { (Value(language, indicator, total)) }
                            None => {
                                (language.t(
                                    "– (niet alle aantallen zijn exact gepubliceerd)",
                                    "– (not every count is published exactly)",
                                ))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The sum of a headline count over `mirrors`, when each of them is published exactly.
fn sum(mirrors: &[&Headline], code: &str, indicator: &Indicator) -> Option<f64> {
    let at = HEADLINE.iter().position(|c| *c == code);
    let exact = !counts_rounded(ReportKind::Mirror, indicator);
    let mut sum = Some(0.0);
    for mirror in mirrors {
        let cell = at.and_then(|at| mirror.cells[at].as_ref());
        sum = match (sum, cell) {
            (Some(total), Some(c)) if exact && c.status == Status::Ok => c.value.map(|v| total + v),
            // No cell: the provider had no such trajectory there.
            (Some(total), None) => Some(total),
            _ => None,
        };
    }
    sum
}
