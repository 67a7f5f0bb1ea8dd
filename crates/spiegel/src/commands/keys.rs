//! `spiegel keys generate|rotate|destroy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use spiegel_audit::{Action, Actor, Principal};
use spiegel_pseudonymise::{TtpId, TtpKey};

use crate::args::PipelineArgs;
use crate::config::PipelineConfig;
use crate::key_files::{STAGE1, STAGE2, install_rotated, retired, write_pair};
use crate::{pipeline, records};

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Writes a new random stage-1 key (K1) and stage-2 key (K2) to DIR, mode 0600.
    Generate {
        /// Directory for `stage1.key` and `stage2.key`; created if absent.
        #[arg(long, env = "SPIEGEL_KEYS_OUT")]
        out: PathBuf,
        /// Key version written into both keys and every label made with them.
        #[arg(long, env = "SPIEGEL_KEY_VERSION", default_value_t = 1)]
        version: u32,
        /// Identifier of this trusted third party, carried in every label.
        #[arg(long, env = "SPIEGEL_TTP_ID", default_value = "spiegel")]
        ttp: String,
    },
    /// Puts a new stage-2 key version in force (the old one is kept as stage2.v<N>.key) and
    /// switches the embedded pipeline of the data directory to it: every stored submission
    /// is re-pseudonymised and the aggregate stage takes the copies; the reports do not
    /// change. Stop `spiegel serve` on that data directory first.
    Rotate {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Only put the new key in force in the keys directory, for a deployment whose stages
        /// run as separate processes (see the runbook in deploy/README.md).
        #[arg(long)]
        key_only: bool,
        /// The operator running this command, as recorded in the audit log.
        #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
        by: String,
    },
    /// Overwrites and removes a retired stage-2 key version (never the one in force).
    Destroy {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The retired version, as in stage2.v<VERSION>.key.
        #[arg(long)]
        version: u32,
        /// The operator running this command, as recorded in the audit log.
        #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
        by: String,
    },
}

/// Runs a `spiegel keys` command.
pub(crate) fn run(command: &KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Generate { out, version, ttp } => generate(out, *version, ttp),
        KeysCommand::Rotate {
            pipeline,
            key_only,
            by,
        } => rotate(pipeline, *key_only, by),
        KeysCommand::Destroy {
            pipeline,
            version,
            by,
        } => destroy(pipeline, *version, by),
    }
}

/// `spiegel keys generate`: [`write_pair`] and where the keys went.
fn generate(dir: &Path, version: u32, ttp: &str) -> Result<ExitCode> {
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

/// `spiegel keys rotate`: a new K2 version in force in the keys directory; unless
/// `key_only`, the embedded pipeline in the data directory is then switched to it: its stored
/// stage-1-tokenised submissions are re-pseudonymised and the aggregate stage takes them in
/// place of the old ones (docs/pseudonymisation.md).
fn rotate(args: &PipelineArgs, key_only: bool, by: &str) -> Result<ExitCode> {
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
        Some(PipelineConfig::load(args.config.as_deref())?)
    };
    // Claimed before the key changes: with a server still running on the data directory the
    // rotation is refused whole, not left half done.
    let _lock = match config {
        Some(_) => Some(pipeline::claim(&args.data_dir)?),
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
    let switched = pipeline::switch_key_version(&config, &args.data_dir, &dir)?;
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
    let audit = records::audit_log(&args.data_dir)?;
    records::record(
        &audit,
        Actor::Principal(operator),
        Action::KeyUse,
        what,
        None,
    )
}

/// `spiegel keys destroy --version N`: overwrites and removes a retired K2 version. The
/// version in force is never destroyed.
fn destroy(args: &PipelineArgs, version: u32, by: &str) -> Result<ExitCode> {
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
