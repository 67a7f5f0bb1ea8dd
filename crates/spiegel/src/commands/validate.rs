//! `spiegel validate`: what a provider runs before submitting.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use spiegel_ingest::{Ingest, IngestConfig, Receipt, SubmissionMeta};

use clap::Args;

use crate::args::ValidationArgs;

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Submission files, or directories of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print each receipt as one line of JSON instead of a table.
    #[arg(long, env = "SPIEGEL_JSON")]
    json: bool,
    #[command(flatten)]
    validation: ValidationArgs,
}

/// Checks every file named, and every file in every directory named.
pub(crate) fn run(args: &ValidateArgs) -> Result<ExitCode> {
    validate(&args.files, args.json, &args.validation)
}

fn validate(paths: &[PathBuf], json: bool, args: &ValidationArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(directory_files(path, args, &config)?);
        } else {
            crate::inputs::readable_file(path, "submission")?;
            // A file named on the command line is named as a submission (or --provider,
            // --period and --format say what it is) before any receipt is printed, so a bad
            // name is a usage error that does not cut the output short.
            args.meta(path)?;
            files.push(File::Submission(path.clone()));
        }
    }
    // Files are independent: validate them on every core, report them in the order given.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Receipt>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let result = match file {
                        File::Submission(path) => validate_file(path, args, &config),
                        File::Misnamed(_, receipt) => Ok((**receipt).clone()),
                    };
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut all_accepted = true;
    for (file, result) in files.iter().zip(results) {
        let path = file.path();
        let receipt = result.into_inner().ok().flatten().unwrap_or_else(|| {
            Err(anyhow::anyhow!(
                "validation of {} did not finish",
                path.display()
            ))
        })?;
        all_accepted &= receipt.accepted();
        if json {
            println!("{}", serde_json::to_string(&receipt)?);
        } else {
            println!("== {}\n{}", path.display(), receipt.to_text());
        }
    }
    Ok(if all_accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn validate_file(path: &Path, args: &ValidationArgs, config: &IngestConfig) -> Result<Receipt> {
    let meta = args.meta(path)?;
    let started = std::time::Instant::now();
    let mut receipt = Ingest::new(config, &meta)
        .read_path(path)
        .with_context(|| format!("{}", path.display()))?
        .receipt;
    receipt.file = Some(file_name(path));
    tracing::info!(
        file = %path.display(),
        rows = receipt.counts.rows,
        rejected = receipt.counts.rejected,
        seconds = started.elapsed().as_secs_f64(),
        "validated"
    );
    Ok(receipt)
}

/// A file `spiegel validate` answers with a receipt.
enum File {
    /// Read and validated.
    Submission(PathBuf),
    /// Found in a directory with a name that does not say what it is: rejected unread; the
    /// path as the receipt names it.
    Misnamed(PathBuf, Box<Receipt>),
}

impl File {
    fn path(&self) -> &Path {
        match self {
            Self::Submission(path) | Self::Misnamed(path, _) => path,
        }
    }
}

/// Every file in a directory (hidden ones aside, see [`crate::pipeline::hidden`]), sorted by
/// name: each is validated or, when its name does not say what it is, gets the receipt of a
/// misnamed file.
fn directory_files(dir: &Path, args: &ValidationArgs, config: &IngestConfig) -> Result<Vec<File>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !crate::pipeline::hidden(p))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let name = file_name(&path);
            match (args.meta(&path), SubmissionMeta::parse_file_name(&name)) {
                (Err(_), Err(misnamed)) => {
                    let receipt = Receipt::misnamed(&name, misnamed, config.max_rejected_share);
                    // Shown as the receipt names it, which masks a name that could hold a BSN.
                    let shown = dir.join(receipt.file.as_deref().unwrap_or_default());
                    File::Misnamed(shown, Box::new(receipt))
                }
                _ => File::Submission(path),
            }
        })
        .collect())
}

/// The last component of `path`, as the receipt names the file.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
