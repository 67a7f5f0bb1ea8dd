//! The files in `schemas/` are renderings of the code; this test keeps them in step.
//! Run with `SPIEGEL_BLESS=1` to rewrite them after an intended change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write;
use std::path::PathBuf;

use arrow_schema::Schema;
use spiegel_core::{
    CodeList, DoelenBehaald, DoelrealisatieInformant, Geslacht, GestartMetCrisis, Hulpvorm,
    ProblematiekAfgenomen, RedenBeeindiging, RedenCodelijst, Verwijzer, ZonderHulpVerder,
};
use spiegel_ingest::{Column, normalised_schema, submission_schema};

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn check(relative: &str, expected: &str) {
    let path = schemas_dir().join(relative);
    if std::env::var_os("SPIEGEL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "schemas/{relative} is out of date with the code; rerun with SPIEGEL_BLESS=1 and review the diff"
    );
}

fn code_csv<T: CodeList>() -> String {
    let mut out = String::from("code,label_nl,label_en\n");
    for value in T::ALL {
        let _ = writeln!(
            out,
            "{},\"{}\",\"{}\"",
            value.code(),
            value.label_nl(),
            value.label_en()
        );
    }
    out
}

fn arrow_json(schema: &Schema) -> String {
    let fields: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
                "description": f.metadata().get("description"),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "fields": fields })).unwrap() + "\n"
}

#[test]
fn code_lists_match_the_enums() {
    check("codes/geslacht.csv", &code_csv::<Geslacht>());
    check("codes/verwijzer.csv", &code_csv::<Verwijzer>());
    check("codes/hulpvorm.csv", &code_csv::<Hulpvorm>());
    check(
        "codes/gestart_met_crisis.csv",
        &code_csv::<GestartMetCrisis>(),
    );
    check(
        "codes/reden_beeindiging.csv",
        &code_csv::<RedenBeeindiging>(),
    );
    check(
        "codes/zonder_hulp_verder.csv",
        &code_csv::<ZonderHulpVerder>(),
    );
    check("codes/doelen_behaald.csv", &code_csv::<DoelenBehaald>());
    check(
        "codes/problematiek_afgenomen.csv",
        &code_csv::<ProblematiekAfgenomen>(),
    );
    check(
        "codes/doelrealisatie_informant.csv",
        &code_csv::<DoelrealisatieInformant>(),
    );
    let mut jz588 = String::from("jz588_code,bij_code,only_with_codelijst_jz588\n");
    for code in ["02", "31", "32", "33", "34", "35", "39"] {
        let (bij, _) = RedenCodelijst::Jz588.resolve(code).unwrap();
        let explicit = RedenCodelijst::Bij.resolve(code) != Some((bij, true));
        let _ = writeln!(jz588, "{code},{},{explicit}", bij.code());
    }
    check("codes/reden_beeindiging_jz588.csv", &jz588);
}

#[test]
fn arrow_schemas_match_the_code() {
    check(
        "submission-v1.arrow.json",
        &arrow_json(&submission_schema()),
    );
    check(
        "normalised-record.arrow.json",
        &arrow_json(&normalised_schema()),
    );
}

#[test]
fn json_schema_names_exactly_the_columns_of_format_v1() {
    let text = std::fs::read_to_string(schemas_dir().join("submission-v1.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let mut expected: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    let mut got: Vec<&str> = properties.iter().map(|s| s.as_str()).collect();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected_required: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| c.required())
        .map(|c| c.name())
        .collect();
    assert_eq!(required, expected_required);
    // Every code list in the schema equals the enum.
    let enum_of = |name: &str| -> Vec<String> {
        schema["properties"][name]["enum"]
            .as_array()
            .unwrap()
            .iter()
            // `null` marks an optional column.
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let codes = |all: Vec<&str>| all.into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        enum_of("hulpvorm"),
        codes(Hulpvorm::ALL.iter().map(|c| c.code()).collect())
    );
    assert_eq!(
        enum_of("verwijzer"),
        codes(Verwijzer::ALL.iter().map(|c| c.code()).collect())
    );
    assert_eq!(
        enum_of("geslacht"),
        codes(Geslacht::ALL.iter().map(|c| c.code()).collect())
    );
    assert_eq!(
        enum_of("doelen_behaald"),
        codes(DoelenBehaald::ALL.iter().map(|c| c.code()).collect())
    );
    assert_eq!(
        enum_of("problematiek_afgenomen"),
        codes(
            ProblematiekAfgenomen::ALL
                .iter()
                .map(|c| c.code())
                .collect()
        )
    );
    assert_eq!(
        enum_of("doelrealisatie_informant"),
        codes(
            DoelrealisatieInformant::ALL
                .iter()
                .map(|c| c.code())
                .collect()
        )
    );
}
