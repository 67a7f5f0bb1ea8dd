//! The aggregate stage (SPEC §6–§7): keeps the latest complete submission per (provider,
//! period), links children across providers and periods by their pseudonyms, and computes
//! every indicator cell for the scopes mirror (a provider in a gemeente), gemeente,
//! jeugdzorgregio and national, with the breakdowns of [`indicators::INDICATORS`].
//!
//! Its output is the master table of a release: exact cells with what the publish stage needs
//! to apply the release rules, never published as such. The table is a pure function of the
//! stored submissions and the configuration, so replaying a message changes nothing.

mod cells;
mod error;
pub mod indicators;
mod link;
mod model;
mod store;
pub mod table;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use spiegel_core::{Agb, Reference};
use spiegel_pseudonymise::TtpId;
use spiegel_transport::{Consumer, Producer, topic};

pub use error::{AggregateError, Result};

/// The consumer group of this stage.
pub const GROUP: &str = "spiegel-aggregate";
/// Version of the computation; part of every release id and of the reports' `method_version`.
pub const METHOD_VERSION: &str = "spiegel-indicators-1";
/// Schema metadata key: the release a master-table part belongs to.
pub const META_RELEASE: &str = "spiegel.release";
/// Schema metadata key: this part's number, from 1.
pub const META_PART: &str = "spiegel.part";
/// Schema metadata key: how many parts the release has.
pub const META_PARTS: &str = "spiegel.parts";

/// Windows and norms of the indicators (SPEC §6–§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// W of "geen nieuwe start", in days.
    pub no_new_start_days: u32,
    /// Lookback of "herhaald beroep", in days.
    pub repeat_lookback_days: u32,
    /// A start at the same provider at most this many days after an end is a continuation.
    pub continuation_days: u32,
    /// Norm of `started_within_norm_share`, in days.
    pub waiting_norm_days: u32,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            no_new_start_days: 182,
            repeat_lookback_days: 5 * 365 + 1,
            continuation_days: 1,
            waiting_norm_days: 42,
        }
    }
}

/// The label pseudonyms must carry to be linked: the current K2 of this TTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymLabel {
    /// The TTP.
    pub ttp: TtpId,
    /// The K2 version in force.
    pub version: u32,
}

/// Computes the master table of a set of pseudonymised submissions (the latest per provider
/// and period), one record batch per period.
pub fn master_table(
    config: &AggregateConfig,
    label: &PseudonymLabel,
    submissions: &[RecordBatch],
) -> Result<Vec<RecordBatch>> {
    let reference = Reference::embedded();
    let regions: Vec<String> = reference.regions().to_vec();
    let mut identities = submissions
        .iter()
        .map(model::batch_identity)
        .collect::<Result<Vec<_>>>()?;
    let mut providers: Vec<Agb> = identities.iter().map(|i| i.0).collect();
    providers.sort_unstable();
    providers.dedup();
    let mut decoded = Vec::with_capacity(submissions.len());
    for (batch, (provider, period, _)) in submissions.iter().zip(identities.drain(..)) {
        let provider_index = providers.binary_search(&provider).unwrap_or_default() as u16;
        decoded.push(model::Submission {
            provider_index,
            period,
            trajectories: model::decode(
                batch,
                provider_index,
                &label.ttp,
                label.version,
                reference,
                &regions,
            )?,
        });
    }
    let windows = link::Windows {
        no_new_start: config.no_new_start_days as i32,
        lookback: config.repeat_lookback_days as i32,
        continuation: config.continuation_days as i32,
    };
    let flags = link::link(&decoded, windows);
    let gemeenten: Vec<(String, u16)> = reference
        .gemeenten()
        .iter()
        .map(|g| {
            let region = regions.iter().position(|r| *r == g.regio).unwrap_or(0) as u16;
            (g.code.to_string(), region)
        })
        .collect();
    let provider_names: Vec<String> = providers.iter().map(|p| p.as_str().to_owned()).collect();
    let params = cells::Params {
        waiting_norm_days: config.waiting_norm_days as i32,
    };
    let mut periods: Vec<_> = decoded.iter().map(|s| s.period).collect();
    periods.sort_unstable_by_key(|p| (p.start(), p.end()));
    periods.dedup();
    let mut out = Vec::new();
    for period in periods {
        let of_period: Vec<&model::Submission> =
            decoded.iter().filter(|s| s.period == period).collect();
        let of_period_flags: Vec<&Vec<link::Flags>> = decoded
            .iter()
            .zip(&flags)
            .filter(|(s, _)| s.period == period)
            .map(|(_, f)| f)
            .collect();
        let mut builder = table::TableBuilder::new();
        cells::compute_period(
            period,
            &of_period,
            &of_period_flags,
            &provider_names,
            &regions,
            &gemeenten,
            params,
            &mut builder,
        );
        tracing::debug!(period = %period, cells = builder.rows(), "period aggregated");
        out.push(builder.finish()?);
    }
    Ok(out)
}

/// What one [`AggregateStage::run_until_idle`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Submissions stored (new or replacing an earlier one).
    pub stored: usize,
    /// Messages that repeated a submission already stored.
    pub unchanged: usize,
    /// The release sent, if the state changed since the last one.
    pub released: Option<String>,
}

/// The stage: its state directory between a consumer and a producer.
pub struct AggregateStage {
    config: AggregateConfig,
    label: PseudonymLabel,
    store: store::Store,
    consumer: Box<dyn Consumer>,
    producer: Box<dyn Producer>,
}

impl std::fmt::Debug for AggregateStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateStage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AggregateStage {
    /// The stage keeping its state under `state_dir`; `consumer` reads
    /// [`topic::PSEUDONYMISED`] in group [`GROUP`].
    pub fn new(
        config: AggregateConfig,
        label: PseudonymLabel,
        state_dir: &Path,
        consumer: Box<dyn Consumer>,
        producer: Box<dyn Producer>,
    ) -> Result<Self> {
        Ok(Self {
            config,
            label,
            store: store::Store::open(state_dir)?,
            consumer,
            producer,
        })
    }

    /// Stores every submission available now (committing each once stored), then, if the
    /// stored state differs from the last release, computes and sends a new release.
    pub fn run_until_idle(&mut self) -> Result<Progress> {
        let mut progress = Progress::default();
        while let Some(message) = self.consumer.poll(1)?.into_iter().next() {
            let batch = spiegel_core::ipc::from_ipc(&message.payload)?;
            let (provider, period, submission) = model::batch_identity(&batch)?;
            if self
                .store
                .put(provider, period, &submission, &message.payload)?
            {
                progress.stored += 1;
            } else {
                progress.unchanged += 1;
            }
            self.consumer.commit(message.offset)?;
        }
        let release = self.release_id()?;
        if self.store.released()?.as_deref() == Some(release.as_str()) {
            return Ok(progress);
        }
        let submissions = self.store.load()?;
        let parts = master_table(&self.config, &self.label, &submissions)?;
        let count = parts.len().max(1);
        let mut producer_parts = parts;
        if producer_parts.is_empty() {
            producer_parts.push(RecordBatch::new_empty(table::master_schema()));
        }
        for (i, part) in producer_parts.into_iter().enumerate() {
            let mut metadata = part.schema().metadata().clone();
            metadata.insert(META_RELEASE.to_owned(), release.clone());
            metadata.insert(META_PART.to_owned(), (i + 1).to_string());
            metadata.insert(META_PARTS.to_owned(), count.to_string());
            let schema =
                std::sync::Arc::new(part.schema().as_ref().clone().with_metadata(metadata));
            let part = part.with_schema(schema)?;
            let bytes = spiegel_core::ipc::to_ipc(&part)?;
            self.producer.send(topic::AGGREGATES, &release, &bytes)?;
        }
        self.store.set_released(&release)?;
        tracing::info!(release = %release, "release computed and sent");
        progress.released = Some(release);
        Ok(progress)
    }

    /// The identity of what a release would be computed from: the method, the configuration,
    /// the pseudonym label and every stored submission.
    fn release_id(&self) -> Result<String> {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(METHOD_VERSION.as_bytes());
        context.update(serde_json::to_string(&self.config)?.as_bytes());
        context.update(format!("{}.{}", self.label.ttp, self.label.version).as_bytes());
        for (name, id) in self.store.index()? {
            context.update(format!("\n{name}={id}").as_bytes());
        }
        Ok(hex::encode(&context.finish().as_ref()[..16]))
    }
}

/// Where the stage keeps its state under a data directory.
pub fn state_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("aggregate")
}
