//! Reports in the tidy layout of docs/reports.md, one Parquet file per (kind, period, recipient),
//! and the manifest that lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use spiegel_aggregate::indicators::{INDICATORS, Indicator};
use spiegel_aggregate::table::column;
use spiegel_core::{Reference, ReportKind};

use crate::rules::{self, Cell};
use crate::sharing::{Holding, Sharing, SharingLedger, SharingRegistry};
use crate::{PublishConfig, PublishError, Result};

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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FileKey {
    /// First, so that files sort national, region, municipality, mirror.
    kind: ReportKind,
    period: Arc<str>,
    recipient: Arc<str>,
    municipality: Option<Arc<str>>,
    region: Option<Arc<str>>,
}

impl FileKey {
    /// What the report is about, as [`report_key`] reads it from its manifest entry.
    fn report_key(&self) -> ReportKey {
        ReportKey {
            kind: self.kind,
            period: self.period.to_string(),
            recipient: self.recipient.to_string(),
            municipality: (self.kind == ReportKind::Mirror)
                .then(|| self.municipality.as_deref().unwrap_or_default().to_owned()),
        }
    }

    /// Where the report released as `release` goes: partitioned by kind, period and
    /// recipient, named by its release id, so a report once written is never overwritten, a
    /// reader following a manifest never sees two releases of a report mixed, and a report
    /// that a new release leaves unchanged keeps its object. A provider's mirror reports of a
    /// period share its directory, named by municipality: a directory per mirror report would
    /// double what a local store creates.
    fn path(&self, release: &str) -> String {
        let base = format!("{}/period={}", self.kind.as_str(), self.period);
        match self.kind {
            ReportKind::National => format!("{base}/{release}.parquet"),
            ReportKind::Region => format!(
                "{base}/region={}/{release}.parquet",
                region_slug(&self.recipient)
            ),
            ReportKind::Municipality => {
                format!("{base}/municipality={}/{release}.parquet", self.recipient)
            }
            ReportKind::Mirror => format!(
                "{base}/provider={}/{}-{release}.parquet",
                self.recipient,
                self.municipality.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The report's release id: a digest of what its file holds — the layout and method
    /// version, what it reports on and its published figures (`content_sha256`). Like the
    /// release it belongs to it is a pure function of the inputs, keys and configuration, and
    /// it changes exactly when the report is revised (SDC-5): a correction writes the reports
    /// whose figures it changes and leaves every other file as it was.
    fn release_id(&self, content_sha256: &str) -> String {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            "spiegel:report:v1",
            REPORT_SCHEMA_VERSION,
            spiegel_aggregate::METHOD_VERSION,
            self.kind.as_str(),
            &self.period,
            &self.recipient,
            self.municipality.as_deref().unwrap_or("-"),
            self.region.as_deref().unwrap_or("-"),
            content_sha256,
        ] {
            context.update(&(part.len() as u64).to_le_bytes());
            context.update(part.as_bytes());
        }
        hex::encode(&context.finish().as_ref()[..16])
    }
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

/// A dictionary-encoded text column: its values once, shared, and a key per row.
struct TextColumn {
    values: Vec<Arc<str>>,
    /// The dictionary's keys as they are: a part has a million rows and more, too many to
    /// copy into a vector of its own per column.
    keys: arrow_array::Int32Array,
}

impl TextColumn {
    fn read(array: &dyn Array, name: &str) -> Result<Self> {
        let malformed = || PublishError::Malformed(format!("column {name}"));
        let dictionary = array
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(malformed)?;
        Self::from_dictionary(dictionary).ok_or_else(malformed)
    }

    fn from_dictionary(dictionary: &arrow_array::DictionaryArray<Int32Type>) -> Option<Self> {
        let values = dictionary.values().as_string_opt::<i32>()?;
        Some(Self {
            values: (0..values.len())
                .map(|i| Arc::from(values.value(i)))
                .collect(),
            keys: dictionary.keys().clone(),
        })
    }

    fn key(&self, row: usize) -> Option<usize> {
        self.keys
            .is_valid(row)
            .then(|| self.keys.value(row))
            .and_then(|k| usize::try_from(k).ok())
    }

    fn get(&self, row: usize) -> Option<&Arc<str>> {
        self.key(row).and_then(|k| self.values.get(k))
    }
}

/// The columns of a master-table part, read once, from which any row's report file and
/// cell are made when needed: a part has a million cells and more, too many to hold as cells
/// all at once.
struct PartColumns {
    period: TextColumn,
    kind: TextColumn,
    gemeente: TextColumn,
    region: TextColumn,
    provider: TextColumn,
    indicator_code: TextColumn,
    dimension: TextColumn,
    category: TextColumn,
    numerator: arrow_array::UInt32Array,
    numerator_key: arrow_array::UInt64Array,
    denominator: arrow_array::UInt32Array,
    denominator_key: arrow_array::UInt64Array,
    value: Float64Array,
    provisional: arrow_array::BooleanArray,
    contributors: arrow_array::ListArray,
    /// Every contributor list shares one dictionary of provider codes.
    contributor_names: TextColumn,
    contributor_units: arrow_array::UInt32Array,
    /// Per key of `indicator_code`: the indicator's place in the catalogue and its definition.
    definitions: Vec<(usize, &'static Indicator)>,
    /// Per key of `kind`: the report kind it names.
    kinds: Vec<ReportKind>,
}

fn malformed(what: &str) -> PublishError {
    PublishError::Malformed(what.to_owned())
}

impl PartColumns {
    fn read(batch: &RecordBatch) -> Result<Self> {
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| malformed(name));
        let text =
            |name: &str| -> Result<TextColumn> { TextColumn::read(get(name)?.as_ref(), name) };
        let indicator_code = text(column::INDICATOR)?;
        let kind = text(column::REPORT_KIND)?;
        let contributors = get(column::CONTRIBUTORS)?.as_list::<i32>().clone();
        let contributor_names = contributors
            .values()
            .as_dictionary_opt::<Int32Type>()
            .and_then(TextColumn::from_dictionary)
            .ok_or_else(|| malformed(column::CONTRIBUTORS))?;
        let units = get(column::CONTRIBUTOR_UNITS)?.as_list::<i32>().clone();
        let definitions = indicator_code
            .values
            .iter()
            .map(|code| {
                INDICATORS
                    .iter()
                    .enumerate()
                    .find(|(_, i)| i.code == &**code)
                    .ok_or_else(|| malformed("indicator"))
            })
            .collect::<Result<_>>()?;
        let kinds = kind
            .values
            .iter()
            .map(|k| k.parse().map_err(|_| malformed("report_kind")))
            .collect::<Result<_>>()?;
        Ok(Self {
            period: text(column::PERIOD)?,
            kind,
            gemeente: text(column::MUNICIPALITY_CODE)?,
            region: text(column::REGION)?,
            provider: text(column::PROVIDER_ID)?,
            indicator_code,
            dimension: text(column::DIMENSION)?,
            category: text(column::CATEGORY)?,
            numerator: get(column::NUMERATOR)?.as_primitive::<UInt32Type>().clone(),
            numerator_key: get(column::NUMERATOR_KEY)?
                .as_primitive::<UInt64Type>()
                .clone(),
            denominator: get(column::DENOMINATOR)?
                .as_primitive::<UInt32Type>()
                .clone(),
            denominator_key: get(column::DENOMINATOR_KEY)?
                .as_primitive::<UInt64Type>()
                .clone(),
            value: get(column::VALUE)?.as_primitive::<Float64Type>().clone(),
            provisional: get(column::PROVISIONAL)?.as_boolean().clone(),
            contributors,
            contributor_names,
            contributor_units: units.values().as_primitive::<UInt32Type>().clone(),
            definitions,
            kinds,
        })
    }

    fn rows(&self) -> usize {
        self.kind.keys.len()
    }

    /// The report file `row` belongs to.
    fn file_key(&self, row: usize) -> Result<FileKey> {
        let kind = self
            .kind
            .key(row)
            .and_then(|k| self.kinds.get(k).copied())
            .ok_or_else(|| malformed("report_kind"))?;
        let recipient = match kind {
            ReportKind::National => None,
            ReportKind::Region => self.region.get(row),
            ReportKind::Municipality => self.gemeente.get(row),
            ReportKind::Mirror => self.provider.get(row),
        };
        Ok(FileKey {
            kind,
            period: self
                .period
                .get(row)
                .cloned()
                .ok_or_else(|| malformed("period"))?,
            recipient: recipient
                .cloned()
                .unwrap_or_else(|| Arc::from(ReportKind::National.as_str())),
            municipality: self.gemeente.get(row).cloned(),
            region: self.region.get(row).cloned(),
        })
    }

    /// Whether `row` belongs to the same report file as `other`, without making its key.
    fn same_file(&self, row: usize, other: usize) -> bool {
        let same = |c: &TextColumn| c.key(row) == c.key(other);
        same(&self.kind)
            && same(&self.period)
            && same(&self.gemeente)
            && same(&self.region)
            && same(&self.provider)
    }

    /// The cell of `row`, in a report file of kind `kind`.
    fn cell(&self, row: usize, kind: ReportKind) -> Result<Cell> {
        let option_u32 = |a: &arrow_array::UInt32Array| a.is_valid(row).then(|| a.value(row));
        let (indicator_order, definition) = self
            .indicator_code
            .key(row)
            .and_then(|k| self.definitions.get(k).copied())
            .ok_or_else(|| malformed("indicator"))?;
        let contributors = self
            .contributors_of(row)
            .map(|(name, units)| (name.clone(), units))
            .collect();
        Ok(Cell {
            indicator: definition,
            indicator_order,
            dimension: self
                .dimension
                .get(row)
                .cloned()
                .ok_or_else(|| malformed("dimension"))?,
            category: self
                .category
                .get(row)
                .cloned()
                .ok_or_else(|| malformed("category"))?,
            numerator: option_u32(&self.numerator),
            numerator_key: self.numerator_key.value(row),
            denominator: option_u32(&self.denominator),
            denominator_key: self.denominator_key.value(row),
            value: self.value.is_valid(row).then(|| self.value.value(row)),
            provisional: self.provisional.value(row),
            contributors,
            controlled: rules::counts_rounded(kind, definition),
            suppressed: false,
            protected: [false; 2],
        })
    }

    /// Where every report's input digest starts: the versions of the rules and the layout.
    /// Rules a new version of the stage applies differently make other files.
    fn input_context(&self) -> InputContext {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for version in [
            // v2: SDC-2 shares from published counts, NB-3 per reader.
            "spiegel:report-input:v3",
            REPORT_SCHEMA_VERSION,
            spiegel_aggregate::METHOD_VERSION,
            env!("CARGO_PKG_VERSION"),
        ] {
            context.update(&(version.len() as u64).to_le_bytes());
            context.update(version.as_bytes());
        }
        // A dictionary's order follows the rows (the first cell of each value), which a
        // correction can change: a row is digested by the values its keys stand for.
        let values = |column: &TextColumn| -> Vec<[u8; 16]> {
            column
                .values
                .iter()
                .map(|value| {
                    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
                    let mut first = [0; 16];
                    first.copy_from_slice(&digest.as_ref()[..16]);
                    first
                })
                .collect()
        };
        InputContext {
            context,
            indicators: values(&self.indicator_code),
            dimensions: values(&self.dimension),
            categories: values(&self.category),
            contributors: values(&self.contributor_names),
        }
    }

    /// Identifies the cells of a report made of `rows`: everything of them the rules read,
    /// in their order. With the report's key, the sharing and the thresholds, that is all its
    /// file and audit are made from.
    fn input_digest(&self, context: &InputContext, rows: &[u32]) -> String {
        /// The digest of the value at `row`, or zeros for none.
        fn text(column: &TextColumn, values: &[[u8; 16]], row: usize) -> [u8; 16] {
            column
                .key(row)
                .and_then(|k| values.get(k).copied())
                .unwrap_or_default()
        }
        let mut bytes = Vec::with_capacity(rows.len() * 96);
        let offsets = self.contributors.value_offsets();
        for &row in rows {
            let row = row as usize;
            for (column, values) in [
                (&self.indicator_code, &context.indicators),
                (&self.dimension, &context.dimensions),
                (&self.category, &context.categories),
            ] {
                bytes.extend_from_slice(&text(column, values, row));
            }
            for (count, cell_key) in [
                (&self.numerator, &self.numerator_key),
                (&self.denominator, &self.denominator_key),
            ] {
                let count = count.is_valid(row).then(|| count.value(row));
                bytes.push(u8::from(count.is_some()));
                bytes.extend_from_slice(&count.unwrap_or_default().to_le_bytes());
                bytes.extend_from_slice(&cell_key.value(row).to_le_bytes());
            }
            let value = self.value.is_valid(row).then(|| self.value.value(row));
            bytes.push(u8::from(value.is_some()));
            bytes.extend_from_slice(&value.unwrap_or_default().to_bits().to_le_bytes());
            bytes.push(u8::from(self.provisional.value(row)));
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            bytes.extend_from_slice(&((end - start) as u32).to_le_bytes());
            for i in start..end {
                let name = text(&self.contributor_names, &context.contributors, i);
                bytes.extend_from_slice(&name);
                bytes.extend_from_slice(&self.contributor_units.value(i).to_le_bytes());
            }
        }
        let mut context = context.context.clone();
        context.update(&bytes);
        hex::encode(&context.finish().as_ref()[..16])
    }

    /// The contributors of `row` with their units, as the aggregate stage listed them.
    fn contributors_of(&self, row: usize) -> impl Iterator<Item = (&Arc<str>, u32)> {
        let offsets = self.contributors.value_offsets();
        (offsets[row] as usize..offsets[row + 1] as usize).filter_map(move |i| {
            self.contributor_names
                .get(i)
                .map(|name| (name, self.contributor_units.value(i)))
        })
    }

    /// The contributors of each municipality report's total of `indicator`, with their
    /// units: who the municipality's figures of this part come from (NB-4).
    fn municipality_totals(&self, indicator: &str) -> BTreeMap<String, Holding> {
        let mut totals: BTreeMap<String, Holding> = BTreeMap::new();
        for row in 0..self.rows() {
            let is =
                |column: &TextColumn, value: &str| column.get(row).is_some_and(|v| &**v == value);
            if !(is(&self.kind, ReportKind::Municipality.as_str())
                && is(&self.indicator_code, indicator)
                && is(&self.dimension, "total"))
            {
                continue;
            }
            let Some(municipality) = self.gemeente.get(row) else {
                continue;
            };
            let contributors = self
                .contributors_of(row)
                .map(|(name, units)| (name.to_string(), units))
                .collect();
            totals
                .entry(municipality.to_string())
                .or_default()
                .add_total(contributors);
        }
        totals
    }

    /// The rows of each report file, in row order, the files in key order.
    fn rows_by_file(&self) -> Result<Vec<(FileKey, Vec<u32>)>> {
        let mut files: BTreeMap<FileKey, Vec<u32>> = BTreeMap::new();
        // Rows of one file mostly arrive together: a key is made, and looked up, only where
        // the file changes.
        let mut current: Option<(usize, FileKey, Vec<u32>)> = None;
        for row in 0..self.rows() {
            match &mut current {
                Some((first, _, rows)) if self.same_file(row, *first) => rows.push(row as u32),
                _ => {
                    if let Some((_, key, rows)) = current.take() {
                        files.entry(key).or_default().extend(rows);
                    }
                    current = Some((row, self.file_key(row)?, vec![row as u32]));
                }
            }
        }
        if let Some((_, key, rows)) = current {
            files.entry(key).or_default().extend(rows);
        }
        Ok(files.into_iter().collect())
    }
}

/// What the input digests of a part's reports start from: the digest of the versions, and
/// a digest of each dictionary value, by key.
struct InputContext {
    context: ring::digest::Context,
    indicators: Vec<[u8; 16]>,
    dimensions: Vec<[u8; 16]>,
    categories: Vec<[u8; 16]>,
    contributors: Vec<[u8; 16]>,
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

/// Applies the rules to every report file of one master-table part (one period) whose cells
/// `unchanged` does not hold as they are, and writes the files that `previous` does not
/// already hold, on every core. The sharing requests of the period are decided first (NB-4),
/// against what `ledger` records each municipality holds and what this part gives it; the
/// ledger then records this part as held.
#[allow(clippy::too_many_arguments)] // each is one thing the reports depend on
pub(crate) fn publish_part(
    part: &RecordBatch,
    previous: &FilesByPath,
    unchanged: &Unchanged,
    requests: &SharingRegistry,
    ledger: &mut SharingLedger,
    config: &PublishConfig,
    store: &dyn ObjectStore,
    runtime: &tokio::runtime::Handle,
) -> Result<PartReports> {
    let columns = PartColumns::read(part)?;
    let inputs = columns.input_context();
    let Some(period) = (0..columns.rows()).find_map(|row| columns.period.get(row).cloned()) else {
        return Ok(PartReports {
            files: Vec::new(),
            audit: Vec::new(),
            made: 0,
        });
    };
    // Youths in care: every provider of the municipality contributes to its total.
    let mut held = columns.municipality_totals("youths_in_care");
    let effective_before = ledger.effective.clone();
    ledger.decide_period(&period, requests, &held);
    let sharing = ledger.sharing(requests);
    // A report taken as it was must have been made with the same shares in effect.
    let none = Unchanged::new();
    let unchanged = if ledger.effective == effective_before {
        unchanged
    } else {
        &none
    };
    // Each file's cells are made on the core that publishes it, and dropped once it is
    // written: only the files in hand are ever held as cells.
    let publish = |(key, rows): (FileKey, Vec<u32>)| -> Result<Made> {
        let input = columns.input_digest(&inputs, &rows);
        // A correction changes the cells of a few reports of a period: the others need
        // neither cells nor rules.
        if let Some((file, audit)) = unchanged
            .get(&key.report_key())
            .filter(|(_, audit)| audit.input.as_deref() == Some(input.as_str()))
        {
            return Ok(Made {
                file: file.clone(),
                audit: audit.clone(),
                made: false,
                held: None,
            });
        }
        let cells = rows
            .iter()
            .map(|&row| columns.cell(row as usize, key.kind))
            .collect::<Result<Vec<Cell>>>()?;
        publish_file(
            key, cells, input, previous, &sharing, config, store, runtime,
        )
    };
    let results = spiegel_core::parallel::map(columns.rows_by_file()?, 4, publish);
    let mut reports = PartReports {
        files: Vec::new(),
        audit: Vec::new(),
        made: 0,
    };
    for result in results {
        let made = result?;
        reports.files.push(made.file);
        reports.audit.push(made.audit);
        reports.made += usize::from(made.made);
        if let Some((municipality, cells)) = made.held {
            held.entry(municipality).or_default().merge(cells);
        }
    }
    ledger.hold(&period, held);
    reports.audit.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(reports)
}

/// One report of a part: its manifest entry and audit, whether the rules were applied to it
/// (or it was taken as the last release published it), and, for a municipality report made
/// now, what the municipality holds of it ([`Holding`]).
struct Made {
    file: ManifestFile,
    audit: FileAudit,
    made: bool,
    held: Option<(String, Holding)>,
}

/// The providers that count as sharing with each reader of a report (NB-3), without repeats:
/// the municipality of a municipality report, every municipality of a region or of the
/// country. A provider counts for a reader once a share with that reader took effect.
fn sharing_views(key: &FileKey, cells: &[Cell], sharing: &Sharing) -> Vec<rules::SharingView> {
    let reference = Reference::embedded();
    let readers: Vec<String> = match key.kind {
        ReportKind::National => reference
            .gemeenten()
            .iter()
            .map(|g| g.code.to_string())
            .collect(),
        ReportKind::Region => reference
            .gemeenten()
            .iter()
            .filter(|g| key.region.as_deref() == Some(g.regio.as_str()))
            .map(|g| g.code.to_string())
            .collect(),
        ReportKind::Municipality => vec![key.recipient.to_string()],
        ReportKind::Mirror => return Vec::new(),
    };
    let contributors: BTreeSet<&str> = cells
        .iter()
        .flat_map(|c| c.contributors.iter().map(|(p, _)| &**p))
        .collect();
    let mut views: BTreeSet<rules::SharingView> = BTreeSet::new();
    for reader in readers {
        views.insert(
            sharing
                .sharing_with(&key.period, &reader)
                .filter(|p| contributors.contains(p))
                .map(Arc::from)
                .collect(),
        );
    }
    views.into_iter().collect()
}

/// The release rules, the attacker audit and the Parquet file of one report; the file is not
/// written again when the previous release published the same figures (the same report id).
#[allow(clippy::too_many_arguments)] // each is one thing the file depends on
fn publish_file(
    key: FileKey,
    mut cells: Vec<Cell>,
    input: String,
    previous: &FilesByPath,
    sharing: &Sharing,
    config: &PublishConfig,
    store: &dyn ObjectStore,
    runtime: &tokio::runtime::Handle,
) -> Result<Made> {
    let period = key.period.to_string();
    let views = sharing_views(&key, &cells, sharing);
    rules::primary(&mut cells, config, &views);
    let intervals = rules::secondary(
        &mut cells,
        config,
        config.protection(),
        key.kind != ReportKind::Mirror,
    )?;
    // Named before the cells are put in order: the audit points at cells by their place.
    let unprotected = intervals.iter().find(|i| !i.protects()).map(|bad| {
        let cell = &cells[bad.cell];
        format!(
            "{} {} {} {}",
            cell.indicator.code, cell.dimension, cell.category, bad.column
        )
    });
    cells.sort_by_key(|c| c.indicator_order);
    let figures = Figures::of(&cells, config);
    let release = key.release_id(&figures.content_sha256);
    let path = key.path(&release);
    if let Some(cell) = unprotected {
        return Err(PublishError::Audit(format!("{path}: {cell}")));
    }
    let audit = FileAudit {
        path: path.clone(),
        suppressed_counts: intervals.len() as u64,
        narrowest_interval: intervals
            .iter()
            .filter_map(|i| i.upper.map(|u| u.saturating_sub(i.lower)))
            .min(),
        protection: config.protection(),
        input: Some(input),
    };
    // What the municipality holds once it reads this report: who contributed to each figure
    // it shows (NB-4 judges later shares against it).
    let held = (key.kind == ReportKind::Municipality).then(|| {
        let mut holding = Holding::default();
        for cell in cells.iter().filter(|c| !c.suppressed) {
            holding.add_cell(
                cell.contributors
                    .iter()
                    .map(|(p, _)| p.to_string())
                    .collect(),
            );
        }
        (key.recipient.to_string(), holding)
    });
    let mirror = key.kind == ReportKind::Mirror;
    let municipality = key.municipality.as_deref().unwrap_or_default();
    // Whether a mirror report is shared is no part of its file: only of its manifest entry.
    let shared = mirror.then(|| sharing.readable(&key.recipient, &period, municipality));
    if let Some(file) = previous.get(&path) {
        let file = ManifestFile {
            shared,
            ..file.clone()
        };
        return Ok(Made {
            file,
            audit,
            made: true,
            held,
        });
    }
    let bytes = write_parquet(&key, &cells, &figures, &release)?;
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    runtime.block_on(put_create_only(store, &path, bytes))?;
    let file = ManifestFile {
        path,
        kind: key.kind,
        period: period.clone(),
        recipient: key.recipient.to_string(),
        municipality: mirror.then(|| municipality.to_owned()),
        shared,
        sha256,
        content_sha256: figures.content_sha256,
        rows: cells.len() as u64,
        suppressed: figures.suppressed,
    };
    Ok(Made {
        file,
        audit,
        made: true,
        held,
    })
}

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

/// Writes a report with create-only semantics. Finding the object already there is what a
/// redelivered or resumed release does: fine if the bytes are the same, a conflict otherwise
/// (another writer, or a configuration that changed under the same release id).
async fn put_create_only(store: &dyn ObjectStore, path: &str, bytes: Vec<u8>) -> Result<()> {
    let location = StorePath::from(path);
    let options = object_store::PutOptions {
        mode: object_store::PutMode::Create,
        ..Default::default()
    };
    match store
        .put_opts(&location, bytes.clone().into(), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store.get(&location).await?.bytes().await?;
            if existing.as_ref() == bytes.as_slice() {
                Ok(())
            } else {
                Err(PublishError::Conflict(path.to_owned()))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The published figures of a report's cells and their digest.
struct Figures {
    published: Vec<rules::Published>,
    suppressed: u64,
    /// [`ManifestFile::content_sha256`].
    content_sha256: String,
}

impl Figures {
    fn of(cells: &[Cell], config: &PublishConfig) -> Self {
        use std::fmt::Write as _;
        let published: Vec<rules::Published> =
            cells.iter().map(|c| rules::publish(c, config)).collect();
        let suppressed = published
            .iter()
            .filter(|p| p.status == "suppressed")
            .count() as u64;
        let mut content = ring::digest::Context::new(&ring::digest::SHA256);
        let mut line = String::new();
        for (cell, p) in cells.iter().zip(&published) {
            line.clear();
            // Writing to a String cannot fail.
            let _ = write!(
                line,
                "{}\t{}\t{}\t",
                cell.indicator.code, cell.dimension, cell.category
            );
            for number in [p.numerator, p.denominator] {
                let _ = match number {
                    Some(n) => write!(line, "{n}\t"),
                    None => write!(line, "-\t"),
                };
            }
            let _ = match p.value {
                Some(v) => write!(line, "{:016x}\t", v.to_bits()),
                None => write!(line, "-\t"),
            };
            line.push_str(p.status);
            line.push('\n');
            content.update(line.as_bytes());
        }
        Self {
            published,
            suppressed,
            content_sha256: hex::encode(content.finish()),
        }
    }
}

fn write_parquet(
    key: &FileKey,
    cells: &[Cell],
    figures: &Figures,
    release: &str,
) -> Result<Vec<u8>> {
    let published = &figures.published;
    let mirror = key.kind == ReportKind::Mirror;
    let rows = cells.len();
    let repeated =
        |value: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![value; rows])) };
    let mut columns: Vec<ArrayRef> = vec![
        repeated(Some(key.kind.as_str())),
        repeated(Some(&key.period)),
        repeated(
            if matches!(key.kind, ReportKind::Municipality | ReportKind::Mirror) {
                key.municipality.as_deref()
            } else {
                None
            },
        ),
        repeated(if key.kind != ReportKind::National {
            key.region.as_deref()
        } else {
            None
        }),
    ];
    if mirror {
        columns.push(repeated(Some(&key.recipient)));
    }
    let strings = |f: &dyn Fn(&Cell) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(cells.iter().map(f)))
    };
    columns.push(strings(&|c| c.indicator.code));
    columns.push(strings(&|c| &c.dimension));
    columns.push(strings(&|c| &c.category));
    columns.push(Arc::new(Int64Array::from_iter(
        published.iter().map(|p| p.numerator),
    )));
    columns.push(Arc::new(Int64Array::from_iter(
        published.iter().map(|p| p.denominator),
    )));
    columns.push(Arc::new(Float64Array::from_iter(
        published.iter().map(|p| p.value),
    )));
    columns.push(strings(&|c| c.indicator.unit));
    columns.push(Arc::new(StringArray::from_iter_values(
        published.iter().map(|p| p.status),
    )));
    columns.push(repeated(Some(spiegel_aggregate::METHOD_VERSION)));
    let batch = RecordBatch::try_new(report_schema(mirror), columns)?;
    let properties = WriterProperties::builder()
        // Statistics would expose minima and maxima; published values are all a reader needs.
        .set_statistics_enabled(EnabledStatistics::None)
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                spiegel_core::wire::META_SCHEMA_VERSION.to_owned(),
                REPORT_SCHEMA_VERSION.to_owned(),
            ),
            KeyValue::new(
                spiegel_core::wire::META_RELEASE.to_owned(),
                release.to_owned(),
            ),
        ]))
        .build();
    let mut bytes = Vec::new();
    // No embedded Arrow schema: the key-value metadata holds the schema version and release
    // id only (docs/reports.md).
    let options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut bytes, batch.schema(), options)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(bytes)
}
