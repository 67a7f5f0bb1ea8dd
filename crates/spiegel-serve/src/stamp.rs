//! State files that other processes change (`spiegel tokens`, `spiegel certs`, a renewed TLS
//! certificate): read again when, and only when, they changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What identifies one version of a file: a change (in place or by rename) changes it.
pub(crate) type FileStamp = (Option<std::time::SystemTime>, u64, u64);

/// The stamp of the file at `path` (following symbolic links, as mounted Kubernetes secrets
/// are), or None when there is none.
pub(crate) fn file_stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok(), metadata.len(), inode))
}

/// A value read from one file, kept until the file changes.
#[derive(Debug)]
pub(crate) struct Stamped<T> {
    path: PathBuf,
    cached: Mutex<Option<(FileStamp, Arc<T>)>>,
}

impl<T> Stamped<T> {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The value as of the file's current version, read with `load` when it changed; None
    /// when it cannot be read (so that nobody is authenticated by a file that is broken).
    pub(crate) fn get<E: std::fmt::Display>(
        &self,
        load: impl FnOnce() -> Result<T, E>,
    ) -> Option<Arc<T>> {
        let stamp = file_stamp(&self.path);
        let mut cached = self.cached.lock().ok()?;
        if let (Some(stamp), Some((seen, value))) = (stamp, cached.as_ref())
            && stamp == *seen
        {
            return Some(Arc::clone(value));
        }
        let value = match load() {
            Ok(value) => Arc::new(value),
            Err(e) => {
                tracing::error!(error = %e, file = %self.path.display(), "a state file cannot be read");
                return None;
            }
        };
        *cached = stamp.map(|stamp| (stamp, Arc::clone(&value)));
        Some(value)
    }
}
