//! The master table (SPEC §9 SDC-5): every exact cell of a release, as the aggregate stage
//! hands it to the publish stage. Internal to the pipeline; never published as such.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, ListBuilder, StringDictionaryBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema};

use crate::cells::Count;

/// Column names of the master table.
pub mod column {
    /// Delivery period.
    pub const PERIOD: &str = "period";
    /// mirror | municipality | region | national.
    pub const REPORT_KIND: &str = "report_kind";
    /// `GMxxxx`, for mirror and municipality cells.
    pub const MUNICIPALITY_CODE: &str = "municipality_code";
    /// Jeugdzorgregio, for mirror, municipality and region cells.
    pub const REGION: &str = "region";
    /// AGB code, for mirror cells only.
    pub const PROVIDER_ID: &str = "provider_id";
    /// Indicator code.
    pub const INDICATOR: &str = "indicator";
    /// Breakdown.
    pub const DIMENSION: &str = "dimension";
    /// Category of the breakdown.
    pub const CATEGORY: &str = "category";
    /// Exact numerator count.
    pub const NUMERATOR: &str = "numerator";
    /// Cell key of the numerator's units.
    pub const NUMERATOR_KEY: &str = "numerator_key";
    /// Exact denominator count.
    pub const DENOMINATOR: &str = "denominator";
    /// Cell key of the denominator's units.
    pub const DENOMINATOR_KEY: &str = "denominator_key";
    /// Exact value.
    pub const VALUE: &str = "value";
    /// Whether the figure may still change as periods are delivered.
    pub const PROVISIONAL: &str = "provisional";
    /// Providers contributing to the cell's population (aggregate scopes).
    pub const CONTRIBUTORS: &str = "contributors";
    /// Units each of them contributes, in the same order.
    pub const CONTRIBUTOR_UNITS: &str = "contributor_units";
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
    pub(crate) kind: &'a str,
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

type Dict = StringDictionaryBuilder<Int32Type>;

/// Builds the master table row by row.
pub(crate) struct TableBuilder {
    texts: [Dict; 8],
    numerator: UInt32Builder,
    numerator_key: UInt64Builder,
    denominator: UInt32Builder,
    denominator_key: UInt64Builder,
    value: Float64Builder,
    provisional: BooleanBuilder,
    contributors: ListBuilder<Dict>,
    contributor_units: ListBuilder<UInt32Builder>,
    rows: usize,
}

impl TableBuilder {
    pub(crate) fn new() -> Self {
        Self {
            texts: std::array::from_fn(|_| Dict::new()),
            numerator: UInt32Builder::new(),
            numerator_key: UInt64Builder::new(),
            denominator: UInt32Builder::new(),
            denominator_key: UInt64Builder::new(),
            value: Float64Builder::new(),
            provisional: BooleanBuilder::new(),
            contributors: ListBuilder::new(Dict::new()),
            contributor_units: ListBuilder::new(UInt32Builder::new()),
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
        period.append_value(row.period);
        kind.append_value(row.kind);
        gemeente.append_option(row.gemeente);
        region.append_option(row.region);
        provider.append_option(row.provider);
        indicator.append_value(row.indicator);
        dimension.append_value(row.dimension);
        category.append_value(row.category);
        self.numerator.append_option(row.numerator.map(|c| c.n));
        self.numerator_key
            .append_option(row.numerator.map(|c| c.key));
        self.denominator.append_option(row.denominator.map(|c| c.n));
        self.denominator_key
            .append_option(row.denominator.map(|c| c.key));
        self.value.append_option(row.value);
        self.provisional.append_value(row.provisional);
        match row.contributors {
            Some(contributors) => {
                let mut named: Vec<(&str, u32)> = contributors
                    .iter()
                    .map(|&(p, u)| (row.providers[usize::from(p)].as_str(), u))
                    .collect();
                named.sort_unstable();
                for (p, u) in named {
                    self.contributors.values().append_value(p);
                    self.contributor_units.values().append_value(u);
                }
                self.contributors.append(true);
                self.contributor_units.append(true);
            }
            None => {
                self.contributors.append(false);
                self.contributor_units.append(false);
            }
        }
        self.rows += 1;
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = self
            .texts
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        columns.push(Arc::new(self.numerator.finish()));
        columns.push(Arc::new(self.numerator_key.finish()));
        columns.push(Arc::new(self.denominator.finish()));
        columns.push(Arc::new(self.denominator_key.finish()));
        columns.push(Arc::new(self.value.finish()));
        columns.push(Arc::new(self.provisional.finish()));
        columns.push(Arc::new(self.contributors.finish()));
        columns.push(Arc::new(self.contributor_units.finish()));
        RecordBatch::try_new(master_schema(), columns)
    }
}
