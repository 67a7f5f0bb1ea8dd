//! `spiegel keys generate|rotate|destroy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use spiegel_pseudonymise::{SourceKey, TtpId, TtpKey};
use spiegel_serve::{Action, Actor, Principal};

use crate::PipelineArgs;

/// The stage-1 key's file in a keys directory.
pub(crate) const STAGE1: &str = "stage1.key";
/// The stage-2 key in force.
pub(crate) const STAGE2: &str = "stage2.key";

/// Where a retired stage-2 key waits for `spiegel keys destroy`.
fn retired(dir: &Path, version: u32) -> PathBuf {
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

/// `spiegel keys generate`: [`write_pair`] and where the keys went.
pub(crate) fn generate(dir: &Path, version: u32, ttp: &str) -> Result<ExitCode> {
    let ttp = TtpId::new(ttp)?;
    crate::inputs::dir_or_absent(dir, "--out")?;
    // Both refused before either is written: never one new key beside an old one.
    for existing in [dir.join(STAGE1), dir.join(STAGE2)] {
        if existing.exists() {
            anyhow::bail!(
                "{}: refusing to overwrite an existing key; nothing was written / bestaande \
                 sleutel wordt niet overschreven",
                existing.display()
            );
        }
    }
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

/// The keys directory of a pipeline: `--keys`, or the one `spiegel run` keeps in its data
/// directory.
fn keys_dir(args: &PipelineArgs) -> PathBuf {
    args.keys
        .clone()
        .unwrap_or_else(|| args.data_dir.join("keys"))
}

/// Puts the next version of K2 in force in `dir`: the new key is written beside the current
/// one, the current one is linked to its retired name, and the new one replaces
/// `stage2.key` in one rename. Until the rename the old version stays in force and running the
/// rotation again starts over; after it, the next run switches the data directory (or a
/// further rotation does). Returns (old, new) versions.
fn install_rotated(dir: &Path) -> Result<(u32, u32)> {
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

/// `spiegel keys rotate`: a new K2 version in force in the keys directory; unless
/// `key_only`, the embedded pipeline in the data directory is then switched to it: its stored
/// stage-1-tokenised submissions are re-pseudonymised and the aggregate stage takes them in
/// place of the old ones (docs/pseudonymisation.md).
pub(crate) fn rotate(args: &PipelineArgs, key_only: bool, by: &str) -> Result<ExitCode> {
    let dir = keys_dir(args);
    let operator = Principal::operator(by)?;
    // The key in force is read before the data directory is claimed: a wrong --keys leaves
    // no lock behind.
    TtpKey::from_file(&dir.join(STAGE2))
        .with_context(|| format!("reading the stage-2 key in {}", dir.display()))?;
    // Before the key changes: a configuration error must not leave a rotation half done.
    let config = if key_only {
        None
    } else {
        if !args.data_dir.is_dir() {
            anyhow::bail!(
                "no data directory {}: name the embedded pipeline's --data-dir, or use \
                 --key-only for stages that run as separate processes; no key was changed",
                args.data_dir.display()
            );
        }
        Some(crate::run::PipelineConfig::load(args.config.as_deref())?)
    };
    // Claimed before the key changes: with a server still running on the data directory the
    // rotation is refused whole, not left half done.
    let _lock = match config {
        Some(_) => Some(crate::run::claim(&args.data_dir)?),
        None => None,
    };
    let (old, new) = install_rotated(&dir)?;
    println!(
        "stage-2 key version {new} is in force in {}; version {old} is kept as {} until you \
         destroy it (spiegel keys destroy --version {old}).",
        dir.join(STAGE2).display(),
        retired(&dir, old).display()
    );
    let Some(config) = config else {
        println!(
            "Next (deploy/README.md, 'Rotating the stage-2 key'): switch the aggregate stage \
             to version {new} (SPIEGEL_KEY_VERSION={new}), then give the pseudonymise stage \
             the new stage2.key; it re-pseudonymises every stored submission. When the \
             aggregate stage's spiegel_aggregate_awaiting_rekey is 0, destroy version {old}."
        );
        return Ok(ExitCode::SUCCESS);
    };
    let switched = crate::run::switch_key_version(&config, &args.data_dir, &dir)?;
    record(
        args,
        operator,
        &format!("stage-2 key version {new} put in force, version {old} retired"),
    )?;
    println!(
        "Re-pseudonymised {} stored submissions under version {new}; the aggregate stage in {} \
         is on version {new} with {} submissions. {}",
        switched.pseudonymised,
        args.data_dir.display(),
        switched.stored,
        if switched.released {
            "It computed a release from submissions not aggregated before; the next run \
             publishes it."
        } else {
            "Its release is unchanged: no report changes."
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Records what `operator` did to a key in the data directory's audit log.
fn record(args: &PipelineArgs, operator: Principal, what: &str) -> Result<()> {
    let audit = crate::serve::audit_log(&args.data_dir)?;
    crate::admin::record(
        &audit,
        Actor::Principal(operator),
        Action::KeyUse,
        what,
        None,
    )
}

/// `spiegel keys destroy --version N`: overwrites and removes a retired K2 version. The
/// version in force is never destroyed.
pub(crate) fn destroy(args: &PipelineArgs, version: u32, by: &str) -> Result<ExitCode> {
    use std::io::Write as _;
    let dir = keys_dir(args);
    let operator = Principal::operator(by)?;
    let in_force = TtpKey::from_file(&dir.join(STAGE2))
        .with_context(|| format!("reading the stage-2 key in {}", dir.display()))?
        .version();
    if version == in_force {
        anyhow::bail!(
            "stage-2 key version {version} is the one in force; rotate first (spiegel keys \
             rotate) / versie {version} is de sleutel in gebruik"
        );
    }
    let path = retired(&dir, version);
    let key = TtpKey::from_file(&path).with_context(|| {
        format!(
            "no retired stage-2 key version {version} in {}",
            dir.display()
        )
    })?;
    if key.version() != version {
        anyhow::bail!(
            "{} holds version {}, not {version}; left as it is",
            path.display(),
            key.version()
        );
    }
    drop(key);
    // Overwritten before it is unlinked, so the secret does not linger in the freed blocks of
    // a plain file system (copy-on-write and flash storage may still keep copies).
    let length = std::fs::metadata(&path)?.len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
    file.write_all(&vec![0u8; usize::try_from(length).unwrap_or(0)])?;
    file.sync_all()?;
    std::fs::remove_file(&path)?;
    std::fs::File::open(&dir)?.sync_all()?;
    if args.data_dir.is_dir() {
        record(
            args,
            operator,
            &format!("stage-2 key version {version} destroyed"),
        )?;
    }
    println!(
        "stage-2 key version {version} destroyed ({}).",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
