//! Checking a whole chain against its key, head and checkpoints.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::log::Head;
use crate::record::{AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE, AuditKey, GENESIS, canonical};
use crate::{AuditError, AuditOptions, AuditRecord, CheckpointSink, Result};

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line number in the log (equal to the sequence number of the record that
    /// belongs there).
    pub line: u64,
    /// What is wrong there.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read up to the break (all of them when intact).
    pub records: u64,
    /// Checkpoints the log was checked against.
    pub checkpoints: u64,
    /// The highest record a checkpoint anchors (0 when none does).
    pub anchored: u64,
    /// The first broken link, if any.
    pub broken: Option<Broken>,
}

/// [`verify_with`] against the embedded default's checkpoints.
pub fn verify(data_dir: &Path) -> Result<VerifyReport> {
    verify_with(data_dir, AuditOptions::default_for(data_dir).sink.as_ref())
}

/// Checks the whole chain of the log in `data_dir`: every line in canonical form, its hash
/// (an HMAC under the audit key) over its content, its link to the line before, its sequence
/// number, the head, and every checkpoint in `sink`: each must be authentic and name a record
/// the log holds, with the hash it has.
pub fn verify_with(data_dir: &Path, sink: &dyn CheckpointSink) -> Result<VerifyReport> {
    let path = data_dir.join(AUDIT_FILE);
    // A shared lock on the log while the log, its head and the checkpoints are read: an
    // append (which holds the exclusive lock from its line to its checkpoint) is never seen
    // half done.
    let file = match std::fs::File::open(&path) {
        Ok(file) => {
            file.lock_shared()?;
            Some(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let head: Option<Head> = match std::fs::read(data_dir.join(AUDIT_HEAD_FILE)) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes).map_err(|e| AuditError::Corrupt {
                path: data_dir.join(AUDIT_HEAD_FILE),
                what: e.to_string(),
            })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let key = AuditKey::open(data_dir)?;
    let mut checkpoints = sink.all()?;
    checkpoints.sort_by_key(|c| c.seq);
    let anchored = checkpoints.last().map_or(0, |c| c.seq);
    let mut report = VerifyReport {
        records: 0,
        checkpoints: checkpoints.len() as u64,
        anchored,
        broken: None,
    };
    let broken = |mut report: VerifyReport, line: u64, reason: String| -> Result<VerifyReport> {
        report.broken = Some(Broken { line, reason });
        Ok(report)
    };
    let Some(key) = key else {
        let records = match &file {
            Some(file) => BufReader::new(file).lines().count() as u64,
            None => 0,
        };
        if records > 0 || head.is_some() || anchored > 0 {
            return broken(
                report,
                1,
                format!(
                    "{AUDIT_KEY_FILE} is missing, so no record can be checked: restore it \
                     from the backup"
                ),
            );
        }
        return Ok(report);
    };
    for checkpoint in &checkpoints {
        if !checkpoint.authentic(&key) {
            return broken(
                report,
                checkpoint.seq,
                format!(
                    "the checkpoint of record {} in {} was not made with the audit key: \
                     forged, or the key was replaced",
                    checkpoint.seq,
                    sink.describe()
                ),
            );
        }
    }
    let mut pending = checkpoints.iter().peekable();
    let mut previous = GENESIS.to_owned();
    let mut before_last = GENESIS.to_owned();
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match file {
        Some(file) => Box::new(BufReader::new(file).lines()),
        None => Box::new(std::iter::empty()),
    };
    for (i, text) in lines.enumerate() {
        let text = text?;
        let number = i as u64 + 1;
        let record: AuditRecord = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(_) => return broken(report, number, "not an audit record".into()),
        };
        let reason = if canonical(&record) != text {
            Some("changed: not as it was written".to_owned())
        } else if record.hash != record.keyed_hash(&key) {
            Some(if number == 1 && record.hash == record.unkeyed_hash() {
                "written without the audit key by an older Spiegel: move audit-log.jsonl and \
                 audit-log.head aside (keep them) to start a keyed log"
                    .to_owned()
            } else {
                "changed or forged: its hash is not the audit key's HMAC of its content".to_owned()
            })
        } else if record.seq != number {
            Some(format!(
                "sequence number {} where {number} was expected: a line before it was removed, \
                 added or moved",
                record.seq
            ))
        } else if record.prev != previous {
            Some("does not follow the line before it: that line was changed or removed".into())
        } else {
            None
        };
        if let Some(reason) = reason {
            return broken(report, number, reason);
        }
        while let Some(checkpoint) = pending.next_if(|c| c.seq == number) {
            if checkpoint.head != record.hash {
                return broken(
                    report,
                    number,
                    format!(
                        "record {number} is not the one the checkpoint of {} anchored: the log \
                         was rewritten up to here",
                        checkpoint.time
                    ),
                );
            }
        }
        before_last = std::mem::replace(&mut previous, record.hash);
        report.records = number;
    }
    let records = report.records;
    if let Some(checkpoint) = pending.next() {
        return broken(
            report,
            records + 1,
            format!(
                "the log ends after record {records}, but the checkpoint of {} anchors record \
                 {}: lines at the end were removed (or the log deleted)",
                checkpoint.time, checkpoint.seq
            ),
        );
    }
    // A writer that stopped between its line and the head leaves the head one record behind
    // (or, after the very first record, absent).
    let stopped_before_head = match &head {
        Some(head) => head.seq + 1 == records && head.hash == before_last,
        None => records == 1,
    };
    match head {
        _ if stopped_before_head => Ok(report),
        Some(head) if head.seq != records || head.hash != previous => broken(
            report,
            records + 1,
            format!(
                "the log ends after record {records}, but record {} was written: lines at the \
                 end were removed",
                head.seq
            ),
        ),
        None if records > 0 => broken(report, 1, format!("{AUDIT_HEAD_FILE} is missing")),
        _ => Ok(report),
    }
}
