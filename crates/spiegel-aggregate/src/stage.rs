//! The aggregate stage between its topics: forwards the submissions of its partitions to the
//! changelog, keeps the latest submission per (provider, period) in its state directory, and
//! sends a release of the master table ([`crate::compute`]) when the state changed.
//!
//! # State, and several instances
//!
//! A release needs every submission, but instances of the stage share the partitions of
//! [`topic::PSEUDONYMISED`] in one consumer group ([`GROUP`]). So the stage works in two steps
//! (the re-key pattern of docs/operations.md):
//!
//! 1. **forward**: each instance copies the submissions of the partitions it owns, unchanged, to
//!    the single-partition changelog [`topic::AGGREGATE_STATE`], committing its input once the
//!    copies are durable (in batches, [`PendingCommit`]). Corrections of a provider share a
//!    partition, so they reach the changelog in the order they were made.
//! 2. **apply**: every instance reads the whole changelog in a consumer group of its own
//!    ([`state_group`]) and keeps the latest submission per (provider, period) in its state
//!    directory (each submission a file written atomically, then its id), committing the
//!    changelog offset once stored (in batches, and always before a release is computed). The
//!    changelog offset applied and committed so far is the state's *watermark*.
//!
//! After a restart an instance resumes both steps at its committed offsets; with an empty state
//! directory (a new volume) its group starts at the changelog's beginning and rebuilds the
//! state before it computes anything. Only when the changelog is read to its end does it
//! compute a release, tagged with the watermark ([`META_WATERMARK`]): two instances compute
//! the same release for the same watermark, and the publish stage ignores a release older than
//! the one it published last. When an instance dies, the group hands its partitions to the
//! others and the release goes on as before.
//!
//! # Recomputing only what a change reaches
//!
//! Each period's part of the master table is identified by a digest of everything it is
//! computed from ([`META_PART_DIGEST`]): the method, the configuration, the providers, the
//! period's submissions (id and record keys) and the linkage flags of their trajectories, which
//! carry what the other periods contribute. The stage keeps the parts of its last release in
//! its state directory under their digest and takes a part from there when the digest comes
//! again, so a correction recomputes the periods its linkage reaches and no other. The kept
//! parts are a cache, not state: they are not synced to disk, are named with their checksum
//! so that one cut short by a crash is never taken, and a stage without them computes every
//! part. Likewise a long-running stage keeps the stored submissions decoded between releases
//! and decodes only those stored since (by the digest of the stored message).
//!
//! # Parts by reference
//!
//! A release carries in full only the parts it computed. A part taken from the kept parts,
//! which are those of the last release sent, goes as its digest alone ([`META_BY_REFERENCE`]):
//! a correction that reaches one period of five moves a fifth of the master table, not all of
//! it. The publish stage holds the parts of the release it published last and of the one it
//! had in hand. One that does not hold a part sent by reference (a new volume, releases it
//! skipped) asks for the release in full ([`FullRelease`] on [`topic::AGGREGATE_REQUESTS`])
//! once it has read the aggregates topic to its end. Every instance reads the requests in a
//! group of its own ([`request_group`]), so an instance that is behind or gone holds nothing
//! up: each answers by sending its next release in full, computed at once even when nothing
//! changed, and commits the request only once it has sent a release of the watermark asked
//! for or later. A stage without a consumer of requests ([`AggregateStage::with_requests`])
//! sends every part in full.
//!
//! # Poison messages
//!
//! The forward step checks each message as the apply step and the release will read it (a
//! damaged message, one that is no Arrow batch, lacks the metadata the pseudonymise stage
//! stamps, or fails the validation of every row): one that fails is the message's fault
//! ([`AggregateError::fault`]), goes to the dead-letter topic with its place on
//! [`topic::PSEUDONYMISED`], and is committed past, never reaching the changelog that every
//! instance reads. A poison message already on the changelog (forwarded before this check)
//! is dead-lettered by the apply step, by each instance that reads it. A failure of the
//! state directory or the topics, or pseudonyms of a newer K2 version, is the environment's:
//! the stage stops as before and is retried from its committed offsets.
//!
//! # Key rotation
//!
//! The stage links pseudonyms of one K2 version, the one it is switched to
//! ([`PseudonymLabel::version`]). A submission pseudonymised under an older version is
//! rejected (counted in [`Progress::rejected`], taken off the topic: the pseudonymise stage on
//! the new version sends it again); one of a newer version stops the stage with
//! [`AggregateError::NewerKeyVersion`], taking nothing. Stored submissions of an older version
//! wait for their re-pseudonymised copies, and no release is computed while any waits
//! ([`Progress::awaiting`]): a release never mixes versions. The re-pseudonymisation replays
//! every stored submission in order; one older than the submission stored for its provider and
//! period (by its place on the submissions topic) is kept out, so the state never goes back.
//! A release's id does not depend on the K2 version, and the cell keys come from record keys
//! that survive a rotation, so after the switch the stage finds its last release unchanged and
//! publishes nothing new.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use spiegel_core::Reference;
use spiegel_transport::{Consumer, PendingCommit, Producer, topic};

use crate::compute::{compute_parts, decode_submission, number_providers};

mod input;
use crate::release::ReleaseHeader;
// Named in the docs only.
use crate::{
    AggregateConfig, AggregateError, METHOD_VERSION, PseudonymLabel, Result, model, store,
};
#[cfg(doc)]
use crate::{META_BY_REFERENCE, META_PART_DIGEST, META_WATERMARK};

/// The stage's name on the dead-letter topic.
pub const STAGE: &str = "aggregate";

/// The consumer group in which the stage's instances share [`topic::PSEUDONYMISED`].
pub const GROUP: &str = "spiegel-aggregate";

/// The consumer group in which instance `instance` reads the whole [`topic::AGGREGATE_STATE`].
pub fn state_group(instance: &str) -> String {
    format!("{GROUP}.state.{instance}")
}

/// The one key of every message on the aggregates topic: releases are read in the order they
/// were computed, on however many partitions the topic has.
pub const RELEASES_KEY: &str = "releases";

/// The consumer group in which instance `instance` reads [`topic::AGGREGATE_REQUESTS`]: every
/// instance answers, so a request never waits on an instance that is behind or gone.
pub fn request_group(instance: &str) -> String {
    format!("{GROUP}.requests.{instance}")
}

/// A request for a release with every part in full, as the publish stage sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FullRelease {
    /// The release whose parts by reference the publish stage does not hold.
    pub release: String,
    /// Its watermark ([`META_WATERMARK`]): answered by a release of this watermark or later.
    pub watermark: u64,
}

/// What one [`AggregateStage::run_until_idle`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Submissions stored (new or replacing an earlier one).
    pub stored: usize,
    /// Messages that repeated a submission already stored, or an earlier one of its provider
    /// and period.
    pub unchanged: usize,
    /// Submissions rejected for being pseudonymised under a retired K2 version.
    pub rejected: usize,
    /// Stored submissions waiting to be replaced by their copies under the K2 version in force;
    /// no release is computed while there are any.
    pub awaiting: usize,
    /// Submissions copied from this instance's partitions to the changelog.
    pub forwarded: usize,
    /// Poison messages sent to the dead-letter topic instead of being forwarded or applied.
    pub dead_letters: usize,
    /// The release sent, if the state changed since the last one.
    pub released: Option<String>,
    /// Of its parts (periods), those computed now ...
    pub parts_computed: usize,
    /// ... and those the change did not reach, taken as computed for an earlier release ...
    pub parts_reused: usize,
    /// ... of which those sent by reference ([`META_BY_REFERENCE`]).
    pub parts_by_reference: usize,
    /// Stored submissions decoded for it: those stored since the stage last computed a
    /// release (all of them in a new process).
    pub decoded: usize,
}

/// The stage: its state directory between a consumer and a producer.
pub struct AggregateStage {
    config: AggregateConfig,
    label: PseudonymLabel,
    store: store::Store,
    input: Box<dyn Consumer>,
    changelog: Box<dyn Consumer>,
    producer: Box<dyn Producer>,
    release_quiet: std::time::Duration,
    last_change: Option<std::time::Instant>,
    awaiting_logged: Option<usize>,
    /// The stored submissions as last decoded, by name, with the digest of the stored message
    /// each was decoded from.
    decoded: std::collections::BTreeMap<String, (String, model::Submission)>,
    /// Where the publish stage asks for releases in full ([`Self::with_requests`]).
    requests: Option<Box<dyn Consumer>>,
    /// The request in hand: the watermark a release sent in full must reach, and the last
    /// request message, committed once it is answered.
    requested: Option<(u64, spiegel_transport::Message)>,
}

impl std::fmt::Debug for AggregateStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateStage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AggregateStage {
    /// The stage keeping its state under `state_dir`; `input` reads [`topic::PSEUDONYMISED`]
    /// in group [`GROUP`], `changelog` reads [`topic::AGGREGATE_STATE`] in this instance's
    /// [`state_group`].
    pub fn new(
        config: AggregateConfig,
        label: PseudonymLabel,
        state_dir: &Path,
        input: Box<dyn Consumer>,
        changelog: Box<dyn Consumer>,
        producer: Box<dyn Producer>,
    ) -> Result<Self> {
        Ok(Self {
            config,
            label,
            store: store::Store::open(state_dir)?,
            input,
            changelog,
            producer,
            release_quiet: std::time::Duration::ZERO,
            last_change: None,
            awaiting_logged: None,
            decoded: std::collections::BTreeMap::new(),
            requests: None,
            requested: None,
        })
    }

    /// Sends a part the last release carried already by its digest alone
    /// ([`META_BY_REFERENCE`]), and answers the publish stage's requests for a release in
    /// full read by `requests` ([`topic::AGGREGATE_REQUESTS`] in this instance's
    /// [`request_group`]). Without it every release carries every part: nothing could ask
    /// for a part the publish stage lacks.
    pub fn with_requests(mut self, requests: Box<dyn Consumer>) -> Self {
        self.requests = Some(requests);
        self
    }

    /// Takes the publish stage's requests that arrived: the one in hand becomes the highest
    /// watermark asked for, answered by the next release sent.
    fn take_requests(&mut self) -> Result<()> {
        let Some(requests) = self.requests.as_mut() else {
            return Ok(());
        };
        while let Some(message) = requests.poll(1)?.into_iter().next() {
            // A request that cannot be read asks for the release in hand, whatever it is.
            let watermark = serde_json::from_slice::<FullRelease>(&message.payload)
                .map(|request| request.watermark)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "a request for a release in full that cannot be read: answered as one for the release in hand");
                    0
                });
            let highest = self
                .requested
                .as_ref()
                .map_or(0, |(w, _)| *w)
                .max(watermark);
            tracing::info!(watermark, "the publish stage asks for a release in full");
            self.requested = Some((highest, message));
        }
        Ok(())
    }

    /// Computes a release only once no submission has changed the state for `quiet`: while
    /// submissions stream in, each release would be outdated by the next one before it is
    /// published.
    pub fn with_release_quiet(mut self, quiet: std::time::Duration) -> Self {
        self.release_quiet = quiet;
        self
    }

    /// Records the changelog position applied so far as the state's watermark and commits it:
    /// the stored submissions first, then the watermark, then the offset, so that the state
    /// never claims more than it holds.
    fn commit_applied(&mut self, applied: &mut PendingCommit) -> Result<()> {
        if let Some(message) = applied.take() {
            self.store.set_watermark(message.offset)?;
            self.changelog.commit(&message)?;
        }
        Ok(())
    }

    /// Forwards the submissions of this instance's partitions to the changelog, stores every
    /// submission of the changelog (committing them in batches once stored), then, if the
    /// stored state differs from the last release, computes and sends a new release.
    pub fn run_until_idle(&mut self) -> Result<Progress> {
        let mut progress = Progress::default();
        self.forward_to_changelog(&mut progress)?;
        self.apply_changelog(&mut progress)?;
        self.take_requests()?;
        if self.still_settling() {
            return Ok(progress);
        }
        let index = self.store.index()?;
        if self.held_for_rotation(&index, &mut progress)? {
            return Ok(progress);
        }
        let release = self.release_id(&index)?;
        if self.requested.is_none() && self.store.released()?.as_deref() == Some(release.as_str()) {
            // Once per change (a duplicate delivery changes nothing; a key rotation changes
            // every stored submission but not the release): operators and the Kafka tests
            // learn here that nothing was left undone.
            if self.last_change.take().is_some() {
                tracing::info!(release = %release, "the stored state gives the release already sent: nothing to send");
            }
            return Ok(progress);
        }
        self.send_release(&index, release, &mut progress)?;
        Ok(progress)
    }

    /// Stores one submission of the changelog if its pseudonyms are of the K2 version in
    /// force; one of a retired version is rejected, one of a newer version stops the stage.
    fn store_if_in_force(
        &mut self,
        batch: &RecordBatch,
        provider: spiegel_core::Agb,
        period: spiegel_core::Period,
        payload: &[u8],
        progress: &mut Progress,
    ) -> Result<()> {
        let entry = model::pseudonymisation(batch)?;
        let in_force = self.label.version;
        match entry.key_version.cmp(&in_force) {
            std::cmp::Ordering::Less => {
                tracing::warn!(
                    key_version = entry.key_version,
                    in_force,
                    "submission pseudonymised under a retired stage-2 key version \
                     rejected; the pseudonymise stage sends it again under the version in \
                     force"
                );
                progress.rejected += 1;
            }
            std::cmp::Ordering::Greater => {
                return Err(AggregateError::NewerKeyVersion {
                    found: entry.key_version,
                    in_force,
                });
            }
            std::cmp::Ordering::Equal => match self.store.put(provider, period, entry, payload)? {
                store::Put::Stored => {
                    progress.stored += 1;
                    self.last_change = Some(std::time::Instant::now());
                }
                store::Put::Unchanged | store::Put::Older => progress.unchanged += 1,
            },
        }
        Ok(())
    }

    /// Whether a submission changed the state less than the release quiet time ago
    /// ([`Self::with_release_quiet`]): a release now would be outdated by the next one.
    fn still_settling(&self) -> bool {
        self.last_change
            .is_some_and(|t| t.elapsed() < self.release_quiet)
    }

    /// Whether the release is held because stored submissions wait for their copies under
    /// the K2 version in force (counted in [`Progress::awaiting`]): a release never mixes
    /// versions.
    fn held_for_rotation(
        &mut self,
        index: &[(String, store::Entry)],
        progress: &mut Progress,
    ) -> Result<bool> {
        progress.awaiting = self.store.legacy()?
            + index
                .iter()
                .filter(|(_, entry)| entry.key_version != self.label.version)
                .count();
        if progress.awaiting > 0 {
            // Once per change, not once per poll, while a rotation goes on.
            if self.awaiting_logged != Some(progress.awaiting) {
                tracing::info!(
                    awaiting = progress.awaiting,
                    in_force = self.label.version,
                    "release held until every stored submission is pseudonymised under the \
                     stage-2 key version in force"
                );
                self.awaiting_logged = Some(progress.awaiting);
            }
            return Ok(true);
        }
        self.awaiting_logged = None;
        Ok(false)
    }

    /// Computes release `release` of the stored submissions `index` and sends it on the
    /// aggregates topic part by part, keeps its parts for the next release, and answers the
    /// request in hand if the release reaches the watermark asked for.
    fn send_release(
        &mut self,
        index: &[(String, store::Entry)],
        release: String,
        progress: &mut Progress,
    ) -> Result<()> {
        // How many changelog messages the state holds: 0 for the empty state, so the release of
        // an empty state and that of the first submission (changelog offset 0) stay apart.
        let watermark_number = self.store.watermark()?.map_or(0, |offset| offset + 1);
        let header = ReleaseHeader {
            release,
            watermark: watermark_number.to_string(),
            submissions: serde_json::to_string(
                &index
                    .iter()
                    .map(|(name, entry)| (name, &entry.submission))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )?,
        };
        let by_reference = self.requests.is_some() && self.requested.is_none();
        let _span = tracing::info_span!(
            "release",
            release = %header.release,
            watermark = header.watermark
        )
        .entered();
        let mut sent = std::collections::BTreeSet::new();
        let started = std::time::Instant::now();
        progress.decoded = self.decode_stored(index)?;
        let providers = number_providers(
            &mut self
                .decoded
                .values_mut()
                .map(|(_, s)| s)
                .collect::<Vec<_>>(),
        );
        let decoded: Vec<&model::Submission> = self.decoded.values().map(|(_, s)| s).collect();
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "submissions decoded"
        );
        compute_parts(
            &self.config,
            &self.label,
            &decoded,
            &providers,
            Some(&self.store),
            by_reference,
            |index, parts, part| {
                let bytes = header.part_message(index, parts, &part)?;
                self.producer
                    .send(topic::AGGREGATES, RELEASES_KEY, &bytes)?;
                if part.by_reference {
                    progress.parts_by_reference += 1;
                }
                if part.reused {
                    progress.parts_reused += 1;
                } else {
                    progress.parts_computed += 1;
                }
                sent.insert(part.digest);
                Ok(())
            },
        )?;
        // Kept for the next release, which recomputes only the periods a change reaches.
        self.store.retain_parts(&sent)?;
        if sent.is_empty() {
            // Nothing stored (every submission withdrawn): an empty release still replaces
            // the reports.
            let bytes = header.empty_message()?;
            self.producer
                .send(topic::AGGREGATES, RELEASES_KEY, &bytes)?;
        }
        self.store.set_released(&header.release)?;
        self.answer_request(watermark_number)?;
        tracing::info!(
            release = %header.release,
            parts_computed = progress.parts_computed,
            parts_reused = progress.parts_reused,
            parts_by_reference = progress.parts_by_reference,
            decoded = progress.decoded,
            "release computed and sent"
        );
        progress.released = Some(header.release);
        Ok(())
    }

    /// Commits the request in hand once a release of `watermark` reaches the watermark it
    /// asked for; otherwise keeps it, so that the next release goes in full too.
    fn answer_request(&mut self, watermark: u64) -> Result<()> {
        if let Some((asked, message)) = self.requested.take() {
            if watermark >= asked {
                if let Some(requests) = self.requests.as_mut() {
                    requests.commit(&message)?;
                }
            } else {
                // Behind the release the publish stage holds: the next release in full too.
                self.requested = Some((asked, message));
            }
        }
        Ok(())
    }

    /// Brings the decoded submissions in line with the stored ones: decodes those stored
    /// since they were last decoded (by the digest of their stored message) and forgets
    /// those no longer stored. A long-running stage so decodes only what changed.
    fn decode_stored(&mut self, index: &[(String, store::Entry)]) -> Result<usize> {
        let stored: std::collections::BTreeSet<&str> =
            index.iter().map(|(name, _)| name.as_str()).collect();
        self.decoded
            .retain(|name, _| stored.contains(name.as_str()));
        let reference = Reference::embedded();
        let regions: Vec<String> = reference.regions().to_vec();
        let due: Vec<&(String, store::Entry)> = index
            .iter()
            .filter(|(name, entry)| {
                self.decoded
                    .get(name)
                    .is_none_or(|(payload, _)| *payload != entry.payload)
            })
            .collect();
        // A new process decodes every stored submission, so on every core.
        let (store, label) = (&self.store, &self.label);
        let submissions = spiegel_core::parallel::map(due.clone(), 4, |(name, _)| {
            decode_submission(&store.load_one(name)?, label, reference, &regions)
        });
        for ((name, entry), submission) in due.iter().zip(submissions) {
            self.decoded
                .insert(name.clone(), (entry.payload.clone(), submission?));
        }
        Ok(due.len())
    }

    /// How many submissions the state holds (the latest per provider and period).
    pub fn stored(&self) -> Result<usize> {
        Ok(self.store.index()?.len())
    }

    /// The identity of what a release would be computed from: the method, the configuration,
    /// the TTP and every stored submission with its record keys. Not the K2 version: a
    /// rotation changes no figure (the links between records and the record keys stay as they
    /// were), so it is not a new release.
    fn release_id(&self, index: &[(String, store::Entry)]) -> Result<String> {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(METHOD_VERSION.as_bytes());
        context.update(serde_json::to_string(&self.config)?.as_bytes());
        context.update(self.label.ttp.as_str().as_bytes());
        for (name, entry) in index {
            context
                .update(format!("\n{name}={} {}", entry.submission, entry.record_keys).as_bytes());
        }
        Ok(hex::encode(&context.finish().as_ref()[..16]))
    }
}

/// Where the stage keeps its state under a data directory.
pub fn state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("aggregate")
}
