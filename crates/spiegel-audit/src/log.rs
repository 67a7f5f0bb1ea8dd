//! The log, open for appending.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::{
    AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE, AuditKey, GENESIS, bounded, canonical,
};
use crate::verify::verify_with;
use crate::{AuditError, AuditOptions, AuditRecord, Checkpoint, Entry, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) hash: String,
}

/// The log, open for appending. Appends from several threads and several processes (the
/// server, `spiegel tokens`, …) are serialised by an exclusive lock on the log file, and
/// each continues from the chain's tip on disk, not from what this process last wrote.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    head_path: PathBuf,
    key: AuditKey,
    options: AuditOptions,
    /// The highest record this process anchored (or found anchored), under the append lock.
    in_process: Mutex<u64>,
    checkpoint_failures: AtomicU64,
}

impl AuditLog {
    /// Opens the log in `data_dir` anchored as [`AuditOptions::default_for`] says.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(data_dir, AuditOptions::default_for(data_dir))
    }

    /// Opens the log in `data_dir`, refusing one whose chain is broken or disagrees with its
    /// checkpoints: appending to it would bury the evidence (`spiegel audit verify` says where
    /// it broke). A new log gets a new key.
    pub fn open_with(data_dir: &Path, options: AuditOptions) -> Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(AUDIT_FILE);
        let head_path = data_dir.join(AUDIT_HEAD_FILE);
        let empty = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.len() == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e.into()),
        };
        // Only a log without records may get a new key: for one with records a missing key is
        // a break `verify` reports.
        if empty && !head_path.exists() {
            AuditKey::open_or_create(data_dir)?;
        }
        let report = verify_with(data_dir, options.sink.as_ref())?;
        if let Some(broken) = report.broken {
            return Err(AuditError::Corrupt {
                path,
                what: format!(
                    "the audit log is broken at line {}: {}; it is left as it is for \
                     investigation / het auditlog is gebroken op regel {}",
                    broken.line, broken.reason, broken.line
                ),
            });
        }
        let key = AuditKey::open(data_dir)?.ok_or_else(|| AuditError::Corrupt {
            path: data_dir.join(AUDIT_KEY_FILE),
            what: "the audit key is missing".into(),
        })?;
        // A log written before logs were private is made private now.
        #[cfg(unix)]
        if path.exists() {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        }
        Ok(Self {
            path,
            head_path,
            key,
            options,
            in_process: Mutex::new(report.anchored),
            checkpoint_failures: AtomicU64::new(0),
        })
    }

    /// Checkpoints that could not be written (each is tried again with the next append and
    /// the next [`AuditLog::checkpoint`]).
    pub fn checkpoint_failures(&self) -> u64 {
        self.checkpoint_failures.load(Ordering::Relaxed)
    }

    fn open_file(&self) -> Result<std::fs::File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).read(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&self.path)?;
        // Held until `file` is dropped.
        file.lock()?;
        Ok(file)
    }

    /// Appends one record, durably (the line, then the head, each synced to disk), and
    /// returns it; writes a checkpoint when one is due.
    pub fn append(&self, entry: Entry, time: &str) -> Result<AuditRecord> {
        let mut anchored = self
            .in_process
            .lock()
            .map_err(|_| std::io::Error::other("an earlier append panicked"))?;
        let mut file = self.open_file()?;
        let last = self.tip(&mut file)?;
        let mut record = AuditRecord {
            seq: last.seq + 1,
            time: time.to_owned(),
            actor: entry.actor.to_string(),
            on_behalf_of: entry.on_behalf_of.map(|p| p.to_string()),
            action: entry.action,
            object: bounded(entry.object),
            outcome: entry.outcome,
            prev: last.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.keyed_hash(&self.key);
        let mut line = canonical(&record);
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        let head = Head {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        spiegel_core::durable::write_private_atomically(
            &self.head_path,
            &serde_json::to_vec(&head).map_err(|e| std::io::Error::other(e.to_string()))?,
        )?;
        let every = self.options.checkpoint_every;
        // Also when an earlier checkpoint failed: the anchor catches up as soon as it can.
        let due = every > 0
            && (record.seq.is_multiple_of(every) || record.seq.saturating_sub(*anchored) > every);
        if due {
            self.anchor(&mut anchored, &head, time);
        }
        Ok(record)
    }

    /// Writes a checkpoint of the chain's head now, unless it is anchored already; the
    /// server calls this periodically, so a quiet log is anchored too.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        let mut anchored = self
            .in_process
            .lock()
            .map_err(|_| std::io::Error::other("an earlier append panicked"))?;
        let mut file = self.open_file()?;
        let head = self.tip(&mut file)?;
        if head.seq == 0 || head.seq <= *anchored {
            return Ok(None);
        }
        let checkpoint = Checkpoint::new(&self.key, head.seq, &head.hash, &crate::now());
        self.options.sink.put(&checkpoint)?;
        *anchored = head.seq;
        Ok(Some(checkpoint))
    }

    /// Writes a checkpoint of `head`; a failure is logged and counted, not returned: the
    /// record is written and the change it records may go ahead, and the next append or
    /// periodic checkpoint anchors it.
    fn anchor(&self, anchored: &mut u64, head: &Head, time: &str) {
        let checkpoint = Checkpoint::new(&self.key, head.seq, &head.hash, time);
        match self.options.sink.put(&checkpoint) {
            Ok(()) => *anchored = head.seq,
            Err(e) => {
                self.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, sink = %self.options.sink.describe(), seq = head.seq, "an audit checkpoint could not be written; trying again with the next record");
            }
        }
    }

    /// The chain's tip: the last line of the log, which must be a record of this key and
    /// agree with the head file (or be exactly one record past it, when a writer stopped
    /// between the two). Anything else means the log was changed, and nothing is appended.
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
        let tampered = |what: &str| AuditError::Corrupt {
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
        if record.hash != record.keyed_hash(&self.key) {
            return Err(tampered("the last line was not written with the audit key"));
        }
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
