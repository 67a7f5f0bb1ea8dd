//! Anchors of the chain outside the API's reach, and where they are kept.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::record::{AUDIT_CHECKPOINTS_DIR, AuditKey, CHECKPOINT_DOMAIN};
use crate::{AuditError, Result};

/// An anchor of the chain: record `seq` has hash `head`. Kept outside the API's reach, it
/// turns cutting, rewriting or re-chaining the log up to that record into a detectable break.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The record anchored.
    pub seq: u64,
    /// Its hash: the chain's head when the checkpoint was made.
    pub head: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// HMAC-SHA256 under the audit key over the fields above, hex.
    pub mac: String,
}

impl Checkpoint {
    pub(crate) fn new(key: &AuditKey, seq: u64, head: &str, time: &str) -> Self {
        Self {
            seq,
            head: head.to_owned(),
            time: time.to_owned(),
            mac: key.tag(CHECKPOINT_DOMAIN, Self::signed(seq, head, time).as_bytes()),
        }
    }

    fn signed(seq: u64, head: &str, time: &str) -> String {
        format!("{seq}\n{head}\n{time}")
    }

    pub(crate) fn authentic(&self, key: &AuditKey) -> bool {
        let expected = key.tag(
            CHECKPOINT_DOMAIN,
            Self::signed(self.seq, &self.head, &self.time).as_bytes(),
        );
        crate::constant_time_eq(expected.as_bytes(), self.mac.as_bytes())
    }

    /// The checkpoint as stored: one JSON object.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and a number cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A stored checkpoint.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Where checkpoints go: somewhere the API can add to but cannot rewrite or remove from.
pub trait CheckpointSink: Send + Sync + std::fmt::Debug {
    /// Stores `checkpoint` durably (storing the same one twice is harmless).
    fn put(&self, checkpoint: &Checkpoint) -> Result<()>;
    /// Every checkpoint stored, in any order.
    fn all(&self) -> Result<Vec<Checkpoint>>;
    /// Where they are, for messages.
    fn describe(&self) -> String;
}

/// Checkpoints as create-only files (`O_EXCL`, mode 0400) in a directory, one per anchored
/// record. Weaker than a Kafka topic: it protects the log only when the directory is on a
/// volume the API's user cannot rewrite (a separately mounted, append-only volume, or a
/// write-once object store mount); in the data directory itself it only catches accidents.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    dir: PathBuf,
}

impl DirectorySink {
    /// Checkpoints in `dir` (created, mode 0700, when absent).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn file(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }
}

impl CheckpointSink for DirectorySink {
    fn put(&self, checkpoint: &Checkpoint) -> Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)?;
        let path = self.file(checkpoint.seq);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Read-only from the start: the open descriptor may write, nobody opens it again for
        // writing.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o400);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(&checkpoint.to_bytes())?;
                file.sync_all()?;
                std::fs::File::open(&self.dir)?.sync_all()?;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let existing = std::fs::read(&path)?;
                match Checkpoint::from_bytes(&existing) {
                    Some(c) if c.seq == checkpoint.seq && c.head == checkpoint.head => Ok(()),
                    _ => Err(AuditError::Checkpoint(format!(
                        "{} already anchors record {} with another hash: the log was rewritten \
                         (run `spiegel audit verify`)",
                        path.display(),
                        checkpoint.seq
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn all(&self) -> Result<Vec<Checkpoint>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            // A writer stopped between creating the file and writing it leaves it empty.
            if bytes.is_empty() {
                continue;
            }
            found.push(Checkpoint::from_bytes(&bytes).ok_or_else(|| {
                AuditError::Checkpoint(format!("{} is not a checkpoint", path.display()))
            })?);
        }
        Ok(found)
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// How a log is anchored.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Where checkpoints go and are read from.
    pub sink: Arc<dyn CheckpointSink>,
    /// A checkpoint after every this many records (by sequence number, so every process
    /// appending to the log agrees); 0 leaves it to [`AuditLog::checkpoint`](crate::AuditLog::checkpoint).
    pub checkpoint_every: u64,
}

impl AuditOptions {
    /// The embedded default: checkpoints in `<data_dir>/audit-checkpoints`, one per 100
    /// records.
    pub fn default_for(data_dir: &Path) -> Self {
        Self {
            sink: Arc::new(DirectorySink::new(data_dir.join(AUDIT_CHECKPOINTS_DIR))),
            checkpoint_every: 100,
        }
    }
}
