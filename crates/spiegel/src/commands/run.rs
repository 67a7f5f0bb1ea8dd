//! `spiegel run`: the whole pipeline in one process over a directory of submissions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spiegel_publish::ReportLocation;

use crate::args::PipelineArgs;
use crate::config::PipelineConfig;
use crate::pipeline;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Directory of submissions named <AGB>_<PERIOD>.(csv|jsonl|parquet); any other file is
    /// rejected, except hidden ones (named .*: uploads still being written).
    #[arg(long, env = "SPIEGEL_INPUT")]
    input: PathBuf,
    /// Where the reports and manifest.json go: a directory, or s3://bucket/prefix (credentials,
    /// region and endpoint from the AWS_* environment variables).
    #[arg(long, env = "SPIEGEL_OUT")]
    out: ReportLocation,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// Exit code 0 when no file was rejected, 1 when one was (the rest is applied and published).
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = PipelineConfig::load(args.pipeline.config.as_deref())?;
    let started = std::time::Instant::now();
    let summary = pipeline::run(
        &args.input,
        &args.out,
        &args.pipeline.data_dir,
        pipeline::Keys::Real(args.pipeline.keys.as_deref()),
        &config,
    )?;
    for rejected in &summary.rejected {
        eprintln!("{rejected}");
    }
    let files = summary.manifest.as_ref().map_or(0, |m| m.files.len());
    println!(
        "{} submissions applied, {} unchanged, {} rejected; {} report files in {} ({:.2} s)",
        summary.sent,
        summary.unchanged,
        summary.rejected.len(),
        files,
        args.out,
        started.elapsed().as_secs_f64()
    );
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
