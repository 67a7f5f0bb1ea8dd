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
        match file["municipality"].as_str() {
            Some(gemeente) => dir
                .join(format!("provider={recipient}"))
                .join(format!("municipality={gemeente}"))
                .join(name),
            None => dir.join(recipient).join(name),
        }
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
             zonder_hulp_verder_ouder,datum_aanmelding,gedeclareerd_bedrag\n"
        ));
        for i in 0..60u32 {
            let child = 900_000 + 1000 * n as u32 + i;
            csv.push_str(&format!(
                "{},,2012{:02}15,{},{GEMEENTE},,01,02,02,{start},{end},0{},{},{},0{},0{},{start},1250.00\n",
                bsn(child),
                1 + i % 12,
                if i.is_multiple_of(2) { "M" } else { "V" },
                1 + i % 5,
                4 + i % 7,
                5 + i % 6,
                1 + i % 4,
                1 + (i + 1) % 4,
            ));
        }
        fs::write(&file, csv).unwrap();
    }
    (provider.unwrap(), GEMEENTE)
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
        let indicator = attribute(table, "data-indicator").unwrap();
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
                    (number(&value.text, lang) - v).abs() < 1e-9,
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
                        (number(&shown.text, lang) - v).abs() < 1e-9,
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
    assert!(
        checked > 10_000 && suppressed > 100,
        "{checked} cells, {suppressed} suppressed"
    );
    // Region and national reports are shown inside municipality pages, not as pages of
    // their own.
    let pages = tree(&rendered.pages());
    assert_eq!(
        pages.len(),
        2 * (rendered.files("mirror").len() + rendered.files("municipality").len())
    );
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
    let pages = [
        (municipality, "nl", "municipality-nl"),
        (municipality, "en", "municipality-en"),
        (&rendered.annotated, "nl", "mirror-nl"),
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
            "[...document.querySelectorAll('h1, h2, caption')].map(h => h.textContent)",
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
            language,
        ))
        .unwrap();
        assert_eq!(page, rendered.page(file, lang), "{}", file["path"]);
    }
    let region = rendered.files("region")[0]["path"].as_str().unwrap();
    let refused = futures::executor::block_on(spiegel_render::render_report(
        &store,
        region,
        &notes,
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
    // A municipality page reached from the index loads as well.
    let page = targets
        .iter()
        .find(|t| t.contains("/municipality/") && t.ends_with(".en.html"))
        .unwrap();
    browser.navigate(&tab, &format!("file://{page}"));
    assert_eq!(browser.errors(&tab), Vec::<String>::new(), "{page}");
    let png = {
        browser.navigate(&tab, &format!("file://{}", p(&index)));
        browser.screenshot(&tab)
    };
    fs::write(artifacts().join("demo-index.png"), &png).unwrap();
}
