#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden test of every indicator: hand-computed cells (tests/golden/indicators.expected) for
//! small hand-written submissions, run through the real ingest and pseudonymise stages.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use spiegel_aggregate::indicators::INDICATORS;
use spiegel_aggregate::table::column;
use spiegel_aggregate::{AggregateConfig, PseudonymLabel, master_table};
use spiegel_pseudonymise::TtpKey;
use spiegel_transport::{Transport, topic};

mod common;
use common::{World, ttp};

/// Ingests and pseudonymises every submission in `dir` through the real stages.
fn pseudonymised(dir: &Path) -> (Vec<RecordBatch>, PseudonymLabel) {
    let world = World::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        world.submit(&file);
    }
    world.pseudonymise(TtpKey::from_bytes(1, ttp(), [2; 32]));
    let messages = world
        .transport
        .consumer(topic::PSEUDONYMISED, "test")
        .unwrap()
        .poll(100)
        .unwrap();
    let batches = messages
        .iter()
        .map(|m| spiegel_core::ipc::from_ipc(&m.payload).unwrap())
        .collect();
    (
        batches,
        PseudonymLabel {
            ttp: ttp(),
            version: 1,
        },
    )
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let dictionary = batch
        .column_by_name(name)
        .unwrap()
        .as_dictionary::<Int32Type>();
    let values = dictionary.values().as_string::<i32>();
    dictionary.key(row).map(|k| values.value(k).to_owned())
}

/// Every cell as `key -> [numerator, denominator, value, flag, contributors]`.
fn render(parts: &[RecordBatch]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for batch in parts {
        let number = |name: &str, row: usize| {
            let a = batch
                .column_by_name(name)
                .unwrap()
                .as_primitive::<UInt32Type>();
            if a.is_valid(row) {
                a.value(row).to_string()
            } else {
                "NULL".into()
            }
        };
        let value = batch
            .column_by_name(column::VALUE)
            .unwrap()
            .as_primitive::<Float64Type>();
        let provisional = batch
            .column_by_name(column::PROVISIONAL)
            .unwrap()
            .as_boolean();
        let contributors = batch
            .column_by_name(column::CONTRIBUTORS)
            .unwrap()
            .as_list::<i32>();
        let units = batch
            .column_by_name(column::CONTRIBUTOR_UNITS)
            .unwrap()
            .as_list::<i32>();
        for row in 0..batch.num_rows() {
            let kind = text(batch, column::REPORT_KIND, row).unwrap();
            let scope = match kind.as_str() {
                "national" => "NL".to_owned(),
                "region" => text(batch, column::REGION, row).unwrap(),
                "municipality" => text(batch, column::MUNICIPALITY_CODE, row).unwrap(),
                _ => format!(
                    "{}/{}",
                    text(batch, column::PROVIDER_ID, row).unwrap(),
                    text(batch, column::MUNICIPALITY_CODE, row).unwrap()
                ),
            };
            let key = [
                kind,
                text(batch, column::PERIOD, row).unwrap(),
                scope,
                text(batch, column::INDICATOR, row).unwrap(),
                text(batch, column::DIMENSION, row).unwrap(),
                text(batch, column::CATEGORY, row).unwrap(),
            ]
            .join(" ");
            let mut who = Vec::new();
            if contributors.is_valid(row) {
                let names = contributors.value(row);
                let names = names.as_dictionary::<Int32Type>();
                let name_values = names.values().as_string::<i32>();
                let counts = units.value(row);
                for i in 0..names.len() {
                    who.push(format!(
                        "{}={}",
                        name_values.value(names.keys().value(i) as usize),
                        counts.as_primitive::<UInt32Type>().value(i)
                    ));
                }
            }
            let fields = vec![
                number(column::NUMERATOR, row),
                number(column::DENOMINATOR, row),
                if value.is_valid(row) {
                    format!("{:.2}", value.value(row))
                } else {
                    "NULL".into()
                },
                if provisional.value(row) {
                    "provisional".into()
                } else {
                    "final".into()
                },
                who.join(" "),
            ];
            assert!(
                out.insert(key.clone(), fields).is_none(),
                "cell {key} twice"
            );
        }
    }
    out
}

fn parts(label: &PseudonymLabel, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    parts_with(&AggregateConfig::default(), label, batches)
}

fn parts_with(
    config: &AggregateConfig,
    label: &PseudonymLabel,
    batches: &[RecordBatch],
) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    master_table(
        config,
        label,
        batches.iter().cloned().map(Ok),
        |_, _, part| {
            out.push(part);
            Ok(())
        },
    )
    .unwrap();
    out
}

/// Checks the cells of the submissions in `submissions` against the hand-computed `expected`
/// file; returns the codes of the indicators it covers, and the computed cells.
fn check_golden(
    submissions: &Path,
    expected: &Path,
) -> (
    std::collections::BTreeSet<String>,
    BTreeMap<String, Vec<String>>,
) {
    let (batches, label) = pseudonymised(submissions);
    let cells = render(&parts(&label, &batches));
    let expected = std::fs::read_to_string(expected).unwrap();
    let mut failures = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    for line in expected
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut fields = line.split('|').map(str::trim);
        let key = fields.next().unwrap();
        covered.insert(key.split(' ').nth(3).unwrap().to_owned());
        let Some(actual) = cells.get(key) else {
            failures.push(format!("missing: {key}"));
            continue;
        };
        for (i, want) in fields.enumerate() {
            if actual[i] != want {
                failures.push(format!(
                    "{key}: field {i} is {:?}, expected {want:?}",
                    actual[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (covered, cells)
}

#[test]
fn every_indicator_matches_its_hand_computed_value() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let (covered, _) = check_golden(&root.join("submissions"), &root.join("indicators.expected"));
    for indicator in INDICATORS {
        assert!(
            covered.contains(indicator.code),
            "no golden value for {}",
            indicator.code
        );
    }
}

#[test]
fn linked_indicators_are_final_only_where_the_data_cover_their_window() {
    // The golden data run from 2025-01-01 to 2025-12-31. The earliest new start of 2025-H1
    // is on 2025-01-05, the only one of 2025-H2 on 2025-12-01; the only end with reason
    // 01..04 in 2025-H2 is on 2025-10-15.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/submissions");
    let (batches, label) = pseudonymised(&root);
    let status = |config: AggregateConfig, indicator: &str, period: &str| -> String {
        let cells = render(&parts_with(&config, &label, &batches));
        let key = format!("municipality {period} GM0363 {indicator} total total");
        cells[&key][3].clone()
    };
    let lookback = |days| AggregateConfig {
        repeat_lookback_days: days,
        ..AggregateConfig::default()
    };
    let window = |days| AggregateConfig {
        no_new_start_days: days,
        ..AggregateConfig::default()
    };
    let repeat = "repeat_request_share";
    let nns = "no_new_start_share";
    // Herhaald beroep needs the lookback before every new start delivered.
    assert_eq!(status(lookback(4), repeat, "2025-H1"), "final");
    assert_eq!(status(lookback(5), repeat, "2025-H1"), "provisional");
    assert_eq!(status(lookback(334), repeat, "2025-H2"), "final");
    assert_eq!(status(lookback(335), repeat, "2025-H2"), "provisional");
    assert_eq!(
        status(AggregateConfig::default(), repeat, "2025-H2"),
        "provisional",
        "five years of lookback on one year of data"
    );
    // Geen nieuwe start needs the W days after every end delivered.
    assert_eq!(status(window(77), nns, "2025-H2"), "final");
    assert_eq!(status(window(78), nns, "2025-H2"), "provisional");
    assert_eq!(status(window(182), nns, "2025-H1"), "final");
}

#[test]
fn a_provider_delivering_only_later_periods_leaves_earlier_windows_final() {
    // A provider whose first delivery is 2026-H1 cannot be waited for in 2025: before it
    // delivered, Spiegel counts it as having had no clients, as for the history start.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/submissions");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("33333333_2026-H1.csv"),
        "bsn,geboortedatum,geslacht,gemeentecode,verwijzer,hulpvorm,gestart_met_crisis,\
         datum_aanvang,datum_einde,reden_beeindiging,tevredenheid_jeugdige,tevredenheid_ouder,\
         zonder_hulp_verder_jeugdige,zonder_hulp_verder_ouder,datum_aanmelding,\
         gedeclareerd_bedrag\n111222394,20120101,V,GM0363,01,02,02,20260201,,,,,,,,\n",
    )
    .unwrap();
    let (batches, label) = pseudonymised(dir.path());
    let cells = render(&parts(&label, &batches));
    let key = "municipality 2025-H1 GM0363 no_new_start_share total total";
    assert_eq!(cells[key][3], "final");
}

#[test]
fn goal_attainment_matches_its_hand_computed_cells() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/doelrealisatie");
    let (covered, cells) = check_golden(&root.join("submissions"), &root.join("goals.expected"));
    for code in [
        "goals_response_share",
        "goals_achieved_01",
        "goals_achieved_02",
        "goals_achieved_03",
        "problems_response_share",
        "problems_reduced_01",
        "problems_reduced_02",
    ] {
        assert!(covered.contains(code), "no golden value for {code}");
    }
    // Published for the care breakdowns only: finer cells would mostly be too small.
    let finer: Vec<&String> = cells
        .keys()
        .filter(|k| {
            let mut parts = k.split(' ').skip(3);
            let (indicator, dimension) = (parts.next().unwrap(), parts.next().unwrap());
            (indicator.starts_with("goals_") || indicator.starts_with("problems_"))
                && !["total", "hulpvorm", "verblijf"].contains(&dimension)
        })
        .collect();
    assert!(
        finer.is_empty(),
        "{} cells beyond the care breakdowns",
        finer.len()
    );
}

#[test]
fn the_master_table_is_the_same_whatever_order_submissions_arrive_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/submissions");
    let (mut batches, label) = pseudonymised(&root);
    let forward = parts(&label, &batches);
    batches.reverse();
    let backward = parts(&label, &batches);
    assert_eq!(render(&forward), render(&backward));
}

/// The cell keys (SDC-4) of `provider`'s mirror cells, by cell.
fn mirror_cell_keys(parts: &[RecordBatch], provider: &str) -> BTreeMap<String, [Option<u64>; 2]> {
    use arrow_array::types::UInt64Type;
    let mut out = BTreeMap::new();
    for batch in parts {
        let key = |name: &str, row: usize| {
            let a = batch
                .column_by_name(name)
                .unwrap()
                .as_primitive::<UInt64Type>();
            a.is_valid(row).then(|| a.value(row))
        };
        for row in 0..batch.num_rows() {
            if text(batch, column::PROVIDER_ID, row).as_deref() != Some(provider) {
                continue;
            }
            let cell = [
                column::PERIOD,
                column::MUNICIPALITY_CODE,
                column::INDICATOR,
                column::DIMENSION,
                column::CATEGORY,
            ]
            .map(|c| text(batch, c, row).unwrap_or_default())
            .join(" ");
            let keys = [
                key(column::NUMERATOR_KEY, row),
                key(column::DENOMINATOR_KEY, row),
            ];
            out.insert(cell, keys);
        }
    }
    out
}

#[test]
fn a_provider_joining_leaves_the_cell_keys_of_the_others_alone() {
    // Providers are numbered in AGB order inside a data set; a provider with a lower AGB
    // code than everyone shifts every other provider's number. The perturbation of a count
    // must not follow that number: the same trajectories key the same cells, or a newcomer
    // would revise every other provider's published figures.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/submissions");
    let (before, label) = pseudonymised(&root);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let header = std::fs::read_to_string(root.join("22222222_2025-H2.csv")).unwrap();
    let header = header.lines().next().unwrap();
    // Children of unknown BSN: the newcomer links to nobody, so the others' figures stay.
    std::fs::write(
        dir.path().join("10000000_2025-H2.csv"),
        format!(
            "{header}\n999999999,20150601,M,GM0363,01,02,02,20250801,,,,,,,,\n\
             999999999,20100101,V,GM0363,02,01,02,20250901,20251101,01,,,,,,\n"
        ),
    )
    .unwrap();
    let (after, _) = pseudonymised(dir.path());
    let (before, after) = (parts(&label, &before), parts(&label, &after));
    for provider in ["11111111", "22222222"] {
        let keys = mirror_cell_keys(&before, provider);
        assert!(keys.values().any(|k| k[0].is_some()), "no keyed cells");
        assert_eq!(keys, mirror_cell_keys(&after, provider), "{provider}");
    }
    assert!(!mirror_cell_keys(&after, "10000000").is_empty());
}
