//! `spiegel validate`: what a provider runs before submitting.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use spiegel_ingest::{Format, Ingest, IngestConfig, Receipt};

use crate::ValidationArgs;

pub(crate) fn run(paths: &[PathBuf], json: bool, args: &ValidationArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(submission_files(path)?);
        } else {
            crate::inputs::readable_file(path, "submission")?;
            files.push(path.clone());
        }
    }
    // Every file is named as a submission (or --provider, --period and --format say what it
    // is) before any receipt is printed, so a bad name does not cut the output short.
    for path in &files {
        args.meta(path)?;
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
                    let Some(path) = files.get(i) else { break };
                    let result = validate_file(path, args, &config);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut all_accepted = true;
    for (path, result) in files.iter().zip(results) {
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
    let receipt = Ingest::new(config, &meta)
        .read_path(path)
        .with_context(|| format!("{}", path.display()))?
        .receipt;
    tracing::info!(
        file = %path.display(),
        rows = receipt.counts.rows,
        rejected = receipt.counts.rejected,
        seconds = started.elapsed().as_secs_f64(),
        "validated"
    );
    Ok(receipt)
}

/// The submissions in a directory (every file whose extension names a [`Format`]), sorted by
/// name.
fn submission_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| Format::from_path(p).is_some())
        .collect();
    files.sort();
    Ok(files)
}
