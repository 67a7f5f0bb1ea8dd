//! Whole-submission behaviour: encodings, the rejection threshold, merging and limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use spiegel_core::CodeList;
use spiegel_ingest::{Column::*, Ingest, IngestConfig, Limits, NormalisedRecord, Status};

/// A varied set of rows: sentinels, running and ended trajectories, optional fields left out.
fn varied_rows() -> Vec<Row> {
    vec![
        base_row(),
        with(
            running(base_row()),
            &[
                (Bsn, "111222333"),
                (Hulpvorm, "11"),
                (DoelenBehaald, ""),
                (ProblematiekAfgenomen, ""),
                (DoelrealisatieInformant, ""),
                (GedeclareerdBedrag, "17"),
            ],
        ),
        with(
            base_row(),
            &[
                (Bsn, "999999999"),
                (Geslacht, "M"),
                (Gemeentecode, "0014"),
                (Postcode, ""),
            ],
        ),
        with(
            base_row(),
            &[
                (Bsn, "249566758"),
                (Geboortedatum, "20080700"),
                (RedenBeeindiging, "31"),
                (ProblematiekAfgenomen, ""),
                (DatumAanmelding, ""),
                (GedeclareerdBedrag, ""),
            ],
        ),
    ]
}

fn normalise(format: &str, bytes: &[u8]) -> Vec<NormalisedRecord> {
    let key = test_key();
    let config = IngestConfig::default();
    let meta = meta(format);
    let outcome = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read(bytes)
        .unwrap();
    assert_eq!(outcome.receipt.status, Status::Accepted, "{format}");
    assert_eq!(
        outcome.receipt.counts.rejected, 0,
        "{format}: {:?}",
        outcome.receipt.issues
    );
    outcome.records.into_iter().map(|r| r.minimise()).collect()
}

#[test]
fn every_encoding_normalises_to_identical_records() {
    let rows = varied_rows();
    let comma = normalise("csv", csv_text(&rows, ',').as_bytes());
    let mut semicolon_bom = b"\xef\xbb\xbf".to_vec();
    semicolon_bom.extend(csv_text(&rows, ';').into_bytes());
    let semicolon = normalise("csv", &semicolon_bom);
    let crlf = normalise("csv", csv_text(&rows, ';').replace('\n', "\r\n").as_bytes());
    let jsonl = normalise("jsonl", jsonl_text(&rows).as_bytes());
    let parquet = normalise("parquet", &parquet_bytes(&rows));
    assert_eq!(comma.len(), 4);
    assert_eq!(comma, semicolon, "semicolon with BOM");
    assert_eq!(comma, crlf, "Windows line ends");
    assert_eq!(comma, jsonl, "JSON Lines");
    assert_eq!(comma, parquet, "Parquet");
}

#[test]
fn the_fixture_files_normalise_identically() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/formats");
    let read = |name: &str| std::fs::read(format!("{dir}/{name}")).unwrap();
    let comma = normalise("csv", &read("12345678_2026-H1.comma.csv"));
    assert_eq!(comma.len(), 3);
    assert_eq!(
        comma,
        normalise("csv", &read("12345678_2026-H1.semicolon-bom.csv"))
    );
    assert_eq!(comma, normalise("jsonl", &read("12345678_2026-H1.jsonl")));
}

/// `n` rows of which `bad` fail validation.
fn rows_with_bad(n: usize, bad: usize) -> Vec<Row> {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (0..n)
        .map(|i| {
            // Distinct record keys: a different start day for every row.
            let start = (first + chrono::Duration::days(i as i64))
                .format("%Y%m%d")
                .to_string();
            let row = with(
                base_row(),
                &[(DatumAanvang, start.as_str()), (DatumEinde, "20260601")],
            );
            if i < bad {
                with(row, &[(Geslacht, "X")])
            } else {
                row
            }
        })
        .collect()
}

#[test]
fn six_percent_bad_rows_reject_the_whole_submission() {
    let outcome = validate_csv(&rows_with_bad(100, 6));
    assert_eq!(outcome.receipt.status, Status::Rejected);
    assert_eq!(
        outcome.receipt.rejection.unwrap().kind.code(),
        "TOO_MANY_REJECTED_ROWS"
    );
    assert_eq!(outcome.receipt.counts.rejected, 6);
    assert_eq!(
        outcome.receipt.counts.accepted, 0,
        "nothing of a rejected submission is applied"
    );
    assert_eq!(
        outcome.receipt.issues.len(),
        6,
        "the row errors are still listed for correction"
    );
}

#[test]
fn four_percent_bad_rows_are_accepted_with_their_errors() {
    let key = test_key();
    let config = IngestConfig::default();
    let meta = meta("csv");
    let rows = rows_with_bad(100, 4);
    let outcome = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read(csv_text(&rows, ',').as_bytes())
        .unwrap();
    assert_eq!(outcome.receipt.status, Status::Accepted);
    assert_eq!(outcome.receipt.counts.rejected, 4);
    assert_eq!(outcome.receipt.counts.accepted, 96);
    assert_eq!(outcome.records.len(), 96);
    let lines: Vec<u64> = outcome.receipt.issues.iter().map(|i| i.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
}

#[test]
fn the_threshold_is_configurable() {
    let config = IngestConfig {
        max_rejected_share: 0.03,
        ..IngestConfig::default()
    };
    let meta = meta("csv");
    let receipt = Ingest::new(&config, &meta)
        .read(csv_text(&rows_with_bad(100, 4), ',').as_bytes())
        .unwrap()
        .receipt;
    assert_eq!(receipt.status, Status::Rejected);
}

#[test]
fn rows_with_the_same_record_key_merge_to_the_latest_end() {
    let key = test_key();
    let config = IngestConfig::default();
    let meta = meta("csv");
    let first = with(
        base_row(),
        &[
            (DatumEinde, "20260301"),
            (RedenBeeindiging, "04"),
            (GedeclareerdBedrag, "100"),
        ],
    );
    let second = with(
        base_row(),
        &[
            (DatumEinde, "20260520"),
            (RedenBeeindiging, "01"),
            (GedeclareerdBedrag, "50,25"),
        ],
    );
    let other_form = with(base_row(), &[(Hulpvorm, "03")]);
    let outcome = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read(csv_text(&[first, other_form, second], ',').as_bytes())
        .unwrap();
    let receipt = &outcome.receipt;
    assert_eq!(
        (
            receipt.counts.rows,
            receipt.counts.accepted,
            receipt.counts.merged
        ),
        (3, 2, 1)
    );
    assert_eq!(codes_at(&outcome, 4), ["RECORD_MERGED"]);
    let merged = &outcome.records[0].trajectory;
    assert_eq!(merged.datum_einde.unwrap().to_string(), "2026-05-20");
    assert_eq!(merged.reden_beeindiging.unwrap().code(), "01");
    assert_eq!(merged.gedeclareerd_bedrag_cent, Some(15_025));
}

/// An endless submission: a header, then the same bytes forever. Counts what was pulled.
struct Endless {
    header: Vec<u8>,
    row: Vec<u8>,
    offset: usize,
    pulled: Arc<AtomicU64>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for byte in buf.iter_mut() {
            let pos = self.offset;
            *byte = match pos.checked_sub(self.header.len()) {
                None => self.header[pos],
                Some(in_rows) => self.row[in_rows % self.row.len()],
            };
            self.offset += 1;
        }
        self.pulled.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
}

/// A CSV header followed by `row` repeated without end.
fn endless(header: &[u8], row: &[u8]) -> Endless {
    Endless {
        header: header.to_vec(),
        row: row.to_vec(),
        offset: 0,
        pulled: Arc::new(AtomicU64::new(0)),
    }
}

fn csv_header_and_row() -> (Vec<u8>, Vec<u8>) {
    let text = csv_text(&[base_row()], ',');
    let (header, row) = text.split_at(text.find('\n').unwrap() + 1);
    (header.into(), row.into())
}

/// Reads an endless stream under `limits`; the rejection code and how many bytes were pulled.
fn refuse(limits: Limits, format: &str, stream: Endless) -> (&'static str, u64) {
    let config = IngestConfig {
        limits,
        ..IngestConfig::default()
    };
    let meta = meta(format);
    let pulled = stream.pulled.clone();
    let receipt = Ingest::new(&config, &meta).read(stream).unwrap().receipt;
    (
        receipt.rejection.unwrap().kind.code(),
        pulled.load(Ordering::Relaxed),
    )
}

#[test]
fn an_oversized_upload_is_refused_before_it_is_read_entirely() {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_rows: u64::MAX,
        ..Limits::default()
    };
    let (header, row) = csv_header_and_row();
    let (code, pulled) = refuse(limits, "csv", endless(&header, &row));
    assert_eq!(code, "FILE_TOO_LARGE");
    // Refused within one read buffer of the limit, from a stream that never ends.
    assert!(pulled <= (1 << 20) + 256 * 1024, "pulled {pulled} bytes");
}

#[test]
fn too_many_rows_stop_the_read() {
    let limits = Limits {
        max_rows: 1000,
        ..Limits::default()
    };
    let (header, row) = csv_header_and_row();
    let (code, pulled) = refuse(limits, "csv", endless(&header, &row));
    assert_eq!(code, "TOO_MANY_ROWS");
    // The reading thread runs ahead of validation by at most six batches of 4,096 rows (four
    // queued, one being filled, one being validated) plus one read buffer, then stops.
    let in_flight = 6 * 4096 * row.len() as u64 + 256 * 1024;
    assert!(
        pulled <= in_flight,
        "pulled {pulled} bytes, bound {in_flight}"
    );
}

#[test]
fn an_endless_field_is_refused_while_streaming() {
    let limits = Limits {
        max_bytes: u64::MAX,
        ..Limits::default()
    };
    // An opening quote that never closes: one CSV record that would grow without end.
    let (mut header, _) = csv_header_and_row();
    header.push(b'"');
    let (code, pulled) = refuse(limits, "csv", endless(&header, b"aaaaaaaaaa\n"));
    assert_eq!(code, "RECORD_TOO_LONG");
    assert!(pulled < 1 << 20, "pulled {pulled} bytes");
    // A JSON line that never ends.
    let (code, pulled) = refuse(limits, "jsonl", endless(b"{\"bsn\":\"", b"1111111111"));
    assert_eq!(code, "RECORD_TOO_LONG");
    assert!(pulled < 1 << 20, "pulled {pulled} bytes");
}

#[test]
fn file_names_carry_provider_period_and_format() {
    let meta = spiegel_ingest::SubmissionMeta::from_file_name("01234567_2026-Q3.parquet").unwrap();
    assert_eq!(meta.provider.to_string(), "01234567");
    assert_eq!(meta.period.to_string(), "2026-Q3");
    for bad in [
        "1234567_2026-H1.csv",
        "12345678-2026-H1.csv",
        "12345678_2026-H1.xlsx",
        "12345678_2026.csv",
    ] {
        assert!(
            spiegel_ingest::SubmissionMeta::from_file_name(bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_misnamed_file_gets_a_rejecting_receipt_saying_what_to_rename() {
    use spiegel_ingest::{FileNameProblem, Receipt, SubmissionMeta};
    let cases = [
        ("levering.xlsx", FileNameProblem::Extension, None),
        ("levering", FileNameProblem::Extension, None),
        ("12345678-2026-H1.csv", FileNameProblem::Separator, None),
        ("1234567_2026-H1.csv", FileNameProblem::Provider, None),
        (
            "12345678_2026-H9.csv",
            FileNameProblem::Period,
            Some("12345678"),
        ),
    ];
    for (name, problem, provider) in cases {
        let misnamed = SubmissionMeta::parse_file_name(name).unwrap_err();
        assert_eq!(misnamed.problem, problem, "{name}");
        let receipt = Receipt::misnamed(name, misnamed, 0.05);
        assert!(!receipt.accepted());
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(json["status"], "rejected", "{name}");
        assert_eq!(json["file"], name);
        assert_eq!(json["rejection"]["code"], "FILE_NAME_INVALID", "{name}");
        assert_eq!(json["provider"].as_str(), provider, "{name}");
        assert!(json["period"].is_null(), "{name}");
        let (nl, en) = problem.messages();
        let message = |lang: &str| json["rejection"][lang].as_str().unwrap().to_owned();
        assert!(message("message_nl").contains(nl), "{name}");
        assert!(message("message_en").contains(en), "{name}");
        let text = receipt.to_text();
        assert!(
            text.contains(name) && text.contains("AFGEWEZEN / REJECTED"),
            "{text}"
        );
    }
    // A file named after a child: its receipt does not repeat the number.
    let name = "123456782_2026-H1.csv";
    let receipt = Receipt::misnamed(
        name,
        SubmissionMeta::parse_file_name(name).unwrap_err(),
        0.05,
    );
    assert_eq!(receipt.file.as_deref(), Some("#########_####-H#.csv"));
    let all = format!(
        "{}{}",
        serde_json::to_string(&receipt).unwrap(),
        receipt.to_text()
    );
    assert!(!all.contains("123456782"));
}

#[test]
fn a_file_of_junk_rows_gives_a_receipt_of_bounded_size_with_every_code_counted() {
    use std::collections::BTreeMap;
    // Every field wrong in its own way, so each row adds findings under many codes.
    let junk = with(
        base_row(),
        &[
            (Bsn, "12x"),
            (Geboortedatum, "gisteren"),
            (Geslacht, "Q"),
            (Gemeentecode, "GM99999"),
            (Verwijzer, "zz"),
            (Hulpvorm, "zz"),
            (GestartMetCrisis, "zz"),
            (DatumAanvang, "nooit"),
            (DatumEinde, "ooit"),
            (RedenBeeindiging, "zz"),
            (TevredenheidJeugdige, "11"),
            (TevredenheidOuder, "0"),
            (ZonderHulpVerderJeugdige, "zz"),
            (ZonderHulpVerderOuder, "zz"),
            (DatumAanmelding, "morgen"),
            (GedeclareerdBedrag, "veel"),
        ],
    );
    let rows = vec![junk; 20_000];
    let receipt = validate_csv(&rows).receipt;
    assert_eq!(receipt.status, Status::Rejected);
    assert_eq!(receipt.counts.rejected, 20_000);

    let mut listed: BTreeMap<&str, u64> = BTreeMap::new();
    for issue in &receipt.issues {
        *listed.entry(issue.kind.code()).or_default() += 1;
    }
    assert!(listed.len() > 5, "many codes: {listed:?}");
    assert!(receipt.issues.len() <= 1_000, "{}", receipt.issues.len());
    for (code, total) in &receipt.issue_counts {
        let shown = listed.get(code).copied().unwrap_or_default();
        assert!(shown <= 100, "{code}: {shown} listed");
        let unlisted = receipt.unlisted.get(code).copied().unwrap_or_default();
        assert_eq!(shown + unlisted, *total, "{code}");
    }
    // Every row's findings are counted, only a few are listed.
    assert_eq!(receipt.issue_counts["GEMEENTE_FORMAT"], 20_000);
    let json = serde_json::to_vec(&receipt).unwrap();
    assert!(json.len() < 512 << 10, "receipt of {} bytes", json.len());
    assert!(receipt.to_text().len() < 512 << 10);
}
