//! Readers for the three accepted encodings. Each turns its input into [`RawRow`]s of trimmed
//! text fields, one slot per column of format v1, and reports file-level problems itself.

pub(crate) mod csv;
pub(crate) mod jsonl;
pub(crate) mod parquet;

use std::ops::ControlFlow;

use crate::column::COLUMN_COUNT;
use crate::{Column, IssueKind};

/// One slot per column of format v1; `None` when absent or empty.
pub(crate) type Fields<'a> = [Option<&'a str>; COLUMN_COUNT];

/// One data row as read.
#[derive(Debug)]
pub(crate) struct RawRow<'a> {
    /// 1-based line (CSV, JSON Lines) or row number (Parquet).
    pub(crate) line: u64,
    pub(crate) fields: Fields<'a>,
    /// Problems found while reading (bad encoding, wrong JSON type, unknown key).
    pub(crate) problems: Vec<(Option<Column>, IssueKind)>,
    /// The row could not be split into fields at all; only `problems` are meaningful.
    pub(crate) unreadable: bool,
}

/// Where rows go; `Break` stops reading with a file-level finding.
pub(crate) type Sink<'s> = dyn FnMut(RawRow<'_>) -> ControlFlow<IssueKind> + 's;

/// How a source ended: completely, or stopped with a file-level finding.
pub(crate) type SourceEnd = Option<IssueKind>;

/// Trims ASCII whitespace; an empty result counts as absent.
pub(crate) fn present(text: &str) -> Option<&str> {
    let trimmed = text.trim_ascii();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// Maps header names to columns and checks the header as a whole.
pub(crate) fn map_header<'n>(
    names: impl Iterator<Item = &'n str>,
) -> Result<Vec<Option<Column>>, IssueKind> {
    let mut mapping = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = [false; COLUMN_COUNT];
    for (i, name) in names.enumerate() {
        let name = name.trim_start_matches('\u{feff}');
        if name.trim().is_empty() {
            // Spreadsheets add unnamed trailing columns; any value in one is refused per row.
            mapping.push(None);
            continue;
        }
        match Column::from_name(name) {
            Some(column) if seen[column.index()] => {
                return Err(IssueKind::HeaderDuplicateColumn(column));
            }
            Some(column) => {
                seen[column.index()] = true;
                mapping.push(Some(column));
            }
            None => {
                unknown.push(crate::column::displayable_name(name, i + 1));
                mapping.push(None);
            }
        }
    }
    if !seen.iter().any(|s| *s) {
        return Err(IssueKind::HeaderMissing);
    }
    if !unknown.is_empty() {
        return Err(IssueKind::HeaderUnknownColumns(unknown));
    }
    if !seen[Column::Bsn.index()] && !seen[Column::ClientToken.index()] {
        return Err(IssueKind::HeaderIdentityMissing);
    }
    let missing: Vec<Column> = Column::ALL
        .into_iter()
        .filter(|c| c.required() && !seen[c.index()])
        .collect();
    if !missing.is_empty() {
        return Err(IssueKind::HeaderRequiredMissing(missing));
    }
    Ok(mapping)
}
