//! `spiegel annotate`: the provider's explanation of a mirror report attached without the
//! API, shown on the rendered page; and the empty place for it on a page without one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

mod common;
use common::{bsn, p, released, spiegel, tree};

// Screenshots and PDFs are the render test's; this one only loads and measures.
#[allow(dead_code)]
#[path = "browser/cdp.rs"]
mod cdp;

/// One release, made once per test process; each test works on a copy of its data directory.
struct Release {
    root: PathBuf,
    reports: PathBuf,
    manifest: Value,
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("annotate");
        if root.exists() {
            fs::remove_dir_all(&root).unwrap();
        }
        fs::create_dir_all(&root).unwrap();
        let (reports, _, manifest) = released(&root, 3000, 4, 5);
        Release {
            root,
            reports,
            manifest,
        }
    })
}

impl Release {
    fn mirrors(&self) -> Vec<&Value> {
        self.manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "mirror")
            .collect()
    }

    /// A copy of the release's data directory for one test.
    fn data_dir(&self, name: &str) -> PathBuf {
        let copy = self.root.join(name);
        if copy.exists() {
            fs::remove_dir_all(&copy).unwrap();
        }
        let copied = Command::new("cp")
            .args(["-a", p(&self.root.join("data")), p(&copy)])
            .status()
            .unwrap();
        assert!(copied.success());
        copy
    }

    /// `spiegel render` of the release with the explanations in `data`; the pages' root.
    fn render(&self, data: &Path, name: &str) -> PathBuf {
        let pages = self.root.join(name);
        spiegel(&[
            "render",
            "--reports",
            p(&self.reports),
            "--out",
            p(&pages),
            "--data-dir",
            p(data),
            "--lang",
            "both",
        ]);
        pages
    }

    /// The page of the mirror report `file` in `pages`, Dutch or English.
    fn page(&self, pages: &Path, file: &Value, lang: &str) -> String {
        fs::read_to_string(self.page_path(pages, file, lang)).unwrap()
    }

    fn page_path(&self, pages: &Path, file: &Value, lang: &str) -> PathBuf {
        let period = file["period"].as_str().unwrap();
        let name = if lang == "nl" {
            format!("{period}.html")
        } else {
            format!("{period}.en.html")
        };
        pages
            .join(format!(
                "release={}",
                self.manifest["release"].as_str().unwrap()
            ))
            .join("mirror")
            .join(format!("provider={}", file["recipient"].as_str().unwrap()))
            .join(format!(
                "municipality={}",
                file["municipality"].as_str().unwrap()
            ))
            .join(name)
    }
}

/// `spiegel annotate` for the mirror report `file`, with `more` arguments (a `--period` or
/// `--gemeente` among them replaces the report's); exit code and everything it said.
fn annotate(reports: &Path, data: &Path, file: &Value, more: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "annotate",
        "--reports",
        p(reports),
        "--data-dir",
        p(data),
        "--by",
        "beheerder",
        "--provider",
        file["recipient"].as_str().unwrap(),
    ];
    for flag in ["--period", "--gemeente"] {
        if !more.contains(&flag) {
            let key = if flag == "--period" {
                "period"
            } else {
                "municipality"
            };
            args.extend([flag, file[key].as_str().unwrap()]);
        }
    }
    args.extend(more);
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(&args)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), said)
}

/// The explanation shown on a page, as the characters it holds in the HTML.
fn story(html: &str) -> Option<&str> {
    let start = html.find("<div class=\"verhaal\">")? + "<div class=\"verhaal\">".len();
    let story = &html[start..];
    Some(&story[..story.find("</div>")?])
}

const STORY: &str = "Wachtlijst door personeelstekort in het eerste kwartaal.\n\
     Sinds april werken we met een tweede team; de doorlooptijd daalt.";

#[test]
fn an_explanation_attached_with_annotate_appears_on_its_mirror_page_and_is_audited() {
    let release = release();
    let data = release.data_dir("data-annotated");
    let mirrors = release.mirrors();
    let (annotated, other) = (mirrors[0], mirrors[1]);
    let text = release.root.join("toelichting.md");
    fs::write(&text, STORY).unwrap();
    let (code, said) = annotate(&release.reports, &data, annotated, &["--file", p(&text)]);
    assert_eq!(code, Some(0), "{said}");

    let pages = release.render(&data, "pages-annotated");
    for lang in ["nl", "en"] {
        let html = release.page(&pages, annotated, lang);
        assert_eq!(story(&html), Some(STORY), "{lang}");
        assert!(!html.contains("class=\"verhaal-leeg\""), "{lang}");
    }
    assert_eq!(story(&release.page(&pages, other, "nl")), None);

    // The audit record the API writes, with the operator acting for the provider.
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    let object = format!(
        "mirror.{}.{}",
        annotated["period"].as_str().unwrap(),
        annotated["municipality"].as_str().unwrap()
    );
    assert_eq!(last["actor"], "operator:beheerder");
    assert_eq!(
        last["on_behalf_of"],
        format!("provider:{}", annotated["recipient"].as_str().unwrap())
    );
    assert_eq!(last["action"], "annotation");
    assert_eq!(last["object"], object.as_str());
    assert_eq!(last["outcome"], "success");

    // Removed again: the page shows the empty place once more.
    let (code, said) = annotate(&release.reports, &data, annotated, &["--remove"]);
    assert_eq!(code, Some(0), "{said}");
    let pages = release.render(&data, "pages-removed");
    assert_eq!(story(&release.page(&pages, annotated, "nl")), None);
    assert!(
        release
            .page(&pages, annotated, "nl")
            .contains("class=\"verhaal-leeg\"")
    );
}

#[test]
fn a_mirror_page_without_an_explanation_shows_the_empty_place_and_how_to_fill_it() {
    let release = release();
    let data = release.data_dir("data-empty");
    let pages = release.render(&data, "pages-empty");
    for file in release.mirrors() {
        let (provider, gemeente) = (
            file["recipient"].as_str().unwrap(),
            file["municipality"].as_str().unwrap(),
        );
        for (lang, heading, placeholder) in [
            ("nl", "Het verhaal achter de cijfers", "PERIODE"),
            ("en", "The story behind the figures", "PERIOD"),
        ] {
            let html = release.page(&pages, file, lang);
            let start = html
                .find("<section id=\"verhaal\" class=\"verhaal-leeg\">")
                .unwrap_or_else(|| panic!("no empty place on the {lang} page of {file}"));
            let slot = &html[start..];
            let slot = &slot[..slot.find("</section>").unwrap()];
            assert!(slot.contains(heading), "{slot}");
            assert!(
                slot.contains(&format!(
                    "POST /v1/mirror/{placeholder}/{gemeente}/annotation"
                )),
                "{slot}"
            );
            assert!(
                slot.contains(&format!(
                    "spiegel annotate --provider {provider} --period {placeholder} \
                     --gemeente {gemeente}"
                )),
                "{slot}"
            );
        }
    }
    // In a browser: no console error, and printed on A4 the instructions wrap, not overflow.
    let chromium = std::env::var("SPIEGEL_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let mut browser = cdp::Browser::launch(&chromium);
    let tab = browser.tab();
    for lang in ["nl", "en"] {
        let path = release.page_path(&pages, release.mirrors()[0], lang);
        // A4 minus the print stylesheet's margins (210 mm - 2 x 12 mm) in CSS pixels.
        browser.emulate(&tab, 703, "print");
        browser.navigate(&tab, &format!("file://{}", p(&path)));
        assert_eq!(browser.errors(&tab), Vec::<String>::new(), "{lang}");
        let overflowing = browser.evaluate(
            &tab,
            "[...document.querySelectorAll('#verhaal, #verhaal p, #verhaal code')].filter(e => \
             e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 \
             || e.scrollWidth > e.clientWidth + 1).map(e => e.outerHTML.slice(0, 80))",
        );
        assert_eq!(overflowing, serde_json::json!([]), "{lang}: cut off on A4");
    }

    // No empty place on a municipality page: it has no provider to explain it.
    let municipality = release.manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "municipality")
        .unwrap();
    let page = pages
        .join(format!(
            "release={}",
            release.manifest["release"].as_str().unwrap()
        ))
        .join("municipality")
        .join(municipality["recipient"].as_str().unwrap())
        .join(format!("{}.html", municipality["period"].as_str().unwrap()));
    assert!(!fs::read_to_string(page).unwrap().contains("id=\"verhaal\""));
}

#[test]
fn a_bad_annotation_fails_with_what_to_fix_before_anything_is_written() {
    let release = release();
    let data = release.data_dir("data-refused");
    let file = release.mirrors()[0];
    let dir = release.root.join("refused");
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        p(&path).to_owned()
    };
    let good = write("good.md", STORY);
    let long = write("long.md", &"x".repeat(4001));
    let with_bsn = write("bsn.md", &format!("Zie dossier {}.", bsn(4242)));
    let control = write("control.md", "rood\u{1b}[31m");
    fs::write(dir.join("latin1.md"), b"caf\xe9").unwrap();
    let latin1 = p(&dir.join("latin1.md")).to_owned();
    let missing = p(&dir.join("missing.md")).to_owned();
    // A municipality the provider did not deliver for in this period.
    let served: Vec<&str> = release
        .mirrors()
        .iter()
        .filter(|f| f["recipient"] == file["recipient"])
        .map(|f| f["municipality"].as_str().unwrap())
        .collect();
    let unserved = release.manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "municipality")
        .map(|f| f["recipient"].as_str().unwrap())
        .find(|g| !served.contains(g));

    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--gemeente", "GM9999", "--file", &good], "GM9999"),
        (vec!["--period", "2026-H9", "--file", &good], "2026-H9"),
        (vec!["--file", &missing], "missing.md"),
        (vec!["--file", &long], "4001"),
        (vec!["--file", &with_bsn], "BSN"),
        (vec!["--file", &control], "U+001B"),
        (vec!["--file", &latin1], "UTF-8"),
        (vec!["--period", "2025-H1", "--file", &good], "2025-H1"),
        (vec!["--remove"], "no explanation"),
    ];
    if let Some(unserved) = unserved {
        cases.push((vec!["--gemeente", unserved, "--file", &good], unserved));
    }
    let before = tree(&data);
    for (more, named) in cases {
        let (code, said) = annotate(&release.reports, &data, file, &more);
        assert!(code.is_some_and(|c| c != 0), "{more:?} succeeded: {said}");
        assert!(
            said.contains(named),
            "{more:?} does not name {named}: {said}"
        );
        assert!(!said.contains(&bsn(4242)), "{more:?} repeats the number");
        assert_eq!(tree(&data), before, "{more:?} changed the data directory");
    }
    // A data directory that does not exist is not made.
    let absent = release.root.join("no-data");
    let (code, said) = annotate(&release.reports, &absent, file, &["--file", &good]);
    assert!(
        code.is_some_and(|c| c != 0) && said.contains("no-data"),
        "{said}"
    );
    assert!(!absent.exists());
}
