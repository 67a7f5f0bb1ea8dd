//! A report's published figures as a Parquet file in the store.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use spiegel_core::ReportKind;

use super::columns::FileKey;
use super::{REPORT_SCHEMA_VERSION, report_schema};
use crate::rules::{self, Cell};
use crate::{PublishConfig, PublishError, Result};

/// The published figures of a report's cells and their digest.
pub(super) struct Figures {
    pub(super) published: Vec<rules::Published>,
    pub(super) suppressed: u64,
    /// [`super::ManifestFile::content_sha256`].
    pub(super) content_sha256: String,
}

impl Figures {
    pub(super) fn of(cells: &[Cell], config: &PublishConfig) -> Self {
        use std::fmt::Write as _;
        let published: Vec<rules::Published> =
            cells.iter().map(|c| rules::publish(c, config)).collect();
        let suppressed = published
            .iter()
            .filter(|p| p.status == "suppressed")
            .count() as u64;
        let mut content = ring::digest::Context::new(&ring::digest::SHA256);
        let mut line = String::new();
        for (cell, p) in cells.iter().zip(&published) {
            line.clear();
            // Writing to a String cannot fail.
            let _ = write!(
                line,
                "{}\t{}\t{}\t",
                cell.indicator.code, cell.dimension, cell.category
            );
            for number in [p.numerator, p.denominator] {
                let _ = match number {
                    Some(n) => write!(line, "{n}\t"),
                    None => write!(line, "-\t"),
                };
            }
            let _ = match p.value {
                Some(v) => write!(line, "{:016x}\t", v.to_bits()),
                None => write!(line, "-\t"),
            };
            line.push_str(p.status);
            line.push('\n');
            content.update(line.as_bytes());
        }
        Self {
            published,
            suppressed,
            content_sha256: hex::encode(content.finish()),
        }
    }
}

pub(super) fn write_parquet(
    key: &FileKey,
    cells: &[Cell],
    figures: &Figures,
    release: &str,
) -> Result<Vec<u8>> {
    let published = &figures.published;
    let mirror = key.kind == ReportKind::Mirror;
    let rows = cells.len();
    let repeated =
        |value: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![value; rows])) };
    let mut columns: Vec<ArrayRef> = vec![
        repeated(Some(key.kind.as_str())),
        repeated(Some(&key.period)),
        repeated(
            if matches!(key.kind, ReportKind::Municipality | ReportKind::Mirror) {
                key.municipality.as_deref()
            } else {
                None
            },
        ),
        repeated(if key.kind != ReportKind::National {
            key.region.as_deref()
        } else {
            None
        }),
    ];
    if mirror {
        columns.push(repeated(Some(&key.recipient)));
    }
    let strings = |f: &dyn Fn(&Cell) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(cells.iter().map(f)))
    };
    columns.push(strings(&|c| c.indicator.code));
    columns.push(strings(&|c| &c.dimension));
    columns.push(strings(&|c| &c.category));
    columns.push(Arc::new(Int64Array::from_iter(
        published.iter().map(|p| p.numerator),
    )));
    columns.push(Arc::new(Int64Array::from_iter(
        published.iter().map(|p| p.denominator),
    )));
    columns.push(Arc::new(Float64Array::from_iter(
        published.iter().map(|p| p.value),
    )));
    columns.push(strings(&|c| c.indicator.unit));
    columns.push(Arc::new(StringArray::from_iter_values(
        published.iter().map(|p| p.status),
    )));
    columns.push(repeated(Some(spiegel_aggregate::METHOD_VERSION)));
    let batch = RecordBatch::try_new(report_schema(mirror), columns)?;
    let properties = WriterProperties::builder()
        // Statistics would expose minima and maxima; published values are all a reader needs.
        .set_statistics_enabled(EnabledStatistics::None)
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                spiegel_core::wire::META_SCHEMA_VERSION.to_owned(),
                REPORT_SCHEMA_VERSION.to_owned(),
            ),
            KeyValue::new(
                spiegel_core::wire::META_RELEASE.to_owned(),
                release.to_owned(),
            ),
        ]))
        .build();
    let mut bytes = Vec::new();
    // No embedded Arrow schema: the key-value metadata holds the schema version and release
    // id only (docs/reports.md).
    let options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut bytes, batch.schema(), options)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(bytes)
}
/// Writes a report with create-only semantics. Finding the object already there is what a
/// redelivered or resumed release does: fine if the bytes are the same, a conflict otherwise
/// (another writer, or a configuration that changed under the same release id).
pub(super) async fn put_create_only(
    store: &dyn ObjectStore,
    path: &str,
    bytes: Vec<u8>,
) -> Result<()> {
    let location = StorePath::from(path);
    let options = object_store::PutOptions {
        mode: object_store::PutMode::Create,
        ..Default::default()
    };
    match store
        .put_opts(&location, bytes.clone().into(), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store.get(&location).await?.bytes().await?;
            if existing.as_ref() == bytes.as_slice() {
                Ok(())
            } else {
                Err(PublishError::Conflict(path.to_owned()))
            }
        }
        Err(e) => Err(e.into()),
    }
}
