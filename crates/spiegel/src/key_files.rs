//! The key files of a keys directory: names, and writing new, demo and rotated keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use spiegel_pseudonymise::{SourceKey, TtpId, TtpKey};

/// The stage-1 key's file in a keys directory.
pub(crate) const STAGE1: &str = "stage1.key";
/// The stage-2 key in force.
pub(crate) const STAGE2: &str = "stage2.key";

/// Where a retired stage-2 key waits for `spiegel keys destroy`.
pub(crate) fn retired(dir: &Path, version: u32) -> PathBuf {
    dir.join(format!("stage2.v{version}.key"))
}

/// Writes a fresh K1 (`stage1.key`) and K2 (`stage2.key`) into `dir`, created with mode
/// 0700, each file mode 0600; existing keys are never overwritten.
pub(crate) fn write_pair(dir: &Path, version: u32, ttp: &TtpId) -> Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let stage1 = dir.join(STAGE1);
    let stage2 = dir.join(STAGE2);
    SourceKey::generate(version, ttp.clone())?.write_new(&stage1)?;
    TtpKey::generate(version, ttp.clone())?.write_new(&stage2)?;
    Ok((stage1, stage2))
}

/// Writes the demo K1 and K2 of `seed` into `dir` (as [`write_pair`] does real ones): keys
/// anyone can derive again, marked so that every command but `spiegel demo` refuses them.
pub(crate) fn write_demo_pair(dir: &Path, seed: u64) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let ttp = TtpId::new("spiegel-demo")?;
    SourceKey::demo(seed, ttp.clone()).write_new(&dir.join(STAGE1))?;
    TtpKey::demo(seed, ttp).write_new(&dir.join(STAGE2))?;
    Ok(())
}

/// Puts the next version of K2 in force in `dir`: the new key is written beside the current
/// one, the current one is linked to its retired name, and the new one replaces
/// `stage2.key` in one rename. Until the rename the old version stays in force and running the
/// rotation again starts over; after it, the next run switches the data directory (or a
/// further rotation does). Returns (old, new) versions.
pub(crate) fn install_rotated(dir: &Path) -> Result<(u32, u32)> {
    let current_path = dir.join(STAGE2);
    let current = TtpKey::from_file(&current_path)
        .with_context(|| format!("reading the stage-2 key in {}", dir.display()))?;
    let next_path = dir.join("stage2.key.next");
    // Never in force: what a stopped rotation left here is no one's key.
    match std::fs::remove_file(&next_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let next = current.rotate()?;
    next.write_new(&next_path)?;
    let retired = retired(dir, current.version());
    if !retired.exists() {
        std::fs::hard_link(&current_path, &retired)
            .with_context(|| format!("keeping the retired key as {}", retired.display()))?;
    }
    std::fs::rename(&next_path, &current_path)
        .with_context(|| format!("putting the new key in force in {}", dir.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok((current.version(), next.version()))
}
