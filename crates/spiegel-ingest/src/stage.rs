//! The ingest stage as a pipeline stage: reads a submission, validates and tokenises it, and
//! sends the accepted records on the submissions topic.
//!
//! Its durable state is one small file per (provider, period) naming the digest of the last
//! accepted file, so an unchanged file is not sent again. The state is written only after the
//! message is durable: a crash in between sends the same submission twice, which the stages
//! after it recognise by its digest.

use std::fs;
use std::path::{Path, PathBuf};

use spiegel_pseudonymise::{SourceKey, TtpId};
use spiegel_transport::{Producer, topic};

use crate::{Ingest, IngestConfig, IngestError, Receipt, Result, SubmissionMeta, wire};

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

/// The ingest stage with its stage-1 key, its state directory and its producer.
pub struct IngestStage {
    config: IngestConfig,
    key: SourceKey,
    ttp: TtpId,
    accepted_versions: Vec<u32>,
    state: PathBuf,
    producer: Box<dyn Producer>,
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
            producer,
        })
    }

    /// Ingests one submission file named `<AGB>_<PERIOD>.<ext>`.
    pub fn submit(&mut self, path: &Path) -> Result<Submitted> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = SubmissionMeta::from_file_name(&name)?;
        let submission = file_digest(path)?;
        let marker = self
            .state
            .join(format!("{}_{}.accepted", meta.provider, meta.period));
        if fs::read_to_string(&marker).is_ok_and(|d| d.trim() == submission) {
            return Ok(Submitted::Unchanged);
        }
        let ingested = Ingest::new(&self.config, &meta)
            .tokenise_with(&self.key)
            .accept_tokens(&self.ttp, &self.accepted_versions)
            .read_path(path)?;
        let receipt = Box::new(ingested.receipt);
        if !receipt.accepted() {
            return Ok(Submitted::Rejected { receipt });
        }
        let records: Vec<_> = ingested
            .records
            .into_iter()
            .map(crate::ValidRecord::minimise)
            .collect();
        let batch = wire::submission_batch(meta.provider, meta.period, &submission, &records)
            .and_then(|b| spiegel_core::ipc::to_ipc(&b))
            .map_err(|e| IngestError::Stage(e.to_string()))?;
        // Keyed by provider: a provider's submissions, corrections included, stay in order.
        let key = meta.provider.to_string();
        self.producer
            .send(topic::SUBMISSIONS, &key, &batch)
            .map_err(|e| IngestError::Stage(e.to_string()))?;
        spiegel_core::durable::write_atomically(&marker, submission.as_bytes())?;
        tracing::info!(
            provider = %meta.provider,
            period = %meta.period,
            records = records.len(),
            "submission accepted and sent"
        );
        Ok(Submitted::Sent {
            receipt,
            submission,
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
