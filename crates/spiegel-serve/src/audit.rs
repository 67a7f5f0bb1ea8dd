//! The audit log (NEN 7513 style, SPEC §10): one append-only JSON line per action, saying who,
//! on whose behalf, what, on which object, when and with what outcome, and never naming a
//! child. Each line carries the SHA-256 of the line before it and of its own content, so
//! editing or removing any line breaks the chain at that line; a head file beside the log
//! holds the last sequence number and hash, so removing lines at the end shows too.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::digest::{SHA256, digest};

use crate::{Principal, Result, ServeError};

/// The log file in the data directory.
pub const AUDIT_FILE: &str = "audit-log.jsonl";
/// The head file beside it: the last record's sequence number and hash.
pub const AUDIT_HEAD_FILE: &str = "audit-log.head";

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A submission was uploaded.
    SubmissionUpload,
    /// A submission's status or receipt was read.
    ReceiptRead,
    /// A release was published.
    Release,
    /// A report was read.
    ReportRead,
    /// A mirror report was shared (or unshared) with a municipality.
    Share,
    /// A provider's explanation was attached to a mirror report.
    Annotation,
    /// A token was created.
    TokenCreate,
    /// A token was revoked.
    TokenRevoke,
    /// A client-certificate subject was registered for a principal.
    CertificateAdd,
    /// A client-certificate subject was removed.
    CertificateRemove,
    /// A pseudonymisation key was used, introduced or destroyed.
    KeyUse,
    /// The audit log was read or verified.
    AuditRead,
    /// A webhook subscription was registered or removed.
    Subscription,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused: no valid credentials, or not this principal's resource.
    Denied,
    /// Refused: invalid input.
    Rejected,
    /// Failed on Spiegel's side.
    Error,
}

/// Who acted: a principal, or a stage of the pipeline acting on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An authenticated principal.
    Principal(Principal),
    /// A pipeline stage (`publish`, `pseudonymise`, …).
    System(&'static str),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Principal(p) => p.fmt(f),
            Self::System(stage) => write!(f, "system:{stage}"),
        }
    }
}

/// One action to record. `object` names the resource (a submission id, a report path, a token
/// id, a key version): never a BSN, token, key or pseudonym.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub actor: Actor,
    /// On whose behalf, when not the actor's own.
    pub on_behalf_of: Option<Principal>,
    /// What.
    pub action: Action,
    /// On which resource.
    pub object: String,
    /// With what result.
    pub outcome: Outcome,
}

/// A line of the log. The field order is the canonical form the hash covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1 for the first record, then one more per record.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Who (`provider:12345678`, `gemeente:GM0363`, `operator:alice`, `system:publish`).
    pub actor: String,
    /// On whose behalf, when not the actor's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// What.
    pub action: Action,
    /// On which resource.
    pub object: String,
    /// With what result.
    pub outcome: Outcome,
    /// The hash of the record before (64 zeros for the first).
    pub prev: String,
    /// SHA-256 of this record's canonical JSON with `hash` empty, hex.
    pub hash: String,
}

impl AuditRecord {
    fn content_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        hex::encode(digest(&SHA256, canonical(&body).as_bytes()))
    }
}

fn canonical(record: &AuditRecord) -> String {
    // Serialising a struct of strings and enums cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The log, open for appending. Appends from several threads and several processes (the
/// server, `spiegel tokens`, …) are serialised by an exclusive lock on the log file, and
/// each continues from the chain's tip on disk, not from what this process last wrote.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    head_path: PathBuf,
    in_process: Mutex<()>,
}

impl AuditLog {
    /// Opens the log in `data_dir`, refusing one whose chain is broken: appending to it would
    /// bury the evidence (`spiegel audit verify` says where it broke).
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(AUDIT_FILE);
        let head_path = data_dir.join(AUDIT_HEAD_FILE);
        let report = verify(data_dir)?;
        if let Some(broken) = report.broken {
            return Err(ServeError::Corrupt {
                path,
                what: format!(
                    "the audit log is broken at line {}: {}; it is left as it is for \
                     investigation / het auditlog is gebroken op regel {}",
                    broken.line, broken.reason, broken.line
                ),
            });
        }
        Ok(Self {
            path,
            head_path,
            in_process: Mutex::new(()),
        })
    }

    /// Appends one record, durably (the line and then the head are synced to disk), and
    /// returns it.
    pub fn append(&self, entry: Entry, time: &str) -> Result<AuditRecord> {
        let _in_process = self
            .in_process
            .lock()
            .map_err(|_| std::io::Error::other("an earlier append panicked"))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        // Held until `file` is dropped at the end of this append.
        file.lock()?;
        let last = self.tip(&mut file)?;
        let mut record = AuditRecord {
            seq: last.seq + 1,
            time: time.to_owned(),
            actor: entry.actor.to_string(),
            on_behalf_of: entry.on_behalf_of.map(|p| p.to_string()),
            action: entry.action,
            object: entry.object,
            outcome: entry.outcome,
            prev: last.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.content_hash();
        let mut line = canonical(&record);
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        let head = Head {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        let temporary = self.head_path.with_extension("head.tmp");
        std::fs::write(
            &temporary,
            serde_json::to_vec(&head).map_err(|e| std::io::Error::other(e.to_string()))?,
        )?;
        std::fs::rename(&temporary, &self.head_path)?;
        Ok(record)
    }

    /// The chain's tip: the last line of the log, which must agree with the head file (or be
    /// exactly one record past it, when a writer stopped between the two). Anything else means
    /// the log was changed, and nothing is appended.
    fn tip(&self, file: &mut std::fs::File) -> Result<Head> {
        use std::io::{Read as _, Seek as _, SeekFrom};
        let length = file.seek(SeekFrom::End(0))?;
        // The last line whole, however long a record is: the window grows until a newline
        // stands before the last line or it holds the whole log (a record longer than any
        // fixed window would otherwise wedge every later append).
        let mut window = length.min(64 * 1024);
        let tail = loop {
            file.seek(SeekFrom::Start(length - window))?;
            let mut tail = Vec::with_capacity(window as usize);
            file.read_to_end(&mut tail)?;
            let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
            if window == length || body.contains(&b'\n') {
                break tail;
            }
            window = window.saturating_mul(2).min(length);
        };
        let last_line = tail
            .strip_suffix(b"\n")
            .unwrap_or(&tail)
            .rsplit(|&b| b == b'\n')
            .next()
            .filter(|l| !l.is_empty());
        let head: Option<Head> = match std::fs::read(&self.head_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let tampered = |what: &str| ServeError::Corrupt {
            path: self.path.clone(),
            what: format!(
                "{what}; nothing appended (run `spiegel audit verify`) / er is niets \
                 toegevoegd"
            ),
        };
        let Some(line) = last_line else {
            return match head {
                None => Ok(Head {
                    seq: 0,
                    hash: GENESIS.to_owned(),
                }),
                Some(_) => Err(tampered("the log is empty but its head names a record")),
            };
        };
        let record: AuditRecord =
            serde_json::from_slice(line).map_err(|_| tampered("the last line is not a record"))?;
        let tip = Head {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        // A writer stopped after its very first line has not written a head yet: the chain
        // then starts from the genesis, as `verify` accepts.
        let head = head.unwrap_or_else(|| Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        });
        if head == tip || (head.seq + 1 == record.seq && head.hash == record.prev) {
            Ok(tip)
        } else {
            Err(tampered("the last line does not match the head"))
        }
    }
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line number in the log.
    pub line: u64,
    /// What is wrong there.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read up to the break (all of them when intact).
    pub records: u64,
    /// The first broken link, if any.
    pub broken: Option<Broken>,
}

/// Checks the whole chain of the log in `data_dir`: every line in canonical form, its hash
/// over its content, its link to the line before, its sequence number, and the head.
pub fn verify(data_dir: &Path) -> Result<VerifyReport> {
    let path = data_dir.join(AUDIT_FILE);
    // A shared lock on the log while the log and its head are read: an append (which holds
    // the exclusive lock from its line to its head) is never seen half done.
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
            serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupt {
                path: data_dir.join(AUDIT_HEAD_FILE),
                what: e.to_string(),
            })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let lines: Vec<String> = match file {
        Some(file) => BufReader::new(file)
            .lines()
            .collect::<std::io::Result<_>>()?,
        None => Vec::new(),
    };
    let mut previous = GENESIS.to_owned();
    let mut before_last = GENESIS.to_owned();
    let mut records = 0;
    let broken = |line: u64, reason: String, records: u64| VerifyReport {
        records,
        broken: Some(Broken { line, reason }),
    };
    for (i, text) in lines.iter().enumerate() {
        let number = i as u64 + 1;
        let record: AuditRecord = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => {
                return Ok(broken(number, "not an audit record".into(), records));
            }
        };
        let reason = if canonical(&record) != *text {
            Some("changed: not as it was written".to_owned())
        } else if record.hash != record.content_hash() {
            Some("changed: its hash does not match its content".to_owned())
        } else if record.seq != number {
            Some(format!(
                "sequence number {} where {number} was expected: a line before it was removed \
                 or added",
                record.seq
            ))
        } else if record.prev != previous {
            Some("does not follow the line before it: that line was changed or removed".into())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Ok(broken(number, reason, records));
        }
        before_last = std::mem::replace(&mut previous, record.hash);
        records = number;
    }
    // A writer that stopped between its line and the head leaves the head one record behind
    // (or, after the very first record, absent).
    let stopped_before_head = match &head {
        Some(head) => head.seq + 1 == records && head.hash == before_last,
        None => records == 1,
    };
    match head {
        _ if stopped_before_head => Ok(VerifyReport {
            records,
            broken: None,
        }),
        Some(head) if head.seq != records || head.hash != previous => Ok(broken(
            records + 1,
            format!(
                "the log ends after record {records}, but record {} was written: lines at the \
                 end were removed",
                head.seq
            ),
            records,
        )),
        None if records > 0 => Ok(broken(1, format!("{AUDIT_HEAD_FILE} is missing"), records)),
        _ => Ok(VerifyReport {
            records,
            broken: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            actor: if n.is_multiple_of(2) {
                Actor::Principal(Principal::provider("12345678").unwrap())
            } else {
                Actor::System("publish")
            },
            on_behalf_of: None,
            action: Action::ReportRead,
            object: format!("release=abc/municipality/period=2026-H1/municipality=GM0363/{n}"),
            outcome: Outcome::Success,
        }
    }

    fn written(n: usize) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..n {
            log.append(entry(i), "2026-11-23T12:00:00Z").unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        let lines = text.lines().map(str::to_owned).collect();
        (dir, lines)
    }

    #[test]
    fn a_record_longer_than_any_read_window_does_not_wedge_the_log() {
        // Issue 26: one request for a 126 KB report id made every later append fail.
        let (dir, _) = written(2);
        let log = AuditLog::open(dir.path()).unwrap();
        let long = Entry {
            object: "\u{1}".repeat(200_000),
            ..entry(2)
        };
        log.append(long, "2026-11-23T12:01:00Z").unwrap();
        let record = log.append(entry(3), "2026-11-23T12:02:00Z").unwrap();
        assert_eq!(record.seq, 4);
        let reopened = AuditLog::open(dir.path()).unwrap();
        assert_eq!(
            reopened
                .append(entry(4), "2026-11-23T12:03:00Z")
                .unwrap()
                .seq,
            5
        );
        assert_eq!(verify(dir.path()).unwrap().records, 5);
    }

    #[test]
    fn an_intact_log_verifies_and_continues_after_reopening() {
        let (dir, lines) = written(5);
        assert_eq!(lines.len(), 5);
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.broken), (5, None));
        let log = AuditLog::open(dir.path()).unwrap();
        let record = log.append(entry(5), "2026-11-23T12:01:00Z").unwrap();
        assert_eq!(record.seq, 6);
        assert_eq!(verify(dir.path()).unwrap().records, 6);
    }

    #[test]
    fn a_writer_stopped_between_its_line_and_the_head_is_continued() {
        // As a stage whose drain watchdog (or SIGKILL) ends it mid-append leaves the log.
        for n in [1, 4] {
            let (dir, _) = written(n);
            let head_path = dir.path().join(AUDIT_HEAD_FILE);
            if n == 1 {
                std::fs::remove_file(&head_path).unwrap();
            } else {
                // The head as it was before the last line.
                let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
                let before: AuditRecord =
                    serde_json::from_str(text.lines().nth(n - 2).unwrap()).unwrap();
                let head = Head {
                    seq: before.seq,
                    hash: before.hash,
                };
                std::fs::write(&head_path, serde_json::to_vec(&head).unwrap()).unwrap();
            }
            assert_eq!(verify(dir.path()).unwrap().broken, None, "{n} records");
            let log = AuditLog::open(dir.path()).unwrap();
            let record = log.append(entry(n), "2026-11-23T12:01:00Z").unwrap();
            assert_eq!(record.seq, n as u64 + 1);
            let report = verify(dir.path()).unwrap();
            assert_eq!((report.records, report.broken), (n as u64 + 1, None));
        }
        // Without a head, a log of more than one record was cut or tampered with.
        let (dir, _) = written(2);
        std::fs::remove_file(dir.path().join(AUDIT_HEAD_FILE)).unwrap();
        assert!(AuditLog::open(dir.path()).is_err());
    }

    #[test]
    fn two_writers_of_one_log_keep_one_chain() {
        // As the server and `spiegel tokens` do: each opened the log before the other wrote.
        let dir = tempfile::tempdir().unwrap();
        let server = AuditLog::open(dir.path()).unwrap();
        let cli = AuditLog::open(dir.path()).unwrap();
        for i in 0..6 {
            let writer = if i % 3 == 0 { &cli } else { &server };
            assert_eq!(
                writer.append(entry(i), "2026-11-23T12:00:00Z").unwrap().seq,
                i as u64 + 1
            );
        }
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.broken), (6, None));
        // A log cut short under a running writer is not continued.
        let path = dir.path().join(AUDIT_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text.lines().take(4).collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        assert!(server.append(entry(7), "2026-11-23T12:00:00Z").is_err());
    }

    #[test]
    fn editing_or_removing_any_line_breaks_the_chain_at_that_line() {
        let (dir, lines) = written(6);
        let path = dir.path().join(AUDIT_FILE);
        let head = std::fs::read(dir.path().join(AUDIT_HEAD_FILE)).unwrap();
        for at in 0..lines.len() {
            // Edited: another object, hash left as it was.
            let mut edited = lines.clone();
            edited[at] = edited[at].replace("GM0363", "GM0344");
            std::fs::write(&path, edited.join("\n") + "\n").unwrap();
            let report = verify(dir.path()).unwrap();
            assert_eq!(
                report.broken.unwrap().line,
                at as u64 + 1,
                "edit of line {at}"
            );
            // Edited and re-hashed by someone without the rest of the chain.
            let mut record: AuditRecord = serde_json::from_str(&lines[at]).unwrap();
            record.outcome = Outcome::Denied;
            record.hash = record.content_hash();
            let mut rehashed = lines.clone();
            rehashed[at] = canonical(&record);
            std::fs::write(&path, rehashed.join("\n") + "\n").unwrap();
            let line = verify(dir.path()).unwrap().broken.unwrap().line;
            // The next line's link (or, for the last line, the head) no longer matches.
            assert_eq!(
                line,
                at as u64 + 2,
                "re-hashed line {at} breaks the next link"
            );
            // Removed.
            let mut removed = lines.clone();
            removed.remove(at);
            std::fs::write(&path, removed.join("\n") + "\n").unwrap();
            let report = verify(dir.path()).unwrap();
            assert_eq!(
                report.broken.unwrap().line,
                at as u64 + 1,
                "removal of line {at}"
            );
            std::fs::write(dir.path().join(AUDIT_HEAD_FILE), &head).unwrap();
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert_eq!(verify(dir.path()).unwrap().broken, None);
        // A broken log is not appended to.
        std::fs::write(&path, lines[1..].join("\n") + "\n").unwrap();
        assert!(AuditLog::open(dir.path()).is_err());
    }
}
