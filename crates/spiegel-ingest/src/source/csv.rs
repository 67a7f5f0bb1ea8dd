//! CSV as Dutch spreadsheet software writes it: UTF-8 with or without BOM, comma or semicolon,
//! CRLF or LF.
//!
//! Parsed with `csv_core` into a fixed buffer of `max_record_bytes`: a record that does not fit
//! is refused there and then, so no input makes this reader buffer more than that.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use csv_core::ReadRecordResult;

use super::{BOM, Batches, Fields, RawRow, SourceEnd, map_header, present};
use crate::column::COLUMN_COUNT;
use crate::{Column, IngestError, IssueKind, Limits};

const READ_BUFFER: usize = 256 * 1024;

/// Picks `;` or `,` from the header line: the one that occurs more often.
fn sniff_delimiter(first_line: &[u8]) -> u8 {
    let semicolons = memchr::memchr_iter(b';', first_line).count();
    let commas = memchr::memchr_iter(b',', first_line).count();
    if semicolons > commas { b';' } else { b',' }
}

/// Splits records into fields by the header's column mapping; the first record is the header.
#[derive(Default)]
struct Splitter {
    mapping: Option<Vec<Option<Column>>>,
    /// Why the header was refused. The rows after it are then counted, not split, so the
    /// receipt of a refused file still says how many rows it held.
    refused: Option<IssueKind>,
}

impl Splitter {
    /// `ends` are the fields' end offsets in `output`. `Break` when validation wants no more
    /// rows.
    fn record(
        &mut self,
        line: u64,
        output: &[u8],
        ends: &[usize],
        batches: &mut Batches<'_>,
    ) -> ControlFlow<()> {
        if self.refused.is_some() {
            if output.trim_ascii().is_empty() {
                return ControlFlow::Continue(());
            }
            return batches.push(RawRow {
                line,
                fields: [None; COLUMN_COUNT],
                problems: Vec::new(),
                unreadable: true,
                counted_only: true,
            });
        }
        let whole = std::str::from_utf8(output).ok();
        let field = |i: usize| -> Result<&str, ()> {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            match whole {
                // A field boundary inside a character means the field itself was not UTF-8.
                Some(text) => text.get(start..ends[i]).ok_or(()),
                None => std::str::from_utf8(&output[start..ends[i]]).map_err(|_| ()),
            }
        };
        let Some(mapping) = &self.mapping else {
            let names: Vec<String> = (0..ends.len())
                .map(|i| field(i).map(str::to_owned).unwrap_or_default())
                .collect();
            return match map_header(names.iter().map(String::as_str)) {
                Ok(mapping) => {
                    self.mapping = Some(mapping);
                    ControlFlow::Continue(())
                }
                Err(issue) => {
                    self.refused = Some(issue);
                    ControlFlow::Continue(())
                }
            };
        };
        if output.trim_ascii().is_empty() {
            // A row of bare delimiters, as spreadsheets leave below the data.
            return ControlFlow::Continue(());
        }
        let mut record = RawRow {
            line,
            fields: [None; COLUMN_COUNT] as Fields<'_>,
            problems: Vec::new(),
            unreadable: false,
            counted_only: false,
        };
        if ends.len() != mapping.len() {
            record.unreadable = true;
            record.problems.push((
                None,
                IssueKind::RowShape {
                    expected: mapping.len(),
                    found: ends.len(),
                },
            ));
        } else {
            for (i, column) in mapping.iter().enumerate() {
                match (column, field(i)) {
                    (Some(column), Ok(text)) => record.fields[column.index()] = present(text),
                    (Some(column), Err(())) => {
                        record.problems.push((Some(*column), IssueKind::Encoding));
                    }
                    (None, Ok(text)) if text.trim_ascii().is_empty() => {}
                    (None, _) => record.problems.push((
                        None,
                        IssueKind::UnknownColumn(format!("(kolom/column {})", i + 1)),
                    )),
                }
            }
        }
        batches.push(record)
    }
}

/// The reading thread: bytes to split records, within the byte and record-length limits.
pub(crate) fn parse<R: Read>(
    input: R,
    limits: &Limits,
    batches: &mut Batches<'_>,
) -> Result<SourceEnd, IngestError> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, input);
    let peek = reader.fill_buf()?;
    let start = if peek.starts_with(BOM) { BOM.len() } else { 0 };
    let first_line_end = memchr::memchr(b'\n', &peek[start..]).unwrap_or(peek.len() - start);
    let delimiter = sniff_delimiter(&peek[start..start + first_line_end]);
    let mut parser = csv_core::ReaderBuilder::new().delimiter(delimiter).build();

    let mut output = vec![0u8; limits.max_record_bytes];
    // A field takes at least its delimiter, so a record has no more fields than bytes.
    let mut ends = vec![0usize; limits.max_record_bytes.clamp(64, 4096)];
    let (mut out_len, mut ends_len) = (0usize, 0usize);
    let mut total: u64 = 0;
    let mut newlines: u64 = 0;
    let mut record_line = 0u64;
    let mut at_record_start = true;
    let mut splitter = Splitter::default();

    loop {
        let buf = reader.fill_buf()?;
        let eof = buf.is_empty();
        let mut skipped = 0;
        if at_record_start && !eof {
            // Blank lines between records: skip them here so line numbers stay exact.
            while skipped < buf.len() && matches!(buf[skipped], b'\n' | b'\r') {
                newlines += u64::from(buf[skipped] == b'\n');
                skipped += 1;
            }
            if skipped == buf.len() {
                total += skipped as u64;
                reader.consume(skipped);
                continue;
            }
            record_line = newlines + 1;
            at_record_start = false;
        }
        let input = &buf[skipped..];
        let (result, nin, nout, nend) =
            parser.read_record(input, &mut output[out_len..], &mut ends[ends_len..]);
        newlines += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
        out_len += nout;
        ends_len += nend;
        let consumed = skipped + nin;
        reader.consume(consumed);
        total += consumed as u64;
        if total > limits.max_bytes {
            return Ok(Some(IssueKind::FileTooLarge {
                max: limits.max_bytes,
            }));
        }
        match result {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                return Ok(Some(IssueKind::RecordTooLong {
                    max: limits.max_record_bytes,
                }));
            }
            ReadRecordResult::Record => {
                let split =
                    splitter.record(record_line, &output[..out_len], &ends[..ends_len], batches);
                if split.is_break() {
                    // Validation stopped; its finding reaches the caller on the other thread.
                    return Ok(None);
                }
                (out_len, ends_len) = (0, 0);
                at_record_start = true;
            }
            ReadRecordResult::End => {
                if let Some(refused) = splitter.refused {
                    return Ok(Some(refused));
                }
                if splitter.mapping.is_none() {
                    return Ok(Some(IssueKind::HeaderMissing));
                }
                return Ok(None);
            }
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

    fn lines_of(text: &str) -> Vec<u64> {
        let mut lines = Vec::new();
        let mut sink = |row: RawRow<'_>| {
            lines.push(row.line);
            ControlFlow::Continue(())
        };
        let header = Column::ALL.map(|c| c.name()).join(",");
        let text = format!("{header}\n{text}");
        let end = crate::source::pipelined(
            |batches| parse(text.as_bytes(), &Limits::default(), batches),
            &mut sink,
        )
        .unwrap();
        assert_eq!(end, None);
        lines
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_newlines() {
        let row = ",".repeat(COLUMN_COUNT - 1);
        let quoted = format!("\"a\nb\"{}", ",".repeat(COLUMN_COUNT - 1));
        assert_eq!(
            lines_of(&format!("x{row}\n\nx{row}\r\n{quoted}\nx{row}")),
            [2, 4, 5, 7]
        );
    }
}
