//! What a new release can take from the last one without going through the release rules
//! again: the reports of an unchanged part or with unchanged cells, and the parts this stage
//! holds for a release that sends them by reference.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use object_store::ObjectStoreExt;

use super::{InProgress, PublishStage};
use crate::state::{self, ANNOUNCED, Announced, LastRelease};
use crate::{FileAudit, MANIFEST, Result, SharingLedger, SharingRegistry, report};

/// The reports of the release announced last, by path, while they are the ones in force.
#[derive(Debug, Default)]
pub(super) struct Previous {
    release: String,
    pub(super) files: report::FilesByPath,
}

/// What a new release can take from the last one as it is.
#[derive(Default)]
pub(super) struct Reusable {
    /// Its parts by digest: where the last release kept each, and its period.
    pub(super) parts: HashMap<String, (PathBuf, String)>,
    /// Its reports with their audits.
    pub(super) files: report::Unchanged,
}

impl PublishStage {
    /// The reports of the release announced last: the files a new release keeps where its
    /// reports come out the same. Only while the store's manifest is still that release's: a
    /// store emptied or replaced by hand gets every file written again.
    pub(super) fn previous_reports(&self) -> Result<Previous> {
        let Some(announced) = state::read_json::<Announced>(&self.state_dir.join(ANNOUNCED))?
        else {
            return Ok(Previous::default());
        };
        #[derive(serde::Deserialize)]
        struct InForce {
            release: String,
        }
        let in_force = self.runtime.block_on(async {
            match self
                .store
                .get(&object_store::path::Path::from(MANIFEST))
                .await
            {
                Ok(manifest) => Ok(Some(manifest.bytes().await?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let in_force = in_force.and_then(|bytes| serde_json::from_slice::<InForce>(&bytes).ok());
        if announced.release.is_empty()
            || in_force.is_none_or(|manifest| manifest.release != announced.release)
        {
            return Ok(Previous::default());
        }
        Ok(Previous {
            release: announced.release,
            files: announced
                .files
                .into_iter()
                .map(|file| (file.path.clone(), file))
                .collect(),
        })
    }

    /// What a release with `sharing` can take from the last release (`last`, as the state
    /// directory holds it) as it is: when that was
    /// published with the same sharing and thresholds and its reports are still the ones in
    /// force, each of its reports with its audit, and the parts whose every report has one.
    pub(super) fn reusable(
        &self,
        last: Option<&LastRelease>,
        requests: &SharingRegistry,
        ledger: &SharingLedger,
        previous: &Previous,
    ) -> Result<Reusable> {
        let mut reusable = Reusable::default();
        let Some(last) = last else {
            return Ok(reusable);
        };
        if previous.release.is_empty()
            || last.release != previous.release
            || last.config != Some(self.config)
            || &last.sharing != requests
            // The shares in effect then are the ones in effect now.
            || last.release != ledger.sharing(requests).release_id(&last.computed)
        {
            return Ok(reusable);
        }
        let Some(audit) =
            state::read_json::<Vec<FileAudit>>(&state::audit_file(&self.state_dir, &last.release))?
        else {
            return Ok(reusable);
        };
        let mut audit: HashMap<String, FileAudit> =
            audit.into_iter().map(|a| (a.path.clone(), a)).collect();
        let mut unaudited = BTreeSet::new();
        for file in previous.files.values() {
            match audit.remove(&file.path) {
                Some(file_audit) => {
                    reusable
                        .files
                        .insert(report::report_key(file), (file.clone(), file_audit));
                }
                None => {
                    unaudited.insert(file.period.clone());
                }
            }
        }
        let kept = state::kept_parts(&self.state_dir, &last.computed, last.watermark);
        for (part, (digest, period)) in &last.digests {
            if !unaudited.contains(period) {
                reusable.parts.insert(
                    digest.clone(),
                    (state::kept_part(&kept, *part), period.clone()),
                );
            }
        }
        Ok(reusable)
    }

    /// The parts this stage holds, by digest: those of the last release published, and those
    /// received of `in_hand`, the release a newer one supersedes (its parts stay until the
    /// next release is published).
    pub(super) fn held_parts(
        &self,
        last: Option<&LastRelease>,
        in_hand: Option<&InProgress>,
    ) -> HashMap<String, PathBuf> {
        let mut held = HashMap::new();
        if let Some(last) = last {
            let kept = state::kept_parts(&self.state_dir, &last.computed, last.watermark);
            for (part, (digest, _)) in &last.digests {
                held.insert(digest.clone(), state::kept_part(&kept, *part));
            }
        }
        if let Some(in_hand) = in_hand {
            let kept = state::kept_parts(&self.state_dir, &in_hand.computed, in_hand.watermark);
            for (part, (digest, _)) in &in_hand.digests {
                held.insert(digest.clone(), state::kept_part(&kept, *part));
            }
        }
        held
    }
}
