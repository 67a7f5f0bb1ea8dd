//! Publishing the last release again when the sharing changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{InProgress, PublishStage, Reusable};
use crate::state::{self, LAST_RELEASE, LastRelease};
use crate::{Manifest, PublishError, Result, SharingRegistry};

impl PublishStage {
    /// Publishes the last release again when the sharing registry changed since it was
    /// published: a mirror report shared (or no longer shared) changes NB-3's protection of
    /// the aggregated reports and the mirror report's `shared` flag, and the municipality
    /// hears of it in its feed at once, not at the next data release.
    pub(super) fn republish_if_sharing_changed(&mut self) -> Result<Option<Manifest>> {
        let last_path = self.state_dir.join(LAST_RELEASE);
        let Some(last) = state::read_json::<LastRelease>(&last_path)? else {
            return Ok(None);
        };
        let requests = match SharingRegistry::load(&self.sharing) {
            Ok(requests) => requests,
            Err(e) => {
                // What is published stays as it was; the next data release refuses the file.
                tracing::error!(error = %e, "the sharing registry cannot be read; not publishing again");
                return Ok(None);
            }
        };
        if requests == last.sharing {
            return Ok(None);
        }
        let ledger = self.ledger()?;
        // The last release is held by now: the requests are decided against the ledger alone.
        let mut decided = ledger.clone();
        let periods: BTreeSet<&str> = requests.shares.iter().map(|s| s.period.as_str()).collect();
        for period in periods {
            decided.decide_period(period, &requests, &BTreeMap::new());
        }
        if decided.sharing(&requests).release_id(&last.computed) == last.release {
            // Only requests that stay pending changed: nothing any reader sees changes.
            tracing::info!("a request to share is pending: nothing published again");
            let last = LastRelease {
                sharing: requests,
                ..last
            };
            state::write_json(&last_path, &last)?;
            return Ok(None);
        }
        let mut again = InProgress::new(
            last.computed.clone(),
            last.submissions,
            last.watermark,
            requests,
            ledger,
            self.previous_reports()?.files,
            Reusable::default(),
            HashMap::new(),
        );
        again.digests = last.digests;
        self.mark_writing()?;
        let kept = state::kept_parts(&self.state_dir, &last.computed, last.watermark);
        for part in last.parts {
            let path = state::kept_part(&kept, part);
            let payload = std::fs::read(&path).map_err(PublishError::io(&path))?;
            let batch = spiegel_core::ipc::from_ipc(&payload)?;
            again.add_part(
                &batch,
                &self.config,
                self.store.as_ref(),
                self.runtime.handle(),
            )?;
            again.parts_done.insert(part);
        }
        self.record(&again)?;
        self.complete(again).map(Some)
    }
}
