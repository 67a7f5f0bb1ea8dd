//! The readable reports (`spiegel render`): structural tests of the generated HTML against the
//! Parquet files it renders, escaping of the provider's explanation, and a real headless
//! Chromium loading, screenshotting and printing the pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use arrow_array::cast::AsArray;
use serde_json::{Value, json};
use spiegel_aggregate::indicators::{Kind, indicator};

mod common;
use common::{Row, bsn, generate, p, rows, spiegel, tree};

#[path = "browser/cdp.rs"]
mod cdp;

/// What a provider might paste into its explanation: markup, entities, a spreadsheet formula.
const HOSTILE_STORY: &str = "<script>alert('x')</script> Wachtlijst &amp; <b>personeel</b> \
     \"krap\" & 'onzeker'\n=HYPERLINK(\"http://example.invalid\",\"klik\")\n+cmd|' /C calc'!A0\n\
     @SUM(1+1)";

/// One rendered release, made once per test process.
struct Rendered {
    root: PathBuf,
    manifest: Value,
    providers: BTreeSet<String>,
    /// The mirror report that carries [`HOSTILE_STORY`].
    annotated: Value,
    /// The provider whose deliveries lack the goal-attainment columns.
    unmeasured: String,
}

impl Rendered {
    fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    fn pages(&self) -> PathBuf {
        self.root.join("pages")
    }

    fn files(&self, kind: &str) -> Vec<&Value> {
        self.manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind)
            .collect()
    }

    /// The page of a report in `lang` (`nl` or `en`), by the manifest entry.
    fn page(&self, file: &Value, lang: &str) -> String {
        fs::read_to_string(self.page_path(file, lang)).unwrap()
    }

    fn page_path(&self, file: &Value, lang: &str) -> PathBuf {
        let release = format!("release={}", self.manifest["release"].as_str().unwrap());
        let kind = file["kind"].as_str().unwrap();
        let period = file["period"].as_str().unwrap();
        let name = if lang == "nl" {
            format!("{period}.html")
        } else {
            format!("{period}.en.html")
        };
        let recipient = file["recipient"].as_str().unwrap();
        let dir = self.pages().join(release).join(kind);
        match (file["municipality"].as_str(), kind) {
            (Some(gemeente), _) => dir
                .join(format!("provider={recipient}"))
                .join(format!("municipality={gemeente}"))
                .join(name),
            (None, "national") => dir.join(name),
            (None, "region") => dir.join(spiegel_publish::region_slug(recipient)).join(name),
            (None, _) => dir.join(recipient).join(name),
        }
    }

    /// A provider's overview of one period.
    fn overview_path(&self, provider: &str, period: &str, lang: &str) -> PathBuf {
        let release = format!("release={}", self.manifest["release"].as_str().unwrap());
        let name = if lang == "nl" {
            format!("{period}.html")
        } else {
            format!("{period}.en.html")
        };
        self.pages()
            .join(release)
            .join("mirror")
            .join(format!("provider={provider}"))
            .join(name)
    }

    /// Every (provider, period) with a mirror report.
    fn overviews(&self) -> BTreeSet<(String, String)> {
        self.files("mirror")
            .into_iter()
            .map(|f| {
                (
                    f["recipient"].as_str().unwrap().to_owned(),
                    f["period"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn rows(&self, file: &Value) -> Vec<Row> {
        let bytes = fs::read(self.reports().join(file["path"].as_str().unwrap())).unwrap();
        rows(&bytes)
    }
}

/// Adds to one generated provider's deliveries 60 trajectories a period in one municipality,
/// ended in the period with every reason and answer: a mirror report large enough for its
/// shares and means to pass T_rate in every period (SDC-2), so its page draws trend lines.
/// Returns the provider and the municipality.
fn add_large_mirror(input: &Path) -> (String, &'static str) {
    const GEMEENTE: &str = "GM0363";
    let mut provider = None;
    for (n, (period, start, end)) in [
        ("2025-H1", "20250110", "20250520"),
        ("2025-H2", "20250710", "20251120"),
        ("2026-H1", "20260110", "20260520"),
    ]
    .into_iter()
    .enumerate()
    {
        let file = fs::read_dir(input)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.to_string_lossy().ends_with(&format!("_{period}.csv")))
            .min()
            .unwrap();
        let agb = file.file_name().unwrap().to_string_lossy()[..8].to_owned();
        assert!(provider.get_or_insert_with(|| agb.clone()) == &agb);
        let mut csv = fs::read_to_string(&file).unwrap();
        assert!(csv.starts_with(
            "bsn,client_token,geboortedatum,geslacht,gemeentecode,postcode,verwijzer,hulpvorm,\
             gestart_met_crisis,datum_aanvang,datum_einde,reden_beeindiging,\
             tevredenheid_jeugdige,tevredenheid_ouder,zonder_hulp_verder_jeugdige,\
             zonder_hulp_verder_ouder,datum_aanmelding,gedeclareerd_bedrag,doelen_behaald,\
             problematiek_afgenomen,doelrealisatie_informant\n"
        ));
        for i in 0..60u32 {
            let child = 900_000 + 1000 * n as u32 + i;
            csv.push_str(&format!(
                "{},,2012{:02}15,{},{GEMEENTE},,01,02,02,{start},{end},0{},{},{},0{},0{},{start},1250.00,0{},0{},0{}\n",
                bsn(child),
                1 + i % 12,
                if i.is_multiple_of(2) { "M" } else { "V" },
                1 + i % 5,
                4 + i % 7,
                5 + i % 6,
                1 + i % 4,
                1 + (i + 1) % 4,
                1 + i % 3,
                1 + i % 2,
                1 + i % 4,
            ));
        }
        fs::write(&file, csv).unwrap();
    }
    (provider.unwrap(), GEMEENTE)
}

/// Takes the goal-attainment columns out of every delivery of the generated provider with the
/// highest AGB code, as a provider whose software predates them would deliver; returns it.
fn drop_goal_columns(input: &Path) -> String {
    let mut files: Vec<PathBuf> = fs::read_dir(input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let last = files.last().unwrap().file_name().unwrap().to_string_lossy()[..8].to_owned();
    for file in files
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(&last))
    {
        let csv = fs::read_to_string(file).unwrap();
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with(",doelrealisatie_informant")
        );
        let kept: String = csv
            .lines()
            .map(|line| line.rsplitn(4, ',').last().unwrap().to_owned() + "\n")
            .collect();
        fs::write(file, kept).unwrap();
    }
    last
}

fn rendered() -> &'static Rendered {
    static RENDERED: OnceLock<Rendered> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("render");
        if root.exists() {
            fs::remove_dir_all(&root).unwrap();
        }
        let input = root.join("input");
        generate(&input, 12000, 4, 11, "2025-H1,2025-H2,2026-H1");
        let large_mirror = add_large_mirror(&input);
        let unmeasured = drop_goal_columns(&input);
        assert_ne!(unmeasured, large_mirror.0);
        spiegel(&["keys", "generate", "--out", p(&root.join("keys"))]);
        let data = root.join("data");
        spiegel(&[
            "run",
            "--input",
            p(&input),
            "--out",
            p(&root.join("reports")),
            "--data-dir",
            p(&data),
            "--keys",
            p(&root.join("keys")),
        ]);
        let providers = fs::read_dir(&input)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.split('_').next().unwrap().to_owned()
            })
            .collect();
        let manifest: Value =
            serde_json::from_slice(&fs::read(root.join("reports/manifest.json")).unwrap()).unwrap();
        // The large mirror report of the last period gets the hostile explanation.
        let annotated = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["kind"] == "mirror"
                    && f["period"] == "2026-H1"
                    && f["recipient"] == large_mirror.0.as_str()
                    && f["municipality"] == large_mirror.1
            })
            .unwrap()
            .clone();
        fs::write(
            data.join("annotations.json"),
            json!({"annotations": [{
                "provider": annotated["recipient"],
                "period": annotated["period"],
                "municipality": annotated["municipality"],
                "text": HOSTILE_STORY,
            }]})
            .to_string(),
        )
        .unwrap();
        let output = spiegel(&[
            "render",
            "--reports",
            p(&root.join("reports")),
            "--out",
            p(&root.join("pages")),
            "--data-dir",
            p(&data),
            "--lang",
            "both",
        ]);
        assert!(String::from_utf8_lossy(&output.stdout).contains("rendered release"));
        Rendered {
            root,
            manifest,
            providers,
            annotated,
            unmeasured,
        }
    })
}

/// One figure of a page table: the column it stands in (`v`, `n`, `d` or `ref`), its CSS
/// classes and its text.
#[derive(Debug, Clone)]
struct Figure {
    column: String,
    classes: String,
    text: String,
}

/// Every table row of a page by (indicator, dimension, category), read from the markup alone.
fn page_cells(html: &str) -> BTreeMap<(String, String, String), Vec<Figure>> {
    let mut out = BTreeMap::new();
    for table in html.split("<table").skip(1) {
        let table = &table[..table.find("</table>").unwrap()];
        // The lists of a region or national page's parts are checked on their own.
        let Some(indicator) = attribute(table, "data-indicator") else {
            continue;
        };
        let (head, body) = table.split_at(table.find("</thead>").unwrap());
        // The header row: the category column, then one per figure.
        let columns: Vec<String> = head[head.find("<tr>").unwrap()..]
            .split("<th")
            .skip(2)
            .map(|th| attribute(th, "class").unwrap_or_default())
            .collect();
        for group in body.split("<tbody").skip(1) {
            let dimension = attribute(group, "data-d").unwrap();
            for row in group.split("<tr").skip(1) {
                let Some(category) = attribute(row, "data-c") else {
                    continue;
                };
                let figures: Vec<Figure> = row
                    .split("<td")
                    .skip(1)
                    .zip(&columns)
                    .map(|(td, column)| Figure {
                        column: column.clone(),
                        classes: attribute(td, "class").unwrap_or_default(),
                        text: unescape(td[td.find('>').unwrap() + 1..].split('<').next().unwrap()),
                    })
                    .collect();
                assert_eq!(
                    figures.len(),
                    columns.len(),
                    "{indicator} {dimension} {category}"
                );
                let key = (indicator.clone(), dimension.clone(), category);
                assert!(out.insert(key.clone(), figures).is_none(), "{key:?} twice");
            }
        }
    }
    out
}

/// An attribute of the first tag in `fragment`.
fn attribute(fragment: &str, name: &str) -> Option<String> {
    let tag = &fragment[..fragment.find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(unescape(&tag[at..at + tag[at..].find('"')?]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A number as the page writes it in `lang`, read back.
fn number(text: &str, lang: &str) -> f64 {
    let digits = text.trim_end_matches('%');
    let plain = if lang == "nl" {
        digits.replace('.', "").replace(',', ".")
    } else {
        digits.replace(',', "")
    };
    plain
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

/// A value as its page writes it: statistics in days or euros whole, scores to one decimal.
fn shown_as(code: &str, value: f64) -> f64 {
    match indicator(code).unwrap().unit {
        "score" => (value * 10.0).round() / 10.0,
        _ => value.round(),
    }
}

/// Checks one page against its report file (and, on a municipality page, the reference
/// columns against the region's and the country's files).
fn check_page(rendered: &Rendered, file: &Value, lang: &str, references: &[Vec<Row>]) -> usize {
    let html = rendered.page(file, lang);
    let cells = page_cells(&html);
    let rows = rendered.rows(file);
    let kind = file["kind"].as_str().unwrap();
    let secret = if lang == "nl" { "geheim" } else { "suppressed" };
    let path = file["path"].as_str().unwrap();
    assert_eq!(
        cells.len(),
        rows.len(),
        "{path} ({lang}): the page shows other figures than the file"
    );
    for row in &rows {
        let key = (
            row.indicator.clone(),
            row.dimension.clone(),
            row.category.clone(),
        );
        let figures = cells
            .get(&key)
            .unwrap_or_else(|| panic!("{path} ({lang}): {key:?} not on the page"));
        let definition = indicator(&row.indicator).unwrap();
        let field = |column: &str| figures.iter().find(|f| f.column == column);
        let value = field("v").unwrap();
        if row.status == "suppressed" {
            assert_eq!(value.text, secret, "{path}: {key:?}");
            assert!(
                value.classes.split(' ').any(|c| c == "s"),
                "{key:?}: footnote"
            );
        } else {
            match row.value {
                Some(v) => assert!(
                    (number(&value.text, lang) - shown_as(&row.indicator, v)).abs() < 1e-9,
                    "{path} ({lang}): {key:?} shows {} for {v}",
                    value.text
                ),
                None => assert_eq!(value.text, "–", "{key:?}"),
            }
            // Perturbed counts carry the rounded mark; the provider's own volumes do not.
            let controlled = kind != "mirror" || definition.linked;
            if definition.kind == Kind::Count {
                let rounded = value.classes.split(' ').any(|c| c == "r");
                assert_eq!(
                    rounded,
                    controlled && row.value.is_some_and(|v| v != 0.0),
                    "{path}: {key:?} rounded mark"
                );
            }
            assert_eq!(
                value.classes.split(' ').any(|c| c == "p"),
                row.status == "provisional",
                "{key:?}: provisional mark"
            );
        }
        for (column, expected) in [("n", row.numerator), ("d", row.denominator)] {
            match field(column) {
                Some(shown) => match expected {
                    Some(n) => assert_eq!(number(&shown.text, lang), n as f64, "{key:?} {column}"),
                    None => assert_eq!(shown.text, "–", "{key:?} {column}"),
                },
                // A count's numerator is its value; nothing else may go unshown.
                None if column == "n" && definition.kind == Kind::Count => {
                    assert_eq!(
                        expected.map(|n| n as f64),
                        row.value.filter(|_| row.status != "suppressed")
                    );
                }
                None => assert_eq!(expected, None, "{path}: {key:?} {column} not shown"),
            }
        }
        let shown_references: Vec<&Figure> = figures.iter().filter(|f| f.column == "ref").collect();
        assert_eq!(shown_references.len(), references.len(), "{key:?}");
        for (shown, reference) in shown_references.iter().zip(references) {
            let same = reference.iter().find(|r| {
                r.indicator == row.indicator
                    && r.dimension == row.dimension
                    && r.category == row.category
            });
            match same {
                Some(r) if r.status == "suppressed" => assert_eq!(shown.text, secret),
                Some(Row { value: Some(v), .. }) => {
                    assert!(
                        (number(&shown.text, lang) - shown_as(&row.indicator, *v)).abs() < 1e-9,
                        "{key:?} reference"
                    )
                }
                _ => assert_eq!(shown.text, "–", "{key:?} reference"),
            }
        }
    }
    rows.len()
}

#[test]
fn every_published_cell_appears_on_its_page_with_the_same_value() {
    let rendered = rendered();
    let reference = |kind: &str, recipient: &str, period: &str| -> Vec<Row> {
        let file = rendered
            .files(kind)
            .into_iter()
            .find(|f| f["recipient"] == recipient && f["period"] == period)
            .unwrap();
        rendered.rows(file)
    };
    let mut checked = 0;
    let mut suppressed = 0;
    for file in rendered.files("municipality") {
        let period = file["period"].as_str().unwrap();
        // The region is in every row of the report.
        let region =
            region_of(&fs::read(rendered.reports().join(file["path"].as_str().unwrap())).unwrap());
        let references = [
            reference("region", &region, period),
            reference("national", "national", period),
        ];
        for lang in ["nl", "en"] {
            checked += check_page(rendered, file, lang, &references);
        }
        suppressed += file["suppressed"].as_u64().unwrap();
    }
    for file in rendered.files("mirror") {
        for lang in ["nl", "en"] {
            checked += check_page(rendered, file, lang, &[]);
        }
        suppressed += file["suppressed"].as_u64().unwrap();
    }
    // A region page has the country beside it; the national page nothing.
    for file in rendered.files("region") {
        let references = [reference(
            "national",
            "national",
            file["period"].as_str().unwrap(),
        )];
        for lang in ["nl", "en"] {
            checked += check_page(rendered, file, lang, &references);
        }
    }
    for file in rendered.files("national") {
        for lang in ["nl", "en"] {
            checked += check_page(rendered, file, lang, &[]);
        }
    }
    assert!(
        checked > 10_000 && suppressed > 100,
        "{checked} cells, {suppressed} suppressed"
    );
    // A page per report and language, and a provider overview per provider and period.
    let pages = tree(&rendered.pages());
    let reports = ["mirror", "municipality", "region", "national"]
        .iter()
        .map(|kind| rendered.files(kind).len())
        .sum::<usize>();
    assert_eq!(pages.len(), 2 * (reports + rendered.overviews().len()));
}

/// The rows of the parts table of a region or national page (`class="members"`), by their
/// `data-c`, each with its figures' texts.
fn part_rows(html: &str) -> BTreeMap<String, Vec<String>> {
    let at = html.find("class=\"members\"").expect("a table of parts");
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    table
        .split("<tr")
        .skip(1)
        .filter_map(|row| {
            let key = attribute(row, "data-c")?;
            let figures = row
                .split("<td")
                .skip(1)
                .map(|td| unescape(td[td.find('>').unwrap() + 1..].split('<').next().unwrap()))
                .collect();
            Some((key, figures))
        })
        .collect()
}

/// The headline figures a region, national or overview page lists for a part.
const HEADLINE: [&str; 4] = [
    "youths_in_care",
    "trajectories_started",
    "trajectories_ended",
    "ended_as_planned_share",
];

/// Checks the figures a page lists for one part against the part's own report file.
fn check_part(shown: &[String], rows: &[Row], lang: &str, what: &str) {
    let secret = if lang == "nl" { "geheim" } else { "suppressed" };
    assert_eq!(shown.len(), HEADLINE.len(), "{what}");
    for (text, code) in shown.iter().zip(HEADLINE) {
        let row = rows
            .iter()
            .find(|r| r.indicator == code && r.dimension == "total" && r.category == "total");
        match row {
            Some(r) if r.status == "suppressed" => assert_eq!(text, secret, "{what} {code}"),
            Some(Row { value: Some(v), .. }) => assert!(
                (number(text, lang) - v).abs() < 1e-9,
                "{what} {code}: {text} for {v}"
            ),
            _ => assert_eq!(text, "–", "{what} {code}"),
        }
    }
}

/// A region page lists every municipality report of its region and period, the national page
/// every region report, each figure exactly as that report publishes it ("geheim" where it is
/// suppressed), and they link each other and the municipality pages link their region.
#[test]
fn region_and_national_pages_list_their_parts_as_published() {
    let rendered = rendered();
    let mut listed = 0;
    for region in rendered.files("region") {
        let period = region["period"].as_str().unwrap();
        let name = region["recipient"].as_str().unwrap();
        let members: Vec<&Value> = rendered
            .files("municipality")
            .into_iter()
            .filter(|m| {
                m["period"] == period
                    && region_of(
                        &fs::read(rendered.reports().join(m["path"].as_str().unwrap())).unwrap(),
                    ) == name
            })
            .collect();
        for lang in ["nl", "en"] {
            let html = rendered.page(region, lang);
            let parts = part_rows(&html);
            assert_eq!(parts.len(), members.len(), "{name} {period}");
            for member in &members {
                let code = member["recipient"].as_str().unwrap();
                check_part(&parts[code], &rendered.rows(member), lang, code);
                listed += 1;
                // The municipality page links its region page.
                let page = rendered.page(member, lang);
                let own = rendered.page_path(member, lang);
                let target = rendered.page_path(region, lang);
                assert!(target.is_file());
                let href = format!(
                    "href=\"../../region/{}/{}\"",
                    spiegel_publish::region_slug(name),
                    target.file_name().unwrap().to_string_lossy()
                );
                assert!(page.contains(&href), "{}: {href}", own.display());
            }
            assert!(html.contains(&format!(
                "href=\"../../national/{}\"",
                rendered.page_path(region, lang).file_name().unwrap().to_string_lossy()
            )));
        }
    }
    for national in rendered.files("national") {
        let period = national["period"].as_str().unwrap();
        let regions: Vec<&Value> = rendered
            .files("region")
            .into_iter()
            .filter(|r| r["period"] == period)
            .collect();
        for lang in ["nl", "en"] {
            let parts = part_rows(&rendered.page(national, lang));
            assert_eq!(parts.len(), regions.len(), "{period}");
            for region in &regions {
                let slug = spiegel_publish::region_slug(region["recipient"].as_str().unwrap());
                check_part(&parts[&slug], &rendered.rows(region), lang, &slug);
                listed += 1;
            }
        }
    }
    assert!(listed > 100, "{listed} parts listed");
}

/// A provider's overview of a period lists each of its mirror reports of that period by
/// jeugdzorgregio, with the figures as published, names no other provider (NB-2), and every
/// mirror page links it.
#[test]
fn a_provider_overview_lists_its_own_mirrors_and_names_no_other_provider() {
    let rendered = rendered();
    let overviews = rendered.overviews();
    assert!(overviews.len() >= 6, "{} overviews", overviews.len());
    for (provider, period) in &overviews {
        let mirrors: Vec<&Value> = rendered
            .files("mirror")
            .into_iter()
            .filter(|f| f["recipient"] == provider.as_str() && f["period"] == period.as_str())
            .collect();
        for lang in ["nl", "en"] {
            let path = rendered.overview_path(provider, period, lang);
            let html = fs::read_to_string(&path).unwrap();
            for other in rendered.providers.iter().filter(|a| *a != provider) {
                assert!(
                    !html.contains(other.as_str()),
                    "{other} on {}",
                    path.display()
                );
            }
            let mut shown = 0;
            for table in html.split("<table class=\"members\"").skip(1) {
                let rows = part_rows(&format!("<table class=\"members\"{table}"));
                for mirror in &mirrors {
                    let code = mirror["municipality"].as_str().unwrap();
                    if let Some(figures) = rows.get(code) {
                        // The last column says whether the report is shared.
                        check_part(
                            &figures[..HEADLINE.len()],
                            &rendered.rows(mirror),
                            lang,
                            code,
                        );
                        shown += 1;
                    }
                }
            }
            assert_eq!(shown, mirrors.len(), "{}", path.display());
            for mirror in &mirrors {
                let page = rendered.page(mirror, lang);
                let href = format!(
                    "href=\"../{}\"",
                    path.file_name().unwrap().to_string_lossy()
                );
                assert!(page.contains(&href), "{}", mirror["path"]);
            }
        }
    }
}

fn region_of(bytes: &[u8]) -> String {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let batch = reader.into_iter().next().unwrap().unwrap();
    batch
        .column_by_name("region")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_owned()
}

/// docs/release-rules.md and issue 25: a page says why a figure may be missing without telling
/// which reason applies, and a municipality page whose headline figures are mostly "geheim" says
/// that few providers serve it.
#[test]
fn pages_name_every_reason_a_figure_may_be_missing_and_explain_a_mostly_secret_page() {
    let rendered = rendered();
    let headline = [
        "youths_in_care",
        "trajectories_started",
        "trajectories_ended",
    ];
    let (mut mostly_secret, mut mostly_published) = (0, 0);
    for file in rendered.files("municipality") {
        let page = rendered.page(file, "nl");
        for reason in [
            "minder dan 10 jeugdigen of trajecten",
            "rust op minder dan 20",
            "aanbieders die hun spiegelrapportage niet",
            "een ander geheim cijfer herleidbaar",
        ] {
            assert!(page.contains(reason), "{reason} in {}", file["path"]);
        }
        assert!(
            !page.contains("geheim<sup>"),
            "a footnote mark without a note"
        );
        let rows = rendered.rows(file);
        let secret = headline
            .iter()
            .filter(|code| {
                rows.iter().any(|r| {
                    r.indicator == **code && r.dimension == "total" && r.status == "suppressed"
                })
            })
            .count();
        let explained = page.contains("class=\"few-providers\"");
        assert_eq!(
            explained,
            secret >= 2,
            "{}: {secret} of 3 secret",
            file["path"]
        );
        if explained {
            mostly_secret += 1;
        } else {
            mostly_published += 1;
        }
    }
    assert!(
        mostly_secret > 0 && mostly_published > 0,
        "{mostly_secret} {mostly_published}"
    );
    for file in rendered.files("mirror").into_iter().take(20) {
        assert!(!rendered.page(file, "nl").contains("few-providers"));
    }
}

/// The "Doelen behaald" card of a page, as text between its tags.
fn goals_card(html: &str) -> String {
    let card = html
        .split_once("id=\"doelrealisatie\"")
        .map(|(_, rest)| rest.split("</figure>").next().unwrap_or_default())
        .unwrap_or_default();
    unescape(card)
}

#[test]
fn goal_attainment_is_on_every_page_and_reads_not_measured_where_nobody_delivered_it() {
    let rendered = rendered();
    let mut pages = 0;
    for kind in ["municipality", "region", "national", "mirror"] {
        for file in rendered.files(kind) {
            // Region and national reports are published as Parquet; where a page is rendered
            // for one, it carries the card like every other page.
            if matches!(kind, "region" | "national") && !rendered.page_path(file, "nl").exists() {
                continue;
            }
            for (lang, title) in [("nl", "Doelen behaald"), ("en", "Goals achieved")] {
                let card = goals_card(&rendered.page(file, lang));
                assert!(card.contains(title), "{lang} {}", file["path"]);
                pages += 1;
            }
        }
    }
    assert!(pages > 100, "{pages}");
    // Every mirror report of the provider without the columns: measured for none of its ended
    // trajectories, and the page says so rather than showing 0%.
    let unmeasured: Vec<&Value> = rendered
        .files("mirror")
        .into_iter()
        .filter(|f| f["recipient"] == rendered.unmeasured.as_str())
        .collect();
    assert!(!unmeasured.is_empty());
    for file in unmeasured {
        let rows = rendered.rows(file);
        let judged = rows
            .iter()
            .find(|r| r.indicator == "goals_achieved_01" && r.dimension == "total")
            .unwrap();
        assert_eq!(judged.denominator, Some(0), "{}", file["path"]);
        let nl = goals_card(&rendered.page(file, "nl"));
        assert!(nl.contains(">niet gemeten<"), "{}", file["path"]);
        assert!(
            !nl.contains("Respons:") && !nl.contains('%'),
            "{}",
            file["path"]
        );
        assert!(goals_card(&rendered.page(file, "en")).contains(">not measured<"));
    }
    // Every page shows what its report file says: "niet gemeten" for nothing judged, "geheim"
    // for a suppressed figure, and otherwise the share, with the country's beside a
    // municipality's.
    let headline = |file: &Value| {
        let rows = rendered.rows(file);
        let cell = rows
            .iter()
            .find(|r| r.indicator == "goals_achieved_01" && r.dimension == "total")
            .unwrap();
        match (cell.status.as_str(), cell.denominator, cell.value) {
            ("suppressed", _, _) => "geheim".to_owned(),
            (_, Some(0), _) => "niet gemeten".to_owned(),
            (_, _, Some(v)) => format!("{}%", v.round()),
            _ => "–".to_owned(),
        }
    };
    let national: BTreeMap<String, String> = rendered
        .files("national")
        .into_iter()
        .map(|f| (f["period"].as_str().unwrap().to_owned(), headline(f)))
        .collect();
    assert!(national.values().all(|v| v.ends_with('%')), "{national:?}");
    let mut shown = BTreeMap::new();
    for kind in ["municipality", "mirror"] {
        for file in rendered.files(kind) {
            let expected = headline(file);
            let card = goals_card(&rendered.page(file, "nl"));
            assert!(
                card.contains(&format!(">{expected}<")),
                "{expected}: {card}"
            );
            assert_eq!(
                card.contains("Respons:"),
                expected != "niet gemeten",
                "{card}"
            );
            if kind == "municipality" {
                let country = &national[file["period"].as_str().unwrap()];
                assert!(card.contains(&format!("Nederland {country}")), "{card}");
            }
            *shown.entry((kind, expected == "niet gemeten")).or_insert(0) += 1;
        }
    }
    assert!(shown.len() == 4, "{shown:?}");
    // The distributions are drawn where they are published.
    let file = rendered
        .files("municipality")
        .into_iter()
        .find(|f| headline(f).ends_with('%'));
    if let Some(file) = file {
        let page = rendered.page(file, "nl");
        assert!(page.contains("<h3>Doelen behaald (3.4)</h3>"));
    }
}

#[test]
fn a_municipality_page_names_no_provider_and_a_mirror_page_only_its_own() {
    let rendered = rendered();
    assert!(rendered.providers.len() >= 3);
    for file in rendered.files("municipality") {
        for lang in ["nl", "en"] {
            let html = rendered.page(file, lang);
            for agb in &rendered.providers {
                assert!(!html.contains(agb.as_str()), "{agb} on {}", file["path"]);
            }
        }
    }
    for file in rendered.files("mirror") {
        let html = rendered.page(file, "nl");
        let own = file["recipient"].as_str().unwrap();
        assert!(html.contains(own));
        for agb in rendered.providers.iter().filter(|a| a.as_str() != own) {
            assert!(!html.contains(agb.as_str()), "{agb} on {}", file["path"]);
        }
    }
}

#[test]
fn linked_indicators_are_provisional_with_their_reason_where_the_data_do_not_reach() {
    // The data run from 2025-01-01 to 2026-06-30: five years of lookback reach before them in
    // every period, and the 182 days after an end in 2026-H1 lie after them. Every end in
    // 2025-H1 has its 182 days delivered.
    let rendered = rendered();
    let mut notes = BTreeMap::new();
    for kind in ["municipality", "mirror", "region", "national"] {
        for file in rendered.files(kind) {
            let period = file["period"].as_str().unwrap();
            let published: Vec<Row> = rendered
                .rows(file)
                .into_iter()
                .filter(|r| r.status != "suppressed" && r.value.is_some())
                .collect();
            for row in &published {
                let expected = match (row.indicator.as_str(), period) {
                    ("repeat_request_share", _) | ("no_new_start_share", "2026-H1") => {
                        "provisional"
                    }
                    ("no_new_start_share", "2025-H1") => "ok",
                    _ => continue,
                };
                assert_eq!(
                    row.status, expected,
                    "{} {period}: {} {} {}",
                    file["path"], row.indicator, row.dimension, row.category
                );
            }
            for (code, nl, en) in [
                (
                    "repeat_request_share",
                    "Voorlopig: nog onvolledige historie.",
                    "read the figure as a lower bound",
                ),
                (
                    "no_new_start_share",
                    "lees het cijfer als een bovengrens",
                    "read the figure as an upper bound",
                ),
            ] {
                if !published.iter().any(|r| r.indicator == code) {
                    continue;
                }
                let provisional = published
                    .iter()
                    .any(|r| r.indicator == code && r.status == "provisional");
                let (dutch, english) = (rendered.page(file, "nl"), rendered.page(file, "en"));
                // The indicator's table and what follows it up to the next table.
                let table = |html: &str| {
                    let at = html
                        .find(&format!("data-indicator=\"{code}\""))
                        .unwrap_or_else(|| panic!("{code} has no table"));
                    let after = &html[at..];
                    let next = after.find("<table").unwrap_or(after.len());
                    after[..next].to_owned()
                };
                // The reason stands right under the indicator's table, in both languages, and
                // only where a figure of it is provisional.
                assert_eq!(
                    table(&dutch).contains(nl),
                    provisional,
                    "{}: {code} reason",
                    file["path"]
                );
                assert_eq!(
                    table(&english).contains(en),
                    provisional,
                    "{}: {code} reason",
                    file["path"]
                );
                *notes.entry(code).or_insert(0) += usize::from(provisional);
            }
        }
    }
    assert!(
        notes.len() == 2 && notes.values().all(|&n| n > 0),
        "pages with a provisional figure: {notes:?}"
    );
}

/// The visible text of a page: its markup and style sheet left out, entities read.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    if let (Some(a), Some(b)) = (rest.find("<style>"), rest.find("</style>")) {
        text.push_str(&rest[..a]);
        rest = &rest[b..];
    }
    let mut in_tag = false;
    let mut out = String::new();
    for c in text.chars().chain(rest.chars()) {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// A period code such as `2026-H1` or `2025-Q3` in `text`, if there is one.
fn period_code(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(6))
        .find(|&i| {
            bytes[i..i + 4].iter().all(u8::is_ascii_digit)
                && bytes[i + 4] == b'-'
                && matches!(bytes[i + 5], b'H' | b'Q')
                && (b'1'..=b'4').contains(&bytes[i + 6])
        })
        .map(|i| &text[i..i + 7])
}

/// The footnote marks a page uses: written in its text, or added by the classes that mark a
/// figure suppressed (¹), rounded (°) or provisional (†).
fn marks_used(html: &str, text: &str) -> BTreeSet<char> {
    let mut marks: BTreeSet<char> = text.chars().filter(|c| "¹°†".contains(*c)).collect();
    for class in html.split("class=\"").skip(1) {
        let class = &class[..class.find('"').unwrap_or(0)];
        for (token, mark) in [("s", '¹'), ("r", '°'), ("p", '†')] {
            if class.split(' ').any(|t| t == token) {
                marks.insert(mark);
            }
        }
    }
    marks
}

#[test]
fn every_dutch_demo_page_reads_without_codes_placeholders_or_unexplained_marks() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-text");
    spiegel(&["demo", "--dir", p(&root), "--records", "1000"]);
    let mut pages = vec![root.join("index.html")];
    let mut dirs = vec![root.join("pages")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "html")
                && !path.to_string_lossy().ends_with(".en.html")
            {
                pages.push(path);
            }
        }
    }
    assert!(pages.len() > 100, "{} Dutch pages", pages.len());
    let mut provisional = 0;
    for page in &pages {
        let html = fs::read_to_string(page).unwrap();
        let text = visible_text(&html);
        let name = page.strip_prefix(&root).unwrap().display();
        assert_eq!(
            period_code(&text),
            None,
            "{name}: a period code in the text"
        );
        assert!(
            !text
                .split(|c: char| !c.is_alphanumeric())
                .any(|word| word == "W"),
            "{name}: the placeholder W in the text"
        );
        // Every mark is explained in the page's own legend.
        let legend: String = html
            .split("<dt>")
            .skip(1)
            .map(|dt| &dt[..dt.find("</dt>").unwrap()])
            .collect();
        for mark in marks_used(&html, &text) {
            assert!(
                legend.contains(mark),
                "{name}: the mark {mark} has no note on the page"
            );
        }
        provisional += usize::from(html.contains("class=\"note provisional\""));
    }
    assert!(provisional > 0, "no demo page shows a provisional figure");
}

#[test]
fn pages_show_no_internal_path_and_english_units_follow_their_label() {
    let rendered = rendered();
    for kind in ["municipality", "mirror"] {
        for file in rendered.files(kind) {
            for lang in ["nl", "en"] {
                let html = rendered.page(file, lang);
                for internal in [".parquet", "period=", file["path"].as_str().unwrap()] {
                    assert!(
                        !html.contains(internal),
                        "{internal} on the {lang} page of {}",
                        file["path"]
                    );
                }
            }
            let english = rendered.page(file, "en");
            assert!(
                !english.contains("children"),
                "the English page of {} counts youths as children",
                file["path"]
            );
        }
    }
}

#[test]
fn an_explanation_with_markup_and_formulas_renders_as_literal_text() {
    let rendered = rendered();
    for lang in ["nl", "en"] {
        let html = rendered.page(&rendered.annotated, lang);
        let start = html
            .find("<div class=\"verhaal\">")
            .expect("the explanation is shown");
        let story = &html[start + "<div class=\"verhaal\">".len()..];
        let story = &story[..story.find("</div>").unwrap()];
        assert_eq!(unescape(story), HOSTILE_STORY);
        assert!(!story.contains('<') && !story.contains('>'), "{story}");
        assert!(story.contains("&lt;script&gt;") && story.contains("&amp;amp;"));
        // No script anywhere in a page, and a policy that would refuse one.
        assert!(!html.contains("<script"));
        assert!(html.contains("default-src 'none'"));
    }
    // Only the annotated report shows an explanation.
    let other = rendered
        .files("mirror")
        .into_iter()
        .find(|f| f["path"] != rendered.annotated["path"])
        .unwrap();
    assert!(!rendered.page(other, "nl").contains("class=\"verhaal\""));
}

#[test]
fn rendering_again_gives_byte_identical_pages() {
    let rendered = rendered();
    let again = rendered.root.join("pages-again");
    spiegel(&[
        "render",
        "--reports",
        p(&rendered.reports()),
        "--out",
        p(&again),
        "--data-dir",
        p(&rendered.root.join("data")),
        "--lang",
        "both",
    ]);
    common::assert_same(&tree(&rendered.pages()), &tree(&again), "pages");
}

/// Where the browser test leaves its screenshots and PDFs for CI to keep.
fn artifacts() -> PathBuf {
    let dir = std::env::var_os("SPIEGEL_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts"),
        PathBuf::from,
    );
    let dir = dir.join("browser");
    fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

fn chromium() -> String {
    std::env::var("SPIEGEL_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Text of a PDF through poppler's pdftotext, and its page count through pdfinfo.
fn pdf_text_and_pages(pdf: &Path) -> (String, u32) {
    let text = Command::new("pdftotext")
        .args([p(pdf), "-"])
        .output()
        .expect("pdftotext (poppler-utils; scripts/test.sh installs it)");
    assert!(text.status.success());
    let info = Command::new("pdfinfo").arg(p(pdf)).output().unwrap();
    let info = String::from_utf8(info.stdout).unwrap();
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (String::from_utf8(text.stdout).unwrap(), pages)
}

/// A4 minus the print stylesheet's margins (210 mm − 2 × 12 mm) in CSS pixels.
const A4_PRINTABLE_WIDTH: u32 = 703;

#[test]
fn pages_load_in_headless_chromium_without_errors_and_print_to_a4() {
    let rendered = rendered();
    let out = artifacts();
    println!("browser screenshots and PDFs: {}", out.display());
    let municipality = rendered
        .files("municipality")
        .into_iter()
        .filter(|f| f["period"] == "2026-H1")
        .max_by_key(|f| f["rows"].as_u64().unwrap())
        .unwrap();
    let region = rendered
        .files("region")
        .into_iter()
        .filter(|f| f["period"] == "2026-H1")
        .max_by_key(|f| f["rows"].as_u64().unwrap())
        .unwrap();
    let national = rendered
        .files("national")
        .into_iter()
        .find(|f| f["period"] == "2026-H1")
        .unwrap();
    let pages = [
        (municipality, "nl", "municipality-nl"),
        (municipality, "en", "municipality-en"),
        (&rendered.annotated, "nl", "mirror-nl"),
        (region, "nl", "region-nl"),
        (national, "en", "national-en"),
    ];
    let mut browser = cdp::Browser::launch(&chromium());
    let tab = browser.tab();
    let mut titles = Vec::new();
    for (file, lang, name) in pages {
        let path = rendered.page_path(file, lang);
        browser.emulate(&tab, 1100, "screen");
        browser.navigate(&tab, &format!("file://{}", p(&path)));
        assert_eq!(
            browser.errors(&tab),
            Vec::<String>::new(),
            "{name}: console errors"
        );
        let charts = browser.evaluate(
            &tab,
            "[...document.querySelectorAll('svg.chart')].map(s => { \
             const r = s.getBoundingClientRect(); return [r.width, r.height]; })",
        );
        let charts = charts.as_array().unwrap();
        assert!(charts.len() >= 8, "{name}: {} charts", charts.len());
        for size in charts {
            assert!(
                size[0].as_f64().unwrap() > 100.0 && size[1].as_f64().unwrap() > 50.0,
                "{name}: {size}"
            );
        }
        // Every chart has a text alternative.
        let described = browser.evaluate(
            &tab,
            "[...document.querySelectorAll('svg.chart')].every(s => \
             s.getAttribute('role') === 'img' && s.querySelector('title').textContent.length > 0 \
             && s.querySelector('desc').textContent.length > 0)",
        );
        assert_eq!(described, json!(true), "{name}");
        // Trend lines are strokes, not filled shapes (an SVG polyline fills black unless told).
        let lines = browser.evaluate(
            &tab,
            "[...document.querySelectorAll('svg.chart polyline')].map(l => { \
             const s = getComputedStyle(l); return [s.fill, s.stroke]; })",
        );
        let lines = lines.as_array().unwrap();
        assert!(!lines.is_empty(), "{name}: no trend lines");
        for line in lines {
            assert_eq!(line[0], json!("none"), "{name}: a filled trend line");
            assert_ne!(line[1], json!("none"), "{name}: an invisible trend line");
        }
        let png = browser.screenshot(&tab);
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{name}");
        fs::write(out.join(format!("{name}.png")), &png).unwrap();
        if file["path"] == rendered.annotated["path"] {
            let story = browser.evaluate(&tab, "document.querySelector('.verhaal').textContent");
            assert_eq!(
                story,
                json!(HOSTILE_STORY),
                "the explanation is literal text"
            );
            let elements =
                browser.evaluate(&tab, "document.querySelector('.verhaal').children.length");
            assert_eq!(elements, json!(0), "no markup inside the explanation");
        }
        // Printed on A4, no table and no chart is wider than the paper.
        browser.emulate(&tab, A4_PRINTABLE_WIDTH, "print");
        let overflowing = browser.evaluate(
            &tab,
            "[...document.querySelectorAll('table, svg, figure, p, dl')].filter(e => \
             e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 \
             || e.scrollWidth > e.clientWidth + 1).map(e => e.outerHTML.slice(0, 80))",
        );
        assert_eq!(overflowing, json!([]), "{name}: cut off on A4");
        let headings: Vec<String> = serde_json::from_value(browser.evaluate(
            &tab,
            "[...document.querySelectorAll('h1, h2, caption')].flatMap(h => h.tagName == \
             'CAPTION' ? [h.firstChild.textContent, (h.querySelector('.def')?.textContent ?? '')] : \
             [h.textContent])",
        ))
        .unwrap();
        let pdf = browser.pdf(&tab);
        assert!(pdf.starts_with(b"%PDF"), "{name}");
        let pdf_path = out.join(format!("{name}.pdf"));
        fs::write(&pdf_path, &pdf).unwrap();
        let (text, page_count) = pdf_text_and_pages(&pdf_path);
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = flat(&text);
        assert!((2..=60).contains(&page_count), "{name}: {page_count} pages");
        for heading in &headings {
            assert!(
                text.contains(&flat(heading)),
                "{name}: {heading:?} not in the PDF"
            );
        }
        // One report per file: its own title once, no other report's title.
        assert_eq!(text.matches(&flat(&headings[0])).count(), 1, "{name}");
        titles.push((name, flat(&headings[0]), text));
    }
    let (_, municipality_title, _) = &titles[0];
    let (_, mirror_title, mirror_text) = &titles[2];
    assert_ne!(municipality_title, mirror_title);
    assert!(!mirror_text.contains(municipality_title.as_str()));
}

#[test]
fn one_report_rendered_on_request_is_the_page_render_wrote() {
    // The serving API renders a single report on request; it must be the same page.
    let rendered = rendered();
    let store = object_store::local::LocalFileSystem::new_with_prefix(rendered.reports()).unwrap();
    let notes = spiegel_render::ProviderNotes::load(&rendered.root.join("data")).unwrap();
    let municipality = rendered.files("municipality")[0];
    for (file, language, lang) in [
        (municipality, spiegel_render::Language::Nl, "nl"),
        (&rendered.annotated, spiegel_render::Language::En, "en"),
    ] {
        let page = futures::executor::block_on(spiegel_render::render_report(
            &store,
            file["path"].as_str().unwrap(),
            &notes,
            &spiegel_render::AggregateConfig::default(),
            language,
        ))
        .unwrap();
        assert_eq!(page, rendered.page(file, lang), "{}", file["path"]);
    }
    // Region and national pages too, with the lists of their parts.
    for file in [rendered.files("region")[0], rendered.files("national")[0]] {
        let page = futures::executor::block_on(spiegel_render::render_report(
            &store,
            file["path"].as_str().unwrap(),
            &notes,
            &spiegel_render::AggregateConfig::default(),
            spiegel_render::Language::Nl,
        ))
        .unwrap();
        assert_eq!(page, rendered.page(file, "nl"), "{}", file["path"]);
    }
    let refused = futures::executor::block_on(spiegel_render::render_report(
        &store,
        "region/period=2026-H1/region=nowhere/none.parquet",
        &notes,
        &spiegel_render::AggregateConfig::default(),
        spiegel_render::Language::Nl,
    ));
    assert!(matches!(
        refused,
        Err(spiegel_render::RenderError::NotFound(_))
    ));
}

#[test]
fn the_demo_index_loads_in_headless_chromium_without_errors() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-index");
    spiegel(&["demo", "--dir", p(&root), "--records", "1000"]);
    let index = root.join("index.html");
    let mut browser = cdp::Browser::launch(&chromium());
    let tab = browser.tab();
    browser.emulate(&tab, 1100, "screen");
    browser.navigate(&tab, &format!("file://{}", p(&index)));
    assert_eq!(browser.errors(&tab), Vec::<String>::new(), "index.html");
    assert_eq!(
        browser.evaluate(&tab, "document.scripts.length"),
        json!(0),
        "plain links, no script"
    );
    // Every link the browser sees leads to a file the demo wrote.
    let targets: Vec<String> = serde_json::from_value(browser.evaluate(
        &tab,
        "[...document.links].filter(a => !a.getAttribute('href').startsWith('#')).map(a => \
         decodeURIComponent(new URL(a.href).pathname))",
    ))
    .unwrap();
    assert!(targets.len() > 100, "{} links", targets.len());
    for target in &targets {
        assert!(Path::new(target).is_file(), "{target}");
    }
    // A municipality page reached from the index loads as well, and so does every region,
    // national and provider overview page, on screen and printed on A4 without being cut off.
    let page = targets
        .iter()
        .find(|t| t.contains("/municipality/") && t.ends_with(".en.html"))
        .unwrap();
    browser.navigate(&tab, &format!("file://{page}"));
    assert_eq!(browser.errors(&tab), Vec::<String>::new(), "{page}");
    let overview = |t: &str| {
        t.contains("/mirror/provider=")
            && Path::new(t)
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("provider=")
    };
    let mut loaded = BTreeMap::new();
    for target in targets
        .iter()
        .filter(|t| t.contains("/region/") || t.contains("/national/") || overview(t))
        .filter(|t| t.ends_with(".html"))
    {
        browser.navigate(&tab, &format!("file://{target}"));
        assert_eq!(browser.errors(&tab), Vec::<String>::new(), "{target}");
        let kind = if overview(target) {
            "overview"
        } else if target.contains("/region/") {
            "region"
        } else {
            "national"
        };
        *loaded.entry(kind).or_insert(0) += 1;
    }
    let manifest: Value =
        serde_json::from_slice(&fs::read(root.join("reports/manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let count = |kind: &str| files.iter().filter(|f| f["kind"] == kind).count();
    let providers: BTreeSet<(String, String)> = files
        .iter()
        .filter(|f| f["kind"] == "mirror")
        .map(|f| (f["recipient"].to_string(), f["period"].to_string()))
        .collect();
    // Every page in Dutch and English.
    assert_eq!(loaded.get("region"), Some(&(2 * count("region"))));
    assert_eq!(loaded.get("national"), Some(&(2 * count("national"))));
    assert_eq!(loaded.get("overview"), Some(&(2 * providers.len())));
    let overview_page = targets.iter().find(|t| overview(t)).unwrap();
    browser.navigate(&tab, &format!("file://{overview_page}"));
    browser.emulate(&tab, A4_PRINTABLE_WIDTH, "print");
    let overflowing = browser.evaluate(
        &tab,
        "[...document.querySelectorAll('table, p, dl')].filter(e => \
         e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 \
         || e.scrollWidth > e.clientWidth + 1).map(e => e.outerHTML.slice(0, 80))",
    );
    assert_eq!(overflowing, json!([]), "{overview_page}: cut off on A4");
    browser.emulate(&tab, 1100, "screen");
    let png = {
        browser.navigate(&tab, &format!("file://{}", p(&index)));
        browser.screenshot(&tab)
    };
    fs::write(artifacts().join("demo-index.png"), &png).unwrap();
}
