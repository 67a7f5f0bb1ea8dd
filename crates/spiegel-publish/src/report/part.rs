//! The reports of one master-table part: the release rules, the audit and the file of each.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::RecordBatch;
use object_store::ObjectStore;
use spiegel_core::{Reference, ReportKind};

use super::columns::{FileKey, PartColumns};
use super::file::{Figures, put_create_only, write_parquet};
use super::{FileAudit, FilesByPath, ManifestFile, PartReports, Unchanged};
use crate::rules::{self, Cell};
use crate::sharing::{Holding, Sharing, SharingLedger, SharingRegistry};
use crate::{PublishConfig, PublishError, Result};

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
pub(super) struct Made {
    pub(super) file: ManifestFile,
    pub(super) audit: FileAudit,
    pub(super) made: bool,
    pub(super) held: Option<(String, Holding)>,
}

/// The providers that count as sharing with each reader of a report (NB-3), without repeats:
/// the municipality of a municipality report, every municipality of a region or of the
/// country. A provider counts for a reader once a share with that reader took effect.
pub(super) fn sharing_views(
    key: &FileKey,
    cells: &[Cell],
    sharing: &Sharing,
) -> Vec<rules::SharingView> {
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
pub(super) fn publish_file(
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
