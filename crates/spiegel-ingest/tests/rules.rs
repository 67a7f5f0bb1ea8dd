//! Every validation rule of docs/submission.md: a bad row and the code it must produce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use spiegel_core::CodeList;
use spiegel_ingest::{Column::*, Ingest, IngestConfig, Status, Subject};
use spiegel_pseudonymise::{Sentinel, SourceKey, TtpId};

/// Asserts that line 2 (the first data row) is rejected with `code` among its findings.
fn rejects(changes: &[(spiegel_ingest::Column, &str)], code: &str) {
    let outcome = validate_csv(&[with(base_row(), changes)]);
    let codes = codes_at(&outcome, 2);
    assert!(
        codes.contains(&code),
        "{changes:?}: expected {code}, got {codes:?}"
    );
    assert_eq!(outcome.receipt.counts.rejected, 1, "{changes:?}");
}

/// Asserts that line 2 is accepted with `code` as a warning or note.
fn accepts_with(changes: &[(spiegel_ingest::Column, &str)], code: &str) {
    let outcome = validate_csv(&[with(base_row(), changes)]);
    let codes = codes_at(&outcome, 2);
    assert!(
        codes.contains(&code),
        "{changes:?}: expected {code}, got {codes:?}"
    );
    assert_eq!(outcome.receipt.counts.rejected, 0, "{changes:?}: {codes:?}");
    assert_eq!(outcome.receipt.counts.accepted, 1);
}

#[test]
fn the_base_row_is_valid() {
    let outcome = validate_csv(&[base_row()]);
    assert_eq!(outcome.receipt.status, Status::Accepted);
    assert!(
        outcome.receipt.issues.is_empty(),
        "{:?}",
        outcome.receipt.issues
    );
}

#[test]
fn bsn_rules() {
    rejects(&[(Bsn, "12345678a")], "BSN_NOT_DIGITS");
    rejects(&[(Bsn, "١٢٣٤٥٦٧٨٢")], "BSN_NOT_DIGITS");
    rejects(&[(Bsn, "1234567")], "BSN_LENGTH");
    rejects(&[(Bsn, "123")], "BSN_LENGTH");
    rejects(&[(Bsn, "1234567890")], "BSN_LENGTH");
    rejects(&[(Bsn, "123456789")], "BSN_ELFPROEF");
    accepts_with(&[(Bsn, "12345672")], "BSN_LEADING_ZERO_RESTORED");
    rejects(&[(Bsn, "")], "IDENTITY_MISSING");
    rejects(&[(ClientToken, "ct.spiegel.1.x")], "IDENTITY_BOTH");
}

#[test]
fn client_token_rules() {
    let ttp = TtpId::new("spiegel").unwrap();
    let token_row = |key: &SourceKey| {
        let prepared = Ingest::new(&IngestConfig::default(), &meta("csv"))
            .tokenise_with(key)
            .read(csv_text(&[base_row()], ',').as_bytes())
            .unwrap();
        let Subject::Token(token) = &prepared.records[0].subject else {
            panic!()
        };
        with(base_row(), &[(Bsn, ""), (ClientToken, &token.to_wire())])
    };
    let check = |row: Row| {
        let config = IngestConfig::default();
        let meta = meta("csv");
        Ingest::new(&config, &meta)
            .accept_tokens(&ttp, &[1])
            .read(csv_text(&[row], ',').as_bytes())
            .unwrap()
    };
    assert_eq!(check(token_row(&test_key())).receipt.counts.accepted, 1);
    let malformed = check(with(
        base_row(),
        &[(Bsn, ""), (ClientToken, "ct.spiegel.1.tooshort")],
    ));
    assert_eq!(codes_at(&malformed, 2), ["TOKEN_MALFORMED"]);
    let other = SourceKey::from_bytes(1, TtpId::new("elders").unwrap(), [1; 32]);
    assert_eq!(codes_at(&check(token_row(&other)), 2), ["TOKEN_OTHER_TTP"]);
    let old = SourceKey::from_bytes(9, ttp.clone(), [1; 32]);
    assert_eq!(codes_at(&check(token_row(&old)), 2), ["TOKEN_VERSION"]);
}

#[test]
fn birth_date_rules() {
    rejects(&[(Geboortedatum, "2012-03-15")], "DATE_INVALID");
    rejects(&[(Geboortedatum, "20120231")], "DATE_INVALID");
    rejects(&[(Geboortedatum, "")], "REQUIRED_MISSING");
    rejects(&[(Geboortedatum, "20260301")], "BIRTH_AFTER_START");
    rejects(&[(Geboortedatum, "20020101")], "AGE_OUT_OF_RANGE");
    // Unknown day or month is allowed.
    let outcome = validate_csv(&[with(base_row(), &[(Geboortedatum, "20120000")])]);
    assert_eq!(outcome.receipt.counts.accepted, 1);
    // Care for an unborn child starts before its expected birth date.
    let outcome = validate_csv(&[with(
        base_row(),
        &[(Bsn, "000000000"), (Geboortedatum, "20260301")],
    )]);
    assert_eq!(
        outcome.receipt.counts.accepted, 1,
        "{:?}",
        outcome.receipt.issues
    );
}

#[test]
fn code_list_rules() {
    rejects(&[(Geslacht, "X")], "CODE_INVALID");
    rejects(&[(Geslacht, "")], "REQUIRED_MISSING");
    rejects(&[(Verwijzer, "07")], "CODE_INVALID");
    rejects(&[(Verwijzer, "2")], "CODE_INVALID");
    rejects(&[(Hulpvorm, "05")], "CODE_INVALID");
    rejects(&[(Hulpvorm, "")], "REQUIRED_MISSING");
    rejects(&[(GestartMetCrisis, "1")], "CODE_INVALID");
    rejects(&[(ZonderHulpVerderJeugdige, "05")], "CODE_INVALID");
    rejects(&[(ZonderHulpVerderOuder, "00")], "CODE_INVALID");
}

#[test]
fn gemeente_rules() {
    rejects(&[(Gemeentecode, "GM036")], "GEMEENTE_FORMAT");
    rejects(&[(Gemeentecode, "Amsterdam")], "GEMEENTE_FORMAT");
    rejects(&[(Gemeentecode, "GM9999")], "GEMEENTE_UNKNOWN");
    // Weesp (GM0457) joined Amsterdam on 2022-03-24; a 2026 start must use GM0363.
    rejects(&[(Gemeentecode, "GM0457")], "GEMEENTE_MERGED");
    rejects(&[(Gemeentecode, "GM0788")], "GEMEENTE_SPLIT");
    accepts_with(&[(Gemeentecode, "363")], "GEMEENTE_LEADING_ZERO_RESTORED");
    // A trajectory that began in Weesp before the merger and still runs is mapped.
    accepts_with(
        &[
            (Gemeentecode, "GM0457"),
            (DatumAanvang, "20210901"),
            (DatumAanmelding, "20210801"),
        ],
        "GEMEENTE_MAPPED",
    );
    let outcome = validate_csv(&[with(base_row(), &[(Gemeentecode, "0363")])]);
    assert!(
        outcome.receipt.issues.is_empty(),
        "bare four digits are accepted as they are"
    );
}

#[test]
fn date_and_period_rules() {
    rejects(&[(DatumAanvang, "20261301")], "DATE_INVALID");
    rejects(&[(DatumAanvang, "")], "REQUIRED_MISSING");
    rejects(
        &[(DatumAanvang, "20260701"), (DatumEinde, "")],
        "START_AFTER_PERIOD",
    );
    rejects(&[(DatumEinde, "20260105")], "END_BEFORE_START");
    rejects(
        &[
            (DatumAanvang, "20250101"),
            (DatumEinde, "20251231"),
            (DatumAanmelding, ""),
        ],
        "END_BEFORE_PERIOD",
    );
    rejects(&[(DatumEinde, "20260701")], "END_AFTER_PERIOD");
    rejects(&[(DatumEinde, "2026052")], "DATE_INVALID");
    rejects(&[(DatumAanmelding, "20260201")], "REGISTRATION_AFTER_START");
    rejects(&[(DatumAanmelding, "1-12-2025")], "DATE_INVALID");
}

#[test]
fn end_reason_rules() {
    rejects(&[(RedenBeeindiging, "")], "REASON_MISSING");
    rejects(&[(RedenBeeindiging, "06")], "REASON_INVALID");
    let running = [
        (DatumEinde, ""),
        (TevredenheidJeugdige, ""),
        (TevredenheidOuder, ""),
        (ZonderHulpVerderJeugdige, ""),
        (ZonderHulpVerderOuder, ""),
        (DoelenBehaald, ""),
        (ProblematiekAfgenomen, ""),
        (DoelrealisatieInformant, ""),
    ];
    let mut with_reason = running.to_vec();
    with_reason.push((RedenBeeindiging, "01"));
    rejects(&with_reason, "REASON_WITHOUT_END");
    accepts_with(&[(RedenBeeindiging, "33")], "REASON_JZ588_MAPPED");
}

#[test]
fn outcome_rules() {
    rejects(&[(TevredenheidJeugdige, "11")], "SATISFACTION_RANGE");
    rejects(&[(TevredenheidOuder, "0")], "SATISFACTION_RANGE");
    rejects(&[(TevredenheidOuder, "7.5")], "SATISFACTION_RANGE");
    rejects(
        &[(DatumEinde, ""), (RedenBeeindiging, "")],
        "OUTCOME_WITHOUT_END",
    );
}

#[test]
fn goal_attainment_rules() {
    rejects(&[(DoelenBehaald, "04")], "CODE_INVALID");
    rejects(&[(DoelenBehaald, "1")], "CODE_INVALID");
    rejects(&[(ProblematiekAfgenomen, "03")], "CODE_INVALID");
    rejects(&[(DoelrealisatieInformant, "05")], "CODE_INVALID");
    rejects(&[(DoelrealisatieInformant, "")], "INFORMANT_MISSING");
    rejects(
        &[(DoelenBehaald, ""), (DoelrealisatieInformant, "")],
        "INFORMANT_MISSING",
    );
    rejects(
        &[(ProblematiekAfgenomen, ""), (DoelrealisatieInformant, "")],
        "INFORMANT_MISSING",
    );
    // Judged at the end: on a running trajectory each goal column is an error of its own.
    let running = validate_csv(&[running(base_row())]);
    let mut columns: Vec<&str> = running
        .receipt
        .issues
        .iter()
        .filter(|i| i.kind.code() == "OUTCOME_WITHOUT_END")
        .filter_map(|i| i.column.map(|c| c.name()))
        .collect();
    columns.sort_unstable();
    assert_eq!(
        columns,
        [
            "doelen_behaald",
            "doelrealisatie_informant",
            "problematiek_afgenomen"
        ]
    );
    assert_eq!(running.receipt.counts.rejected, 1);
    // Every code of the lists is accepted, and an informant without a judgement is harmless.
    for (doelen, problematiek, informant) in [
        ("01", "02", "01"),
        ("02", "", "02"),
        ("03", "01", "03"),
        ("", "02", "04"),
        ("", "", "01"),
        ("", "", ""),
    ] {
        let outcome = validate_csv(&[with(
            base_row(),
            &[
                (DoelenBehaald, doelen),
                (ProblematiekAfgenomen, problematiek),
                (DoelrealisatieInformant, informant),
            ],
        )]);
        assert_eq!(
            outcome.receipt.counts.accepted,
            1,
            "{doelen}/{problematiek}/{informant}: {:?}",
            codes_at(&outcome, 2)
        );
    }
}

#[test]
fn goal_attainment_messages_name_the_column_and_the_codes_in_both_languages() {
    let outcome = validate_csv(&[with(
        base_row(),
        &[(DoelenBehaald, "9"), (DoelrealisatieInformant, "")],
    )]);
    let messages: Vec<(String, String)> = outcome
        .receipt
        .issues
        .iter()
        .map(|i| i.kind.messages(i.column))
        .collect();
    assert_eq!(messages.len(), 2, "{:?}", codes_at(&outcome, 2));
    let (nl, en) = &messages[0];
    assert!(
        nl.contains("'doelen_behaald' is geen geldige code; geldig: 01, 02, 03"),
        "{nl}"
    );
    assert!(
        en.contains("'doelen_behaald' is not a valid code; valid: 01, 02, 03"),
        "{en}"
    );
    let (nl, en) = &messages[1];
    assert!(
        nl.starts_with("doelrealisatie_informant is verplicht"),
        "{nl}"
    );
    assert!(
        en.starts_with("doelrealisatie_informant is required"),
        "{en}"
    );
    assert!(
        messages
            .iter()
            .all(|(nl, en)| !nl.contains('9') && !en.contains('9'))
    );
}

#[test]
fn a_submission_without_the_goal_columns_is_accepted_as_not_measured() {
    let names: Vec<&str> = spiegel_ingest::Column::ALL
        .iter()
        .map(|c| c.name())
        .filter(|n| {
            ![
                "doelen_behaald",
                "problematiek_afgenomen",
                "doelrealisatie_informant",
            ]
            .contains(n)
        })
        .collect();
    let row = base_row();
    let values: Vec<String> = spiegel_ingest::Column::ALL
        .iter()
        .filter(|c| names.contains(&c.name()))
        .map(|c| quote(row.get(c).map_or("", String::as_str), ','))
        .collect();
    let text = format!("{}\n{}\n", names.join(","), values.join(","));
    let outcome = Ingest::new(&IngestConfig::default(), &meta("csv"))
        .tokenise_with(&test_key())
        .read(text.as_bytes())
        .unwrap();
    assert_eq!(outcome.receipt.status, Status::Accepted);
    assert!(
        outcome.receipt.issues.is_empty(),
        "{:?}",
        codes_at(&outcome, 2)
    );
    let t = &outcome.records[0].trajectory;
    assert_eq!(
        (
            t.doelen_behaald,
            t.problematiek_afgenomen,
            t.doelrealisatie_informant
        ),
        (None, None, None)
    );
    // With the columns, the same row carries its judgement.
    let with_columns = Ingest::new(&IngestConfig::default(), &meta("csv"))
        .tokenise_with(&test_key())
        .read(csv_text(&[base_row()], ',').as_bytes())
        .unwrap();
    let t = &with_columns.records[0].trajectory;
    assert_eq!(
        (
            t.doelen_behaald.map(|c| c.code()),
            t.problematiek_afgenomen.map(|c| c.code()),
            t.doelrealisatie_informant.map(|c| c.code())
        ),
        (Some("02"), Some("01"), Some("04"))
    );
}

#[test]
fn amount_rules() {
    rejects(&[(GedeclareerdBedrag, "-5")], "AMOUNT_FORMAT");
    rejects(&[(GedeclareerdBedrag, "1.234,56")], "AMOUNT_FORMAT");
    rejects(&[(GedeclareerdBedrag, "12,345")], "AMOUNT_FORMAT");
}

#[test]
fn field_length_is_limited() {
    rejects(&[(Verwijzer, &"0".repeat(200))], "FIELD_TOO_LONG");
}

#[test]
fn every_problem_of_a_row_is_reported() {
    let outcome = validate_csv(&[with(
        base_row(),
        &[(Geslacht, "X"), (Hulpvorm, "99"), (Bsn, "123456789")],
    )]);
    let codes = codes_at(&outcome, 2);
    assert_eq!(
        codes.iter().filter(|c| **c == "CODE_INVALID").count(),
        2,
        "{codes:?}"
    );
    assert!(codes.contains(&"BSN_ELFPROEF"));
}

#[test]
fn header_rules_reject_the_whole_file() {
    let config = IngestConfig::default();
    let meta = meta("csv");
    let read = |text: &str| {
        Ingest::new(&config, &meta)
            .read(text.as_bytes())
            .unwrap()
            .receipt
    };
    let valid = csv_text(&[base_row()], ',');

    let extra = valid
        .replacen("gedeclareerd_bedrag", "gedeclareerd_bedrag,naam", 1)
        .replacen("1234,50", "1234,50,Jan", 1);
    let receipt = read(&extra);
    assert_eq!(receipt.status, Status::Rejected);
    assert_eq!(
        header_problems(&receipt),
        [("HEADER_UNKNOWN_COLUMN", Some("naam".to_owned()))]
    );

    let no_header = valid.lines().skip(1).collect::<Vec<_>>().join("\n");
    let receipt = read(&no_header);
    assert_eq!(receipt.rejection.unwrap().kind.code(), "HEADER_MISSING");
    assert!(
        !serde_json::to_string(&receipt.issues)
            .unwrap()
            .contains("123456782")
    );

    let receipt = read("bsn,geboortedatum\n123456782,20120315\n");
    assert_eq!(
        header_problems(&receipt)
            .into_iter()
            .map(|(code, _)| code)
            .collect::<Vec<_>>(),
        ["HEADER_REQUIRED_MISSING"; 6]
    );

    let receipt = read(&valid.replacen("bsn,client_token,", "nummer,token,", 1));
    assert_eq!(
        header_problems(&receipt),
        [
            ("HEADER_UNKNOWN_COLUMN", Some("nummer".to_owned())),
            ("HEADER_UNKNOWN_COLUMN", Some("token".to_owned())),
            ("HEADER_IDENTITY_MISSING", None)
        ]
    );

    // A header that looks like data is not repeated: a BSN typed where a name belongs.
    let receipt = read(&valid.replacen("bsn,", "123456782,", 1));
    assert_eq!(
        header_problems(&receipt)[0],
        ("HEADER_UNKNOWN_COLUMN", None)
    );
    assert!(!receipt_text_and_json(&receipt).contains("123456782"));
}

/// The header problems of a receipt rejected for its column names: code and column.
fn header_problems(receipt: &spiegel_ingest::Receipt) -> Vec<(&'static str, Option<String>)> {
    let rejection = receipt.rejection.as_ref().expect("a rejected header");
    let spiegel_ingest::IssueKind::HeaderInvalid(problems) = &rejection.kind else {
        panic!("not a header rejection: {}", rejection.kind.code());
    };
    problems.iter().map(|p| (p.code(), p.column())).collect()
}

fn receipt_text_and_json(receipt: &spiegel_ingest::Receipt) -> String {
    format!(
        "{}\n{}",
        receipt.to_text(),
        serde_json::to_string(receipt).unwrap()
    )
}

/// Four rows under a header with `gender` for geslacht and `vorm` for hulpvorm (two unknown
/// columns) and no verwijzer: with those two, three required columns missing.
fn misnamed_submission() -> (Vec<String>, Vec<Vec<String>>) {
    let columns: Vec<spiegel_ingest::Column> = spiegel_ingest::Column::ALL
        .into_iter()
        .filter(|c| *c != Verwijzer)
        .collect();
    let names = columns
        .iter()
        .map(|c| match c {
            Geslacht => "gender".to_owned(),
            Hulpvorm => "vorm".to_owned(),
            other => other.name().to_owned(),
        })
        .collect();
    let row = base_row();
    let rows = (0..4)
        .map(|_| {
            columns
                .iter()
                .map(|c| row.get(c).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    (names, rows)
}

#[test]
fn one_receipt_names_every_unknown_and_missing_column_and_counts_the_rows() {
    let expected = [
        ("HEADER_UNKNOWN_COLUMN", Some("gender".to_owned())),
        ("HEADER_UNKNOWN_COLUMN", Some("vorm".to_owned())),
        ("HEADER_REQUIRED_MISSING", Some("geslacht".to_owned())),
        ("HEADER_REQUIRED_MISSING", Some("verwijzer".to_owned())),
        ("HEADER_REQUIRED_MISSING", Some("hulpvorm".to_owned())),
    ];
    let (names, rows) = misnamed_submission();
    let mut csv = names.join(";") + "\r\n";
    for row in &rows {
        csv.push_str(&row.join(";"));
        csv.push_str("\r\n");
    }
    // Spreadsheets leave rows of bare delimiters below the data; they are no rows.
    csv.push_str(&";".repeat(names.len() - 1));
    csv.push_str("\r\n");
    let config = IngestConfig::default();
    let receipt = Ingest::new(&config, &meta("csv"))
        .read(csv.as_bytes())
        .unwrap()
        .receipt;
    assert_eq!(receipt.status, Status::Rejected);
    assert_eq!(header_problems(&receipt), expected);
    assert_eq!(receipt.counts.rows, 4);
    assert_eq!(
        (receipt.counts.accepted, receipt.counts.rejected),
        (0, 0),
        "no row was validated"
    );
    assert!(receipt.issues.is_empty());

    let text = receipt.to_text();
    assert!(text.contains("Regels / rows: 4 "), "{text}");
    for (code, column) in &expected {
        let column = column.as_deref().unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(code) && l.contains(&format!("'{column}'")))
            .unwrap_or_else(|| panic!("{code} {column} not in\n{text}"));
        assert!(
            line.contains("hernoem") || line.contains("voeg hem toe"),
            "says what to do: {line}"
        );
    }
    let json: serde_json::Value = serde_json::to_value(&receipt).unwrap();
    assert_eq!(json["rejection"]["code"], "HEADER_INVALID");
    assert_eq!(json["counts"]["rows"], 4);
    let problems = json["rejection"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 5);
    for (problem, (code, column)) in problems.iter().zip(&expected) {
        assert_eq!(problem["code"], *code);
        assert_eq!(problem["column"].as_str(), column.as_deref());
        assert!(problem["message_en"].as_str().unwrap().contains("column"));
    }
    assert!(!receipt_text_and_json(&receipt).contains("123456782"));

    // The same columns in a Parquet file: the same problems, its rows counted from the footer.
    let parquet = parquet_with_columns(&names, &rows);
    let receipt = Ingest::new(&config, &meta("parquet"))
        .read(parquet.as_slice())
        .unwrap()
        .receipt;
    assert_eq!(header_problems(&receipt), expected);
    assert_eq!(receipt.counts.rows, 4);
}

#[test]
fn a_duplicate_column_is_named_with_every_other_header_problem() {
    let valid = csv_text(&[base_row(), base_row(), base_row()], ',');
    let text = valid.replacen("postcode", "geslacht", 1).replacen(
        "tevredenheid_ouder",
        "tevredenheid_ouders",
        1,
    );
    let config = IngestConfig::default();
    let receipt = Ingest::new(&config, &meta("csv"))
        .read(text.as_bytes())
        .unwrap()
        .receipt;
    assert_eq!(
        header_problems(&receipt),
        [
            (
                "HEADER_UNKNOWN_COLUMN",
                Some("tevredenheid_ouders".to_owned())
            ),
            ("HEADER_DUPLICATE_COLUMN", Some("geslacht".to_owned())),
        ]
    );
    assert_eq!(receipt.counts.rows, 3);
    let text = receipt.to_text();
    assert!(
        text.contains("HEADER_DUPLICATE_COLUMN: kolom 'geslacht' komt meer dan één keer voor"),
        "{text}"
    );
    assert!(text.contains("keep one of them"), "{text}");
}

/// A Parquet file of text columns named `names`.
fn parquet_with_columns(names: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let schema = Arc::new(arrow_schema::Schema::new(
        names
            .iter()
            .map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = (0..names.len())
        .map(|i| {
            let values: StringArray = rows.iter().map(|r| Some(r[i].as_str())).collect();
            Arc::new(values) as ArrayRef
        })
        .collect();
    parquet_of(&RecordBatch::try_new(schema, columns).unwrap())
}

#[test]
fn structural_row_problems() {
    let config = IngestConfig::default();
    let meta_csv = meta("csv");
    let mut text = csv_text(&[base_row()], ',').into_bytes();
    // A second row with only 15 of the 18 fields.
    text.extend_from_slice(b"123456782,20120315,V,GM0363,,02,02,02,20260110,,,,,,\n");
    // A byte that is not UTF-8 in the first row's geslacht.
    let pos = text.windows(3).position(|w| w == b",V,").unwrap();
    text[pos + 1] = 0xff;
    let outcome = Ingest::new(&config, &meta_csv).read(&text[..]).unwrap();
    assert!(
        codes_at(&outcome, 2).contains(&"ENCODING"),
        "{:?}",
        outcome.receipt.issues
    );
    assert_eq!(codes_at(&outcome, 3), ["ROW_SHAPE"]);

    let meta_jsonl = meta("jsonl");
    let jsonl = format!(
        "{}{{\"bsn\": 123456782}}\n{{not json\n{}",
        jsonl_text(&[with(base_row(), &[])]).replacen('{', "{\"naam\":\"x\",", 1),
        jsonl_text(&[base_row()]).replace("\"20120315\"", "20120315"),
    );
    let outcome = Ingest::new(&config, &meta_jsonl)
        .read(jsonl.as_bytes())
        .unwrap();
    assert!(codes_at(&outcome, 1).contains(&"UNKNOWN_COLUMN"));
    assert!(
        codes_at(&outcome, 2).contains(&"JSON_TYPE"),
        "a BSN must be a string"
    );
    assert_eq!(codes_at(&outcome, 3), ["JSON_SYNTAX"]);
    assert!(
        codes_at(&outcome, 4).is_empty(),
        "a numeric birth date is fine: {:?}",
        codes_at(&outcome, 4)
    );
}

#[test]
fn sentinels_are_accepted_and_never_linked() {
    let key = test_key();
    let config = IngestConfig::default();
    let meta = meta("csv");
    let rows = [
        with(base_row(), &[(Bsn, "999999999")]),
        with(
            base_row(),
            &[(Bsn, "999999999"), (Geboortedatum, "20110101")],
        ),
        with(
            base_row(),
            &[(Bsn, "000000000"), (Geboortedatum, "20260301")],
        ),
    ];
    let outcome = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read(csv_text(&rows, ',').as_bytes())
        .unwrap();
    assert_eq!(
        outcome.receipt.counts.accepted, 3,
        "two unknown children stay two"
    );
    let subjects: Vec<_> = outcome.records.iter().map(|r| r.subject.clone()).collect();
    assert_eq!(
        subjects,
        [
            Subject::Unlinkable(Sentinel::Unknown),
            Subject::Unlinkable(Sentinel::Unknown),
            Subject::Unlinkable(Sentinel::Unborn)
        ]
    );
}

#[test]
fn leading_zeros_survive_every_encoding() {
    let key = test_key();
    let config = IngestConfig::default();
    let row = with(base_row(), &[(Bsn, "012345672")]);
    let token_of = |format: &str, bytes: Vec<u8>| {
        let meta = meta(format);
        let outcome = Ingest::new(&config, &meta)
            .tokenise_with(&key)
            .read(&bytes[..])
            .unwrap();
        assert!(
            outcome.receipt.issues.is_empty(),
            "{format}: {:?}",
            outcome.receipt.issues
        );
        outcome.records[0].subject.clone()
    };
    let from_csv = token_of(
        "csv",
        csv_text(std::slice::from_ref(&row), ',').into_bytes(),
    );
    assert_eq!(
        from_csv,
        token_of("jsonl", jsonl_text(std::slice::from_ref(&row)).into_bytes())
    );
    assert_eq!(
        from_csv,
        token_of("parquet", parquet_bytes(std::slice::from_ref(&row)))
    );
    // The 8-digit spreadsheet form is the same child.
    let meta = meta("csv");
    let restored = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read(csv_text(&[with(row, &[(Bsn, "12345672")])], ',').as_bytes())
        .unwrap();
    assert_eq!(restored.records[0].subject, from_csv);
}

#[test]
fn numeric_bsn_column_in_parquet_is_refused() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let mut fields = vec![Field::new("bsn", DataType::Int64, true)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![12345672]))];
    for column in spiegel_ingest::Column::ALL.into_iter().skip(2) {
        fields.push(Field::new(column.name(), DataType::Utf8, true));
        let value = base_row().get(&column).cloned();
        columns.push(Arc::new(StringArray::from(vec![value])));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let config = IngestConfig::default();
    let meta = meta("parquet");
    let receipt = Ingest::new(&config, &meta)
        .read(&bytes[..])
        .unwrap()
        .receipt;
    assert_eq!(
        receipt.rejection.unwrap().kind.code(),
        "PARQUET_COLUMN_TYPE"
    );
}

#[test]
fn empty_submission_is_accepted_with_a_notice() {
    let outcome = validate_csv(&[]);
    assert_eq!(outcome.receipt.status, Status::Accepted);
    assert_eq!(outcome.receipt.notices[0].kind.code(), "EMPTY_SUBMISSION");
}
