//! The aggregate stage's durable state: the latest submission per (provider, period), each a
//! file written atomically, with what identifies it beside it ([`Entry`]).

use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use spiegel_core::durable::{read_if_present, write_atomically};
use spiegel_core::{Agb, Period};

use crate::{AggregateError, Result};

pub(crate) struct Store {
    dir: PathBuf,
}

/// What the state records of a stored submission, beside its pseudonymised batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Entry {
    /// The submission id (the content digest of the accepted file).
    pub(crate) submission: String,
    /// SHA-256 of the stored message: a re-pseudonymised copy differs.
    pub(crate) payload: String,
    /// SHA-256 of its record keys (`spiegel.record_keys`).
    pub(crate) record_keys: String,
    /// The K2 version of its pseudonyms.
    pub(crate) key_version: u32,
    /// Where the pseudonymise stage read it on the submissions topic.
    pub(crate) source: Source,
}

/// A position on the submissions topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Source {
    pub(crate) partition: u32,
    pub(crate) offset: u64,
}

impl Source {
    /// Whether a submission read here came before one read at `other`: only comparable within
    /// a partition, where a provider's submissions keep their order.
    fn is_before(self, other: Self) -> bool {
        self.partition == other.partition && self.offset < other.offset
    }
}

/// What [`Store::put`] did with a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    /// Stored: new, a correction, or the same submission under another K2 version.
    Stored,
    /// The same message as the one stored.
    Unchanged,
    /// An earlier submission of a provider and period than the one stored (replayed by a
    /// re-pseudonymisation): kept out.
    Older,
}

impl Store {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        for sub in ["submissions", PARTS] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(io(&path))?;
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Stores a submission unless the one stored for its provider and period is the same
    /// message or a later submission. `entry.payload` is computed here.
    pub(crate) fn put(
        &self,
        provider: Agb,
        period: Period,
        mut entry: Entry,
        payload: &[u8],
    ) -> Result<Put> {
        entry.payload = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
        let stem = format!("{provider}_{period}");
        let entry_path = self.dir.join("submissions").join(format!("{stem}.entry"));
        let data_path = self.dir.join("submissions").join(format!("{stem}.arrows"));
        if let Some(stored) = read_entry(&entry_path)?.filter(|_| data_path.exists()) {
            if stored.payload == entry.payload {
                return Ok(Put::Unchanged);
            }
            if entry.source.is_before(stored.source) {
                return Ok(Put::Older);
            }
        }
        // Data first, then its entry: a crash in between leaves an entry that no longer
        // matches, so the uncommitted message is stored again on restart.
        write_atomically(&data_path, payload).map_err(io(&data_path))?;
        write_atomically(&entry_path, &serde_json::to_vec(&entry)?).map_err(io(&entry_path))?;
        remove_if_present(&self.dir.join("submissions").join(format!("{stem}.id")))?;
        Ok(Put::Stored)
    }

    /// How many stored submissions predate record keys (a state written before them): they
    /// wait, like those of a retired K2 version, for the pseudonymise stage's replay.
    pub(crate) fn legacy(&self) -> Result<usize> {
        let mut count = 0;
        for path in list(&self.dir.join("submissions"))? {
            count += usize::from(path.extension().is_some_and(|e| e == "id"));
        }
        Ok(count)
    }

    /// (provider_period, entry) of every stored submission, in name order.
    pub(crate) fn index(&self) -> Result<Vec<(String, Entry)>> {
        let mut out = Vec::new();
        for path in list(&self.dir.join("submissions"))? {
            if path.extension().is_some_and(|e| e == "entry") {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some(entry) = read_entry(&path)? {
                    out.push((stem, entry));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The stored submission `stem` (`<AGB>_<PERIOD>`).
    pub(crate) fn load_one(&self, stem: &str) -> Result<RecordBatch> {
        let path = self.dir.join("submissions").join(format!("{stem}.arrows"));
        let bytes = fs::read(&path).map_err(io(&path))?;
        Ok(spiegel_core::ipc::from_ipc(&bytes)?)
    }

    /// The changelog offset of the last submission applied, if any.
    pub(crate) fn watermark(&self) -> Result<Option<u64>> {
        let path = self.dir.join("watermark");
        Ok(read_if_present(&path)
            .map_err(io(&path))?
            .and_then(|s| s.trim().parse().ok()))
    }

    pub(crate) fn set_watermark(&self, offset: u64) -> Result<()> {
        let path = self.dir.join("watermark");
        write_atomically(&path, offset.to_string().as_bytes()).map_err(io(&path))
    }

    pub(crate) fn released(&self) -> Result<Option<String>> {
        let path = self.dir.join("released");
        Ok(read_if_present(&path)
            .map_err(io(&path))?
            .map(|s| s.trim().to_owned()))
    }

    pub(crate) fn set_released(&self, release: &str) -> Result<()> {
        let path = self.dir.join("released");
        write_atomically(&path, release.as_bytes()).map_err(io(&path))
    }
}

/// Directory in the state directory: the master-table parts of the last release, by digest.
const PARTS: &str = "parts";

impl Store {
    /// The part of digest `digest`, if it was kept and reads back whole.
    pub(crate) fn part(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let prefix = format!("{digest}-");
        for path in list(&self.dir.join(PARTS))? {
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            let Some(checksum) = name.strip_prefix(&prefix) else {
                continue;
            };
            let bytes = fs::read(&path).map_err(io(&path))?;
            if checksum == part_checksum(&bytes) {
                return Ok(Some(bytes));
            }
            // Cut short by a crash (parts are not synced to disk): computed again.
            remove_if_present(&path)?;
        }
        Ok(None)
    }

    /// Whether a part of digest `digest` is kept (not read: whether it reads back whole is
    /// for [`Self::part`] to find out). Kept parts are those of the last release sent.
    pub(crate) fn has_part(&self, digest: &str) -> bool {
        let prefix = format!("{digest}-");
        fs::read_dir(self.dir.join(PARTS)).is_ok_and(|files| {
            files
                .flatten()
                .any(|file| file.file_name().to_string_lossy().starts_with(&prefix))
        })
    }

    /// Keeps a part computed now for the next release. Not synced to disk: it is a cache,
    /// named with its checksum so that a part a crash cut short is never taken.
    pub(crate) fn put_part(&self, digest: &str, ipc: &[u8]) -> Result<()> {
        let dir = self.dir.join(PARTS);
        let name = format!("{digest}-{}.ipc", part_checksum(ipc));
        let temporary = dir.join(format!(".{name}.tmp"));
        fs::write(&temporary, ipc).map_err(io(&temporary))?;
        let path = dir.join(name);
        fs::rename(&temporary, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Removes every kept part not among `keep`: only the last release's are worth keeping.
    pub(crate) fn retain_parts(&self, keep: &std::collections::BTreeSet<String>) -> Result<()> {
        for path in list(&self.dir.join(PARTS))? {
            let name = path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let digest = name.split(['-', '.']).next().unwrap_or_default();
            if name.starts_with('.') || !keep.contains(digest) {
                remove_if_present(&path)?;
            }
        }
        Ok(())
    }
}

/// What names a kept part's content: the first 16 hex digits of its SHA-256.
fn part_checksum(bytes: &[u8]) -> String {
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()[..8])
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

fn read_entry(path: &Path) -> Result<Option<Entry>> {
    let Some(text) = read_if_present(path).map_err(io(path))? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| AggregateError::Malformed(format!("{}: {e}", path.display())))
}

/// An IO failure on `path`, for `map_err`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AggregateError + '_ {
    AggregateError::io(path)
}

/// The paths in directory `dir`.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::read_dir(dir)
        .and_then(|files| files.map(|file| Ok(file?.path())).collect())
        .map_err(io(dir))
}
