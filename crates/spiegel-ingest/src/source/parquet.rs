//! Parquet, with the column names of format v1. Codes and identifiers must be text columns;
//! numeric columns are accepted where a number cannot lose a leading zero.

use std::ops::ControlFlow;

use arrow_array::{Array, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use super::{Fields, RawRow, Sink, SourceEnd, map_header, present};
use crate::column::COLUMN_COUNT;
use crate::{Column, IngestError, IssueKind, Limits};

fn type_fits(column: Column, data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Utf8 | LargeUtf8 | Utf8View | Null => true,
        Dictionary(_, value) => matches!(value.as_ref(), Utf8 | LargeUtf8),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => column.accepts_number(),
        Decimal128(..) | Decimal256(..) | Float32 | Float64 => column == Column::GedeclareerdBedrag,
        _ => false,
    }
}

/// Runs a call into the Parquet or Arrow libraries, which assert on some malformed files instead
/// of returning an error. A panic there means the file is unreadable; only library calls are
/// guarded, so a defect in Spiegel's own validation is never mistaken for a bad file.
fn library<R>(call: impl FnOnce() -> R) -> Option<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).ok()
}

/// Text columns of one batch, by column of format v1.
fn text_columns(
    batch: &arrow_array::RecordBatch,
    mapping: &[Option<Column>],
) -> Result<Vec<(Column, StringArray)>, IssueKind> {
    let mut columns = Vec::new();
    for (array, column) in batch.columns().iter().zip(mapping) {
        let Some(column) = column else { continue };
        let text = arrow_cast::cast(array, &DataType::Utf8)
            .map_err(|_| IssueKind::ParquetColumnType(*column))?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or(IssueKind::ParquetColumnType(*column))?;
        columns.push((*column, text.clone()));
    }
    Ok(columns)
}

/// Counts the rows of a file whose column names were refused, from its footer, so the
/// receipt says how many it held; a finding of the count (the row limit) comes back.
fn count_rows<T: ChunkReader + 'static>(
    builder: &ParquetRecordBatchReaderBuilder<T>,
    sink: &mut Sink<'_>,
) -> Option<IssueKind> {
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    for line in 1..=rows {
        let row = RawRow {
            line,
            fields: [None; COLUMN_COUNT],
            problems: Vec::new(),
            unreadable: true,
            counted_only: true,
        };
        if let ControlFlow::Break(issue) = sink(row) {
            return Some(issue);
        }
    }
    None
}

/// Reads a Parquet submission; an unreadable file rejects the submission whole.
pub(crate) fn read<T: ChunkReader + 'static>(
    input: T,
    limits: &Limits,
    sink: &mut Sink<'_>,
) -> Result<SourceEnd, IngestError> {
    let invalid = Ok(Some(IssueKind::ParquetInvalid));
    if input.len() > limits.max_bytes {
        return Ok(Some(IssueKind::FileTooLarge {
            max: limits.max_bytes,
        }));
    }
    let Some(Ok(builder)) = library(|| ParquetRecordBatchReaderBuilder::try_new(input)) else {
        return invalid;
    };
    let schema = builder.schema().clone();
    let mapping = match map_header(schema.fields().iter().map(|f| f.name().as_str())) {
        Ok(mapping) => mapping,
        Err(issue) => return Ok(Some(count_rows(&builder, sink).unwrap_or(issue))),
    };
    for (field, column) in schema.fields().iter().zip(&mapping) {
        if let Some(column) = column
            && !type_fits(*column, field.data_type())
        {
            return Ok(Some(IssueKind::ParquetColumnType(*column)));
        }
    }
    let Some(Ok(mut reader)) = library(|| builder.with_batch_size(8192).build()) else {
        return invalid;
    };
    let mut row_number = 0u64;
    loop {
        let batch = match library(|| reader.next()) {
            Some(None) => return Ok(None),
            Some(Some(Ok(batch))) => batch,
            None | Some(Some(Err(_))) => return invalid,
        };
        let columns = match library(|| text_columns(&batch, &mapping)) {
            Some(Ok(columns)) => columns,
            Some(Err(issue)) => return Ok(Some(issue)),
            None => return invalid,
        };
        for i in 0..batch.num_rows() {
            row_number += 1;
            let mut fields: Fields<'_> = [None; COLUMN_COUNT];
            for (column, array) in &columns {
                if array.is_valid(i) {
                    fields[column.index()] = present(array.value(i));
                }
            }
            let row = RawRow {
                line: row_number,
                fields,
                problems: Vec::new(),
                unreadable: false,
                counted_only: false,
            };
            if let ControlFlow::Break(issue) = sink(row) {
                return Ok(Some(issue));
            }
        }
    }
}
