//! Reading the published Parquet reports back: a page shows exactly what the file says.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use spiegel_aggregate::indicators::{Indicator, indicator};
use spiegel_publish::{MANIFEST, Manifest, ManifestFile};

use crate::{RenderError, Result};

/// The published status of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Provisional,
    Suppressed,
}

/// One published cell, as its row in the report file.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) indicator: &'static Indicator,
    pub(crate) dimension: Arc<str>,
    pub(crate) category: Arc<str>,
    pub(crate) numerator: Option<i64>,
    pub(crate) denominator: Option<i64>,
    pub(crate) value: Option<f64>,
    pub(crate) status: Status,
}

/// The cells of one report file, found by (indicator, dimension, category).
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) file: ManifestFile,
    /// The jeugdzorgregio the report is about (every row carries it for gemeente scopes).
    pub(crate) region: Option<String>,
    pub(crate) cells: Vec<Cell>,
    /// The cells of each indicator (a few dozen at most), for lookups without allocating.
    index: HashMap<&'static str, Vec<usize>>,
}

impl Report {
    pub(crate) fn cell(
        &self,
        indicator: &'static str,
        dimension: &str,
        category: &str,
    ) -> Option<&Cell> {
        self.index
            .get(indicator)?
            .iter()
            .map(|&i| &self.cells[i])
            .find(|c| &*c.dimension == dimension && &*c.category == category)
    }

    /// The total cell of an indicator.
    pub(crate) fn total(&self, indicator: &'static str) -> Option<&Cell> {
        self.cell(indicator, "total", "total")
    }
}

/// Reads the manifest of the current release.
pub(crate) async fn manifest(store: &dyn ObjectStore) -> Result<Manifest> {
    match spiegel_publish::read_manifest(store).await {
        Ok(Some(manifest)) => Ok(manifest),
        Ok(None) => Err(RenderError::Manifest(format!(
            "no {MANIFEST} in the report store: nothing has been published yet"
        ))),
        Err(spiegel_publish::PublishError::Store(e)) => Err(e.into()),
        Err(e) => Err(RenderError::Manifest(e.to_string())),
    }
}

/// Reads one report file of the manifest.
pub(crate) async fn report(store: &dyn ObjectStore, file: &ManifestFile) -> Result<Report> {
    let bytes = store
        .get(&StorePath::from(file.path.as_str()))
        .await?
        .bytes()
        .await?;
    parse(file, bytes)
}

fn parse(file: &ManifestFile, bytes: Bytes) -> Result<Report> {
    let malformed = |what: String| RenderError::Malformed {
        path: file.path.clone(),
        what,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let mut cells = Vec::with_capacity(usize::try_from(file.rows).unwrap_or(0));
    let mut region = None;
    for batch in reader {
        let batch = batch?;
        read_batch(&batch, &mut cells, &mut region).map_err(malformed)?;
    }
    let mut index: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, cell) in cells.iter().enumerate() {
        index.entry(cell.indicator.code).or_default().push(i);
    }
    Ok(Report {
        file: file.clone(),
        region,
        cells,
        index,
    })
}

fn read_batch(
    batch: &RecordBatch,
    cells: &mut Vec<Cell>,
    region: &mut Option<String>,
) -> std::result::Result<(), String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let text = |name: &str| {
        column(name)?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| format!("column {name} is not text"))
    };
    let count = |name: &str| {
        column(name)?
            .as_primitive_opt::<Int64Type>()
            .cloned()
            .ok_or_else(|| format!("column {name} is not a 64-bit integer"))
    };
    let indicators = text("indicator")?;
    let dimensions = text("dimension")?;
    let categories = text("category")?;
    let statuses = text("status")?;
    let regions = text("region")?;
    let numerators = count("numerator")?;
    let denominators = count("denominator")?;
    let values = column("value")?
        .as_primitive_opt::<Float64Type>()
        .cloned()
        .ok_or("column value is not a float")?;
    let optional = |a: &arrow_array::Int64Array, row: usize| a.is_valid(row).then(|| a.value(row));
    // A report has a few dozen distinct breakdown names and categories: share them.
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut intern = |text: &str| -> Arc<str> {
        match names.iter().find(|n| &***n == text) {
            Some(found) => found.clone(),
            None => {
                let new: Arc<str> = Arc::from(text);
                names.push(new.clone());
                new
            }
        }
    };
    for row in 0..batch.num_rows() {
        let code = indicators.value(row);
        let status = match statuses.value(row) {
            "ok" => Status::Ok,
            "provisional" => Status::Provisional,
            "suppressed" => Status::Suppressed,
            other => return Err(format!("unknown status {other:?}")),
        };
        if region.is_none() && regions.is_valid(row) {
            *region = Some(regions.value(row).to_owned());
        }
        cells.push(Cell {
            indicator: indicator(code).ok_or_else(|| format!("unknown indicator {code:?}"))?,
            dimension: intern(dimensions.value(row)),
            category: intern(categories.value(row)),
            numerator: optional(&numerators, row),
            denominator: optional(&denominators, row),
            value: values.is_valid(row).then(|| values.value(row)),
            status,
        });
    }
    Ok(())
}
