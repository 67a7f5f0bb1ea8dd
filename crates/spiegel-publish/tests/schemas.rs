//! `schemas/indicators.csv`, `schemas/counts.csv` and `schemas/report.arrow.json` are renderings of the code; this
//! test keeps them in step. Run with `SPIEGEL_BLESS=1` to rewrite them after an intended change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn check(relative: &str, expected: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(relative);
    if std::env::var_os("SPIEGEL_BLESS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "schemas/{relative} is out of date with the code; rerun with SPIEGEL_BLESS=1 and review the diff"
    );
}

#[test]
fn the_indicator_catalogue_is_published() {
    check(
        "indicators.csv",
        &spiegel_aggregate::indicators::indicators_csv(),
    );
}

#[test]
fn the_count_catalogue_the_attacker_audit_models_is_published() {
    check("counts.csv", &spiegel_aggregate::indicators::counts_csv());
}

#[test]
fn the_report_layout_is_published() {
    let render = |mirror: bool| {
        spiegel_publish::report_schema(mirror)
            .fields()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "type": f.data_type().to_string(),
                    "nullable": f.is_nullable(),
                })
            })
            .collect::<Vec<_>>()
    };
    let json = serde_json::json!({
        "schema_version": spiegel_publish::REPORT_SCHEMA_VERSION,
        "mirror": render(true),
        "municipality_region_national": render(false),
    });
    check(
        "report.arrow.json",
        &(serde_json::to_string_pretty(&json).unwrap() + "\n"),
    );
}
