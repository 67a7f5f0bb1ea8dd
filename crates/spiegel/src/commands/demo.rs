//! `spiegel demo`: generate, run and render in one go, the same output for the same seed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spiegel_core::ReportKind;
use spiegel_publish::ReportLocation;

use crate::config::PipelineConfig;
use crate::pages::render;
use crate::{generate, key_files, pipeline};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo writes its submissions, state and reports.
    #[arg(long, env = "SPIEGEL_DEMO_DIR", default_value = "spiegel-out/demo")]
    dir: PathBuf,
    /// Records to generate.
    #[arg(long, env = "SPIEGEL_DEMO_RECORDS", default_value_t = 200_000)]
    records: u64,
    /// The seed of the data and of the demo's keys: the same seed gives byte-identical
    /// reports and pages. The keys are public and refused outside the demo.
    #[arg(long, env = "SPIEGEL_DEMO_SEED", default_value_t = 1)]
    seed: u64,
}

/// The file at the top of the demo's output that links every page and report.
const DEMO_INDEX: &str = "index.html";

/// Writes the data set, reports and pages, and summarises them.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let submissions = args.dir.join("submissions");
    let data_dir = args.dir.join("data");
    let out = args.dir.join("reports");
    let pages = args.dir.join("pages");
    let index = args.dir.join(DEMO_INDEX);
    for dir in [&submissions, &data_dir, &out, &pages] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    if index.exists() {
        std::fs::remove_file(&index)?;
    }
    let options = generate::GenerateOptions {
        out: submissions.clone(),
        records: args.records,
        seed: args.seed,
        providers: None,
        periods: generate::default_periods(),
        semicolon: false,
    };
    let started = std::time::Instant::now();
    let generated = generate::generate(&options, |_| {})?;
    let generating = started.elapsed();

    let started = std::time::Instant::now();
    // Keys from the seed, not at random: the same seed gives the same pseudonyms, and so the
    // same perturbed figures, release id and page paths on every run.
    let keys_dir = data_dir.join("keys");
    key_files::write_demo_pair(&keys_dir, args.seed)?;
    let reports = ReportLocation::from(out.as_path());
    let summary = pipeline::run(
        &submissions,
        &reports,
        &data_dir,
        pipeline::Keys::Demo(&keys_dir),
        &PipelineConfig::default(),
    )?;
    let manifest = summary
        .manifest
        .ok_or_else(|| anyhow::anyhow!("the demo published no release"))?;
    let pipeline = started.elapsed();

    let started = std::time::Instant::now();
    let languages = spiegel_render::Language::ALL;
    let rendered = render(
        &reports,
        &data_dir,
        &PipelineConfig::default().aggregate,
        &languages,
        &pages,
    )?;
    // Links relative to the index, so the output can be moved or served as it is.
    let html = spiegel_render::index_page(
        &manifest,
        "pages",
        "reports",
        &languages,
        "Spiegel demo: alle rapportages / all reports",
    );
    std::fs::write(&index, html)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", index.display()))?;
    let rendering = started.elapsed();

    let count = |kind: ReportKind| manifest.files.iter().filter(|f| f.kind == kind).count();
    let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
    let suppressed: u64 = manifest.files.iter().map(|f| f.suppressed).sum();
    println!(
        "Spiegel demo (seed {}: the same output on every run)\n\
         - input: {} records for {} children from {} providers in {} gemeenten, periods {}\n\
         - accepted: {} submissions ({} rejected)\n\
         - reports: {} mirror, {} municipality, {} region, {} national ({} cells, {} suppressed by the release rules), release {}\n\
         - pages: {} ({:.0} MB), Dutch and English\n\
         - time: generate {:.1} s, pipeline {:.1} s, render {:.1} s\n\
         - manifest: {}\n\
         - open in a browser: {}",
        args.seed,
        generated.records,
        generated.children,
        generated.providers,
        generated.gemeenten,
        options
            .periods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        summary.sent,
        summary.rejected.len(),
        count(ReportKind::Mirror),
        count(ReportKind::Municipality),
        count(ReportKind::Region),
        count(ReportKind::National),
        rows,
        suppressed,
        manifest.release,
        rendered.pages,
        rendered.bytes as f64 / 1e6,
        generating.as_secs_f64(),
        pipeline.as_secs_f64(),
        rendering.as_secs_f64(),
        out.join(spiegel_publish::MANIFEST).display(),
        index.display(),
    );
    Ok(ExitCode::SUCCESS)
}
