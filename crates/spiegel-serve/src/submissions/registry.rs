//! What the API keeps of submissions in the data directory (their records and idempotency
//! keys), and the claims of uploads in progress.

use std::io;
use std::path::{Path, PathBuf};

use super::SubmissionRecord;
use crate::server::App;

/// The directory of submission records in the data directory.
const SUBMISSIONS_DIR: &str = "submissions";

/// An upload in progress under an Idempotency-Key; the claim ends when it is dropped.
pub(super) struct InFlight<'a> {
    app: &'a App,
    claim: (String, String),
}

impl<'a> InFlight<'a> {
    /// The claim on `key` of `provider`; None while another upload holds it.
    pub(super) fn claim(app: &'a App, provider: &str, key: &str) -> Option<Self> {
        let claim = (provider.to_owned(), key.to_owned());
        // A poisoned set only means a panic elsewhere; the set itself is still sound.
        let mut claimed = app
            .uploads_in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Lazily: a claim built and dropped here would take this lock again (a deadlock) and
        // release the claim of the upload in progress.
        claimed.insert(claim.clone()).then(|| Self { app, claim })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.app
            .uploads_in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.claim);
    }
}

/// The submission records and idempotency keys in the data directory.
pub(super) struct Registry {
    dir: PathBuf,
}

impl Registry {
    pub(super) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(SUBMISSIONS_DIR),
        }
    }

    pub(super) fn path(&self, id: &str) -> Option<PathBuf> {
        // Ids are 32 lower-case hex digits; anything else names no file.
        (id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| self.dir.join(format!("{id}.json")))
    }

    pub(super) fn load(&self, id: &str) -> io::Result<Option<SubmissionRecord>> {
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn store(&self, record: &SubmissionRecord) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self
            .path(&record.id)
            .ok_or_else(|| io::Error::other("malformed submission id"))?;
        let json = serde_json::to_vec(record).map_err(io::Error::other)?;
        spiegel_core::durable::write_atomically(&path, &json)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// The file of an idempotency key: named by a hash, so a key's text is never a path.
    fn key_path(&self, provider: &str, key: &str) -> PathBuf {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{provider}\n{key}").as_bytes(),
        );
        self.dir
            .join("idempotency")
            .join(format!("{}.id", hex::encode(digest)))
    }

    pub(super) fn idempotency(&self, provider: &str, key: &str) -> io::Result<Option<String>> {
        match std::fs::read_to_string(self.key_path(provider, key)) {
            Ok(id) => Ok(Some(id.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn remember(&self, provider: &str, key: &str, id: &str) -> io::Result<()> {
        let path = self.key_path(provider, key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        spiegel_core::durable::write_atomically(&path, id.as_bytes())
            .map_err(|e| io::Error::other(e.to_string()))
    }
}
