//! Helpers shared by the ingest tests: a valid base row and builders for each encoding.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use spiegel_ingest::{Column, Ingest, IngestConfig, Ingested, SubmissionMeta};
use spiegel_pseudonymise::{SourceKey, TtpId};

pub type Row = BTreeMap<Column, String>;

/// A row that passes every rule for period 2026-H1.
pub fn base_row() -> Row {
    use Column::*;
    [
        (Bsn, "123456782"),
        (Geboortedatum, "20120315"),
        (Geslacht, "V"),
        (Gemeentecode, "GM0363"),
        (Postcode, "1011AB"),
        (Verwijzer, "02"),
        (Hulpvorm, "02"),
        (GestartMetCrisis, "02"),
        (DatumAanvang, "20260110"),
        (DatumEinde, "20260520"),
        (RedenBeeindiging, "01"),
        (TevredenheidJeugdige, "8"),
        (TevredenheidOuder, "7"),
        (ZonderHulpVerderJeugdige, "04"),
        (ZonderHulpVerderOuder, "02"),
        (DatumAanmelding, "20251201"),
        (GedeclareerdBedrag, "1234,50"),
        (DoelenBehaald, "02"),
        (ProblematiekAfgenomen, "01"),
        (DoelrealisatieInformant, "04"),
    ]
    .into_iter()
    .map(|(c, v)| (c, v.to_owned()))
    .collect()
}

/// The base row's trajectory still running: no end, no reason, no satisfaction or zonder hulp
/// verder (the goal-attainment columns are left as they are).
pub fn running(row: Row) -> Row {
    use Column::*;
    with(
        row,
        &[
            (DatumEinde, ""),
            (RedenBeeindiging, ""),
            (TevredenheidJeugdige, ""),
            (TevredenheidOuder, ""),
            (ZonderHulpVerderJeugdige, ""),
            (ZonderHulpVerderOuder, ""),
        ],
    )
}

pub fn with(mut row: Row, changes: &[(Column, &str)]) -> Row {
    for (column, value) in changes {
        row.insert(*column, (*value).to_owned());
    }
    row
}

pub fn meta(format: &str) -> SubmissionMeta {
    SubmissionMeta::from_file_name(&format!("12345678_2026-H1.{format}")).unwrap()
}

pub fn csv_text(rows: &[Row], delimiter: char) -> String {
    let mut out = String::new();
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    out.push_str(&names.join(&delimiter.to_string()));
    out.push('\n');
    for row in rows {
        let values: Vec<String> = Column::ALL
            .iter()
            .map(|c| quote(&row.get(c).cloned().unwrap_or_default(), delimiter))
            .collect();
        out.push_str(&values.join(&delimiter.to_string()));
        out.push('\n');
    }
    out
}

/// Quotes a value the way spreadsheet software does when it holds the delimiter or a quote.
pub fn quote(value: &str, delimiter: char) -> String {
    if value.contains(delimiter) || value.contains('"') || value.contains('\n') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub fn jsonl_text(rows: &[Row]) -> String {
    rows.iter()
        .map(|row| {
            let object: serde_json::Map<String, serde_json::Value> = row
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(c, v)| (c.name().to_owned(), serde_json::Value::String(v.clone())))
                .collect();
            serde_json::to_string(&object).unwrap() + "\n"
        })
        .collect()
}

pub fn parquet_bytes(rows: &[Row]) -> Vec<u8> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let schema = spiegel_ingest::submission_schema();
    let columns: Vec<ArrayRef> = Column::ALL
        .iter()
        .map(|c| {
            let values: Vec<Option<&str>> = rows
                .iter()
                .map(|r| r.get(c).map(String::as_str).filter(|v| !v.is_empty()))
                .collect();
            Arc::new(StringArray::from(values)) as ArrayRef
        })
        .collect();
    parquet_of(&RecordBatch::try_new(schema, columns).unwrap())
}

/// `batch` as the bytes of a Parquet file.
pub fn parquet_of(batch: &arrow_array::RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

pub fn test_key() -> SourceKey {
    SourceKey::from_bytes(1, TtpId::new("spiegel").unwrap(), [42; 32])
}

pub fn validate_csv(rows: &[Row]) -> Ingested {
    let config = IngestConfig::default();
    let meta = meta("csv");
    Ingest::new(&config, &meta)
        .read(csv_text(rows, ',').as_bytes())
        .unwrap()
}

/// The codes reported for `line`, errors and notices alike.
pub fn codes_at(ingested: &Ingested, line: u64) -> Vec<&'static str> {
    ingested
        .receipt
        .issues
        .iter()
        .filter(|i| i.line == line)
        .map(|i| i.kind.code())
        .collect()
}
