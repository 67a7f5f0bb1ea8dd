//! The pseudonymise stage as a pipeline stage: reads accepted submissions from the
//! submissions topic, replaces each stage-1 token by its stage-2 pseudonym, and sends the
//! result on the pseudonymised topic. It never sees a BSN and is the only holder of K2.
//!
//! The stage is a pure function of its input message, so reading a message twice after a
//! crash sends the same output twice, which the aggregate stage recognises by the submission
//! id it carries.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use spiegel_transport::{Consumer, Producer, topic};

use crate::{ClientToken, Pseudonymiser, TokenError};

/// The consumer group of this stage.
pub const GROUP: &str = "spiegel-pseudonymise";

/// Failures of the stage. None carries a token or pseudonym.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The topic could not be read or written.
    #[error(transparent)]
    Transport(#[from] spiegel_transport::TransportError),
    /// A message is not a submission batch.
    #[error("message at offset {offset} is not a submission batch: {reason}")]
    Malformed {
        /// Where it is.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Messages handled by one [`PseudonymiseStage::run_until_idle`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Submissions pseudonymised and sent on.
    pub submissions: usize,
    /// Records in them.
    pub records: usize,
}

/// The stage: a pseudonymiser between a consumer and a producer.
pub struct PseudonymiseStage {
    pseudonymiser: Pseudonymiser,
    consumer: Box<dyn Consumer>,
    producer: Box<dyn Producer>,
}

impl std::fmt::Debug for PseudonymiseStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymiseStage").finish_non_exhaustive()
    }
}

impl PseudonymiseStage {
    /// The stage; `consumer` reads [`topic::SUBMISSIONS`] in group [`GROUP`].
    pub fn new(
        pseudonymiser: Pseudonymiser,
        consumer: Box<dyn Consumer>,
        producer: Box<dyn Producer>,
    ) -> Self {
        Self {
            pseudonymiser,
            consumer,
            producer,
        }
    }

    /// Handles every message available now, committing each once its output is durable.
    pub fn run_until_idle(&mut self) -> Result<Progress, StageError> {
        let mut progress = Progress::default();
        loop {
            let messages = self.consumer.poll(1)?;
            let Some(message) = messages.into_iter().next() else {
                return Ok(progress);
            };
            tracing::info!(
                submission = %message.key,
                bytes = message.payload.len(),
                "pseudonymising a submission"
            );
            let malformed = |reason: String| StageError::Malformed {
                offset: message.offset,
                reason,
            };
            let input = spiegel_core::ipc::from_ipc(&message.payload)
                .map_err(|e| malformed(e.to_string()))?;
            let output = self.pseudonymise(&input).map_err(malformed)?;
            let bytes = spiegel_core::ipc::to_ipc(&output).map_err(|e| malformed(e.to_string()))?;
            self.producer
                .send(topic::PSEUDONYMISED, &message.key, &bytes)?;
            self.consumer.commit(&message)?;
            progress.submissions += 1;
            progress.records += output.num_rows();
            tracing::info!(
                submission = %message.key,
                records = output.num_rows(),
                "submission pseudonymised"
            );
        }
    }

    /// Replaces the `client_token` column by a `pseudonym` column; the rest passes unchanged.
    fn pseudonymise(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        let schema = batch.schema();
        let index = schema
            .index_of("client_token")
            .map_err(|_| "no client_token column".to_owned())?;
        let tokens = batch
            .column(index)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("client_token is not text")?;
        let pseudonyms = pseudonymise_column(&self.pseudonymiser, tokens)
            .map_err(|(row, e)| format!("row {row}: {e}"))?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[index] = Field::new("pseudonym", DataType::Utf8, true).with_metadata(
            [(
                "description".to_owned(),
                "labelled stage-2 pseudonym ps.<ttp>.<version>.<mac>; null unless subject_kind = token"
                    .to_owned(),
            )]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        );
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[index] = Arc::new(pseudonyms);
        RecordBatch::try_new(
            Arc::new(Schema::new(fields).with_metadata(schema.metadata().clone())),
            columns,
        )
        .map_err(|e| e.to_string())
    }
}

/// Stage 2 over a column, on every core: HMAC per row is the stage's whole cost.
fn pseudonymise_column(
    pseudonymiser: &Pseudonymiser,
    tokens: &StringArray,
) -> Result<StringArray, (usize, TokenError)> {
    let rows = tokens.len();
    let chunk = rows.div_ceil(8).max(1);
    let chunks: Vec<std::ops::Range<usize>> = (0..rows)
        .step_by(chunk)
        .map(|start| start..(start + chunk).min(rows))
        .collect();
    let parts = spiegel_core::parallel::map(chunks, 8, |chunk| {
        chunk
            .map(|row| {
                if tokens.is_null(row) {
                    return Ok(None);
                }
                ClientToken::from_wire(tokens.value(row))
                    .and_then(|t| pseudonymiser.pseudonymise(&t))
                    .map(|p| Some(p.to_wire()))
                    .map_err(|e| (row, e))
            })
            .collect::<Result<Vec<Option<String>>, (usize, TokenError)>>()
    });
    let mut out = Vec::with_capacity(rows);
    for part in parts {
        out.extend(part?);
    }
    Ok(StringArray::from(out))
}
