//! The audit log (NEN 7513 style, docs/serving.md): one append-only JSON line per action, saying
//! who, on whose behalf, what, on which object, when and with what outcome, and never naming a
//! child.
//!
//! Each line carries the hash of the line before it and its own hash, an HMAC-SHA256 of its
//! content under the audit key (`audit.key` in the data directory, mode 0600, generated with
//! the log and never logged). Editing, removing, reordering or adding a line breaks the chain
//! at that line, and without the key nobody can write a chain that verifies. A head file
//! beside the log holds the last sequence number and hash, so removing lines at the end shows
//! too; both files are fsynced on every append.
//!
//! Someone who holds the API's disk holds the key as well, and could cut the log short,
//! rewrite its head or re-chain it. Against that the chain is anchored: every
//! [`AuditOptions::checkpoint_every`] records (and on [`AuditLog::checkpoint`]) a
//! [`Checkpoint`] (sequence number and chain head, HMACed) goes to a [`CheckpointSink`] the API
//! can add to but not rewrite: a Kafka topic, or create-only files on a separately mounted
//! volume ([`DirectorySink`]). [`verify`] checks the log against every checkpoint.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ring::digest::{SHA256, digest};

use crate::{Principal, Result, ServeError};

/// The log file in the data directory.
pub const AUDIT_FILE: &str = "audit-log.jsonl";
/// The head file beside it: the last record's sequence number and hash.
pub const AUDIT_HEAD_FILE: &str = "audit-log.head";
/// The key of the chain, beside the log (mode 0600).
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// Where the embedded default keeps its checkpoints: a directory in the data directory, which
/// is only as safe as the data directory (mount a separate, append-only volume there, or name
/// one with `--audit-checkpoints`).
pub const AUDIT_CHECKPOINTS_DIR: &str = "audit-checkpoints";

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest object a record names. The API bounds every input before it is recorded; this
/// is the last line of defence, so that no caller can make a record of unbounded size.
const MAX_OBJECT_BYTES: usize = 1024;

/// Separates the MACs of records from those of checkpoints, so neither can pass for the other.
const RECORD_DOMAIN: &[u8] = b"spiegel-audit-record-v2\n";
const CHECKPOINT_DOMAIN: &[u8] = b"spiegel-audit-checkpoint-v1\n";

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
    /// A webhook subscription was registered, removed or disabled.
    Subscription,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done (or, recorded before a change, about to be done: a change that then fails is
    /// followed by a record with [`Outcome::Error`]).
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
    /// HMAC-SHA256 under the audit key of this record's canonical JSON with `hash` empty, hex.
    pub hash: String,
}

impl AuditRecord {
    fn keyed_hash(&self, key: &AuditKey) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        key.tag(RECORD_DOMAIN, canonical(&body).as_bytes())
    }

    /// The unkeyed hash an older Spiegel wrote, to recognise such a log.
    fn unkeyed_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        hex::encode(digest(&SHA256, canonical(&body).as_bytes()))
    }
}

fn canonical(record: &AuditRecord) -> String {
    // Serialising a struct of strings and enums cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

/// `object` cut to [`MAX_OBJECT_BYTES`] at a character boundary, saying how much was cut.
fn bounded(mut object: String) -> String {
    if object.len() <= MAX_OBJECT_BYTES {
        return object;
    }
    let total = object.len();
    let mut end = MAX_OBJECT_BYTES;
    while !object.is_char_boundary(end) {
        end -= 1;
    }
    object.truncate(end);
    object.push_str(&format!("…(cut, {total} bytes)"));
    object
}

/// The key of the audit chain. Never printed: its `Debug` shows nothing of it.
pub struct AuditKey {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// The key in `data_dir`, or None when there is none.
    pub fn open(data_dir: &Path) -> Result<Option<Self>> {
        let path = data_dir.join(AUDIT_KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| ServeError::Corrupt {
                path,
                what: "not an audit key (64 hex digits); restore it from the backup / geen \
                       auditsleutel"
                    .into(),
            })?;
        Ok(Some(Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
        }))
    }

    /// The key in `data_dir`, generated (256 random bits, mode 0600) when there is none yet.
    /// Two processes generating at once agree on one: the key appears create-only, whole.
    fn open_or_create(data_dir: &Path) -> Result<Self> {
        if let Some(key) = Self::open(data_dir)? {
            return Ok(key);
        }
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| std::io::Error::other("the system random source failed"))?;
        let path = data_dir.join(AUDIT_KEY_FILE);
        let temporary = data_dir.join(format!(".{AUDIT_KEY_FILE}.{}.tmp", std::process::id()));
        spiegel_core::durable::write_private_atomically(
            &temporary,
            format!("{}\n", hex::encode(bytes)).as_bytes(),
        )?;
        // A hard link fails when the name exists: whoever links first has generated the key.
        let linked = std::fs::hard_link(&temporary, &path);
        std::fs::remove_file(&temporary)?;
        match linked {
            Ok(()) => {
                std::fs::File::open(data_dir)?.sync_all()?;
                tracing::info!(file = %path.display(), "generated the audit key");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        Self::open(data_dir)?.ok_or_else(|| {
            ServeError::Io(std::io::Error::other(
                "the audit key vanished as it was made",
            ))
        })
    }

    fn tag(&self, domain: &[u8], bytes: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(domain);
        context.update(bytes);
        hex::encode(context.sign().as_ref())
    }
}

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
    fn new(key: &AuditKey, seq: u64, head: &str, time: &str) -> Self {
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

    fn authentic(&self, key: &AuditKey) -> bool {
        let expected = key.tag(
            CHECKPOINT_DOMAIN,
            Self::signed(self.seq, &self.head, &self.time).as_bytes(),
        );
        crate::tokens::constant_time_eq(expected.as_bytes(), self.mac.as_bytes())
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
                    _ => Err(ServeError::Checkpoint(format!(
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
                ServeError::Checkpoint(format!("{} is not a checkpoint", path.display()))
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
    /// appending to the log agrees); 0 leaves it to [`AuditLog::checkpoint`].
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
            return Err(ServeError::Corrupt {
                path,
                what: format!(
                    "the audit log is broken at line {}: {}; it is left as it is for \
                     investigation / het auditlog is gebroken op regel {}",
                    broken.line, broken.reason, broken.line
                ),
            });
        }
        let key = AuditKey::open(data_dir)?.ok_or_else(|| ServeError::Corrupt {
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
            serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupt {
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

    /// A log of `n` records anchored by a checkpoint after every `every`.
    fn anchored(n: usize, every: u64) -> (tempfile::TempDir, Vec<String>, AuditOptions) {
        let dir = tempfile::tempdir().unwrap();
        let options = AuditOptions {
            checkpoint_every: every,
            ..AuditOptions::default_for(dir.path())
        };
        let log = AuditLog::open_with(dir.path(), options.clone()).unwrap();
        for i in 0..n {
            log.append(entry(i), "2026-11-23T12:00:00Z").unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        let lines = text.lines().map(str::to_owned).collect();
        (dir, lines, options)
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
        // The object was cut to a bounded size, saying so.
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        let third = text.lines().nth(2).unwrap();
        assert!(third.len() < 8 * MAX_OBJECT_BYTES, "{}", third.len());
        assert!(third.contains("(cut, 200000 bytes)"));
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

    #[cfg(unix)]
    #[test]
    fn the_log_its_head_and_its_key_are_private_and_the_key_is_never_shown() {
        use std::os::unix::fs::PermissionsExt as _;
        let (dir, lines) = written(2);
        for file in [AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let key = std::fs::read_to_string(dir.path().join(AUDIT_KEY_FILE)).unwrap();
        let key = key.trim();
        assert_eq!(key.len(), 64);
        let log = AuditLog::open(dir.path()).unwrap();
        assert!(!format!("{log:?}").contains(key));
        assert!(lines.iter().all(|l| !l.contains(key)));
    }

    #[test]
    fn checkpoints_are_written_every_n_records_create_only_and_read_only() {
        let (dir, _, options) = anchored(7, 3);
        let mut checkpoints = options.sink.all().unwrap();
        checkpoints.sort_by_key(|c| c.seq);
        assert_eq!(
            checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [3, 6]
        );
        let report = verify(dir.path()).unwrap();
        assert_eq!(
            (report.records, report.checkpoints, report.broken),
            (7, 2, None)
        );
        let file = dir
            .path()
            .join(AUDIT_CHECKPOINTS_DIR)
            .join(format!("{:020}.json", 3));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o400);
        }
        // The same checkpoint again is harmless; another one for the same record is refused.
        options.sink.put(&checkpoints[0]).unwrap();
        let mut other = checkpoints[0].clone();
        other.head = GENESIS.to_owned();
        assert!(options.sink.put(&other).is_err());
        // A forced checkpoint anchors the head now, once.
        let log = AuditLog::open_with(dir.path(), options.clone()).unwrap();
        assert_eq!(log.checkpoint().unwrap().map(|c| c.seq), Some(7));
        assert_eq!(log.checkpoint().unwrap(), None);
    }

    #[test]
    fn cutting_the_log_and_rewriting_its_head_is_found_by_the_checkpoints() {
        let (dir, lines, options) = anchored(6, 2);
        let path = dir.path().join(AUDIT_FILE);
        // Cut after record 3 with a head that agrees: the chain alone cannot tell.
        std::fs::write(&path, lines[..3].join("\n") + "\n").unwrap();
        let last: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
        let head = Head {
            seq: last.seq,
            hash: last.hash,
        };
        std::fs::write(
            dir.path().join(AUDIT_HEAD_FILE),
            serde_json::to_vec(&head).unwrap(),
        )
        .unwrap();
        let broken = verify(dir.path()).unwrap().broken.unwrap();
        assert_eq!(broken.line, 4, "{}", broken.reason);
        assert!(
            broken.reason.contains("anchors record 4"),
            "{}",
            broken.reason
        );
        assert!(AuditLog::open_with(dir.path(), options).is_err());
    }

    #[test]
    fn a_chain_rewritten_without_the_key_or_with_another_key_does_not_verify() {
        let (dir, lines, _) = anchored(4, 0);
        let path = dir.path().join(AUDIT_FILE);
        // Re-chained with plain SHA-256, as an older Spiegel chained.
        let mut previous = GENESIS.to_owned();
        let mut rechained = Vec::new();
        for line in &lines {
            let mut record: AuditRecord = serde_json::from_str(line).unwrap();
            record.prev = previous.clone();
            record.hash = record.unkeyed_hash();
            previous = record.hash.clone();
            rechained.push(canonical(&record));
        }
        std::fs::write(&path, rechained.join("\n") + "\n").unwrap();
        let broken = verify(dir.path()).unwrap().broken.unwrap();
        assert_eq!(broken.line, 1);
        assert!(broken.reason.contains("older Spiegel"), "{}", broken.reason);
        // Re-chained with a key of the attacker's own.
        let other = tempfile::tempdir().unwrap();
        let key = AuditKey::open_or_create(other.path()).unwrap();
        let mut previous = GENESIS.to_owned();
        let mut rechained = Vec::new();
        for line in &lines {
            let mut record: AuditRecord = serde_json::from_str(line).unwrap();
            record.prev = previous.clone();
            record.hash = record.keyed_hash(&key);
            previous = record.hash.clone();
            rechained.push(canonical(&record));
        }
        std::fs::write(&path, rechained.join("\n") + "\n").unwrap();
        let broken = verify(dir.path()).unwrap().broken.unwrap();
        assert_eq!(broken.line, 1, "{}", broken.reason);
        assert!(broken.reason.contains("HMAC"), "{}", broken.reason);
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
            // Edited and re-hashed by someone without the key.
            let mut record: AuditRecord = serde_json::from_str(&lines[at]).unwrap();
            record.outcome = Outcome::Denied;
            record.hash = record.unkeyed_hash();
            let mut rehashed = lines.clone();
            rehashed[at] = canonical(&record);
            std::fs::write(&path, rehashed.join("\n") + "\n").unwrap();
            let line = verify(dir.path()).unwrap().broken.unwrap().line;
            assert_eq!(line, at as u64 + 1, "re-hashed line {at}");
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
