//! CSV as Dutch spreadsheet software writes it: UTF-8 with or without BOM, comma or semicolon.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use super::{Fields, RawRow, Sink, SourceEnd, map_header, present};
use crate::column::COLUMN_COUNT;
use crate::guard::{Framing, GuardedReader, LimitHit, limit_hit};
use crate::{IngestError, IssueKind, Limits};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Picks `;` or `,` from the header line: the one that occurs more often.
fn sniff_delimiter(first_line: &[u8]) -> u8 {
    let semicolons = memchr::memchr_iter(b';', first_line).count();
    let commas = memchr::memchr_iter(b',', first_line).count();
    if semicolons > commas { b';' } else { b',' }
}

fn limit_issue(hit: LimitHit, limits: &Limits) -> IssueKind {
    match hit {
        LimitHit::Bytes => IssueKind::FileTooLarge {
            max: limits.max_bytes,
        },
        LimitHit::Record => IssueKind::RecordTooLong {
            max: limits.max_record_bytes,
        },
    }
}

fn csv_error(error: csv::Error, limits: &Limits) -> Result<IssueKind, IngestError> {
    match error.into_kind() {
        csv::ErrorKind::Io(io) => match limit_hit(&io) {
            Some(hit) => Ok(limit_issue(hit, limits)),
            None => Err(IngestError::Io(io)),
        },
        // With byte records and flexible rows the parser has no other failure; keep the
        // submission out rather than guess.
        _ => Ok(IssueKind::HeaderMissing),
    }
}

pub(crate) fn read<R: Read>(
    input: R,
    limits: &Limits,
    sink: &mut Sink<'_>,
) -> Result<SourceEnd, IngestError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let peek = buffered.fill_buf()?;
    let bom = peek.starts_with(BOM);
    let start = if bom { BOM.len() } else { 0 };
    let first_line = match memchr::memchr(b'\n', &peek[start..]) {
        Some(end) => &peek[start..start + end],
        None if peek.len() < 64 * 1024 => &peek[start..],
        None => {
            return Ok(Some(IssueKind::RecordTooLong {
                max: limits.max_record_bytes,
            }));
        }
    };
    let delimiter = sniff_delimiter(first_line);
    if bom {
        buffered.consume(BOM.len());
    }
    let guarded = GuardedReader::new(
        buffered,
        limits.max_bytes,
        limits.max_record_bytes,
        Framing::Csv { delimiter },
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(64 * 1024)
        .from_reader(guarded);

    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Ok(Some(IssueKind::HeaderMissing)),
        Err(e) => return csv_error(e, limits).map(Some),
    }
    let names: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mapping = match map_header(names.iter().map(String::as_str)) {
        Ok(mapping) => mapping,
        Err(issue) => return Ok(Some(issue)),
    };

    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return csv_error(e, limits).map(Some),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            // A row of bare delimiters, as spreadsheets leave below the data.
            continue;
        }
        let mut row = RawRow {
            line,
            fields: [None; COLUMN_COUNT] as Fields<'_>,
            problems: Vec::new(),
            unreadable: false,
        };
        if record.len() != mapping.len() {
            row.unreadable = true;
            row.problems.push((
                None,
                IssueKind::RowShape {
                    expected: mapping.len(),
                    found: record.len(),
                },
            ));
        } else {
            for (i, (bytes, column)) in record.iter().zip(&mapping).enumerate() {
                match (column, std::str::from_utf8(bytes)) {
                    (Some(column), Ok(text)) => row.fields[column.index()] = present(text),
                    (Some(column), Err(_)) => {
                        row.problems.push((Some(*column), IssueKind::Encoding));
                    }
                    (None, _) if bytes.trim_ascii().is_empty() => {}
                    (None, _) => row.problems.push((
                        None,
                        IssueKind::UnknownColumn(format!("(kolom/column {})", i + 1)),
                    )),
                }
            }
        }
        if let ControlFlow::Break(issue) = sink(row) {
            return Ok(Some(issue));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_from_the_header() {
        assert_eq!(sniff_delimiter(b"bsn;geboortedatum;geslacht"), b';');
        assert_eq!(sniff_delimiter(b"bsn,geboortedatum,geslacht"), b',');
    }
}
