//! Checks of a command's inputs, made before the command creates anything (a directory, a
//! key, a lock, an output): a mistyped path must leave the file system as it was, not half
//! set up around an error.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// `path` (given as `flag`) is a directory this process can list.
pub(crate) fn readable_dir(path: &Path, flag: &str) -> Result<()> {
    if !path.is_dir() {
        bail!(
            "{flag} {}: no such directory; nothing was changed / map bestaat niet; er is niets \
             aangemaakt",
            path.display()
        );
    }
    std::fs::read_dir(path)
        .with_context(|| format!("{flag} {}: cannot be read", path.display()))?;
    Ok(())
}

/// `path` (given as `flag`) is a file this process can read.
pub(crate) fn readable_file(path: &Path, flag: &str) -> Result<()> {
    if !path.is_file() {
        bail!(
            "{flag} {}: no such file; nothing was changed / bestand bestaat niet; er is niets \
             aangemaakt",
            path.display()
        );
    }
    std::fs::File::open(path)
        .with_context(|| format!("{flag} {}: cannot be read", path.display()))?;
    Ok(())
}

/// `path` (given as `flag`) is a directory or does not exist yet (the command creates it);
/// a file in its place is refused.
pub(crate) fn dir_or_absent(path: &Path, flag: &str) -> Result<()> {
    if path.exists() && !path.is_dir() {
        bail!(
            "{flag} {}: is not a directory; nothing was changed",
            path.display()
        );
    }
    Ok(())
}

/// The file `path` (given as `flag`) can be written: its directory exists and it is not a
/// directory itself.
pub(crate) fn writable_file(path: &Path, flag: &str) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {}: is a directory, not a file", path.display());
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "{flag} {}: its directory {} does not exist; nothing was written",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}
