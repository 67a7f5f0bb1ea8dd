//! Rendering a release's pages, shared by `spiegel render`, `spiegel demo` and the pages
//! `spiegel serve` shows.

use std::path::Path;

use spiegel_publish::ReportLocation;

use crate::inputs;

/// Reads an operator's population table and makes the pages divide by it.
pub(crate) fn use_population(path: &Path) -> anyhow::Result<()> {
    inputs::readable_file(path, "--population")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let population = spiegel_core::Population::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    spiegel_render::use_population(population);
    Ok(())
}

/// Renders the current release in `reports` into `out`, with the explanations kept in
/// `data_dir`.
pub(crate) fn render(
    reports: &ReportLocation,
    data_dir: &Path,
    indicators: &spiegel_aggregate::AggregateConfig,
    languages: &[spiegel_render::Language],
    out: &Path,
) -> anyhow::Result<spiegel_render::RenderSummary> {
    let store = anyhow::Context::with_context(reports.open(), || {
        format!("the report store {reports} cannot be opened")
    })?;
    let notes = spiegel_render::ProviderNotes::load(data_dir)?;
    Ok(spiegel_render::render_release(
        store, &notes, indicators, languages, out,
    )?)
}
