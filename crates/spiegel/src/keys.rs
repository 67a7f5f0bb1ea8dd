//! `spiegel keys generate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use spiegel_pseudonymise::{SourceKey, TtpId, TtpKey};

/// Writes a fresh K1 (`stage1.key`) and K2 (`stage2.key`) into `dir`, created with mode
/// 0700, each file mode 0600; existing keys are never overwritten.
pub(crate) fn write_pair(dir: &Path, version: u32, ttp: &TtpId) -> Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let stage1 = dir.join("stage1.key");
    let stage2 = dir.join("stage2.key");
    SourceKey::generate(version, ttp.clone())?.write_new(&stage1)?;
    TtpKey::generate(version, ttp.clone())?.write_new(&stage2)?;
    Ok((stage1, stage2))
}

/// `spiegel keys generate`: [`write_pair`] and where the keys went.
pub(crate) fn generate(dir: &Path, version: u32, ttp: &str) -> Result<ExitCode> {
    let ttp = TtpId::new(ttp)?;
    let (stage1, stage2) = write_pair(dir, version, &ttp)?;
    println!(
        "stage-1 key (K1, for 'spiegel prepare' and the ingest stage): {}\n\
         stage-2 key (K2, for the pseudonymise stage only):           {}\n\
         version {version}, TTP '{ttp}'. Keep the two apart: no process may hold both.",
        stage1.display(),
        stage2.display()
    );
    Ok(ExitCode::SUCCESS)
}
