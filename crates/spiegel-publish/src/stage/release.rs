//! The release in hand: what the stage has published of it so far.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use object_store::ObjectStore;

use super::Reusable;
use crate::{
    FileAudit, ManifestFile, PublishConfig, Result, SharingLedger, SharingRegistry, report,
};

/// A release whose parts are being published.
pub(super) struct InProgress {
    /// The release id the aggregate stage gave the master table.
    pub(super) computed: String,
    pub(super) submissions: BTreeMap<String, String>,
    pub(super) watermark: u64,
    /// The requests to share as the release started.
    pub(super) requests: SharingRegistry,
    /// The ledger, with the requests decided and the parts held as each part is published.
    pub(super) ledger: SharingLedger,
    /// The reports of the release announced before, kept where this release leaves them as
    /// they were.
    pub(super) previous: report::FilesByPath,
    /// What this release can take from the last one as it is.
    pub(super) reusable: Reusable,
    /// Each part's digest and period, as received.
    pub(super) digests: BTreeMap<u64, (String, String)>,
    pub(super) parts_done: BTreeSet<u64>,
    pub(super) files: Vec<ManifestFile>,
    pub(super) audit: Vec<FileAudit>,
    /// Of the files, those the release rules were applied to ...
    pub(super) made: usize,
    /// ... and those taken from the last release.
    pub(super) unchanged: usize,
    /// The parts this stage holds, by digest: those of the last release published and of the
    /// release in hand before this one.
    pub(super) held: HashMap<String, PathBuf>,
    /// Whether a part came by reference that this stage does not hold ...
    pub(super) missing: bool,
    /// ... and the aggregate stage was asked to send the release in full.
    pub(super) requested: bool,
}

impl InProgress {
    /// A release with no part published yet.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one piece of the release's start"
    )]
    pub(super) fn new(
        computed: String,
        submissions: BTreeMap<String, String>,
        watermark: u64,
        requests: SharingRegistry,
        ledger: SharingLedger,
        previous: report::FilesByPath,
        reusable: Reusable,
        held: HashMap<String, PathBuf>,
    ) -> Self {
        Self {
            computed,
            submissions,
            watermark,
            requests,
            ledger,
            previous,
            reusable,
            digests: BTreeMap::new(),
            parts_done: BTreeSet::new(),
            files: Vec::new(),
            audit: Vec::new(),
            made: 0,
            unchanged: 0,
            held,
            missing: false,
            requested: false,
        }
    }

    /// The id the release is published under: the master table's with the shares in effect.
    pub(super) fn release_id(&self) -> String {
        self.ledger
            .sharing(&self.requests)
            .release_id(&self.computed)
    }

    /// Takes the reports of `period` as the last release published them, with their audit.
    pub(super) fn take_unchanged(&mut self, period: &str) {
        let mut files: Vec<&(ManifestFile, FileAudit)> = self
            .reusable
            .files
            .values()
            .filter(|(file, _)| file.period == period)
            .collect();
        files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        self.unchanged += files.len();
        for (file, audit) in files {
            self.files.push(file.clone());
            self.audit.push(audit.clone());
        }
    }

    /// Publishes the reports of one master-table part under this release's id and sharing.
    pub(super) fn add_part(
        &mut self,
        batch: &arrow_array::RecordBatch,
        config: &PublishConfig,
        store: &dyn ObjectStore,
        runtime: &tokio::runtime::Handle,
    ) -> Result<()> {
        let reports = report::publish_part(
            batch,
            &self.previous,
            &self.reusable.files,
            &self.requests,
            &mut self.ledger,
            config,
            store,
            runtime,
        )?;
        self.unchanged += reports.files.len() - reports.made;
        self.made += reports.made;
        self.files.extend(reports.files);
        self.audit.extend(reports.audit);
        Ok(())
    }
}
