//! `spiegel generate`: realistic synthetic submissions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spiegel_core::Period;

use crate::generate;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Directory to write `<AGB>_<PERIOD>.csv` files into.
    #[arg(long, env = "SPIEGEL_GENERATE_OUT")]
    out: PathBuf,
    /// Total number of records (rows) over all files.
    #[arg(long, env = "SPIEGEL_GENERATE_RECORDS", default_value_t = 100_000)]
    records: u64,
    /// Seed; the same seed gives the same files.
    #[arg(long, env = "SPIEGEL_GENERATE_SEED", default_value_t = 1)]
    seed: u64,
    /// Number of providers (default: scales with the number of records).
    #[arg(long, env = "SPIEGEL_GENERATE_PROVIDERS")]
    providers: Option<usize>,
    /// Periods to deliver, comma separated (default: 2024-H1 to 2026-H1).
    #[arg(long, env = "SPIEGEL_GENERATE_PERIODS", value_delimiter = ',')]
    periods: Vec<Period>,
    /// Write semicolon-separated CSV with decimal commas, as Dutch spreadsheets do.
    #[arg(long, env = "SPIEGEL_GENERATE_SEMICOLON")]
    semicolon: bool,
}

/// Writes the files and says what was written.
pub(crate) fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let periods = if args.periods.is_empty() {
        generate::default_periods()
    } else {
        args.periods
    };
    let options = generate::GenerateOptions {
        out: args.out,
        records: args.records,
        seed: args.seed,
        providers: args.providers,
        periods,
        semicolon: args.semicolon,
    };
    let started = std::time::Instant::now();
    let summary = generate::generate(&options, |done| {
        tracing::info!(records = done, "generating");
    })?;
    println!(
        "{} records for {} children in {} files ({} providers, {} gemeenten, {} periods) written to {} in {:.2} s",
        summary.records,
        summary.children,
        summary.files,
        summary.providers,
        summary.gemeenten,
        options.periods.len(),
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
