//! Reports in the tidy layout of docs/reports.md, one Parquet file per report (kind, period,
//! recipient and, for a mirror report, municipality), and the manifest that lists them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use spiegel_core::ReportKind;

use crate::{PublishConfig, PublishError, Result};

mod columns;
mod file;
mod part;

pub(crate) use part::publish_part;

/// Version of the report layout, in every file's metadata and the manifest.
pub const REPORT_SCHEMA_VERSION: &str = "spiegel-report-1";
/// Name of the manifest at the root of the store.
pub const MANIFEST: &str = "manifest.json";

/// The manifest of a release.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Release id (from the aggregate stage: inputs, method and configuration).
    pub release: String,
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: String,
    /// Method version of the indicators.
    pub method_version: String,
    /// The thresholds applied.
    pub config: PublishConfig,
    /// Every file of the release, in path order.
    pub files: Vec<ManifestFile>,
    /// The submissions the release was computed from: `<AGB>_<PERIOD>` to the content digest
    /// of the submission in force (what the API's submission status reads).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub submissions: BTreeMap<String, String>,
}

/// Where the feed lives in the object store: one object per release announced, named by its
/// sequence number so that a listing is the feed in order.
pub const FEED_PREFIX: &str = "feed/";

/// The object name of feed event `seq`.
pub fn feed_object(seq: u64) -> String {
    format!("{FEED_PREFIX}{seq:012}.json")
}

/// One release as the feed tells it: which reports it added, changed or withdrew compared with
/// the release announced before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedEvent {
    /// Position in the feed, from 1, without gaps.
    pub seq: u64,
    /// The release.
    pub release: String,
    /// Every report that differs from the previous release, in path order.
    pub changes: Vec<FeedChange>,
}

/// A report that a release added, changed or withdrew.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedChange {
    /// What happened to it.
    pub change: Change,
    /// The report (for a withdrawn one: as it was last published).
    pub file: ManifestFile,
}

/// How a report differs from the previous release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not in the previous release.
    New,
    /// Its figures differ, or (a mirror report) whether it is shared does.
    Changed,
    /// No longer published.
    Withdrawn,
}

/// One report file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// Path in the object store, named by the report's own release id.
    pub path: String,
    /// Which of the four kinds of report it is.
    pub kind: ReportKind,
    /// Period.
    pub period: String,
    /// Who may read it: a provider's AGB code (mirror), a municipality code, a region or
    /// `national`.
    pub recipient: String,
    /// For a mirror report: the municipality it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    /// For a mirror report: whether the provider shared it with that municipality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// SHA-256 of the published figures alone (every row's indicator, breakdown, numerator,
    /// denominator, value and status), hex: what tells a subscriber whether the figures
    /// changed, and what the report's release id (its file name) is derived from.
    pub content_sha256: String,
    /// Rows (published cells).
    pub rows: u64,
    /// Of them, suppressed.
    pub suppressed: u64,
}

/// The tidy report schema of a kind; only mirror reports have a `provider_id` column (NB-1).
pub fn report_schema(mirror: bool) -> Arc<Schema> {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        text("report_kind", false),
        text("period", false),
        text("municipality_code", true),
        text("region", true),
    ];
    if mirror {
        fields.push(text("provider_id", false));
    }
    fields.extend([
        text("indicator", false),
        text("dimension", false),
        text("category", false),
        Field::new("numerator", DataType::Int64, true),
        Field::new("denominator", DataType::Int64, true),
        Field::new("value", DataType::Float64, true),
        text("unit", false),
        text("status", false),
        text("method_version", false),
    ]);
    Arc::new(Schema::new(fields))
}

/// A jeugdzorgregio's name as it appears in paths and ids: lower-case ASCII letters and
/// digits, every other character a `-` (`"Utrecht stad"` → `utrecht-stad`).
pub fn region_slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// What the attacker audit proved for one report file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileAudit {
    /// The report file.
    pub path: String,
    /// Suppressed counts audited (a suppressed share hides two).
    pub suppressed_counts: u64,
    /// The narrowest interval an attacker can derive for any of them; `None` when every
    /// interval is unbounded or nothing is suppressed.
    pub narrowest_interval: Option<u64>,
    /// The protection level every interval had to reach.
    pub protection: u64,
    /// Identifies the master-table cells the report and this audit were made from (with the
    /// rules' version): a later release, under the same sharing and thresholds, whose cells
    /// for the same report have the same digest takes both as they are. None in audits kept
    /// before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// What a report is about, as its manifest entry says: kind, period, recipient and, for a
/// mirror report, the municipality.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ReportKey {
    pub(crate) kind: ReportKind,
    pub(crate) period: String,
    pub(crate) recipient: String,
    pub(crate) municipality: Option<String>,
}

/// The report of `file` by what it is about.
pub(crate) fn report_key(file: &ManifestFile) -> ReportKey {
    ReportKey {
        kind: file.kind,
        period: file.period.clone(),
        recipient: file.recipient.clone(),
        municipality: file.municipality.clone(),
    }
}

/// The reports of the last release, with their audits, by what they are about: a report
/// whose cells come again with the same input digest, under the same sharing and thresholds,
/// is taken from here as it is.
pub(crate) type Unchanged = std::collections::HashMap<ReportKey, (ManifestFile, FileAudit)>;

/// The reports of one master-table part.
pub(crate) struct PartReports {
    pub files: Vec<ManifestFile>,
    pub audit: Vec<FileAudit>,
    /// Of the files, those the release rules were applied to; the others came from
    /// [`Unchanged`].
    pub made: usize,
}

/// The reports of the release announced before, by path: a report whose path (and with it
/// its release id) comes again is the same file, kept instead of written again.
pub(crate) type FilesByPath = std::collections::HashMap<String, ManifestFile>;

/// The objects a release, once its manifest is written, removes from the store unless it
/// names them.
pub(crate) enum Sweep {
    /// Every object but the feed: the store may hold reports of a release a crash or a newer
    /// release interrupted, or the stage does not know what it holds.
    Everything,
    /// These paths: the reports of the release announced before, all the store holds besides
    /// the manifest and the feed.
    Only(Vec<String>),
}

/// Reads the manifest of the release `store` holds now; `None` before the first release.
pub async fn read_manifest(store: &dyn ObjectStore) -> Result<Option<Manifest>> {
    match store.get(&StorePath::from(MANIFEST)).await {
        Ok(found) => {
            let bytes = found.bytes().await?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(PublishError::Manifest)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes the manifest of a release whose files are all written, then removes what `sweep`
/// names and the manifest does not: reports of the previous release, and of a release a
/// crash interrupted.
pub(crate) async fn finish_release(
    release: &str,
    mut files: Vec<ManifestFile>,
    submissions: BTreeMap<String, String>,
    config: &PublishConfig,
    store: &dyn ObjectStore,
    sweep: Sweep,
) -> Result<Manifest> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        release: release.to_owned(),
        schema_version: REPORT_SCHEMA_VERSION.to_owned(),
        method_version: spiegel_aggregate::METHOD_VERSION.to_owned(),
        config: *config,
        files,
        submissions,
    };
    let mut json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| PublishError::Malformed(e.to_string()))?;
    json.push(b'\n');
    store.put(&StorePath::from(MANIFEST), json.into()).await?;
    let keep: std::collections::HashSet<&str> = manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain([MANIFEST])
        .collect();
    let candidates: Vec<StorePath> = match sweep {
        Sweep::Everything => {
            let listed: Vec<object_store::ObjectMeta> = store.list(None).try_collect().await?;
            listed.into_iter().map(|object| object.location).collect()
        }
        Sweep::Only(paths) => paths.iter().map(|p| StorePath::from(p.as_str())).collect(),
    };
    for location in candidates {
        let name = location.as_ref();
        // The feed outlives releases: it is their history.
        if !keep.contains(name) && !name.starts_with(FEED_PREFIX) {
            match store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(manifest)
}
