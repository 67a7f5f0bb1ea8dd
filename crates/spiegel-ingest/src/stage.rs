//! The ingest stage as a pipeline stage: reads a submission, validates and tokenises it, and
//! sends the accepted records on the submissions topic.
//!
//! Its durable state is one small file per (provider, period) naming the digest of the last
//! accepted file, so an unchanged file is not sent again. The state is written only after the
//! message is durable: a crash in between sends the same submission twice, which the stages
//! after it recognise by its digest.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use spiegel_pseudonymise::{SourceKey, TtpId};
use spiegel_transport::{Producer, topic};

use crate::{Ingest, IngestConfig, IngestError, Ingested, Receipt, Result, SubmissionMeta, wire};

/// What became of one submission file.
#[derive(Debug)]
pub enum Submitted {
    /// Accepted and sent on.
    Sent {
        /// The receipt.
        receipt: Box<Receipt>,
        /// The submission id (SHA-256 of the file, hex).
        submission: String,
    },
    /// The same file as the one accepted before: nothing to do.
    Unchanged,
    /// Rejected whole; nothing of it is applied and the earlier submission stays in force.
    Rejected {
        /// The receipt saying why.
        receipt: Box<Receipt>,
    },
}

/// A submission file read and validated by [`IngestStage::prepare`], not yet sent on.
#[derive(Debug)]
pub struct Prepared {
    meta: SubmissionMeta,
    submission: String,
    /// None when the file is the submission in force.
    ingested: Option<Ingested>,
}

/// The ingest stage with its stage-1 key, its state directory and its producer.
///
/// Reading takes `&self`, so one stage validates several uploads at once (the HTTP API shares
/// it between requests); only sending an accepted submission on is serialised.
pub struct IngestStage {
    config: IngestConfig,
    key: SourceKey,
    ttp: TtpId,
    accepted_versions: Vec<u32>,
    state: PathBuf,
    producer: Mutex<Box<dyn Producer>>,
}

impl std::fmt::Debug for IngestStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestStage")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl IngestStage {
    /// A stage keeping its state under `state_dir`, tokenising with `key` and accepting
    /// delivered client tokens of `accepted_versions` of the key's TTP.
    pub fn new(
        config: IngestConfig,
        key: SourceKey,
        accepted_versions: Vec<u32>,
        state_dir: &Path,
        producer: Box<dyn Producer>,
    ) -> Result<Self> {
        fs::create_dir_all(state_dir)?;
        Ok(Self {
            config,
            ttp: key.ttp().clone(),
            key,
            accepted_versions,
            state: state_dir.to_owned(),
            producer: Mutex::new(producer),
        })
    }

    /// The validation configuration, limits included.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// Ingests one submission file named `<AGB>_<PERIOD>.<ext>`.
    pub fn submit(&self, path: &Path) -> Result<Submitted> {
        let prepared = self.prepare(path)?;
        self.send(prepared)
    }

    /// Reads, validates and tokenises a submission file named `<AGB>_<PERIOD>.<ext>` without
    /// sending it on: several files can be prepared at once, and [`IngestStage::send`] sends
    /// them in the order they were made.
    pub fn prepare(&self, path: &Path) -> Result<Prepared> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = SubmissionMeta::from_file_name(&name)?;
        let submission = file_digest(path)?;
        let ingested = if self.is_current(&meta, &submission) {
            None
        } else {
            Some(self.ingest(&meta).read_path(path)?)
        };
        Ok(Prepared {
            meta,
            submission,
            ingested,
        })
    }

    /// Sends a prepared submission on, unless it is (by now) the submission in force.
    pub fn send(&self, prepared: Prepared) -> Result<Submitted> {
        match prepared.ingested {
            Some(ingested) if !self.is_current(&prepared.meta, &prepared.submission) => {
                self.apply(&prepared.meta, &prepared.submission, ingested)
            }
            _ => Ok(Submitted::Unchanged),
        }
    }

    /// Validates and tokenises a submission streamed from `input` (decompressed), without
    /// sending it on: [`IngestStage::apply`] does that once its digest is known.
    pub fn read(&self, meta: &SubmissionMeta, input: impl Read + Send) -> Result<Ingested> {
        self.ingest(meta).read(input)
    }

    /// Whether `submission` (a content digest) is the submission in force for `meta`'s
    /// provider and period.
    pub fn is_current(&self, meta: &SubmissionMeta, submission: &str) -> bool {
        fs::read_to_string(self.marker(meta)).is_ok_and(|d| d.trim() == submission)
    }

    fn marker(&self, meta: &SubmissionMeta) -> PathBuf {
        self.state
            .join(format!("{}_{}.accepted", meta.provider, meta.period))
    }

    fn ingest<'a>(&'a self, meta: &'a SubmissionMeta) -> Ingest<'a> {
        Ingest::new(&self.config, meta)
            .tokenise_with(&self.key)
            .accept_tokens(&self.ttp, &self.accepted_versions)
    }

    /// Sends an accepted submission on (its content digest `submission`), replacing the
    /// earlier one for its provider and period; a rejected one only returns its receipt.
    pub fn apply(
        &self,
        meta: &SubmissionMeta,
        submission: &str,
        ingested: Ingested,
    ) -> Result<Submitted> {
        // Every line logged while the submission is handled names it (and, exported, it is a
        // span of its own).
        let _span = tracing::info_span!(
            "submission",
            provider = %meta.provider,
            period = %meta.period,
            submission
        )
        .entered();
        let receipt = Box::new(ingested.receipt);
        if !receipt.accepted() {
            return Ok(Submitted::Rejected { receipt });
        }
        let records: Vec<_> = ingested
            .records
            .into_iter()
            .map(crate::ValidRecord::minimise)
            .collect();
        let batch = wire::submission_batch(meta.provider, meta.period, submission, &records)
            .and_then(|b| spiegel_core::ipc::to_ipc(&b))
            .map_err(|e| IngestError::Stage(e.to_string()))?;
        // Keyed by provider: a provider's submissions, corrections included, stay in order.
        let key = meta.provider.to_string();
        // Held from the send to the marker, so two uploads for one provider and period leave
        // the marker naming the one sent last.
        let mut producer = self
            .producer
            .lock()
            .map_err(|_| IngestError::Stage("an earlier send panicked".into()))?;
        producer
            .send(topic::SUBMISSIONS, &key, &batch)
            .map_err(|e| IngestError::Stage(e.to_string()))?;
        spiegel_core::durable::write_atomically(&self.marker(meta), submission.as_bytes())?;
        drop(producer);
        tracing::info!(
            provider = %meta.provider,
            period = %meta.period,
            records = records.len(),
            "submission accepted and sent"
        );
        Ok(Submitted::Sent {
            receipt,
            submission: submission.to_owned(),
        })
    }
}

/// SHA-256 of a file, hex: the identity of a submission.
pub fn file_digest(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    Ok(hex::encode(context.finish()))
}
