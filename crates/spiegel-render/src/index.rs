//! One entry page for a rendered release: every page and every region and national report,
//! grouped so that a reader finds their own municipality or provider without knowing how the
//! output is laid out. Plain links, no script, like the pages themselves.

use std::collections::BTreeMap;
use std::str::FromStr;

use spiegel_core::{GemeenteCode, Reference};
use spiegel_publish::{Manifest, ManifestFile, region_slug};

use crate::text::{Escaped, push};
use crate::{Language, page_path};

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
fn url(path: &str) -> String {
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
    out: &mut String,
    pages: &str,
    release: &str,
    reports: &BTreeMap<(String, &str), &ManifestFile>,
    languages: &[Language],
) {
    for ((name, code), file) in reports {
        push(
            out,
            format_args!("<li>{} ({}): ", Escaped(name), Escaped(code)),
        );
        page_links(out, pages, release, file, languages);
        out.push_str("</li>");
    }
}

/// The links to a report's page in each of `languages`, under `pages` (relative to the index).
fn page_links(
    out: &mut String,
    pages: &str,
    release: &str,
    file: &ManifestFile,
    languages: &[Language],
) {
    for (at, &language) in languages.iter().enumerate() {
        if at > 0 {
            out.push_str(" · ");
        }
        let target = format!("{pages}/{}", page_path(release, file, language));
        push(
            out,
            format_args!(
                "<a href=\"{}\" hreflang=\"{}\">{}</a>",
                Escaped(&url(&target)),
                language.code(),
                language.code().to_uppercase()
            ),
        );
    }
}

/// A link to a published Parquet file under `reports` (relative to the index).
fn report_link(out: &mut String, reports: &str, file: &ManifestFile, text: &str) {
    push(
        out,
        format_args!(
            "<a href=\"{}\">{}</a> <span class=\"kind\">(Parquet)</span>",
            Escaped(&url(&format!("{reports}/{}", file.path))),
            Escaped(text)
        ),
    );
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
    let mut out = String::new();
    push(
        &mut out,
        format_args!(
            "<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'\"><title>{}</title><style>{STYLE}</style></head><body>\n\
             <h1>{}</h1>\n<p>Release <code>{}</code>. Elke gemeente- en spiegelrapportage in \
             het Nederlands (NL) en Engels (EN); de regionale en landelijke rapportages als \
             Parquet-bestand. / Every municipality and mirror report in Dutch (NL) and English \
             (EN); the region and national reports as Parquet files.</p>\n<nav>",
            Escaped(title),
            Escaped(title),
            Escaped(&manifest.release)
        ),
    );
    for period in periods.keys().rev() {
        push(
            &mut out,
            format_args!("<a href=\"#p-{}\">{}</a>", Escaped(period), Escaped(period)),
        );
    }
    out.push_str("</nav>\n");
    for (period, files) in periods.iter().rev() {
        period_section(&mut out, manifest, period, files, pages, reports, languages);
    }
    out.push_str("</body></html>\n");
    out
}

/// A jeugdzorgregio's reports in one period.
#[derive(Default)]
struct Region<'a> {
    /// As the reference names it; none when only the region's own report is published.
    name: Option<String>,
    reports: Vec<&'a ManifestFile>,
    /// By (name, code).
    municipalities: BTreeMap<(String, &'a str), &'a ManifestFile>,
}

fn period_section(
    out: &mut String,
    manifest: &Manifest,
    period: &str,
    files: &[&ManifestFile],
    pages: &str,
    reports: &str,
    languages: &[Language],
) {
    let of_kind = |kind: &'static str| files.iter().copied().filter(move |f| f.kind == kind);
    push(
        out,
        format_args!(
            "<section id=\"p-{}\"><h2>{}</h2>\n",
            Escaped(period),
            Escaped(period)
        ),
    );
    out.push_str("<h3>Nederland / The Netherlands</h3>\n<ul>");
    for file in of_kind("national") {
        out.push_str("<li>");
        report_link(
            out,
            reports,
            file,
            "Landelijke rapportage / National report",
        );
        out.push_str("</li>");
    }
    out.push_str("</ul>\n");

    // By the region's slug (a region report's recipient), its name from its municipalities.
    let mut regions: BTreeMap<String, Region<'_>> = BTreeMap::new();
    for file in of_kind("region") {
        regions
            .entry(file.recipient.clone())
            .or_default()
            .reports
            .push(file);
    }
    for file in of_kind("municipality") {
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
    out.push_str("<h3>Gemeenten per jeugdzorgregio / Municipalities by youth-care region</h3>\n");
    for (name, region) in &regions {
        push(
            out,
            format_args!(
                "<details><summary>{} ({} gemeenten / municipalities)</summary><ul>",
                Escaped(name),
                region.municipalities.len()
            ),
        );
        for file in &region.reports {
            out.push_str("<li>");
            report_link(out, reports, file, "Regionale rapportage / Region report");
            out.push_str("</li>");
        }
        municipality_items(
            out,
            pages,
            &manifest.release,
            &region.municipalities,
            languages,
        );
        out.push_str("</ul></details>\n");
    }

    let mut providers: BTreeMap<&str, BTreeMap<(String, &str), &ManifestFile>> = BTreeMap::new();
    for file in of_kind("mirror") {
        let code = file.municipality.as_deref().unwrap_or_default();
        providers
            .entry(&file.recipient)
            .or_default()
            .insert((municipality(code).0, code), file);
    }
    out.push_str(
        "<h3>Spiegelrapportages per aanbieder (AGB-code) / Mirror reports by provider (AGB \
         code)</h3>\n",
    );
    for (provider, mirrors) in &providers {
        push(
            out,
            format_args!(
                "<details><summary>{} ({} gemeenten / municipalities)</summary><ul>",
                Escaped(provider),
                mirrors.len()
            ),
        );
        municipality_items(out, pages, &manifest.release, mirrors, languages);
        out.push_str("</ul></details>\n");
    }
    out.push_str("</section>\n");
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
