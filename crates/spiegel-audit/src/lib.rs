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
//!
//! The crate holds what a record needs and nothing of the HTTP API, so that the pipeline's
//! stages and commands can record key use and releases without pulling in a web server:
//! the [`Principal`] a record names, the records themselves, the key, checkpoints and
//! verification. `spiegel-serve` re-exports all of it under the same names.

mod checkpoint;
mod error;
mod log;
mod principal;
mod record;
mod verify;

pub use checkpoint::{AuditOptions, Checkpoint, CheckpointSink, DirectorySink};
pub use error::{AuditError, Result};
pub use log::AuditLog;
pub use principal::Principal;
pub use record::{
    AUDIT_CHECKPOINTS_DIR, AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE, Action, Actor, AuditKey,
    AuditRecord, Entry, Outcome,
};
pub use verify::{Broken, VerifyReport, verify, verify_with};

/// The current time as the audit log and the token store write it (RFC 3339, UTC, seconds).
pub fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Compares MACs without leaking through timing where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests;
