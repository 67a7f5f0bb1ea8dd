#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The recipient who keeps everything (docs/release-rules.md): a municipality that stores every
//! release of a period and every mirror report ever shared with it, and subtracts. These tests play
//! that attacker from the outside — submission files in, `spiegel run` as the operator runs it,
//! report files out — and know nothing of how the publish stage decides.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

mod common;
use common::{Row, bsn, p, rows, spiegel};

const GEMEENTE: &str = "GM0363";
const PERIOD: &str = "2026-H1";

fn total<'a>(rows: &'a [Row], indicator: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.indicator == indicator && r.dimension == "total")
        .unwrap_or_else(|| panic!("no total of {indicator}"))
}

/// A provider's delivery: `children` children in the municipality, each with one trajectory
/// that ended in the period, with end reasons cycling through `reasons`.
fn delivery(first_child: u32, children: u32, reasons: &[&str]) -> String {
    let mut csv = String::from(
        "bsn,geboortedatum,geslacht,gemeentecode,verwijzer,hulpvorm,gestart_met_crisis,\
         datum_aanvang,datum_einde,reden_beeindiging\n",
    );
    for i in 0..children {
        let child = first_child + i;
        writeln!(
            csv,
            "{},2012{:02}15,{},{GEMEENTE},01,02,02,202601{:02},202605{:02},{}",
            bsn(child),
            1 + child % 12,
            if child.is_multiple_of(2) { "M" } else { "V" },
            1 + i % 28,
            1 + i % 28,
            reasons[i as usize % reasons.len()],
        )
        .unwrap();
    }
    csv
}

/// The municipality's world: providers' deliveries, a data directory, and everything the
/// municipality was ever able to read.
struct World {
    dir: tempfile::TempDir,
    providers: Vec<String>,
    /// Every municipality report of the period the municipality read, one per release.
    held_reports: Vec<Vec<Row>>,
    /// Every mirror report ever readable by the municipality, by provider.
    held_mirrors: BTreeMap<String, Vec<Vec<Row>>>,
    /// Per run: which providers' mirror reports the municipality could read.
    readable_per_run: Vec<BTreeSet<String>>,
}

impl World {
    fn new(deliveries: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        fs::create_dir_all(&input).unwrap();
        for (agb, csv) in deliveries {
            fs::write(input.join(format!("{agb}_{PERIOD}.csv")), csv).unwrap();
        }
        spiegel(&["keys", "generate", "--out", p(&dir.path().join("keys"))]);
        Self {
            dir,
            providers: deliveries.iter().map(|(a, _)| (*a).to_owned()).collect(),
            held_reports: Vec::new(),
            held_mirrors: BTreeMap::new(),
            readable_per_run: Vec::new(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// Renders the current release in Dutch and English into `name`; the release's directory.
    fn render(&self, name: &str) -> PathBuf {
        let pages = self.dir.path().join(name);
        spiegel(&[
            "render",
            "--reports",
            p(&self.out()),
            "--out",
            p(&pages),
            "--data-dir",
            p(&self.data()),
            "--lang",
            "both",
        ]);
        let manifest: Value =
            serde_json::from_slice(&fs::read(self.out().join("manifest.json")).unwrap()).unwrap();
        pages.join(format!("release={}", manifest["release"].as_str().unwrap()))
    }

    /// Providers ask to share their mirror report with the municipality (the registry
    /// `spiegel run` reads), then the operator runs the pipeline and the municipality reads
    /// and keeps whatever it may.
    fn ask_and_run(&mut self, asking: &[&str]) -> Value {
        fs::create_dir_all(self.data()).unwrap();
        let shares: Vec<Value> = asking
            .iter()
            .map(|a| json!({"provider": a, "period": PERIOD, "municipality": GEMEENTE}))
            .collect();
        fs::write(
            self.data().join("sharing.json"),
            json!({ "shares": shares }).to_string(),
        )
        .unwrap();
        spiegel(&[
            "run",
            "--input",
            p(&self.dir.path().join("input")),
            "--out",
            p(&self.out()),
            "--data-dir",
            p(&self.data()),
            "--keys",
            p(&self.dir.path().join("keys")),
        ]);
        let manifest: Value =
            serde_json::from_slice(&fs::read(self.out().join("manifest.json")).unwrap()).unwrap();
        let mut readable = BTreeSet::new();
        let out = self.out();
        for file in manifest["files"].as_array().unwrap() {
            let read = || rows(&fs::read(out.join(file["path"].as_str().unwrap())).unwrap());
            if file["kind"] == "municipality" && file["recipient"] == GEMEENTE {
                self.held_reports.push(read());
            }
            if file["kind"] == "mirror"
                && file["municipality"] == GEMEENTE
                && file["shared"] == true
            {
                let provider = file["recipient"].as_str().unwrap().to_owned();
                readable.insert(provider.clone());
                self.held_mirrors.entry(provider).or_default().push(read());
            }
        }
        self.readable_per_run.push(readable);
        manifest
    }

    /// The attacker: for every provider whose mirror it never read, every municipality report
    /// it holds minus every combination of mirror reports it holds of the others, for a count
    /// (the trajectories ended) and the numerators of two shares (ended as planned, dropout).
    /// Returns the narrowest distance between such an estimate and the provider's true figure.
    fn closest_estimate(&self, truth: &BTreeMap<String, [i64; 3]>) -> i64 {
        let figure = |rows: &[Row], which: usize| -> Option<i64> {
            match which {
                0 => total(rows, "trajectories_ended").numerator,
                1 => total(rows, "ended_as_planned_share").numerator,
                _ => total(rows, "dropout_share").numerator,
            }
        };
        let mut closest = i64::MAX;
        for target in self
            .providers
            .iter()
            .filter(|p| !self.held_mirrors.contains_key(*p))
        {
            for (which, &true_figure) in truth[target].iter().enumerate() {
                for report in &self.held_reports {
                    let Some(whole) = figure(report, which) else {
                        continue;
                    };
                    // One held version of each other provider's mirror, summed.
                    let mut estimates = vec![whole];
                    for mirrors in self.held_mirrors.values() {
                        estimates = estimates
                            .iter()
                            .flat_map(|e| {
                                mirrors
                                    .iter()
                                    .filter_map(|m| figure(m, which))
                                    .map(move |m| e - m)
                            })
                            .collect();
                    }
                    for estimate in estimates {
                        closest = closest.min((estimate - true_figure).abs());
                    }
                }
            }
        }
        closest
    }
}

/// Ended, ended as planned (reason 01 over 01–04), dropout (03 and 04) of a delivery made by
/// [`delivery`].
fn truth_of(children: u32, reasons: &[&str]) -> [i64; 3] {
    let mut figures = [0; 3];
    for i in 0..children as usize {
        let reason = reasons[i % reasons.len()];
        figures[0] += 1;
        figures[1] += i64::from(reason == "01");
        figures[2] += i64::from(reason == "03" || reason == "04");
    }
    figures
}

#[test]
fn a_municipality_keeping_every_release_never_recovers_the_provider_that_did_not_share() {
    let reasons: [&[&str]; 3] = [
        &["01", "01", "02", "03"],
        &["01", "04", "03", "02", "05"],
        &["01", "01", "01", "03", "04", "02"],
    ];
    let agbs = ["11111111", "22222222", "33333333"];
    let sizes = [64, 52, 47];
    let deliveries: Vec<(&str, String)> = (0..3)
        .map(|i| {
            (
                agbs[i],
                delivery(1000 * (i as u32 + 1), sizes[i], reasons[i]),
            )
        })
        .collect();
    let truth: BTreeMap<String, [i64; 3]> = (0..3)
        .map(|i| (agbs[i].to_owned(), truth_of(sizes[i], reasons[i])))
        .collect();
    let mut world = World::new(&deliveries);

    // A release the municipality reads in full: all three providers together.
    world.ask_and_run(&[]);
    let first = world.held_reports[0].clone();
    assert_eq!(total(&first, "trajectories_ended").status, "ok");
    assert_eq!(total(&first, "dropout_share").status, "ok");

    // Two of the three ask to share. Subtracting their mirrors from the report it already
    // holds would give the third away: the requests wait, and the municipality's own report
    // is not blanked for them.
    world.ask_and_run(&agbs[..2]);
    assert!(
        world.readable_per_run[1].is_empty(),
        "{:?}",
        world.readable_per_run
    );
    let second = world.held_reports.last().unwrap();
    assert_eq!(total(second, "trajectories_ended").status, "ok");
    // The mirror pages say the requests wait, and why.
    let pages = world.render("pages");
    for (agb, pending) in [(agbs[0], true), (agbs[2], false)] {
        let page = fs::read_to_string(pages.join(format!(
            "mirror/provider={agb}/municipality={GEMEENTE}/{PERIOD}.html"
        )))
        .unwrap();
        assert_eq!(page.contains("Dat verzoek wacht"), pending, "{agb}");
    }
    let distance = world.closest_estimate(&truth);
    assert!(
        distance >= 10,
        "an estimate within {distance} of a non-sharing provider's figure"
    );

    // The third asks too: all three mirror reports become readable in one release.
    world.ask_and_run(&agbs);
    assert_eq!(
        world.readable_per_run[2],
        agbs.iter().map(|a| (*a).to_owned()).collect(),
    );
    // At no moment were exactly one or two of the three readable.
    for readable in &world.readable_per_run {
        assert!(readable.is_empty() || readable.len() == 3, "{readable:?}");
    }

    // Two withdraw and the third stays: the first two keep counting as sharing (the
    // municipality keeps what it read), so nothing new becomes derivable either.
    world.ask_and_run(&agbs[2..]);
    assert_eq!(
        world.readable_per_run[3],
        BTreeSet::from([agbs[2].to_owned()])
    );
}

const FOUR_PROVIDERS: [&str; 4] = ["11111111", "22222222", "33333333", "44444444"];

/// Four providers of 60 youths each in the municipality, every end reason among them.
fn four_provider_world() -> World {
    let every_reason: &[&str] = &["01", "02", "03", "04", "05"];
    let deliveries: Vec<(&str, String)> = (0..4)
        .map(|i| {
            (
                FOUR_PROVIDERS[i],
                delivery(1000 * (i as u32 + 1), 60, every_reason),
            )
        })
        .collect();
    World::new(&deliveries)
}

#[test]
fn in_a_four_provider_municipality_one_share_takes_effect_and_a_second_waits_for_the_rest() {
    let agbs = FOUR_PROVIDERS;
    let mut world = four_provider_world();
    world.ask_and_run(&[]);

    // One shares: three stay non-sharing, so it takes effect at once, and the municipality's
    // own report stays published.
    world.ask_and_run(&agbs[..1]);
    assert_eq!(
        world.readable_per_run[1],
        BTreeSet::from([agbs[0].to_owned()])
    );
    let report = world.held_reports.last().unwrap();
    for indicator in [
        "youths_in_care",
        "trajectories_started",
        "trajectories_ended",
    ] {
        assert_eq!(total(report, indicator).status, "ok", "{indicator}");
    }
    // A second would leave two: it waits, and so does a third (one left).
    world.ask_and_run(&agbs[..2]);
    assert_eq!(world.readable_per_run[2].len(), 1);
    world.ask_and_run(&agbs[..3]);
    assert_eq!(world.readable_per_run[3].len(), 1);
    // The fourth: all pending requests take effect together.
    world.ask_and_run(&agbs);
    assert_eq!(world.readable_per_run[4].len(), 4);
}

/// Every report of a generated release, mirrors included: a published share is its published
/// numerator over its published denominator (SDC-2), and no share, mean or median rests on
/// fewer than T_rate, nor a count between 1 and T − 1 beside it.
#[test]
fn every_published_share_agrees_with_its_counts_and_nothing_rests_on_fewer_than_t_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, _data, manifest) = common::released(dir.path(), 20_000, 8, 11);
    let kinds: BTreeMap<&str, &str> = [
        ("youths_in_care", "count"),
        ("trajectories_active", "count"),
        ("trajectories_started", "count"),
        ("trajectories_started_in_crisis", "count"),
        ("trajectories_ended", "count"),
    ]
    .into_iter()
    .collect();
    let statistic = |code: &str| code.contains("_mean") || code.contains("_median");
    let (mut shares, mut statistics) = (0, 0);
    for file in manifest["files"].as_array().unwrap() {
        let path = Path::new(&reports).join(file["path"].as_str().unwrap());
        for row in rows(&fs::read(&path).unwrap()) {
            if row.status == "suppressed" || kinds.contains_key(row.indicator.as_str()) {
                continue;
            }
            let Some(value) = row.value else {
                continue;
            };
            let denominator = row.denominator.unwrap();
            let at = format!(
                "{} {} {} {}",
                file["path"], row.indicator, row.dimension, row.category
            );
            assert!(denominator >= 20, "n = {denominator} at {at}");
            if statistic(&row.indicator) {
                statistics += 1;
                continue;
            }
            shares += 1;
            let numerator = row.numerator.unwrap();
            assert!(numerator == 0 || numerator >= 10, "{numerator} at {at}");
            let agrees = (numerator as f64 * 100.0 / denominator as f64).round();
            assert_eq!(value, agrees, "{numerator}/{denominator} at {at}");
        }
    }
    assert!(
        shares > 1000 && statistics > 100,
        "{shares} shares, {statistics} statistics"
    );
}

/// The municipality's page lists the mirror reports shared with it and links them, and counts
/// the requests that wait without naming who asked (NB-4). The region and national pages,
/// read by other municipalities too, show none of the municipality's figures once a share
/// took effect: NB-3 judged those figures with its shares, for it alone.
#[test]
fn a_municipality_page_lists_its_shared_mirrors_and_counts_the_pending_ones() {
    let agbs = FOUR_PROVIDERS;
    let mut world = four_provider_world();
    let pending = |page: &str| -> usize {
        let at = page.find("data-pending=\"").unwrap() + "data-pending=\"".len();
        page[at..].split('"').next().unwrap().parse().unwrap()
    };
    let region = |page: &str| -> String {
        let at = page.find("class=\"members\"").unwrap();
        let row = &page[page[at..].find(&format!("data-c=\"{GEMEENTE}\"")).unwrap() + at..];
        let end = row[1..]
            .find("<tr")
            .map(|e| e + 1)
            .into_iter()
            .chain(row.find("</tbody>"))
            .min()
            .unwrap();
        row[..end].to_owned()
    };

    // Nobody asked: nothing shared, nothing waits, and the region page shows the
    // municipality's figures as its own report publishes them.
    world.ask_and_run(&[]);
    let root = world.render("pages0");
    let municipality =
        fs::read_to_string(root.join(format!("municipality/{GEMEENTE}/{PERIOD}.html"))).unwrap();
    assert!(municipality.contains("class=\"shared none\""));
    assert_eq!(pending(&municipality), 0);
    let slug = fs::read_dir(root.join("region"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let slug = slug.to_string_lossy().into_owned();
    let region_page =
        fs::read_to_string(root.join(format!("region/{slug}/{PERIOD}.html"))).unwrap();
    let row = region(&region_page);
    assert!(!row.contains("own-only"), "{row}");
    assert!(municipality.contains(&format!("href=\"../../region/{slug}/{PERIOD}.html\"")));

    // One shares (three stay non-sharing: in effect), two more ask (one would be left: they
    // wait).
    world.ask_and_run(&agbs[..1]);
    world.ask_and_run(&agbs[..3]);
    assert_eq!(world.readable_per_run[2].len(), 1);
    let root = world.render("pages1");
    for (file, lang) in [
        (format!("{PERIOD}.html"), "nl"),
        (format!("{PERIOD}.en.html"), "en"),
    ] {
        let page =
            fs::read_to_string(root.join(format!("municipality/{GEMEENTE}/{file}"))).unwrap();
        let link = format!(
            "href=\"../../mirror/provider={}/municipality={GEMEENTE}/{file}\"",
            agbs[0]
        );
        assert!(
            page.contains(&link),
            "{lang}: no link to the shared mirror report"
        );
        assert!(
            root.join(format!(
                "mirror/provider={}/municipality={GEMEENTE}/{file}",
                agbs[0]
            ))
            .is_file()
        );
        assert_eq!(pending(&page), 2, "{lang}");
        // Who asked stays the providers' own business until the request takes effect.
        for agb in &agbs[1..] {
            assert!(!page.contains(agb), "{lang}: {agb} named");
        }
    }
    // The region and national pages: the municipality's figures only in its own report.
    let region_page =
        fs::read_to_string(root.join(format!("region/{slug}/{PERIOD}.html"))).unwrap();
    let row = region(&region_page);
    assert!(row.contains("own-only"), "{row}");
    assert!(
        !row.contains("<td>") && !row.contains("<td class=\"r\">"),
        "{row}"
    );
    let national = fs::read_to_string(root.join(format!("national/{PERIOD}.html"))).unwrap();
    assert!(national.contains("own-only"));
}
