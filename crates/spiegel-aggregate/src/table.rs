//! The master table (SDC-5, docs/release-rules.md): every exact cell of a release, as the aggregate
//! stage hands it to the publish stage. Internal to the pipeline; never published as such.

use std::sync::Arc;

use std::collections::HashMap;

use arrow_array::builder::{
    BooleanBufferBuilder, BooleanBuilder, Float64Builder, Int32Builder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema};

/// Column names of the master table (defined with every other name between stages in
/// [`spiegel_core::wire`]).
pub use spiegel_core::wire::master_column as column;

/// A count of distinct units with its cell key: the sum of the units' 64-bit keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) n: u32,
    pub(crate) key: u64,
}

impl Count {
    pub(crate) fn add(&mut self, key: u64) {
        self.n += 1;
        self.key = self.key.wrapping_add(key);
    }
}

/// The Arrow schema of the master table.
pub fn master_schema() -> Arc<Schema> {
    let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new(column::PERIOD, dict(), false),
        Field::new(column::REPORT_KIND, dict(), false),
        Field::new(column::MUNICIPALITY_CODE, dict(), true),
        Field::new(column::REGION, dict(), true),
        Field::new(column::PROVIDER_ID, dict(), true),
        Field::new(column::INDICATOR, dict(), false),
        Field::new(column::DIMENSION, dict(), false),
        Field::new(column::CATEGORY, dict(), false),
        Field::new(column::NUMERATOR, DataType::UInt32, true),
        Field::new(column::NUMERATOR_KEY, DataType::UInt64, true),
        Field::new(column::DENOMINATOR, DataType::UInt32, true),
        Field::new(column::DENOMINATOR_KEY, DataType::UInt64, true),
        Field::new(column::VALUE, DataType::Float64, true),
        Field::new(column::PROVISIONAL, DataType::Boolean, false),
        Field::new(
            column::CONTRIBUTORS,
            DataType::List(Arc::new(Field::new_list_field(dict(), true))),
            true,
        ),
        Field::new(
            column::CONTRIBUTOR_UNITS,
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))),
            true,
        ),
    ]))
}

/// One row on its way into the table.
pub(crate) struct CellRow<'a> {
    pub(crate) period: &'a str,
    pub(crate) kind: spiegel_core::ReportKind,
    pub(crate) gemeente: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) provider: Option<&'a str>,
    pub(crate) indicator: &'a str,
    pub(crate) dimension: &'a str,
    pub(crate) category: &'a str,
    pub(crate) numerator: Option<Count>,
    pub(crate) denominator: Option<Count>,
    pub(crate) value: Option<f64>,
    pub(crate) provisional: bool,
    /// Units per provider of the cell's population; `None` for mirror cells.
    pub(crate) contributors: Option<&'a [(u16, u32)]>,
    pub(crate) providers: &'a [String],
}

/// A dictionary-encoded text column built row by row. The texts of a master table come from a
/// few places (the period, the code lists, the reference and provider names), again and again:
/// a text from the same place as one seen before is found by its address, compared with the
/// value found there (so a text from elsewhere that happens to reuse an address is never taken
/// for another), and only a new one is hashed. Keys are given in order of first appearance,
/// as Arrow's dictionary builder gives them.
struct TextColumn {
    keys: Int32Builder,
    values: Vec<Box<str>>,
    by_content: HashMap<Box<str>, i32>,
    /// (address, length, key) of recently seen texts, by a hash of the address.
    by_address: Box<[(usize, usize, i32); ADDRESS_SLOTS]>,
}

const ADDRESS_SLOTS: usize = 256;

impl TextColumn {
    fn new() -> Self {
        Self {
            keys: Int32Builder::new(),
            values: Vec::new(),
            by_content: HashMap::new(),
            by_address: Box::new([(0, 0, -1); ADDRESS_SLOTS]),
        }
    }

    fn key(&mut self, text: &str) -> i32 {
        let address = text.as_ptr() as usize;
        let slot = (address ^ (address >> 9)) % ADDRESS_SLOTS;
        let (seen, len, key) = self.by_address[slot];
        if seen == address && len == text.len() && key >= 0 && *self.values[key as usize] == *text {
            return key;
        }
        let key = match self.by_content.get(text) {
            Some(&key) => key,
            None => {
                let key = self.values.len() as i32;
                self.values.push(text.into());
                self.by_content.insert(text.into(), key);
                key
            }
        };
        self.by_address[slot] = (address, text.len(), key);
        key
    }

    fn append(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                let key = self.key(text);
                self.keys.append_value(key);
            }
            None => self.keys.append_null(),
        }
    }

    fn finish(&mut self) -> Result<DictionaryArray<Int32Type>, ArrowError> {
        let values = StringArray::from_iter_values(self.values.iter().map(|v| &**v));
        DictionaryArray::try_new(self.keys.finish(), Arc::new(values))
    }
}

/// Builds the master table row by row.
pub(crate) struct TableBuilder {
    texts: [TextColumn; 8],
    numerator: UInt32Builder,
    numerator_key: UInt64Builder,
    denominator: UInt32Builder,
    denominator_key: UInt64Builder,
    value: Float64Builder,
    provisional: BooleanBuilder,
    /// Contributor lists: offsets, validity, and per contributor its provider number, which
    /// is the key into the provider names (numbered in AGB order, so a list in number order
    /// is in name order).
    contributor_offsets: Vec<i32>,
    contributor_valid: BooleanBufferBuilder,
    contributor_providers: Vec<i32>,
    contributor_units: Vec<u32>,
    /// The provider names the contributor keys point into.
    providers: Option<Arc<StringArray>>,
    rows: usize,
}

impl TableBuilder {
    pub(crate) fn new() -> Self {
        Self {
            texts: std::array::from_fn(|_| TextColumn::new()),
            numerator: UInt32Builder::new(),
            numerator_key: UInt64Builder::new(),
            denominator: UInt32Builder::new(),
            denominator_key: UInt64Builder::new(),
            value: Float64Builder::new(),
            provisional: BooleanBuilder::new(),
            contributor_offsets: vec![0],
            contributor_valid: BooleanBufferBuilder::new(0),
            contributor_providers: Vec::new(),
            contributor_units: Vec::new(),
            providers: None,
            rows: 0,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn push(&mut self, row: &CellRow<'_>) {
        let [
            period,
            kind,
            gemeente,
            region,
            provider,
            indicator,
            dimension,
            category,
        ] = &mut self.texts;
        period.append(Some(row.period));
        kind.append(Some(row.kind.as_str()));
        gemeente.append(row.gemeente);
        region.append(row.region);
        provider.append(row.provider);
        indicator.append(Some(row.indicator));
        dimension.append(Some(row.dimension));
        category.append(Some(row.category));
        self.numerator.append_option(row.numerator.map(|c| c.n));
        self.numerator_key
            .append_option(row.numerator.map(|c| c.key));
        self.denominator.append_option(row.denominator.map(|c| c.n));
        self.denominator_key
            .append_option(row.denominator.map(|c| c.key));
        self.value.append_option(row.value);
        self.provisional.append_value(row.provisional);
        if self.providers.is_none() {
            self.providers = Some(Arc::new(StringArray::from_iter_values(
                row.providers.iter(),
            )));
        }
        match row.contributors {
            Some(contributors) => {
                // In provider-number order, which is name order (the stage hands them so).
                let sorted = if contributors.is_sorted() {
                    std::borrow::Cow::Borrowed(contributors)
                } else {
                    let mut sorted = contributors.to_vec();
                    sorted.sort_unstable();
                    std::borrow::Cow::Owned(sorted)
                };
                for &(p, u) in sorted.iter() {
                    self.contributor_providers.push(i32::from(p));
                    self.contributor_units.push(u);
                }
                self.contributor_valid.append(true);
            }
            None => self.contributor_valid.append(false),
        }
        self.contributor_offsets
            .push(self.contributor_providers.len() as i32);
        self.rows += 1;
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(16);
        for text in &mut self.texts {
            columns.push(Arc::new(text.finish()?));
        }
        columns.push(Arc::new(self.numerator.finish()));
        columns.push(Arc::new(self.numerator_key.finish()));
        columns.push(Arc::new(self.denominator.finish()));
        columns.push(Arc::new(self.denominator_key.finish()));
        columns.push(Arc::new(self.value.finish()));
        columns.push(Arc::new(self.provisional.finish()));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.contributor_offsets));
        let valid = NullBuffer::new(self.contributor_valid.finish());
        let providers = self
            .providers
            .unwrap_or_else(|| Arc::new(StringArray::from(Vec::<&str>::new())));
        let names = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(self.contributor_providers),
            providers,
        )?;
        let schema = master_schema();
        let list_field = |name: &str| match schema.field_with_name(name).map(|f| f.data_type()) {
            Ok(DataType::List(field)) => Ok(field.clone()),
            _ => Err(ArrowError::SchemaError(format!("{name} is not a list"))),
        };
        columns.push(Arc::new(ListArray::try_new(
            list_field(column::CONTRIBUTORS)?,
            offsets.clone(),
            Arc::new(names),
            Some(valid.clone()),
        )?));
        columns.push(Arc::new(ListArray::try_new(
            list_field(column::CONTRIBUTOR_UNITS)?,
            offsets,
            Arc::new(UInt32Array::from(self.contributor_units)),
            Some(valid),
        )?));
        RecordBatch::try_new(schema, columns)
    }
}
