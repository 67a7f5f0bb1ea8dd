//! Reading a master-table part: its columns, and the report each row belongs to.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, Float64Array, RecordBatch};
use spiegel_aggregate::indicators::{INDICATORS, Indicator};
use spiegel_aggregate::table::column;
use spiegel_core::ReportKind;

use super::{REPORT_SCHEMA_VERSION, ReportKey, region_slug};
use crate::rules::{self, Cell};
use crate::sharing::Holding;
use crate::{PublishError, Result};

/// One report file of a part: what it reports on, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FileKey {
    /// First, so that files sort national, region, municipality, mirror.
    pub(super) kind: ReportKind,
    pub(super) period: Arc<str>,
    pub(super) recipient: Arc<str>,
    pub(super) municipality: Option<Arc<str>>,
    pub(super) region: Option<Arc<str>>,
}

impl FileKey {
    /// What the report is about, as [`super::report_key`] reads it from its manifest entry.
    pub(super) fn report_key(&self) -> ReportKey {
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
    pub(super) fn path(&self, release: &str) -> String {
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
    pub(super) fn release_id(&self, content_sha256: &str) -> String {
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

/// A dictionary-encoded text column: its values once, shared, and a key per row.
pub(super) struct TextColumn {
    pub(super) values: Vec<Arc<str>>,
    /// The dictionary's keys as they are: a part has a million rows and more, too many to
    /// copy into a vector of its own per column.
    pub(super) keys: arrow_array::Int32Array,
}

impl TextColumn {
    pub(super) fn read(array: &dyn Array, name: &str) -> Result<Self> {
        let malformed = || PublishError::Malformed(format!("column {name}"));
        let dictionary = array
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(malformed)?;
        Self::from_dictionary(dictionary).ok_or_else(malformed)
    }

    pub(super) fn from_dictionary(
        dictionary: &arrow_array::DictionaryArray<Int32Type>,
    ) -> Option<Self> {
        let values = dictionary.values().as_string_opt::<i32>()?;
        Some(Self {
            values: (0..values.len())
                .map(|i| Arc::from(values.value(i)))
                .collect(),
            keys: dictionary.keys().clone(),
        })
    }

    pub(super) fn key(&self, row: usize) -> Option<usize> {
        self.keys
            .is_valid(row)
            .then(|| self.keys.value(row))
            .and_then(|k| usize::try_from(k).ok())
    }

    pub(super) fn get(&self, row: usize) -> Option<&Arc<str>> {
        self.key(row).and_then(|k| self.values.get(k))
    }
}

/// The columns of a master-table part, read once, from which any row's report file and
/// cell are made when needed: a part has a million cells and more, too many to hold as cells
/// all at once.
pub(super) struct PartColumns {
    pub(super) period: TextColumn,
    pub(super) kind: TextColumn,
    pub(super) gemeente: TextColumn,
    pub(super) region: TextColumn,
    pub(super) provider: TextColumn,
    pub(super) indicator_code: TextColumn,
    pub(super) dimension: TextColumn,
    pub(super) category: TextColumn,
    pub(super) numerator: arrow_array::UInt32Array,
    pub(super) numerator_key: arrow_array::UInt64Array,
    pub(super) denominator: arrow_array::UInt32Array,
    pub(super) denominator_key: arrow_array::UInt64Array,
    pub(super) value: Float64Array,
    pub(super) provisional: arrow_array::BooleanArray,
    pub(super) contributors: arrow_array::ListArray,
    /// Every contributor list shares one dictionary of provider codes.
    pub(super) contributor_names: TextColumn,
    pub(super) contributor_units: arrow_array::UInt32Array,
    /// Per key of `indicator_code`: the indicator's place in the catalogue and its definition.
    pub(super) definitions: Vec<(usize, &'static Indicator)>,
    /// Per key of `kind`: the report kind it names.
    pub(super) kinds: Vec<ReportKind>,
}

pub(super) fn malformed(what: &str) -> PublishError {
    PublishError::Malformed(what.to_owned())
}

impl PartColumns {
    pub(super) fn read(batch: &RecordBatch) -> Result<Self> {
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

    pub(super) fn rows(&self) -> usize {
        self.kind.keys.len()
    }

    /// The report file `row` belongs to.
    pub(super) fn file_key(&self, row: usize) -> Result<FileKey> {
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
    pub(super) fn same_file(&self, row: usize, other: usize) -> bool {
        let same = |c: &TextColumn| c.key(row) == c.key(other);
        same(&self.kind)
            && same(&self.period)
            && same(&self.gemeente)
            && same(&self.region)
            && same(&self.provider)
    }

    /// The cell of `row`, in a report file of kind `kind`.
    pub(super) fn cell(&self, row: usize, kind: ReportKind) -> Result<Cell> {
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
    pub(super) fn input_context(&self) -> InputContext {
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
    pub(super) fn input_digest(&self, context: &InputContext, rows: &[u32]) -> String {
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
    pub(super) fn contributors_of(&self, row: usize) -> impl Iterator<Item = (&Arc<str>, u32)> {
        let offsets = self.contributors.value_offsets();
        (offsets[row] as usize..offsets[row + 1] as usize).filter_map(move |i| {
            self.contributor_names
                .get(i)
                .map(|name| (name, self.contributor_units.value(i)))
        })
    }

    /// The contributors of each municipality report's total of `indicator`, with their
    /// units: who the municipality's figures of this part come from (NB-4).
    pub(super) fn municipality_totals(&self, indicator: &str) -> BTreeMap<String, Holding> {
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
    pub(super) fn rows_by_file(&self) -> Result<Vec<(FileKey, Vec<u32>)>> {
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
pub(super) struct InputContext {
    pub(super) context: ring::digest::Context,
    pub(super) indicators: Vec<[u8; 16]>,
    pub(super) dimensions: Vec<[u8; 16]>,
    pub(super) categories: Vec<[u8; 16]>,
    pub(super) contributors: Vec<[u8; 16]>,
}
