//! Telling readers of a release: the feed object in the store, the release event and each
//! municipality's feed event on the transport.

use std::collections::{BTreeMap, BTreeSet};

use object_store::ObjectStoreExt;
use spiegel_core::ReportKind;
use spiegel_transport::topic;

use super::PublishStage;
use crate::state::{self, ANNOUNCED, Announced};
use crate::{
    Change, FeedChange, FeedEvent, MANIFEST, Manifest, ManifestFile, PublishError, Result,
    feed_object,
};

impl PublishStage {
    /// Writes the release's feed event to the object store, sends the release event and, to
    /// each municipality whose reports changed since the last release announced, a feed event;
    /// then remembers this release as announced. A crash before that repeats the same events
    /// under the same feed position (consumers deduplicate by it, `seq`: a release published
    /// again with other sharing can come back to an earlier release's id).
    pub(super) fn announce(&mut self, manifest: &Manifest) -> Result<()> {
        let announced_path = self.state_dir.join(ANNOUNCED);
        let previous: Announced = state::read_json(&announced_path)?.unwrap_or_default();
        let feed = FeedEvent {
            seq: previous.feed_seq + 1,
            release: manifest.release.clone(),
            changes: changes(&previous.files, &manifest.files),
        };
        let feed_json =
            serde_json::to_vec(&feed).map_err(|e| PublishError::Malformed(e.to_string()))?;
        self.runtime.block_on(self.store.put(
            &object_store::path::Path::from(feed_object(feed.seq)),
            feed_json.into(),
        ))?;
        self.sync_store()?;

        let mut events = municipality_events(manifest, &feed);
        let event = serde_json::json!({
            "seq": feed.seq,
            "release": manifest.release,
            "manifest": MANIFEST,
            "feed": feed_object(feed.seq),
            "files": manifest.files.len(),
            "municipalities_changed": events.len(),
        });
        events.push((
            topic::RELEASES.to_owned(),
            manifest.release.clone(),
            event.to_string().into_bytes(),
        ));
        self.producer.send_all(&events)?;
        let announced = Announced {
            feed_seq: feed.seq,
            release: manifest.release.clone(),
            files: manifest.files.clone(),
        };
        state::write_json(&announced_path, &announced)
    }
}

/// The Kafka feed event of each municipality whose readable reports `feed` changed (its own
/// report, and the mirror reports shared with it as of the release): topic, key and payload.
fn municipality_events(manifest: &Manifest, feed: &FeedEvent) -> Vec<(String, String, Vec<u8>)> {
    let for_feed = |f: &ManifestFile| match f.kind {
        ReportKind::Municipality => Some(f.recipient.clone()),
        ReportKind::Mirror if f.shared == Some(true) => f.municipality.clone(),
        // Region and national reports have no municipality's feed; a mirror report enters
        // one only once shared.
        ReportKind::National | ReportKind::Region | ReportKind::Mirror => None,
    };
    let mut feeds: BTreeMap<String, bool> = BTreeMap::new();
    for file in &manifest.files {
        if let Some(municipality) = for_feed(file) {
            feeds.entry(municipality).or_default();
        }
    }
    for change in &feed.changes {
        if let Some(municipality) = for_feed(&change.file) {
            feeds.insert(municipality, true);
        }
        // A mirror report no longer shared left the feed of its municipality.
        if let Some(municipality) = change
            .file
            .municipality
            .as_ref()
            .filter(|_| change.change == Change::Changed && change.file.shared == Some(false))
        {
            feeds.insert(municipality.clone(), true);
        }
    }
    let mut events = Vec::new();
    for (municipality, is_changed) in &feeds {
        if *is_changed {
            let files: Vec<&ManifestFile> = manifest
                .files
                .iter()
                .filter(|f| for_feed(f).as_ref() == Some(municipality))
                .collect();
            let event = serde_json::json!({
                "seq": feed.seq,
                "release": manifest.release,
                "municipality": municipality,
                "files": files,
            });
            events.push((
                topic::feed(municipality),
                manifest.release.clone(),
                event.to_string().into_bytes(),
            ));
        }
    }
    events
}

/// The reports `now` adds, changes or withdraws compared with `before`, matched by what they
/// report on (kind, period, recipient and, for a mirror report, municipality), not by path:
/// a report's path names its release.
fn changes(before: &[ManifestFile], now: &[ManifestFile]) -> Vec<FeedChange> {
    let before: BTreeMap<_, &ManifestFile> = before
        .iter()
        .map(|f| (crate::report::report_key(f), f))
        .collect();
    let now_reports: BTreeSet<_> = now.iter().map(crate::report::report_key).collect();
    let mut changes: Vec<FeedChange> = now
        .iter()
        .filter_map(|file| {
            let change = match before.get(&crate::report::report_key(file)) {
                None => Change::New,
                Some(old)
                    if old.content_sha256 != file.content_sha256 || old.shared != file.shared =>
                {
                    Change::Changed
                }
                Some(_) => return None,
            };
            Some(FeedChange {
                change,
                file: file.clone(),
            })
        })
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|(key, _)| !now_reports.contains(*key))
            .map(|(_, old)| FeedChange {
                change: Change::Withdrawn,
                file: (*old).clone(),
            }),
    );
    changes.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    changes
}
