//! JSON Lines: one object per line, keys are the column names of format v1.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use serde_json::Value;

use super::{Fields, RawRow, Sink, SourceEnd, present};
use crate::column::{COLUMN_COUNT, displayable_name};
use crate::guard::{GuardedReader, LimitHit, limit_hit};
use crate::{Column, IngestError, IssueKind, Limits};

pub(crate) fn read<R: Read>(
    input: R,
    limits: &Limits,
    sink: &mut Sink<'_>,
) -> Result<SourceEnd, IngestError> {
    let guarded = GuardedReader::new(input, limits.max_bytes, limits.max_record_bytes);
    let mut reader = BufReader::with_capacity(64 * 1024, guarded);
    let mut buf = Vec::new();
    let mut numbers = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                return match limit_hit(&e) {
                    Some(LimitHit::Bytes) => Ok(Some(IssueKind::FileTooLarge {
                        max: limits.max_bytes,
                    })),
                    Some(LimitHit::Record) => Ok(Some(IssueKind::RecordTooLong {
                        max: limits.max_record_bytes,
                    })),
                    None => Err(IngestError::Io(e)),
                };
            }
        }
        line += 1;
        let mut text: &[u8] = buf.trim_ascii();
        if line == 1 {
            text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        }
        if text.is_empty() {
            continue;
        }
        let flow = match serde_json::from_slice::<serde_json::Map<String, Value>>(text) {
            Ok(object) => {
                number_texts(&object, &mut numbers);
                sink(row_from_object(line, &object, &numbers))
            }
            Err(_) => sink(RawRow {
                line,
                fields: [None; COLUMN_COUNT],
                problems: vec![(None, IssueKind::JsonSyntax)],
                unreadable: true,
            }),
        };
        if let ControlFlow::Break(issue) = flow {
            return Ok(Some(issue));
        }
    }
}

/// Renders the numbers of columns that accept them as text, so the row can borrow them.
fn number_texts(object: &serde_json::Map<String, Value>, out: &mut Vec<(Column, String)>) {
    out.clear();
    for (key, value) in object {
        if let (Some(column), Value::Number(n)) = (Column::from_name(key), value)
            && column.accepts_number()
        {
            out.push((column, n.to_string()));
        }
    }
}

fn row_from_object<'a>(
    line: u64,
    object: &'a serde_json::Map<String, Value>,
    numbers: &'a [(Column, String)],
) -> RawRow<'a> {
    let mut fields: Fields<'a> = [None; COLUMN_COUNT];
    let mut problems = Vec::new();
    for (position, (key, value)) in object.iter().enumerate() {
        let Some(column) = Column::from_name(key) else {
            problems.push((
                None,
                IssueKind::UnknownColumn(displayable_name(key, position + 1)),
            ));
            continue;
        };
        match value {
            Value::Null => {}
            Value::String(text) => fields[column.index()] = present(text),
            Value::Number(_) if column.accepts_number() => {
                fields[column.index()] = numbers
                    .iter()
                    .find(|(c, _)| *c == column)
                    .map(|(_, text)| text.as_str());
            }
            _ => problems.push((Some(column), IssueKind::JsonType)),
        }
    }
    RawRow {
        line,
        fields,
        problems,
        unreadable: false,
    }
}
