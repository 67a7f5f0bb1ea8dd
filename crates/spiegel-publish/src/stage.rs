//! The stage around the release rules: reads master-table parts from the aggregates topic,
//! publishes each release once all its parts are in, and publishes the last release again
//! when the sharing changes.
//!
//! One [`PublishStage::run_until_idle`] takes the messages available now, in these steps:
//! [`PublishStage::handle`] decides per message whether its release is outdated, passed over,
//! new ([`PublishStage::begin`]) or in hand, then [`PublishStage::take_part`] publishes the
//! reports of a part, and [`PublishStage::finish`] records, completes and announces a release
//! whose parts are all in. A part sent by reference that this stage does not hold makes it
//! ask for the release in full ([`PublishStage::request_full_release`]).
//!
//! A message that is damaged, or whose metadata does not say which part of which release it
//! is, is the message's fault ([`PublishError::fault`]): it goes to the dead-letter topic
//! and is passed, committed at once unless a release is in hand (whose commit then covers
//! it). A part that fails later, in the middle of its release, stops the stage as before:
//! skipping it would publish a release without it.

mod announce;
mod read_ahead;
mod release;
mod republish;
mod reuse;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use spiegel_transport::{Consumer, Message, Producer, topic};

use crate::state::{self, LastRelease, PARTS, PUBLISHED_WATERMARK, WRITING};
use crate::{
    Manifest, PublishConfig, PublishError, Result, SharingLedger, SharingRegistry, ledger_path,
    report,
};
pub use read_ahead::STAGE;
use read_ahead::{PartOf, readable};
use release::InProgress;
use reuse::Reusable;

/// The consumer group of this stage.
pub const GROUP: &str = "spiegel-publish";

/// The key of every request on [`topic::AGGREGATE_REQUESTS`].
const REQUESTS_KEY: &str = "requests";

/// Records that a release is about to be published; an error stops the publication.
type Recorder = Box<dyn Fn(&str) -> std::io::Result<()> + Send>;

/// Makes the writes to a report store durable that its puts alone do not.
type StoreSync = Box<dyn Fn() -> std::io::Result<()> + Send>;

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
    /// Poison messages sent to the dead-letter topic.
    pub dead_letters: usize,
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
    unrecorded: Option<Message>,
    /// Messages read from the aggregates topic but not yet handled
    /// ([`read_ahead::READ_AHEAD`]), each with where it belongs, read once (`None`: unreadable;
    /// it stops the stage at its turn).
    ahead: VecDeque<(Message, Option<PartOf>)>,
}

impl std::fmt::Debug for PublishStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishStage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PublishStage {
    /// The stage; `consumer` reads the aggregates topic in group [`GROUP`]. The sharing
    /// registry is read from `sharing` at each release; the stage's state (see `state.rs`) is
    /// kept under `state_dir`.
    pub fn new(
        config: PublishConfig,
        sharing: &Path,
        state_dir: &Path,
        store: Arc<dyn ObjectStore>,
        consumer: Box<dyn Consumer>,
        producer: Box<dyn Producer>,
    ) -> Result<Self> {
        config.validate()?;
        for dir in [state::AUDITS, PARTS] {
            let dir = state_dir.join(dir);
            std::fs::create_dir_all(&dir).map_err(PublishError::io(&dir))?;
        }
        // Timers and sockets for an object store reached over HTTP (S3).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(PublishError::Runtime)?;
        let published_watermark = state::read_if_present(&state_dir.join(PUBLISHED_WATERMARK))?
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

    /// The manifest of the release the store holds now, if any: the last one published,
    /// by this stage or an earlier run.
    pub fn current_manifest(&self) -> Result<Option<Manifest>> {
        self.runtime
            .block_on(report::read_manifest(self.store.as_ref()))
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
    /// arrived complete behind it (the stage reads up to `READ_AHEAD` messages ahead); a
    /// release begun is always finished, so that releases arriving faster than they are
    /// audited still get published. A release whose parts are still arriving is kept between
    /// calls.
    pub fn run_until_idle(&mut self) -> Result<Progress> {
        let mut progress = Progress::default();
        // A release complete but not yet recorded goes first; until it is, nothing new is read.
        if let Some(message) = self.unrecorded.take() {
            self.finish(&message, &mut progress)?;
        }
        let mut passed_over: Option<String> = None;
        while let Some(message) = self.next_message()? {
            if let Err(e) = readable(&message) {
                self.dead_letter(&message, &e, &mut progress)?;
                continue;
            }
            self.handle(&message, &mut passed_over, &mut progress)?;
        }
        self.request_full_release()?;
        progress.awaiting_parts = self.current.as_ref().is_some_and(|c| c.requested);
        if self.current.is_none()
            && let Some(manifest) = self.republish_if_sharing_changed()?
        {
            tracing::info!(release = %manifest.release, files = manifest.files.len(), "release published again: the sharing changed");
            progress.published = Some(manifest);
        }
        Ok(progress)
    }

    /// One message of the aggregates topic: skipped when its release is outdated or passed
    /// over, otherwise its part taken into the release in hand (begun if it is new), and the
    /// release finished when this was its last part missing. `passed_over` is the release
    /// last passed over, so that each is counted once.
    fn handle(
        &mut self,
        message: &Message,
        passed_over: &mut Option<String>,
        progress: &mut Progress,
    ) -> Result<()> {
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
                self.consumer.commit(message)?;
            }
            return Ok(());
        }
        let in_hand = self
            .current
            .as_ref()
            .is_some_and(|c| c.watermark == watermark && c.computed == computed);
        if !in_hand && self.complete_ahead_after(watermark) {
            // Not committed: the newer release's commit covers this message too.
            if passed_over.as_ref() != Some(&computed) {
                tracing::info!("release passed over: a newer one arrived complete before its turn");
                progress.passed_over += 1;
                *passed_over = Some(computed);
            }
            return Ok(());
        }
        match &self.current {
            Some(c) if c.watermark > watermark => return Ok(()),
            Some(_) if in_hand => {}
            _ => self.begin(computed, watermark, meta)?,
        }
        let Some(release) = self.current.as_ref() else {
            return Ok(());
        };
        if !release.parts_done.contains(&part) && !self.take_part(part, meta, message)? {
            return Ok(());
        }
        if self
            .current
            .as_ref()
            .is_some_and(|release| (release.parts_done.len() as u64) < parts)
        {
            return Ok(());
        }
        self.finish(message, progress)
    }

    /// Starts the release computed as `computed` at `watermark` (its first part's metadata
    /// in `meta`), superseding the release in hand if there is one.
    fn begin(
        &mut self,
        computed: String,
        watermark: u64,
        meta: &arrow_schema::Metadata,
    ) -> Result<()> {
        let submissions = match meta.get(spiegel_aggregate::META_SUBMISSIONS) {
            Some(json) => {
                serde_json::from_str(json).map_err(|e| PublishError::Malformed(e.to_string()))?
            }
            None => BTreeMap::new(),
        };
        let requests = SharingRegistry::load(&self.sharing)?;
        let ledger = self.ledger()?;
        let previous = self.previous_reports()?;
        // Read once: what the last release can lend this one, and the parts it left here.
        let last = state::read_json::<LastRelease>(&self.state_dir.join(state::LAST_RELEASE))?;
        let reusable = self.reusable(last.as_ref(), &requests, &ledger, &previous)?;
        let held = self.held_parts(last.as_ref(), self.current.as_ref());
        let kept = state::kept_parts(&self.state_dir, &computed, watermark);
        // An attempt at this release that crashed may have left parts: start clean.
        if kept.exists() {
            std::fs::remove_dir_all(&kept).map_err(PublishError::io(&kept))?;
        }
        // The release in hand, if any, wrote reports that this one may not.
        self.interrupted |= self.current.is_some();
        self.mark_writing()?;
        self.current = Some(InProgress::new(
            computed,
            submissions,
            watermark,
            requests,
            ledger,
            previous.files,
            reusable,
            held,
        ));
        Ok(())
    }

    /// Takes part `part` of the release in hand (`message`, with its metadata `meta`): its
    /// reports as the last release published them when the part is the same, otherwise
    /// through the release rules, from the message or, for a part sent by reference, from
    /// the copy this stage holds. False when it is sent by reference and held nowhere.
    fn take_part(
        &mut self,
        part: u64,
        meta: &arrow_schema::Metadata,
        message: &Message,
    ) -> Result<bool> {
        let Some(release) = self.current.as_mut() else {
            return Ok(false);
        };
        let digest = meta
            .get(spiegel_aggregate::META_PART_DIGEST)
            .zip(meta.get(spiegel_aggregate::META_PERIOD));
        let reusable = digest.and_then(|(digest, _)| release.reusable.parts.get(digest));
        let by_reference = meta.contains_key(spiegel_aggregate::META_BY_REFERENCE);
        // A part by reference is one the release before carried: held here if this stage
        // published that release or had it in hand.
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
            // Asked for once the topic is read to its end: after a restart, the full copies
            // an earlier request brought may still come.
            release.missing = true;
            return Ok(false);
        }
        release.parts_done.insert(part);
        // Kept until the next release, to publish again when the sharing changes.
        let kept = state::kept_parts(&self.state_dir, &release.computed, release.watermark);
        std::fs::create_dir_all(&kept).map_err(PublishError::io(&kept))?;
        let kept = state::kept_part(&kept, part);
        match (reusable, held) {
            // The same part as in the last release, with the same sharing and thresholds:
            // its reports are the ones published then.
            (Some((reused, period)), _) => {
                state::keep_part(reused, &kept)?;
                let period = period.clone();
                release.take_unchanged(&period);
            }
            (None, held) => {
                let read;
                let payload = match held {
                    Some(held) => {
                        state::keep_part(held, &kept)?;
                        read = std::fs::read(&kept).map_err(PublishError::io(&kept))?;
                        &read
                    }
                    None => {
                        state::write(&kept, &message.payload)?;
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
        Ok(true)
    }

    /// Asks the aggregate stage, once per release, for the release in hand in full when it
    /// came with a part by reference that this stage does not hold.
    fn request_full_release(&mut self) -> Result<()> {
        let Some(release) = self.current.as_mut().filter(|c| c.missing && !c.requested) else {
            return Ok(());
        };
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
        Ok(())
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
            state::write(&marker, b"")?;
        }
        Ok(())
    }

    /// Publishes the release in hand, whose every part has arrived (the last of them in
    /// `message`): recorded, then completed, then its input committed. One that cannot be
    /// recorded stays in hand, and the next run starts with it.
    fn finish(&mut self, message: &Message, progress: &mut Progress) -> Result<()> {
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
        state::write(
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
        let release = in_hand.release_id();
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
        let release = done.release_id();
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
        state::write_json(&state::audit_file(&self.state_dir, &release), &done.audit)?;
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
        state::write_json(&self.state_dir.join(state::LAST_RELEASE), &last)?;
        let writing = self.state_dir.join(WRITING);
        match std::fs::remove_file(&writing) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PublishError::io(&writing)(e));
            }
            _ => self.interrupted = false,
        }
        self.keep_only_parts_of(&last)?;
        Ok(manifest)
    }

    /// Removes the kept parts of every release but `last`.
    fn keep_only_parts_of(&self, last: &LastRelease) -> Result<()> {
        let parts = self.state_dir.join(PARTS);
        let keep = state::kept_parts(&self.state_dir, &last.computed, last.watermark);
        for entry in std::fs::read_dir(&parts).map_err(PublishError::io(&parts))? {
            let path = entry.map_err(PublishError::io(&parts))?.path();
            if path != keep {
                std::fs::remove_dir_all(&path).map_err(PublishError::io(&path))?;
            }
        }
        Ok(())
    }
}
