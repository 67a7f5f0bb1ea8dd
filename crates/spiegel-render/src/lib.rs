//! Readable reports (docs/reports.md): each report of the current release as one
//! self-contained HTML page in Dutch, with an English variant, for the quarterly quality
//! conversation, and a provider's overview of its mirror reports per period.
//!
//! A page is a rendering of the published Parquet file, never a second computation: every
//! figure on it is read from that file (and, for the trend and the reference columns, from the
//! same recipient's files of earlier periods and the region's and country's files of the
//! release). Pages carry inline CSS and SVG only, no script and nothing fetched from elsewhere,
//! and a print stylesheet for A4 handouts. A municipality page names no provider but those
//! that shared their mirror report with it, listed without figures; a mirror page and an
//! overview name only their own provider (NB-1, NB-2).

mod annotations;
mod chart;
mod error;
mod goals;
mod index;
mod load;
mod overview;
mod page;
mod rates;
mod recipients;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use spiegel_core::ReportKind;
use spiegel_publish::{Manifest, ManifestFile};

pub use annotations::{
    ANNOTATION_ROUTE, ANNOTATIONS_FILE, Annotation, AnnotationRegistry, HOLDS_BSN,
    MAX_ANNOTATION_CHARS, ProviderNotes,
};
pub use error::{RenderError, Result};
pub use index::index_page;
pub use rates::use_population;
pub use recipients::overview_path;
pub use spiegel_aggregate::AggregateConfig;
pub use text::Language;

use load::Report;
use page::Page;
use recipients::{Context, Headline};

/// Reports read from the store at once.
const CONCURRENT_READS: usize = 16;

/// What [`render_release`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderSummary {
    /// The release rendered.
    pub release: String,
    /// Mirror reports rendered (each in every language asked for).
    pub mirror: usize,
    /// Municipality reports rendered.
    pub municipality: usize,
    /// Region reports rendered.
    pub region: usize,
    /// National reports rendered.
    pub national: usize,
    /// Provider overviews rendered, one per provider and period.
    pub overview: usize,
    /// Page files written.
    pub pages: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Where the page of a report in `language` goes, relative to the output directory, under the
/// release of the whole set (`release`, the manifest's): one directory per recipient holding a
/// page per period, so a reader finds a report's history together
/// (`release=R/mirror/provider=A/municipality=G/2025-H1.html`,
/// `release=R/municipality/GM0344/2025-H1.en.html`, `release=R/region/utrecht-stad/2025-H1.html`
/// by the region's slug, `release=R/national/2025-H1.html`).
pub fn page_path(release: &str, report: &ManifestFile, language: Language) -> String {
    let release = format!("release={release}");
    let suffix = match language {
        Language::Nl => "html",
        Language::En => "en.html",
    };
    let period = &report.period;
    let kind = report.kind.as_str();
    match report.municipality.as_deref() {
        Some(gemeente) => format!(
            "{release}/{kind}/provider={}/municipality={gemeente}/{period}.{suffix}",
            report.recipient
        ),
        None if report.kind == ReportKind::National => {
            format!("{release}/{kind}/{period}.{suffix}")
        }
        None if report.kind == ReportKind::Region => format!(
            "{release}/{kind}/{}/{period}.{suffix}",
            spiegel_publish::region_slug(&report.recipient)
        ),
        None => format!("{release}/{kind}/{}/{period}.{suffix}", report.recipient),
    }
}

/// Renders every report of the store's current release into `out`, in each of `languages`,
/// on every core, and a provider overview per provider and period.
/// `indicators` holds the windows and norms the release was computed with (the aggregate
/// section of the configuration), which the labels and notes name.
pub fn render_release(
    store: Arc<dyn ObjectStore>,
    notes: &ProviderNotes,
    indicators: &AggregateConfig,
    languages: &[Language],
    out: &Path,
) -> Result<RenderSummary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let manifest = runtime.block_on(load::manifest(store.as_ref()))?;
    let references = runtime.block_on(read_all(
        store.as_ref(),
        manifest
            .files
            .iter()
            .filter(|f| matches!(f.kind, ReportKind::Region | ReportKind::National)),
    ))?;
    let references = References::new(references);
    let periods = release_periods(&manifest);
    let rendering = Rendering {
        store: store.as_ref(),
        handle: runtime.handle(),
        manifest: &manifest,
        references: &references,
        periods: &periods,
        notes,
        indicators,
        languages,
        out,
    };
    // Region pages list their municipalities' figures, the national page its regions': the
    // municipality reports are rendered first and hand their headline figures on.
    let (mut pages, mut bytes, mut headlines) =
        rendering.families(&[ReportKind::Mirror, ReportKind::Municipality], &[])?;
    headlines.extend(
        references
            .reports
            .values()
            .filter(|r| r.file.kind == ReportKind::Region)
            .map(Headline::of),
    );
    let (more_pages, more_bytes, _) =
        rendering.families(&[ReportKind::Region, ReportKind::National], &headlines)?;
    pages += more_pages;
    bytes += more_bytes;
    let mut providers: BTreeMap<(&str, &str), Vec<&Headline>> = BTreeMap::new();
    for headline in headlines
        .iter()
        .filter(|h| h.file.kind == ReportKind::Mirror)
    {
        providers
            .entry((&headline.file.recipient, &headline.file.period))
            .or_default()
            .push(headline);
    }
    for ((provider, period), mirrors) in &providers {
        for &language in languages {
            let html = overview::page(
                &manifest, provider, period, mirrors, notes, language, languages,
            );
            let path = out.join(overview_path(&manifest.release, provider, period, language));
            write(&path, html.as_bytes())?;
            pages += 1;
            bytes += html.len() as u64;
        }
    }
    let count = |kind: ReportKind| manifest.files.iter().filter(|f| f.kind == kind).count();
    let summary = RenderSummary {
        release: manifest.release.clone(),
        mirror: count(ReportKind::Mirror),
        municipality: count(ReportKind::Municipality),
        region: count(ReportKind::Region),
        national: count(ReportKind::National),
        overview: providers.len(),
        pages,
        bytes,
    };
    tracing::info!(
        release = %summary.release,
        mirror = summary.mirror,
        municipality = summary.municipality,
        region = summary.region,
        national = summary.national,
        overview = summary.overview,
        pages = summary.pages,
        bytes = summary.bytes,
        "rendered the release"
    );
    Ok(summary)
}

/// What every page of a release is rendered from.
struct Rendering<'a> {
    store: &'a dyn ObjectStore,
    handle: &'a tokio::runtime::Handle,
    manifest: &'a Manifest,
    references: &'a References,
    periods: &'a [String],
    notes: &'a ProviderNotes,
    indicators: &'a AggregateConfig,
    languages: &'a [Language],
    out: &'a Path,
}

impl Rendering<'_> {
    /// Renders the reports of `kinds`, a family (one recipient over the periods) at a time on
    /// every core; the pages and bytes written and every report's headline figures.
    fn families(
        &self,
        kinds: &[ReportKind],
        headlines: &[Headline],
    ) -> Result<(usize, u64, Vec<Headline>)> {
        let mut families: BTreeMap<(ReportKind, &str, Option<&str>), Vec<&ManifestFile>> =
            BTreeMap::new();
        for file in self
            .manifest
            .files
            .iter()
            .filter(|f| kinds.contains(&f.kind))
        {
            families
                .entry((file.kind, &file.recipient, file.municipality.as_deref()))
                .or_default()
                .push(file);
        }
        let context = Context {
            manifest: self.manifest,
            notes: self.notes,
            indicators: self.indicators,
            headlines,
        };
        let results = spiegel_core::parallel::map(
            families.into_values().collect(),
            usize::MAX,
            |files| -> Result<(usize, u64, Vec<Headline>)> {
                let reports = self
                    .handle
                    .block_on(read_all(self.store, files.into_iter()))?;
                let family = Family::new(reports, self.periods);
                let mut pages = 0;
                let mut bytes = 0;
                for (at, report) in family.reports.iter().enumerate() {
                    for &language in self.languages {
                        let html =
                            family.page(at, &context, self.references, language, self.languages);
                        let path = self.out.join(page_path(
                            &self.manifest.release,
                            &report.file,
                            language,
                        ));
                        write(&path, html.as_bytes())?;
                        pages += 1;
                        bytes += html.len() as u64;
                    }
                }
                Ok((
                    pages,
                    bytes,
                    family.reports.iter().map(Headline::of).collect(),
                ))
            },
        );
        let mut pages = 0;
        let mut bytes = 0;
        let mut headlines = Vec::new();
        for result in results {
            let (p, b, h) = result?;
            pages += p;
            bytes += b;
            headlines.extend(h);
        }
        Ok((pages, bytes, headlines))
    }
}

/// The page of one report of the store's current release, by its path in the manifest; for
/// serving a report as HTML.
pub async fn render_report(
    store: &dyn ObjectStore,
    report_path: &str,
    notes: &ProviderNotes,
    indicators: &AggregateConfig,
    language: Language,
) -> Result<String> {
    let manifest = load::manifest(store).await?;
    let wanted = manifest
        .files
        .iter()
        .find(|f| f.path == report_path)
        .ok_or_else(|| RenderError::NotFound(report_path.to_owned()))?;
    // Owned lists, not filtering iterators, across the awaits: the future stays `Send` for
    // every lifetime, as a server's handler needs.
    let family_files: Vec<&ManifestFile> = manifest
        .files
        .iter()
        .filter(|f| {
            f.kind == wanted.kind
                && f.recipient == wanted.recipient
                && f.municipality == wanted.municipality
        })
        .collect();
    let reports = read_all(store, family_files.iter().copied()).await?;
    let periods = release_periods(&manifest);
    let family = Family::new(reports, &periods);
    let at = family
        .reports
        .iter()
        .position(|r| r.file.path == report_path)
        .ok_or_else(|| RenderError::NotFound(report_path.to_owned()))?;
    // Only the region and the country of this municipality are needed, not every reference.
    let region = family.reports[at].region.clone();
    let reference_files: Vec<&ManifestFile> = manifest
        .files
        .iter()
        .filter(|f| {
            f.kind == ReportKind::National
                || (f.kind == ReportKind::Region && Some(&f.recipient) == region.as_ref())
        })
        .collect();
    let references = read_all(store, reference_files.iter().copied()).await?;
    let references = References::new(references);
    // A region page lists its municipalities, the national page its regions.
    let parts: Vec<&ManifestFile> = manifest
        .files
        .iter()
        .filter(|f| f.period == wanted.period)
        .filter(|f| match wanted.kind {
            ReportKind::Region => {
                f.kind == ReportKind::Municipality
                    && recipients::region_of(&f.recipient).as_ref() == Some(&wanted.recipient)
            }
            ReportKind::National => f.kind == ReportKind::Region,
            ReportKind::Municipality | ReportKind::Mirror => false,
        })
        .collect();
    let parts = read_all(store, parts.iter().copied()).await?;
    let headlines: Vec<Headline> = parts.iter().map(Headline::of).collect();
    let context = Context {
        manifest: &manifest,
        notes,
        indicators,
        headlines: &headlines,
    };
    Ok(family.page(at, &context, &references, language, &Language::ALL))
}

async fn read_all<'a>(
    store: &dyn ObjectStore,
    files: impl Iterator<Item = &'a ManifestFile>,
) -> Result<Vec<Report>> {
    // The futures are made before anything is awaited, so no closure is held across an
    // await and the future stays `Send` for a server's handler.
    let reads: Vec<_> = files.map(|file| load::report(store, file)).collect();
    futures::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// Every period of the release, oldest first.
fn release_periods(manifest: &Manifest) -> Vec<String> {
    let mut periods: Vec<String> = manifest.files.iter().map(|f| f.period.clone()).collect();
    periods.sort();
    periods.dedup();
    page::sort_periods(&mut periods);
    periods
}

/// Region and national reports by (kind, recipient, period).
struct References {
    reports: BTreeMap<(ReportKind, String, String), Report>,
}

impl References {
    fn new(reports: Vec<Report>) -> Self {
        Self {
            reports: reports
                .into_iter()
                .map(|r| {
                    (
                        (r.file.kind, r.file.recipient.clone(), r.file.period.clone()),
                        r,
                    )
                })
                .collect(),
        }
    }

    fn get(&self, kind: ReportKind, recipient: &str, period: &str) -> Option<&Report> {
        self.reports
            .get(&(kind, recipient.to_owned(), period.to_owned()))
    }
}

/// The reports of one recipient (a provider in a gemeente, or a gemeente) over the periods.
struct Family<'p> {
    /// In period order.
    reports: Vec<Report>,
    periods: &'p [String],
}

impl<'p> Family<'p> {
    fn new(mut reports: Vec<Report>, periods: &'p [String]) -> Self {
        let order = |r: &Report| periods.iter().position(|p| *p == r.file.period);
        reports.sort_by_key(|r| order(r));
        Self { reports, periods }
    }

    fn page(
        &self,
        at: usize,
        context: &Context<'_>,
        references: &References,
        language: Language,
        variants: &[Language],
    ) -> String {
        let (manifest, notes) = (context.manifest, context.notes);
        let report = &self.reports[at];
        // The trend runs from the family's first published period to this report's.
        let first = self
            .reports
            .first()
            .map_or(&report.file.period, |r| &r.file.period);
        let start = self.periods.iter().position(|p| p == first).unwrap_or(0);
        let end = self
            .periods
            .iter()
            .position(|p| *p == report.file.period)
            .map_or(self.periods.len(), |e| e + 1)
            .max(start);
        let periods = &self.periods[start..end];
        let history: Vec<Option<&Report>> = periods
            .iter()
            .map(|p| self.reports[..=at].iter().find(|r| r.file.period == *p))
            .collect();
        let municipality = report.file.kind == ReportKind::Municipality;
        // A municipality is shown beside its region and the country, a region beside the
        // country; a mirror report beside nothing (NB-2).
        let reference = |kind: ReportKind, shown: bool| -> Vec<Option<&Report>> {
            if !shown {
                return Vec::new();
            }
            periods
                .iter()
                .map(|p| {
                    // A national report's recipient is the kind's own name.
                    let recipient = match kind {
                        ReportKind::Region => report.region.as_deref(),
                        _ => Some(ReportKind::National.as_str()),
                    };
                    recipient.and_then(|r| references.get(kind, r, p))
                })
                .collect()
        };
        let region = reference(ReportKind::Region, municipality);
        let national = reference(
            ReportKind::National,
            municipality || report.file.kind == ReportKind::Region,
        );
        let other = match language {
            Language::Nl => Language::En,
            Language::En => Language::Nl,
        };
        let other_path = page_path(&manifest.release, &report.file, other);
        let other_language = variants
            .contains(&other)
            .then(|| other_path.rsplit('/').next().unwrap_or(&other_path));
        let annotation = report
            .file
            .municipality
            .as_deref()
            .filter(|_| !municipality)
            .and_then(|g| {
                notes
                    .annotations
                    .get(&report.file.recipient, &report.file.period, g)
            });
        let share_pending = report.file.municipality.as_deref().is_some_and(|g| {
            !municipality && notes.share_pending(&report.file.recipient, &report.file.period, g)
        });
        let extra = recipients::extra(report, context, language);
        page::render(&Page {
            language,
            manifest,
            report,
            periods,
            history: &history,
            region: &region,
            national: &national,
            annotation,
            share_pending,
            other_language,
            indicators: context.indicators,
            extra,
        })
    }
}

/// Writes a page through a temporary file and a rename, so a reader never sees half a page.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
