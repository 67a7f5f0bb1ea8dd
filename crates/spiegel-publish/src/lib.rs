//! The publish stage (docs/reports.md, docs/release-rules.md): turns the master table of a release
//! into reports. It applies the non-benchmarking release rules and statistical disclosure control,
//! writes one Parquet file per (kind, period, recipient) in the tidy layout to the object store,
//! and a manifest listing them with their digests. The same release, sharing registry and
//! configuration always give byte-identical files.
//!
//! Each report is named by a release id of its own, derived from its published figures, so
//! a release writes only the reports whose figures changed; the others stay where the release
//! before left them. A master-table part whose digest ([`spiegel_aggregate::META_PART_DIGEST`])
//! equals one of the last release, published with the same sharing and thresholds, is not
//! even decoded: its reports and their audit are the ones published then. Within a part that
//! did change, a report whose own cells digest the same as in the last release
//! ([`FileAudit::input`]) is taken the same way: a correction reaches a few reports of a
//! period, and only those go through the release rules again. A part the aggregate stage
//! sends by reference (its digest alone) is taken from the parts this stage holds; when it
//! holds none of that digest, it asks the aggregate stage for the release in full
//! ([`spiegel_aggregate::FullRelease`]) and publishes once that has come.

mod audit;
mod error;
mod local;
mod report;
mod rules;
mod sharing;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use spiegel_core::ReportKind;
use spiegel_transport::{Consumer, Producer, topic};

pub use error::{PublishError, Result};
pub use local::LocalReportStore;
pub use report::{
    Change, FEED_PREFIX, FeedChange, FeedEvent, FileAudit, MANIFEST, Manifest, ManifestFile,
    REPORT_SCHEMA_VERSION, feed_object, region_slug, report_schema,
};
pub use rules::counts_rounded;
pub use sharing::{
    LEDGER_FILE, SHARING_FILE, Share, ShareState, Sharing, SharingLedger, SharingRegistry,
    ledger_path,
};

/// The consumer group of this stage.
pub const GROUP: &str = "spiegel-publish";

/// The key of every request on [`topic::AGGREGATE_REQUESTS`].
const REQUESTS_KEY: &str = "requests";

/// Thresholds of the release rules (docs/release-rules.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// T: a count in 1..T−1 is suppressed (SDC-1); never below 5.
    pub threshold: u32,
    /// Shares and means need a denominator of at least this (SDC-2).
    pub rate_threshold: u32,
    /// Non-sharing contributors to a cell must number 0 or at least this (NB-3).
    pub min_contributors: u32,
    /// The largest non-sharing contributor may hold at most this percentage (NB-3).
    pub dominance_percent: u32,
    /// Width the attacker's interval for a suppressed cell must reach (SDC-3); T when unset.
    pub protection_level: Option<u32>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            rate_threshold: 20,
            min_contributors: 3,
            dominance_percent: 85,
            protection_level: None,
        }
    }
}

impl PublishConfig {
    /// Refuses thresholds below what docs/release-rules.md allows.
    pub fn validate(&self) -> Result<()> {
        if self.threshold < 5 {
            return Err(PublishError::Config(format!(
                "threshold T = {} is below the minimum of 5",
                self.threshold
            )));
        }
        if self.rate_threshold < self.threshold {
            return Err(PublishError::Config(
                "rate_threshold must be at least threshold".into(),
            ));
        }
        if self.min_contributors < 2 || self.dominance_percent > 100 {
            return Err(PublishError::Config(
                "min_contributors must be at least 2 and dominance_percent at most 100".into(),
            ));
        }
        Ok(())
    }

    fn protection(&self) -> u64 {
        u64::from(self.protection_level.unwrap_or(self.threshold))
    }
}

/// What one [`PublishStage::run_until_idle`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The manifest of the release published, if any.
    pub published: Option<Manifest>,
    /// Of its reports, those the release rules were applied to ...
    pub reports_made: usize,
    /// ... and those taken as the last release published them, with their audit: their
    /// cells came again unchanged (a whole part, or the report's own cells).
    pub reports_unchanged: usize,
    /// Whether a release in hand waits for the aggregate stage to send it in full: it came
    /// with parts by reference that this stage does not hold.
    pub awaiting_parts: bool,
    /// Releases not published because a newer one had already arrived complete before their
    /// turn came.
    pub passed_over: usize,
}

/// The stage: a consumer of master-table parts and an object store for reports.
pub struct PublishStage {
    config: PublishConfig,
    sharing: PathBuf,
    state_dir: PathBuf,
    store: Arc<dyn ObjectStore>,
    consumer: Box<dyn Consumer>,
    producer: Box<dyn Producer>,
    runtime: tokio::runtime::Runtime,
    current: Option<InProgress>,
    /// The watermark of the last release published (kept in the state directory).
    published_watermark: Option<u64>,
    /// Makes what was written to `store` durable ([`PublishStage::with_store_sync`]).
    sync_store: Option<StoreSync>,
    /// Whether the store may hold reports of a release never completed (one a crash or a
    /// newer release interrupted), which only a listing of the whole store finds.
    interrupted: bool,
    /// Records a release before its manifest makes it readable ([`PublishStage::with_recorder`]).
    recorder: Option<Recorder>,
    /// The last message of a release complete in hand whose recording failed.
    unrecorded: Option<spiegel_transport::Message>,
    /// Messages read from the aggregates topic but not yet handled ([`READ_AHEAD`]), each
    /// with where it belongs, read once (`None`: unreadable; it stops the stage at its turn).
    ahead: VecDeque<(spiegel_transport::Message, Option<PartOf>)>,
}

/// How many messages of the aggregates topic the stage reads beyond the one it handles: a
/// release complete among them supersedes the older releases not yet begun. Auditing a
/// release takes long beside computing one (a minute at 24,000 records, where the aggregate
/// stage needs a second), so without it a burst of corrections would be published one
/// outdated release after another. A few releases' worth of parts (one per period).
const READ_AHEAD: usize = 16;

/// Records that a release is about to be published; an error stops the publication.
type Recorder = Box<dyn Fn(&str) -> std::io::Result<()> + Send>;

/// Makes the writes to a report store durable that its puts alone do not.
type StoreSync = Box<dyn Fn() -> std::io::Result<()> + Send>;

impl std::fmt::Debug for PublishStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishStage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PublishStage {
    /// The stage; `consumer` reads the aggregates topic in group [`GROUP`]. The sharing
    /// registry is read from `sharing` at each release; audits are kept under `state_dir`.
    pub fn new(
        config: PublishConfig,
        sharing: &Path,
        state_dir: &Path,
        store: Arc<dyn ObjectStore>,
        consumer: Box<dyn Consumer>,
        producer: Box<dyn Producer>,
    ) -> Result<Self> {
        config.validate()?;
        std::fs::create_dir_all(state_dir.join("audit"))?;
        std::fs::create_dir_all(state_dir.join(PARTS))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .map_err(PublishError::Io)?;
        let published_watermark =
            spiegel_core::durable::read_if_present(&state_dir.join(PUBLISHED_WATERMARK))?
                .and_then(|text| text.trim().parse().ok());
        Ok(Self {
            config,
            sharing: sharing.to_owned(),
            state_dir: state_dir.to_owned(),
            store,
            consumer,
            producer,
            runtime,
            current: None,
            published_watermark,
            sync_store: None,
            interrupted: state_dir.join(WRITING).exists(),
            recorder: None,
            unrecorded: None,
            ahead: VecDeque::new(),
        })
    }

    /// For a report store whose puts return before the bytes are durable (a local directory
    /// written without fsync): `sync` makes them durable, and the stage calls it once the
    /// reports of a release are written, before the manifest names them, and once the manifest
    /// and feed are written, before a release event announces them and the stage's state and
    /// offset record the release. Without it, a power loss after the commit could leave a
    /// manifest naming reports that are not on disk, which no later release writes again.
    pub fn with_store_sync(
        mut self,
        sync: impl Fn() -> std::io::Result<()> + Send + 'static,
    ) -> Self {
        self.sync_store = Some(Box::new(sync));
        self
    }

    /// For a stage whose releases are audited (docs/serving.md: a change that cannot be audited
    /// does not happen): `record` is called with each release's id before its manifest is written,
    /// and a release it fails for is not published (the stage tries it again on its next run).
    pub fn with_recorder(
        mut self,
        record: impl Fn(&str) -> std::io::Result<()> + Send + 'static,
    ) -> Self {
        self.recorder = Some(Box::new(record));
        self
    }

    fn sync_store(&self) -> Result<()> {
        if let Some(sync) = &self.sync_store {
            let started = std::time::Instant::now();
            sync().map_err(PublishError::Sync)?;
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                "report store synced"
            );
        }
        Ok(())
    }

    /// Publishes every release available now, one master-table part (period) at a time. The
    /// offset is committed once a release's manifest is written. A release computed from an
    /// older state than one already published or in hand (its watermark is lower: a slower
    /// aggregate instance, or a replay) is skipped; one from a newer state supersedes the
    /// release in hand. A release not yet begun is passed over when a newer one has already
    /// arrived complete behind it ([`READ_AHEAD`]); a release begun is always finished, so
    /// that releases arriving faster than they are audited still get published. A release
    /// whose parts are still arriving is kept between calls.
    pub fn run_until_idle(&mut self) -> Result<Progress> {
        let mut progress = Progress::default();
        // A release complete but not yet recorded goes first; until it is, nothing new is read.
        if let Some(message) = self.unrecorded.take() {
            self.finish(&message, &mut progress)?;
        }
        let mut passed_over: Option<String> = None;
        while let Some(message) = self.next_message()? {
            // The metadata alone decides what to do with a part; most need no decoding.
            let schema = spiegel_core::ipc::schema_of(&message.payload)?;
            let meta = schema.metadata();
            let PartOf {
                part,
                parts,
                watermark,
                computed,
            } = PartOf::read(meta)?;
            let _span = tracing::info_span!("release", release = %computed, part).entered();
            if self.published_watermark.is_some_and(|w| watermark <= w) {
                if self.current.is_none() {
                    self.consumer.commit(&message)?;
                }
                continue;
            }
            let in_hand = self
                .current
                .as_ref()
                .is_some_and(|c| c.watermark == watermark && c.computed == computed);
            if !in_hand && self.complete_ahead_after(watermark) {
                // Not committed: the newer release's commit covers this message too.
                if passed_over.as_ref() != Some(&computed) {
                    tracing::info!(
                        "release passed over: a newer one arrived complete before its turn"
                    );
                    progress.passed_over += 1;
                    passed_over = Some(computed);
                }
                continue;
            }
            match &self.current {
                Some(c) if c.watermark > watermark => continue,
                Some(c) if c.watermark == watermark && c.computed == computed => {}
                _ => {
                    let submissions = match meta.get(spiegel_aggregate::META_SUBMISSIONS) {
                        Some(json) => serde_json::from_str(json)
                            .map_err(|e| PublishError::Malformed(e.to_string()))?,
                        None => BTreeMap::new(),
                    };
                    let requests = SharingRegistry::load(&self.sharing)?;
                    let ledger = self.ledger()?;
                    let previous = self.previous_reports()?;
                    let reusable = self.reusable(&requests, &ledger, &previous)?;
                    let held = self.held_parts(self.current.as_ref())?;
                    let kept = kept_parts(&self.state_dir, &computed, watermark);
                    // An attempt at this release that crashed may have left parts: start clean.
                    if kept.exists() {
                        std::fs::remove_dir_all(&kept)?;
                    }
                    // The release in hand, if any, wrote reports that this one may not.
                    self.interrupted |= self.current.is_some();
                    self.mark_writing()?;
                    self.current = Some(InProgress {
                        computed,
                        submissions,
                        watermark,
                        requests,
                        ledger,
                        previous: previous.files,
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
                    });
                }
            }
            let Some(release) = self.current.as_mut() else {
                continue;
            };
            if !release.parts_done.contains(&part) {
                let digest = meta
                    .get(spiegel_aggregate::META_PART_DIGEST)
                    .zip(meta.get(spiegel_aggregate::META_PERIOD));
                let reusable = digest.and_then(|(digest, _)| release.reusable.parts.get(digest));
                let by_reference = meta.contains_key(spiegel_aggregate::META_BY_REFERENCE);
                // A part by reference is one the release before carried: held here if this
                // stage published that release or had it in hand.
                let held = match digest {
                    _ if !by_reference || reusable.is_some() => None,
                    Some((digest, _)) => release.held.get(digest).filter(|p| p.is_file()),
                    None => {
                        return Err(PublishError::Malformed(
                            "a part by reference without its digest".into(),
                        ));
                    }
                };
                if by_reference && reusable.is_none() && held.is_none() {
                    // Asked for once the topic is read to its end: after a restart, the
                    // full copies an earlier request brought may still come.
                    release.missing = true;
                    continue;
                }
                release.parts_done.insert(part);
                // Kept until the next release, to publish again when the sharing changes.
                let kept = kept_parts(&self.state_dir, &release.computed, release.watermark);
                std::fs::create_dir_all(&kept)?;
                let kept = kept.join(format!("{part}.ipc"));
                match (reusable, held) {
                    // The same part as in the last release, with the same sharing and
                    // thresholds: its reports are the ones published then.
                    (Some((reused, period)), _) => {
                        keep_part(reused, &kept)?;
                        let mut files: Vec<&(ManifestFile, FileAudit)> = release
                            .reusable
                            .files
                            .values()
                            .filter(|(file, _)| file.period == *period)
                            .collect();
                        files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
                        release.unchanged += files.len();
                        for (file, audit) in files {
                            release.files.push(file.clone());
                            release.audit.push(audit.clone());
                        }
                    }
                    (None, held) => {
                        let read;
                        let payload = match held {
                            Some(held) => {
                                keep_part(held, &kept)?;
                                read = std::fs::read(&kept)?;
                                &read
                            }
                            None => {
                                spiegel_core::durable::write_atomically(&kept, &message.payload)?;
                                &message.payload
                            }
                        };
                        release.add_part(
                            &spiegel_core::ipc::from_ipc(payload)?,
                            &self.config,
                            self.store.as_ref(),
                            self.runtime.handle(),
                        )?;
                    }
                }
                if let Some((digest, period)) = digest {
                    release
                        .digests
                        .insert(part, (digest.clone(), period.clone()));
                }
            }
            if (release.parts_done.len() as u64) < parts {
                continue;
            }
            self.finish(&message, &mut progress)?;
        }
        if let Some(release) = self.current.as_mut().filter(|c| c.missing && !c.requested) {
            let request = spiegel_aggregate::FullRelease {
                release: release.computed.clone(),
                watermark: release.watermark,
            };
            let request =
                serde_json::to_vec(&request).map_err(|e| PublishError::Malformed(e.to_string()))?;
            self.producer
                .send(topic::AGGREGATE_REQUESTS, REQUESTS_KEY, &request)?;
            tracing::info!(
                "a part sent by reference is not held here (a new state directory, or releases \
                 skipped): the aggregate stage is asked for the release in full"
            );
            release.requested = true;
        }
        progress.awaiting_parts = self.current.as_ref().is_some_and(|c| c.requested);
        if self.current.is_none()
            && let Some(manifest) = self.republish_if_sharing_changed()?
        {
            tracing::info!(release = %manifest.release, files = manifest.files.len(), "release published again: the sharing changed");
            progress.published = Some(manifest);
        }
        Ok(progress)
    }

    /// The next message of the aggregates topic, after reading ahead what has arrived.
    fn next_message(&mut self) -> Result<Option<spiegel_transport::Message>> {
        if self.consumer.stopping() {
            self.ahead.clear();
            return Ok(None);
        }
        if self.ahead.len() < READ_AHEAD {
            let more = self.consumer.poll(READ_AHEAD - self.ahead.len())?;
            self.ahead.extend(more.into_iter().map(|message| {
                let part = spiegel_core::ipc::schema_of(&message.payload)
                    .ok()
                    .and_then(|schema| PartOf::read(schema.metadata()).ok());
                (message, part)
            }));
        }
        Ok(self.ahead.pop_front().map(|(message, _)| message))
    }

    /// Whether the messages read ahead hold every part of a release newer than `watermark`.
    fn complete_ahead_after(&self, watermark: u64) -> bool {
        let mut newer: HashMap<(u64, &str), (u64, BTreeSet<u64>)> = HashMap::new();
        for part in self.ahead.iter().filter_map(|(_, part)| part.as_ref()) {
            if part.watermark > watermark {
                let (parts, seen) = newer
                    .entry((part.watermark, part.computed.as_str()))
                    .or_insert_with(|| (part.parts, BTreeSet::new()));
                seen.insert(part.part);
                if seen.len() as u64 >= *parts {
                    return true;
                }
            }
        }
        false
    }

    /// The reports of the release announced last: the files a new release keeps where its
    /// reports come out the same. Only while the store's manifest is still that release's: a
    /// store emptied or replaced by hand gets every file written again.
    fn previous_reports(&self) -> Result<Previous> {
        let Some(text) = spiegel_core::durable::read_if_present(&self.state_dir.join(ANNOUNCED))?
        else {
            return Ok(Previous::default());
        };
        let announced: Announced =
            serde_json::from_str(&text).map_err(|e| PublishError::Malformed(e.to_string()))?;
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

    /// What a release with `sharing` can take from the last release as it is: when that was
    /// published with the same sharing and thresholds and its reports are still the ones in
    /// force, each of its reports with its audit, and the parts whose every report has one.
    fn reusable(
        &self,
        requests: &SharingRegistry,
        ledger: &SharingLedger,
        previous: &Previous,
    ) -> Result<Reusable> {
        let mut reusable = Reusable::default();
        let Some(text) =
            spiegel_core::durable::read_if_present(&self.state_dir.join(LAST_RELEASE))?
        else {
            return Ok(reusable);
        };
        let last: LastRelease =
            serde_json::from_str(&text).map_err(|e| PublishError::Malformed(e.to_string()))?;
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
            spiegel_core::durable::read_if_present(&audit_file(&self.state_dir, &last.release))?
        else {
            return Ok(reusable);
        };
        let audit: Vec<FileAudit> =
            serde_json::from_str(&audit).map_err(|e| PublishError::Malformed(e.to_string()))?;
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
        let kept = kept_parts(&self.state_dir, &last.computed, last.watermark);
        for (part, (digest, period)) in last.digests {
            if !unaudited.contains(&period) {
                let kept = kept.join(format!("{part}.ipc"));
                reusable.parts.insert(digest, (kept, period));
            }
        }
        Ok(reusable)
    }

    /// The sharing ledger as the last release left it, with this stage's thresholds.
    fn ledger(&self) -> Result<SharingLedger> {
        let mut ledger = SharingLedger::load(&ledger_path(&self.sharing))?;
        ledger.config = self.config;
        Ok(ledger)
    }

    /// Records, before any report of a release is written, that one is being written: a crash
    /// before it completes leaves reports that no manifest names.
    fn mark_writing(&self) -> Result<()> {
        let marker = self.state_dir.join(WRITING);
        if !marker.exists() {
            spiegel_core::durable::write_atomically(&marker, b"")?;
        }
        Ok(())
    }

    /// The parts this stage holds, by digest: those of the last release published, and those
    /// received of `in_hand`, the release a newer one supersedes (its parts stay until the
    /// next release is published).
    fn held_parts(&self, in_hand: Option<&InProgress>) -> Result<HashMap<String, PathBuf>> {
        let mut held = HashMap::new();
        if let Some(text) =
            spiegel_core::durable::read_if_present(&self.state_dir.join(LAST_RELEASE))?
        {
            let last: LastRelease =
                serde_json::from_str(&text).map_err(|e| PublishError::Malformed(e.to_string()))?;
            let kept = kept_parts(&self.state_dir, &last.computed, last.watermark);
            for (part, (digest, _)) in last.digests {
                held.insert(digest, kept.join(format!("{part}.ipc")));
            }
        }
        if let Some(in_hand) = in_hand {
            let kept = kept_parts(&self.state_dir, &in_hand.computed, in_hand.watermark);
            for (part, (digest, _)) in &in_hand.digests {
                held.insert(digest.clone(), kept.join(format!("{part}.ipc")));
            }
        }
        Ok(held)
    }

    /// Publishes the release in hand, whose every part has arrived (the last of them in
    /// `message`): recorded, then completed, then its input committed. One that cannot be
    /// recorded stays in hand, and the next run starts with it.
    fn finish(
        &mut self,
        message: &spiegel_transport::Message,
        progress: &mut Progress,
    ) -> Result<()> {
        if let Some(in_hand) = &self.current
            && let Err(e) = self.record(in_hand)
        {
            self.unrecorded = Some(message.clone());
            return Err(e);
        }
        let Some(done) = self.current.take() else {
            return Ok(());
        };
        let (watermark, made, unchanged) = (done.watermark, done.made, done.unchanged);
        let manifest = self.complete(done)?;
        spiegel_core::durable::write_atomically(
            &self.state_dir.join(PUBLISHED_WATERMARK),
            watermark.to_string().as_bytes(),
        )?;
        self.published_watermark = Some(watermark);
        self.consumer.commit(message)?;
        tracing::info!(
            release = %manifest.release,
            files = manifest.files.len(),
            made,
            unchanged,
            "release published"
        );
        progress.published = Some(manifest);
        progress.reports_made = made;
        progress.reports_unchanged = unchanged;
        Ok(())
    }

    /// Records the release `in_hand` would publish, when the stage has a recorder.
    fn record(&self, in_hand: &InProgress) -> Result<()> {
        let Some(record) = &self.recorder else {
            return Ok(());
        };
        let release = in_hand
            .ledger
            .sharing(&in_hand.requests)
            .release_id(&in_hand.computed);
        record(&release).map_err(|e| PublishError::Unrecorded {
            release,
            reason: e.to_string(),
        })
    }

    /// Writes the manifest of a release whose parts are all published, keeps its audit,
    /// announces it and remembers it for publishing again with other sharing.
    fn complete(&mut self, done: InProgress) -> Result<Manifest> {
        self.sync_store()?;
        // Without an interrupted release, the store holds the reports of the release announced
        // before (while its manifest is in force), and only those of them that this release
        // leaves out go.
        let sweep = if self.interrupted || done.previous.is_empty() {
            report::Sweep::Everything
        } else {
            report::Sweep::Only(done.previous.keys().cloned().collect())
        };
        let release = done
            .ledger
            .sharing(&done.requests)
            .release_id(&done.computed);
        // The ledger before the manifest: once a municipality can read the release, it is
        // recorded as held. A crash in between makes the ledger hold a release never
        // published, which only makes later shares wait more, and the release published
        // again decides the same.
        let mut ledger = done.ledger;
        ledger.config = self.config;
        ledger.save(&ledger_path(&self.sharing))?;
        let manifest = self.runtime.block_on(report::finish_release(
            &release,
            done.files,
            done.submissions.clone(),
            &self.config,
            self.store.as_ref(),
            sweep,
        ))?;
        let audit_json =
            serde_json::to_vec(&done.audit).map_err(|e| PublishError::Malformed(e.to_string()))?;
        spiegel_core::durable::write_atomically(
            &audit_file(&self.state_dir, &release),
            &audit_json,
        )?;
        self.announce(&manifest)?;
        let last = LastRelease {
            release,
            config: Some(self.config),
            computed: done.computed,
            watermark: done.watermark,
            parts: done.parts_done.iter().copied().collect(),
            digests: done.digests,
            submissions: done.submissions,
            sharing: done.requests,
        };
        write_json(&self.state_dir.join(LAST_RELEASE), &last)?;
        match std::fs::remove_file(self.state_dir.join(WRITING)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => self.interrupted = false,
        }
        // Only the last release's parts are kept.
        let parts = self.state_dir.join(PARTS);
        let keep = kept_parts(&self.state_dir, &last.computed, last.watermark);
        for entry in std::fs::read_dir(&parts)? {
            let path = entry?.path();
            if path != keep {
                std::fs::remove_dir_all(&path)?;
            }
        }
        Ok(manifest)
    }

    /// Publishes the last release again when the sharing registry changed since it was
    /// published: a mirror report shared (or no longer shared) changes NB-3's protection of
    /// the aggregated reports and the mirror report's `shared` flag, and the municipality
    /// hears of it in its feed at once, not at the next data release.
    fn republish_if_sharing_changed(&mut self) -> Result<Option<Manifest>> {
        let last_path = self.state_dir.join(LAST_RELEASE);
        let Some(text) = spiegel_core::durable::read_if_present(&last_path)? else {
            return Ok(None);
        };
        let last: LastRelease =
            serde_json::from_str(&text).map_err(|e| PublishError::Malformed(e.to_string()))?;
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
            write_json(&last_path, &last)?;
            return Ok(None);
        }
        let mut again = InProgress {
            computed: last.computed.clone(),
            submissions: last.submissions,
            watermark: last.watermark,
            requests,
            ledger,
            previous: self.previous_reports()?.files,
            reusable: Reusable::default(),
            digests: last.digests,
            parts_done: BTreeSet::new(),
            files: Vec::new(),
            audit: Vec::new(),
            made: 0,
            unchanged: 0,
            held: HashMap::new(),
            missing: false,
            requested: false,
        };
        self.mark_writing()?;
        let kept = kept_parts(&self.state_dir, &last.computed, last.watermark);
        for part in last.parts {
            let payload = std::fs::read(kept.join(format!("{part}.ipc")))?;
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

    /// Writes the release's feed event to the object store, sends the release event and, to
    /// each municipality whose reports changed since the last release announced, a feed event;
    /// then remembers this release as announced. A crash before that repeats the same events
    /// under the same feed position (consumers deduplicate by it, `seq`: a release published
    /// again with other sharing can come back to an earlier release's id).
    fn announce(&mut self, manifest: &Manifest) -> Result<()> {
        let announced_path = self.state_dir.join(ANNOUNCED);
        let previous: Announced = match spiegel_core::durable::read_if_present(&announced_path)? {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| PublishError::Malformed(e.to_string()))?
            }
            None => Announced::default(),
        };
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

        // The Kafka feed of each municipality: the releases that changed what it may read
        // (its own report, and the mirror reports shared with it as of the release).
        let for_feed = |f: &ManifestFile| match f.kind {
            ReportKind::Municipality => Some(f.recipient.clone()),
            ReportKind::Mirror if f.shared == Some(true) => f.municipality.clone(),
            _ => None,
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
            if let Some(municipality) =
                change.file.municipality.as_ref().filter(|_| {
                    change.change == Change::Changed && change.file.shared == Some(false)
                })
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
        let json =
            serde_json::to_vec(&announced).map_err(|e| PublishError::Malformed(e.to_string()))?;
        spiegel_core::durable::write_atomically(&announced_path, &json)?;
        Ok(())
    }
}

/// The reports `now` adds, changes or withdraws compared with `before`, matched by what they
/// report on (kind, period, recipient and, for a mirror report, municipality), not by path:
/// a report's path names its release.
fn changes(before: &[ManifestFile], now: &[ManifestFile]) -> Vec<FeedChange> {
    let report = report::report_key;
    let before: BTreeMap<_, &ManifestFile> = before.iter().map(|f| (report(f), f)).collect();
    let now_reports: BTreeSet<_> = now.iter().map(report).collect();
    let mut changes: Vec<FeedChange> = now
        .iter()
        .filter_map(|file| {
            let change = match before.get(&report(file)) {
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

/// The reports of the release announced last, by path, while they are the ones in force.
#[derive(Debug, Default)]
struct Previous {
    release: String,
    files: report::FilesByPath,
}

/// What the stage last announced: its feed position, and the id and files of that release.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Announced {
    feed_seq: u64,
    /// Empty in a state from before the id was kept here.
    #[serde(default)]
    release: String,
    files: Vec<ManifestFile>,
}

/// File in the state directory: the feed position and files of the last release announced.
const ANNOUNCED: &str = "announced.json";

/// File in the state directory, there while a release is being written and until it is
/// complete.
const WRITING: &str = "writing";

/// File in the state directory: what the last release was published from.
const LAST_RELEASE: &str = "last-release.json";

/// Directory in the state directory: the master-table parts of the last release (and of the
/// one in hand), one IPC file per part.
const PARTS: &str = "parts";

/// What the last release was published from, to publish it again with other sharing.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LastRelease {
    /// The id it was published under (empty in a state from before it was kept).
    #[serde(default)]
    release: String,
    /// The thresholds it was published with (none in a state from before they were kept).
    #[serde(default)]
    config: Option<PublishConfig>,
    computed: String,
    watermark: u64,
    parts: Vec<u64>,
    /// Each part's digest and period ([`spiegel_aggregate::META_PART_DIGEST`]).
    #[serde(default)]
    digests: BTreeMap<u64, (String, String)>,
    submissions: BTreeMap<String, String>,
    sharing: SharingRegistry,
}

/// What a new release can take from the last one as it is.
#[derive(Default)]
struct Reusable {
    /// Its parts by digest: where the last release kept each, and its period.
    parts: HashMap<String, (PathBuf, String)>,
    /// Its reports with their audits.
    files: report::Unchanged,
}

/// Where a message of the aggregates topic belongs: its part of which release.
struct PartOf {
    part: u64,
    parts: u64,
    watermark: u64,
    computed: String,
}

impl PartOf {
    fn read(meta: &arrow_schema::Metadata) -> Result<Self> {
        let number = |key: &str| {
            meta.get(key)
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| PublishError::Malformed(format!("no {key}")))
        };
        Ok(Self {
            part: number(spiegel_aggregate::META_PART)?,
            parts: number(spiegel_aggregate::META_PARTS)?,
            watermark: number(spiegel_aggregate::META_WATERMARK)?,
            computed: meta
                .get(spiegel_aggregate::META_RELEASE)
                .cloned()
                .ok_or_else(|| PublishError::Malformed("no release id".into()))?,
        })
    }
}

/// Keeps a part for publishing again: a link to the copy an earlier release kept (the same
/// part), or a copy of it where the file system has no links.
fn keep_part(from: &Path, kept: &Path) -> Result<()> {
    match std::fs::remove_file(kept) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    if std::fs::hard_link(from, kept).is_err() {
        let bytes = std::fs::read(from)?;
        spiegel_core::durable::write_atomically(kept, &bytes)?;
    }
    Ok(())
}

/// Where the attacker audit of `release` is kept.
fn audit_file(state_dir: &Path, release: &str) -> PathBuf {
    state_dir.join("audit").join(format!("{release}.json"))
}

/// Where the master-table parts of the release computed as `computed` at `watermark` are kept.
fn kept_parts(state_dir: &Path, computed: &str, watermark: u64) -> PathBuf {
    state_dir
        .join(PARTS)
        .join(format!("{computed}-{watermark}"))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_vec(value).map_err(|e| PublishError::Malformed(e.to_string()))?;
    spiegel_core::durable::write_atomically(path, &json)?;
    Ok(())
}

/// File in the state directory: the watermark of the last release published.
const PUBLISHED_WATERMARK: &str = "published-watermark";

/// A release whose parts are being published.
struct InProgress {
    /// The release id the aggregate stage gave the master table.
    computed: String,
    submissions: BTreeMap<String, String>,
    watermark: u64,
    /// The requests to share as the release started.
    requests: SharingRegistry,
    /// The ledger, with the requests decided and the parts held as each part is published.
    ledger: SharingLedger,
    /// The reports of the release announced before, kept where this release leaves them as
    /// they were.
    previous: report::FilesByPath,
    /// What this release can take from the last one as it is.
    reusable: Reusable,
    /// Each part's digest and period, as received.
    digests: BTreeMap<u64, (String, String)>,
    parts_done: BTreeSet<u64>,
    files: Vec<ManifestFile>,
    audit: Vec<FileAudit>,
    /// Of the files, those the release rules were applied to ...
    made: usize,
    /// ... and those taken from the last release.
    unchanged: usize,
    /// The parts this stage holds, by digest: those of the last release published and of the
    /// release in hand before this one.
    held: HashMap<String, PathBuf>,
    /// Whether a part came by reference that this stage does not hold ...
    missing: bool,
    /// ... and the aggregate stage was asked to send the release in full.
    requested: bool,
}

impl InProgress {
    /// Publishes the reports of one master-table part under this release's id and sharing.
    fn add_part(
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
