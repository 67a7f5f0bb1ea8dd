//! Rates per 1,000 inhabitants and the coverage line of a municipality page (schemas/README.md,
//! "Where the population figures come from"): computed from the published count, and the number
//! of providers said exactly only from 3 upward.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{bsn, p, rows, spiegel};
use serde_json::Value;

const HEADER: &str = "bsn,geboortedatum,geslacht,gemeentecode,postcode,verwijzer,hulpvorm,gestart_met_crisis,datum_aanvang,datum_einde,reden_beeindiging";

/// Inhabitants in schemas/reference/bevolking-2026.csv.
const VLIELAND: (&str, f64) = ("GM0096", 1_223.0);
const SCHIERMONNIKOOG: &str = "GM0088";

/// One provider's submission for 2026-H1: `children` youths of `gemeente`, numbered from `first`.
fn submission(dir: &Path, agb: &str, gemeente: &str, first: u32, children: u32) {
    let mut text = format!("{HEADER}\n");
    for n in first..first + children {
        text.push_str(&format!(
            "{},20120315,V,{gemeente},,02,02,02,20260110,20260520,01\n",
            bsn(n)
        ));
    }
    fs::write(dir.join(format!("{agb}_2026-H1.csv")), text).unwrap();
}

fn municipality_page(root: &Path, manifest: &Value, gemeente: &str) -> (String, Value) {
    let file = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "municipality" && f["recipient"] == gemeente)
        .unwrap()
        .clone();
    let release = manifest["release"].as_str().unwrap();
    let page = root
        .join("pages")
        .join(format!("release={release}"))
        .join("municipality")
        .join(gemeente)
        .join("2026-H1.html");
    (fs::read_to_string(page).unwrap(), file)
}

/// The text of the coverage line of a page.
fn coverage(page: &str) -> &str {
    let start = page.find("<p class=\"coverage\">").unwrap();
    let line = &page[start..];
    let strong = line.find("<strong>").unwrap() + "<strong>".len();
    let end = line.find("</strong>").unwrap();
    &line[strong..end]
}

#[test]
fn a_page_shows_the_published_count_per_thousand_and_coverage_below_three_as_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    fs::create_dir_all(&input).unwrap();
    // Schiermonnikoog: two providers. Vlieland: five, each with the same number of youths.
    submission(&input, "75000001", SCHIERMONNIKOOG, 1, 15);
    submission(&input, "75000002", SCHIERMONNIKOOG, 100, 15);
    for i in 0..5 {
        submission(
            &input,
            &format!("7500001{i}"),
            VLIELAND.0,
            1_000 + i * 100,
            14,
        );
    }
    let (reports, data) = (dir.path().join("reports"), dir.path().join("data"));
    // Both of Schiermonnikoog's providers share with it (NB-4), so contributor protection
    // suppresses nothing and no complement is needed elsewhere: the coverage line alone must
    // keep "two" from the page.
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("sharing.json"),
        r#"{"shares": [
            {"provider": "75000001", "period": "2026-H1", "municipality": "GM0088"},
            {"provider": "75000002", "period": "2026-H1", "municipality": "GM0088"}
        ]}"#,
    )
    .unwrap();
    spiegel(&[
        "run",
        "--input",
        p(&input),
        "--out",
        p(&reports),
        "--data-dir",
        p(&data),
    ]);
    spiegel(&[
        "render",
        "--reports",
        p(&reports),
        "--out",
        p(&dir.path().join("pages")),
        "--data-dir",
        p(&data),
    ]);
    let manifest: Value =
        serde_json::from_slice(&fs::read(reports.join("manifest.json")).unwrap()).unwrap();

    let (page, file) = municipality_page(dir.path(), &manifest, VLIELAND.0);
    assert_eq!(
        coverage(&page),
        "5",
        "five providers delivered for Vlieland"
    );
    let published = rows(&fs::read(reports.join(file["path"].as_str().unwrap())).unwrap())
        .into_iter()
        .find(|r| r.indicator == "youths_in_care" && r.dimension == "total")
        .and_then(|r| r.value)
        .expect("Vlieland's youths in care are published");
    let rate = (published * 1_000.0 / VLIELAND.1 * 10.0).round() / 10.0;
    let shown = format!("{rate:.1}").replace('.', ",");
    let row = format!("<dt>Vlieland</dt><dd class=\"rate\">{shown}</dd>");
    assert!(page.contains(&row), "no {row} on Vlieland's page");
    assert!(page.contains("per 1.000 inwoners"));

    let (page, _) = municipality_page(dir.path(), &manifest, SCHIERMONNIKOOG);
    assert_eq!(coverage(&page), "minder dan 3");
    assert!(!page.contains("<strong>2</strong>"));
}
