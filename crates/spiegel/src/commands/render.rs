//! `spiegel render`: the HTML pages of the current release.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spiegel_publish::ReportLocation;

use crate::config::PipelineConfig;
use crate::inputs;
use crate::pages::{render, use_population};

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The report store written by `spiegel run` or `spiegel publish` (with its
    /// manifest.json): a directory, or s3://bucket/prefix (credentials, region and endpoint
    /// from the AWS_* environment variables).
    #[arg(long, env = "SPIEGEL_REPORTS")]
    reports: ReportLocation,
    /// Where the pages go: a directory per recipient with a page per period, `PERIOD.html`
    /// (Dutch) and `PERIOD.en.html` (English).
    #[arg(long, env = "SPIEGEL_PAGES")]
    out: PathBuf,
    /// The data directory whose annotations.json holds the providers' explanations.
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// The languages to render: Dutch, the language of the quality conversation, or also
    /// an English variant of every page.
    #[arg(long, value_enum, default_value = "nl")]
    lang: Languages,
    /// The configuration the reports were computed with: the pages name its windows and
    /// norms (the number of days of "geen nieuwe start", the waiting-time norm).
    #[arg(long, env = "SPIEGEL_CONFIG")]
    config: Option<PathBuf>,
    /// A population table to divide the rates per 1,000 by, instead of the embedded one
    /// (`schemas/reference/bevolking-2026.csv`): `gemeentecode,gemeentenaam,inwoners`, or
    /// `jeugdigen_0_22` as the third column for a table of young inhabitants.
    #[arg(long, env = "SPIEGEL_POPULATION")]
    population: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Languages {
    /// Dutch only.
    Nl,
    /// English only.
    En,
    /// Dutch and English.
    Both,
}

impl Languages {
    fn list(self) -> &'static [spiegel_render::Language] {
        use spiegel_render::Language;
        match self {
            Self::Nl => &[Language::Nl],
            Self::En => &[Language::En],
            Self::Both => &Language::ALL,
        }
    }
}

/// Renders the pages and says what was rendered.
pub(crate) fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    args.reports.verify()?;
    if let Some(dir) = args.reports.directory() {
        inputs::readable_dir(dir, "--reports")?;
        inputs::readable_file(
            &dir.join(spiegel_publish::MANIFEST),
            "--reports (its manifest)",
        )?;
    }
    inputs::dir_or_absent(&args.out, "--out")?;
    if let Some(path) = &args.population {
        use_population(path)?;
    }
    let config = PipelineConfig::load(args.config.as_deref())?;
    let summary = render(
        &args.reports,
        &args.data_dir,
        &config.aggregate,
        args.lang.list(),
        &args.out,
    )?;
    println!(
        "rendered release {}: {} mirror, {} municipality, {} region and {} national reports \
         and {} provider overviews, {} pages ({:.1} MB) in {}",
        summary.release,
        summary.mirror,
        summary.municipality,
        summary.region,
        summary.national,
        summary.overview,
        summary.pages,
        summary.bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
