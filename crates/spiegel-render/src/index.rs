//! One entry page for a rendered release: every page and every region and national report,
//! grouped so that a reader finds their own municipality or provider without knowing how the
//! output is laid out. Plain links, no script, like the pages themselves.

use std::collections::BTreeMap;
use std::str::FromStr;

use maud::{Markup, html};
use spiegel_core::{GemeenteCode, Reference, ReportKind};
use spiegel_publish::{Manifest, ManifestFile, region_slug};

use crate::page::document;
use crate::text::{Escaped, push};
use crate::{Language, overview_path, page_path};

/// Where the region of a municipality the reference does not know is listed.
const UNKNOWN_REGION: &str = "onbekende regio / unknown region";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;\
padding:0 1rem;line-height:1.4;color:#1a1a1a}h2{border-top:1px solid #ccc;padding-top:1rem}\
details{margin:.2rem 0}summary{cursor:pointer}ul{margin:.3rem 0 .6rem}li{margin:.1rem 0}\
nav a{margin-right:.8rem}.kind{color:#555}";

/// A municipality's name and jeugdzorgregio by its code, from the embedded reference.
fn municipality(code: &str) -> (String, String) {
    GemeenteCode::from_str(code)
        .ok()
        .and_then(|c| Reference::embedded().gemeente(c))
        .map_or_else(
            || (code.to_owned(), UNKNOWN_REGION.to_owned()),
            |g| (g.naam.clone(), g.regio.clone()),
        )
}

/// `path` as a relative URL: every byte outside the unreserved set and `/`, `=` is
/// percent-encoded, so a name with a space or `#` still points at its file.
pub(crate) fn url(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/=".contains(&byte) {
            out.push(char::from(byte));
        } else {
            push(&mut out, format_args!("%{byte:02X}"));
        }
    }
    out
}

/// A list item per municipality, by (name, code), with the links to its report's pages.
fn municipality_items(
    pages: &str,
    release: &str,
    reports: &BTreeMap<(String, &str), &ManifestFile>,
    languages: &[Language],
) -> Markup {
    html! {
        @for ((name, code), file) in reports {
            li { (Escaped(name)) " (" (Escaped(code)) "): " (page_links(pages, release, file, languages)) }
        }
    }
}

/// The links to a report's page in each of `languages`, under `pages` (relative to the index).
fn page_links(pages: &str, release: &str, file: &ManifestFile, languages: &[Language]) -> Markup {
    language_links(pages, languages, |language| {
        page_path(release, file, language)
    })
}

/// A link per language to the page at `path(language)` under `pages`.
fn language_links(
    pages: &str,
    languages: &[Language],
    path: impl Fn(Language) -> String,
) -> Markup {
    html! {
        @for (at, &language) in languages.iter().enumerate() {
            @if at > 0 { " · " }
            a href=(Escaped(&url(&format!("{pages}/{}", path(language))))) hreflang=(language.code()) {
                (language.code().to_uppercase())
            }
        }
    }
}

/// A link to a published Parquet file under `reports` (relative to the index).
fn report_link(reports: &str, file: &ManifestFile, text: &str) -> Markup {
    html! {
        a href=(Escaped(&url(&format!("{reports}/{}", file.path)))) { (Escaped(text)) }
        " " span class="kind" { "(Parquet)" }
    }
}

/// The entry page of `manifest`'s release: per period, newest first, the national and region
/// reports, the municipality pages by jeugdzorgregio and the providers' mirror pages, each
/// group alphabetical. `pages` is the directory `render_release` wrote into and `reports` the
/// report store, both relative to where the index is written; `languages` those rendered.
pub fn index_page(
    manifest: &Manifest,
    pages: &str,
    reports: &str,
    languages: &[Language],
    title: &str,
) -> String {
    let mut periods: BTreeMap<&str, Vec<&ManifestFile>> = BTreeMap::new();
    for file in &manifest.files {
        periods.entry(&file.period).or_default().push(file);
    }
    let body = html! {
        h1 { (Escaped(title)) }
        "\n"
        p {
            "Release " code { (Escaped(&manifest.release)) } ". Elke rapportage in het \
             Nederlands (NL) en Engels (EN) en als Parquet-bestand, en per aanbieder een \
             overzicht van zijn spiegelrapportages. / Every report in Dutch (NL) and English \
             (EN) and as a Parquet file, and per provider an overview of its mirror reports."
        }
        "\n"
        nav {
            @for period in periods.keys().rev() {
                a href={ "#p-" (Escaped(period)) } { (Escaped(&period_both(period))) }
            }
        }
        "\n"
        @for (period, files) in periods.iter().rev() {
            (period_section(manifest, period, files, pages, reports, languages))
        }
    };
    document(Language::Nl, title, STYLE, body)
}

/// A period in words in both languages of the index: "1e halfjaar 2026 / first half of 2026".
fn period_both(period: &str) -> String {
    format!(
        "{} / {}",
        Language::Nl.period(period),
        Language::En.period(period)
    )
}

/// A jeugdzorgregio's reports in one period.
#[derive(Default)]
struct Region<'a> {
    /// As the reference and the region report name it.
    name: Option<String>,
    reports: Vec<&'a ManifestFile>,
    /// By (name, code).
    municipalities: BTreeMap<(String, &'a str), &'a ManifestFile>,
}

fn period_section(
    manifest: &Manifest,
    period: &str,
    files: &[&ManifestFile],
    pages: &str,
    reports: &str,
    languages: &[Language],
) -> Markup {
    let of_kind = |kind: ReportKind| files.iter().copied().filter(move |f| f.kind == kind);
    let release = &manifest.release;
    // By the region's slug: a region report's recipient is the region's name, as the reference
    // names a municipality's region.
    let mut regions: BTreeMap<String, Region<'_>> = BTreeMap::new();
    for file in of_kind(ReportKind::Region) {
        let entry = regions.entry(region_slug(&file.recipient)).or_default();
        entry.name = Some(file.recipient.clone());
        entry.reports.push(file);
    }
    for file in of_kind(ReportKind::Municipality) {
        let (name, region) = municipality(&file.recipient);
        let entry = regions.entry(region_slug(&region)).or_default();
        entry.name = Some(region);
        entry
            .municipalities
            .insert((name, file.recipient.as_str()), file);
    }
    let mut regions: Vec<(String, Region<'_>)> = regions
        .into_iter()
        .map(|(slug, region)| (region.name.clone().unwrap_or(slug), region))
        .collect();
    regions.sort_by(|a, b| a.0.cmp(&b.0));
    let mut providers: BTreeMap<&str, BTreeMap<(String, &str), &ManifestFile>> = BTreeMap::new();
    for file in of_kind(ReportKind::Mirror) {
        let code = file.municipality.as_deref().unwrap_or_default();
        providers
            .entry(&file.recipient)
            .or_default()
            .insert((municipality(code).0, code), file);
    }
    html! {
        section id={ "p-" (Escaped(period)) } {
            h2 { (Escaped(&period_both(period))) }
            "\n"
            h3 { "Nederland / The Netherlands" }
            "\n"
            ul {
                @for file in of_kind(ReportKind::National) {
                    li {
                        (report_link(reports, file, "Landelijke rapportage / National report"))
                        ": " (page_links(pages, release, file, languages))
                    }
                }
            }
            "\n"
            h3 { "Gemeenten per jeugdzorgregio / Municipalities by youth-care region" }
            "\n"
            @for (name, region) in &regions {
                details {
                    summary {
                        (Escaped(name)) " (" (region.municipalities.len())
                        " gemeenten / municipalities)"
                    }
                    ul {
                        @for file in &region.reports {
                            li {
                                (report_link(reports, file, "Regionale rapportage / Region report"))
                                ": " (page_links(pages, release, file, languages))
                            }
                        }
                        (municipality_items(pages, release, &region.municipalities, languages))
                    }
                }
                "\n"
            }
            h3 { "Spiegelrapportages per aanbieder (AGB-code) / Mirror reports by provider (AGB code)" }
            "\n"
            @for (provider, mirrors) in &providers {
                details {
                    summary { (Escaped(provider)) " (" (mirrors.len()) " gemeenten / municipalities)" }
                    ul {
                        li {
                            "Overzicht / Overview: "
                            (language_links(pages, languages, |language| {
                                overview_path(release, provider, period, language)
                            }))
                        }
                        (municipality_items(pages, release, mirrors, languages))
                    }
                }
                "\n"
            }
        }
        "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_paths_and_encode_the_rest() {
        assert_eq!(
            url("pages/release=ab/municipality/GM0344/2026-H1.en.html"),
            "pages/release=ab/municipality/GM0344/2026-H1.en.html"
        );
        assert_eq!(url("a b#c\"<"), "a%20b%23c%22%3C");
    }
}
