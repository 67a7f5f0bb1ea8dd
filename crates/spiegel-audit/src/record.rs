//! The records of the chain and the key that chains them.

use std::path::Path;

use ring::digest::{SHA256, digest};

use crate::{AuditError, Principal, Result};

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

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest object a record names. The API bounds every input before it is recorded; this
/// is the last line of defence, so that no caller can make a record of unbounded size.
pub(crate) const MAX_OBJECT_BYTES: usize = 1024;

/// Separates the MACs of records from those of checkpoints, so neither can pass for the other.
const RECORD_DOMAIN: &[u8] = b"spiegel-audit-record-v2\n";
pub(crate) const CHECKPOINT_DOMAIN: &[u8] = b"spiegel-audit-checkpoint-v1\n";

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
    pub(crate) fn keyed_hash(&self, key: &AuditKey) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        key.tag(RECORD_DOMAIN, canonical(&body).as_bytes())
    }

    /// The unkeyed hash an older Spiegel wrote, to recognise such a log.
    pub(crate) fn unkeyed_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        hex::encode(digest(&SHA256, canonical(&body).as_bytes()))
    }
}

pub(crate) fn canonical(record: &AuditRecord) -> String {
    // Serialising a struct of strings and enums cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

/// `object` cut to [`MAX_OBJECT_BYTES`] at a character boundary, saying how much was cut.
pub(crate) fn bounded(mut object: String) -> String {
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
            .ok_or_else(|| AuditError::Corrupt {
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
    pub(crate) fn open_or_create(data_dir: &Path) -> Result<Self> {
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
            AuditError::Io(std::io::Error::other(
                "the audit key vanished as it was made",
            ))
        })
    }

    pub(crate) fn tag(&self, domain: &[u8], bytes: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(domain);
        context.update(bytes);
        hex::encode(context.sign().as_ref())
    }
}
