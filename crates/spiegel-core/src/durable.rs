//! Writing state files so that a crash or power loss leaves the old content or the new, whole.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file beside it: write, fsync, rename, fsync of
/// the directory. Readers never see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_through_temporary(path, bytes, |temporary| File::create(temporary))
}

/// [`write_atomically`] for a file only its owner may read (credentials, webhook secrets): the
/// temporary file is created with mode 0600, so the content is never readable by others, not
/// even for a moment.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_through_temporary(path, bytes, |temporary| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(temporary)?;
        // A temporary file left by a crash may predate this mode: set it on every write.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(file)
    })
}

fn write_through_temporary(
    path: &Path,
    bytes: &[u8],
    create: impl FnOnce(&Path) -> std::io::Result<File>,
) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("a file path is needed"))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

/// Makes everything written so far to the file system holding `dir` durable, however it was
/// written: for files written by others (the object store's local directory writes without
/// fsync), where syncing each file would cost two syncs per file and one `syncfs` costs one
/// wait for the file system's dirty pages. Elsewhere than on Linux, only `dir` itself is synced.
pub fn sync_file_system(dir: &Path) -> std::io::Result<()> {
    let dir = File::open(dir)?;
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(&dir)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    dir.sync_all()
}

/// The text of a state file, or None when it was never written.
pub fn read_if_present(path: &Path) -> std::io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive claim of a state directory by one process, held until dropped or until the
/// process ends, however it ends (the kernel releases the lock): two processes driving the same
/// state would interleave their writes and offsets.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// The name of the lock file in the directory; it also holds the holder's process id.
    pub const FILE: &'static str = ".spiegel.lock";

    /// Claims `dir` (created if absent) for this process, or says that another process has it.
    pub fn acquire(dir: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(Self::FILE);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let pid = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "{} is in use by another spiegel process{pid}; stop it first / de map \
                         is in gebruik door een ander spiegel-proces",
                        dir.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.write_all(std::process::id().to_string().as_bytes())?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_claimed_by_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let refused = DirLock::acquire(dir.path()).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
        assert!(
            refused
                .to_string()
                .contains(&format!("process {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
