//! `spiegel annotate`: a provider's explanation of one of its mirror reports ("het verhaal
//! achter de cijfers") attached without the HTTP API, into the same registry
//! (`<data-dir>/annotations.json`), under the same rules and with the same audit record as
//! `POST /v1/mirror/{period}/{gemeente}/annotation`, the operator named as acting on the
//! provider's behalf.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use spiegel_audit::{Action, Principal};
use spiegel_core::{Agb, Period, ReportKind};
use spiegel_publish::ReportLocation;
use spiegel_render::{ANNOTATIONS_FILE, Annotation, AnnotationRegistry};

#[derive(Debug, Args)]
pub(crate) struct AnnotateArgs {
    /// The provider's AGB code: the recipient of the mirror report.
    #[arg(long, env = "SPIEGEL_PROVIDER")]
    provider: Agb,
    /// The period of the mirror report, such as 2026-H1.
    #[arg(long, env = "SPIEGEL_PERIOD")]
    period: Period,
    /// The municipality the mirror report is about, GMxxxx.
    #[arg(long)]
    gemeente: String,
    /// The explanation: a UTF-8 plain-text file (Markdown is shown as written, not formatted),
    /// at most 4,000 characters.
    #[arg(long, required_unless_present = "remove", conflicts_with = "remove")]
    file: Option<PathBuf>,
    /// Removes the explanation instead.
    #[arg(long)]
    remove: bool,
    /// The report store `spiegel run` or `spiegel publish` wrote (a directory, or
    /// s3://bucket/prefix with the AWS_* environment variables): the mirror report must be in
    /// its current release.
    #[arg(long, env = "SPIEGEL_REPORTS")]
    reports: ReportLocation,
    #[command(flatten)]
    operator: crate::args::Operator,
}

/// Checks every input, then records and stores the explanation: a bad input leaves the
/// registry and the audit log as they were.
pub(crate) fn run(args: &AnnotateArgs) -> Result<ExitCode> {
    let provider = args.provider.as_str();
    let period = args.period.to_string();
    let gemeente = match Principal::gemeente(&args.gemeente)? {
        Principal::Gemeente(code) => code,
        _ => bail!("--gemeente {}: not a municipality", args.gemeente),
    };
    let text = match &args.file {
        Some(file) => Some(read_explanation(file)?),
        None => None,
    };
    args.operator.existing_data_dir()?;
    let actor = args.operator.actor()?;
    mirror_in_release(&args.reports, provider, &period, &gemeente)?;
    let path = args.operator.data_dir.join(ANNOTATIONS_FILE);
    let change = |registry: &mut AnnotationRegistry| -> Result<()> {
        match &text {
            Some(text) => registry
                .insert(Annotation {
                    provider: provider.to_owned(),
                    period: period.clone(),
                    municipality: gemeente.clone(),
                    text: text.clone(),
                })
                .map_err(|why| anyhow::anyhow!("{why}; nothing was changed"))?,
            None => {
                if !registry.remove(provider, &period, &gemeente) {
                    bail!(
                        "provider {provider} has no explanation for {period} in {gemeente}; \
                     nothing was changed / er is geen toelichting om te verwijderen"
                    );
                }
            }
        }
        Ok(())
    };
    // Tried before anything is claimed or recorded, so a refused change leaves no trace.
    change(&mut AnnotationRegistry::load(&path)?)?;
    // Beside a running `spiegel serve`, which writes the same registry, this is refused:
    // there, the API route is the way. Read again once claimed, so no change is lost.
    let _lock = crate::pipeline::claim(&args.operator.data_dir)?;
    let mut registry = AnnotationRegistry::load(&path)?;
    change(&mut registry)?;
    let audit = args.operator.audit_log()?;
    // Recorded before it is stored: a change that cannot be recorded does not happen.
    crate::records::record(
        &audit,
        actor,
        Action::Annotation,
        &format!("mirror.{period}.{gemeente}"),
        Some(Principal::Provider(provider.to_owned())),
    )?;
    registry.save(&path)?;
    match text {
        Some(text) => println!(
            "explanation of {} characters attached to the mirror report of provider \
             {provider} for {period} in {gemeente}; `spiegel render` shows it on the page",
            text.chars().count()
        ),
        None => println!(
            "explanation removed from the mirror report of provider {provider} for {period} \
             in {gemeente}"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The explanation in `file`, checked as the API checks one: UTF-8, no number that could be
/// a BSN, not empty (`--remove` removes one); length and control characters are checked by the
/// registry.
fn read_explanation(file: &Path) -> Result<String> {
    crate::inputs::readable_file(file, "--file")?;
    let bytes = std::fs::read(file).with_context(|| format!("--file {}", file.display()))?;
    let Ok(text) = String::from_utf8(bytes) else {
        bail!(
            "--file {}: not UTF-8 text; save it as UTF-8 / sla het bestand op als UTF-8; \
             nothing was changed",
            file.display()
        );
    };
    if text.trim().is_empty() {
        bail!(
            "--file {}: empty; to remove an explanation use --remove; nothing was changed",
            file.display()
        );
    }
    if spiegel_pseudonymise::mentions_bsn(&text) {
        bail!(
            "--file {}: {}; nothing was changed",
            file.display(),
            spiegel_render::HOLDS_BSN
        );
    }
    Ok(text)
}

/// The current release in `reports` has a mirror report for `provider`, `period` and
/// `gemeente`: only an existing report can be explained, as through the API.
fn mirror_in_release(
    reports: &ReportLocation,
    provider: &str,
    period: &str,
    gemeente: &str,
) -> Result<()> {
    if let Some(dir) = reports.directory() {
        crate::inputs::readable_file(
            &dir.join(spiegel_publish::MANIFEST),
            "--reports (its manifest)",
        )?;
    }
    reports.verify()?;
    let manifest = reports
        .manifest()
        .with_context(|| format!("--reports {reports}: the manifest cannot be read"))?
        .with_context(|| {
            format!(
                "--reports {reports} holds no release yet (no manifest.json); nothing was changed"
            )
        })?;
    let found = manifest.files.iter().any(|f| {
        f.kind == ReportKind::Mirror
            && f.recipient == provider
            && f.period == period
            && f.municipality.as_deref() == Some(gemeente)
    });
    if !found {
        bail!(
            "release {} has no mirror report of provider {provider} for {period} in {gemeente} \
             (a provider gets one only for a municipality it delivered for in that period); \
             nothing was changed / er is geen spiegelrapportage voor deze aanbieder, periode \
             en gemeente",
            manifest.release
        );
    }
    Ok(())
}
