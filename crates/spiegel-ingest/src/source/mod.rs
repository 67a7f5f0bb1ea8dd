//! Readers for the three accepted encodings. Each turns its input into [`RawRow`]s of trimmed
//! text fields, one slot per column of format v1, and reports file-level problems itself.

pub(crate) mod csv;
pub(crate) mod jsonl;
pub(crate) mod parquet;

use std::ops::ControlFlow;

use crate::column::COLUMN_COUNT;
use crate::{Column, HeaderProblem, IngestError, IssueKind};

/// The UTF-8 byte order mark that spreadsheet software writes at the start of a file.
pub(crate) const BOM: &[u8] = b"\xef\xbb\xbf";

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
    /// The column names were refused, so the row is not validated; it is still counted, so
    /// the receipt says how many rows the refused file held.
    pub(crate) counted_only: bool,
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

/// Maps header names to columns and checks the header as a whole. Every problem is
/// reported at once, so a provider fixes the header in one go rather than one error a try.
pub(crate) fn map_header<'n>(
    names: impl Iterator<Item = &'n str>,
) -> Result<Vec<Option<Column>>, IssueKind> {
    let mut mapping = Vec::new();
    let mut problems = Vec::new();
    let mut seen = [false; COLUMN_COUNT];
    let mut duplicates = Vec::new();
    for (i, name) in names.enumerate() {
        let name = name.trim_start_matches('\u{feff}');
        if name.trim().is_empty() {
            // Spreadsheets add unnamed trailing columns; any value in one is refused per row.
            mapping.push(None);
            continue;
        }
        match Column::from_name(name) {
            Some(column) if seen[column.index()] => {
                if !duplicates.contains(&column) {
                    duplicates.push(column);
                }
                mapping.push(None);
            }
            Some(column) => {
                seen[column.index()] = true;
                mapping.push(Some(column));
            }
            None => {
                problems.push(HeaderProblem::Unknown {
                    position: i + 1,
                    name: crate::column::repeatable_name(name),
                });
                mapping.push(None);
            }
        }
    }
    if !seen.iter().any(|s| *s) {
        return Err(IssueKind::HeaderMissing);
    }
    problems.extend(duplicates.into_iter().map(HeaderProblem::Duplicate));
    if !seen[Column::Bsn.index()] && !seen[Column::ClientToken.index()] {
        problems.push(HeaderProblem::IdentityMissing);
    }
    problems.extend(
        Column::ALL
            .into_iter()
            .filter(|c| c.required() && !seen[c.index()])
            .map(HeaderProblem::RequiredMissing),
    );
    if problems.is_empty() {
        Ok(mapping)
    } else {
        Err(IssueKind::HeaderInvalid(problems))
    }
}

/// A row as it crosses from the reading thread to the validating one: each column's trimmed
/// text as a range of its batch's text buffer.
#[derive(Debug)]
struct SplitRow {
    line: u64,
    fields: [Option<(u32, u32)>; COLUMN_COUNT],
    problems: Vec<(Option<Column>, IssueKind)>,
    unreadable: bool,
    counted_only: bool,
}

/// Rows read in bulk. Their text is UTF-8 checked and trimmed already, so the validating
/// thread only validates.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    rows: Vec<SplitRow>,
}

const BATCH_ROWS: usize = 4096;

enum Message {
    Batch(Batch),
    End(Result<SourceEnd, IngestError>),
}

/// The reading thread's side of [`pipelined`]: collects rows into batches and sends them on.
pub(crate) struct Batches<'a> {
    sender: &'a std::sync::mpsc::SyncSender<Message>,
    batch: Batch,
}

impl Batches<'_> {
    /// Hands a row on; `Break` once validation has stopped and wants no more.
    pub(crate) fn push(&mut self, row: RawRow<'_>) -> ControlFlow<()> {
        let text = &mut self.batch.text;
        let fields = row.fields.map(|field| {
            field.map(|value| {
                let start = text.len() as u32;
                text.push_str(value);
                (start, text.len() as u32)
            })
        });
        self.batch.rows.push(SplitRow {
            line: row.line,
            fields,
            problems: row.problems,
            unreadable: row.unreadable,
            counted_only: row.counted_only,
        });
        if self.batch.rows.len() < BATCH_ROWS {
            return ControlFlow::Continue(());
        }
        self.flush()
    }

    fn flush(&mut self) -> ControlFlow<()> {
        if self.batch.rows.is_empty() {
            return ControlFlow::Continue(());
        }
        match self
            .sender
            .send(Message::Batch(std::mem::take(&mut self.batch)))
        {
            Ok(()) => ControlFlow::Continue(()),
            // The receiver is gone only when validation stopped early.
            Err(_) => ControlFlow::Break(()),
        }
    }
}

/// Reads on two threads: `read` runs on a reading thread and pushes rows as it parses them;
/// this thread validates them through `sink`, in order. A file that fills the reading thread's
/// batches faster than they are validated waits: at most a few batches are in flight.
pub(crate) fn pipelined<F>(read: F, sink: &mut Sink<'_>) -> Result<SourceEnd, IngestError>
where
    F: FnOnce(&mut Batches<'_>) -> Result<SourceEnd, IngestError> + Send,
{
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        scope.spawn(move || {
            let mut batches = Batches {
                sender: &sender,
                batch: Batch::default(),
            };
            let end = read(&mut batches);
            if batches.flush().is_continue() {
                // As in `flush`, a send fails only when nobody listens any more.
                let _ = sender.send(Message::End(end));
            }
        });
        for message in receiver {
            let batch = match message {
                Message::Batch(batch) => batch,
                Message::End(end) => return end,
            };
            for row in batch.rows {
                let mut fields: Fields<'_> = [None; COLUMN_COUNT];
                for (slot, range) in fields.iter_mut().zip(row.fields) {
                    // Ranges were cut at the ends of pushed strings: always char boundaries.
                    *slot = range.and_then(|(a, b)| batch.text.get(a as usize..b as usize));
                }
                let row = RawRow {
                    line: row.line,
                    fields,
                    problems: row.problems,
                    unreadable: row.unreadable,
                    counted_only: row.counted_only,
                };
                if let ControlFlow::Break(issue) = sink(row) {
                    return Ok(Some(issue));
                }
            }
        }
        Ok(None)
    })
}
