//! The pseudonymise stage as a pipeline stage: reads accepted submissions from the
//! submissions topic, replaces each stage-1 token by its stage-2 pseudonym, and sends the
//! result on the pseudonymised topic. It never sees a BSN and is the only holder of K2.
//!
//! The stage is a pure function of its input message, so reading a message twice after a
//! crash sends the same output twice, which the aggregate stage recognises by the submission
//! id it carries.
//!
//! # Key rotation
//!
//! Each K2 version reads the submissions topic in a consumer group of its own ([`group`]). A
//! stage started with a new K2 version therefore starts at the topic's beginning and
//! re-pseudonymises every stored stage-1-tokenised submission, in the order they came. Each
//! output says which K2 version made it ([`META_KEY_VERSION`]) and where its input was
//! ([`META_SOURCE`]), so the aggregate stage can switch versions without ever going back to an
//! older submission of a provider and period.
//!
//! # Poison messages
//!
//! A message that is not a submission batch, or holds a token that is not a valid stage-1
//! token of an accepted version ([`StageError::Malformed`], [`Fault::Message`]), goes to the
//! dead-letter topic ([`DeadLetter`]) and the stage commits past it; a failure of the topics
//! ([`StageError::Transport`], [`Fault::Environment`]) stops the stage, to be retried from
//! its committed offset ([`StageError::fault`]).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use spiegel_transport::{Consumer, DeadLetter, Fault, Message, PendingCommit, Producer, topic};

use spiegel_core::wire::submission_column as column;

use crate::{ClientToken, Pseudonymiser, TokenError};

/// The stage's name on the dead-letter topic.
pub const STAGE: &str = "pseudonymise";

/// The consumer group of this stage under K2 version `version`.
pub fn group(version: u32) -> String {
    format!("spiegel-pseudonymise.k2v{version}")
}

pub use spiegel_core::wire::{META_KEY_VERSION, META_RECORD_KEYS, META_SOURCE};

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
    /// A token of a row cannot be pseudonymised.
    #[error("message at offset {offset}, row {row}: {source}")]
    Token {
        /// Where the message is.
        offset: u64,
        /// The row, from 0.
        row: usize,
        /// Why; never the token.
        #[source]
        source: TokenError,
    },
}

impl StageError {
    /// Whose fault the failure is. A message that is not a submission batch, or holds text
    /// that is no client token, is its own ([`Fault::Message`], dead-lettered). A token of
    /// another TTP or of a stage-1 key version not accepted is the environment's, as is a
    /// transport failure ([`Fault::Environment`], the stage stops and is retried): ingest
    /// tokenises with this TTP's K1, so such a token means the stages' keys or accepted
    /// versions do not fit, and every message would go to the dead-letter topic until they do.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Transport(e) => e.fault(),
            Self::Malformed { .. }
            | Self::Token {
                source: TokenError::Malformed,
                ..
            } => Fault::Message,
            Self::Token { .. } => Fault::Environment,
        }
    }
}

/// Messages handled by one [`PseudonymiseStage::run_until_idle`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Submissions pseudonymised and sent on.
    pub submissions: usize,
    /// Records in them.
    pub records: usize,
    /// Poison messages sent to the dead-letter topic instead.
    pub dead_letters: usize,
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
    /// The stage; `consumer` reads [`topic::SUBMISSIONS`] in the [`group`] of the
    /// pseudonymiser's K2 version.
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

    /// Handles every message available now, committing them (in batches) once their output
    /// is durable; a poison message's output is its dead letter.
    pub fn run_until_idle(&mut self) -> Result<Progress, StageError> {
        let mut progress = Progress::default();
        let mut pending = PendingCommit::default();
        loop {
            let messages = self.consumer.poll(1)?;
            let Some(message) = messages.into_iter().next() else {
                pending.commit(self.consumer.as_mut())?;
                return Ok(progress);
            };
            match self.handle(&message) {
                Ok(records) => {
                    progress.submissions += 1;
                    progress.records += records;
                }
                Err(e) if e.fault() == Fault::Message => {
                    DeadLetter::new(STAGE, topic::SUBMISSIONS, &message, &e)
                        .send(self.producer.as_mut())?;
                    progress.dead_letters += 1;
                }
                Err(e) => return Err(e),
            }
            if pending.handled(&message) {
                pending.commit(self.consumer.as_mut())?;
            }
        }
    }

    /// Pseudonymises one message and sends the result; returns its records.
    fn handle(&mut self, message: &Message) -> Result<usize, StageError> {
        let span = tracing::info_span!(
            "submission",
            provider = %message.key,
            submission = tracing::field::Empty
        )
        .entered();
        // Said the moment it is taken (before decoding), so the log orders it exactly
        // against a shutdown request.
        tracing::info!(bytes = message.payload.len(), "pseudonymising a submission");
        let malformed = |reason: String| StageError::Malformed {
            offset: message.offset,
            reason,
        };
        if let Some(damage) = &message.damaged {
            return Err(malformed(damage.clone()));
        }
        let input =
            spiegel_core::ipc::from_ipc(&message.payload).map_err(|e| malformed(e.to_string()))?;
        if let Some(id) = input
            .schema_ref()
            .metadata()
            .get(spiegel_core::wire::META_SUBMISSION)
        {
            span.record("submission", id.as_str());
        }
        let source = format!("{}:{}", message.partition, message.offset);
        let output = self.pseudonymise(&input, &source).map_err(|e| match e {
            Unpseudonymised::Token(row, source) => StageError::Token {
                offset: message.offset,
                row,
                source,
            },
            Unpseudonymised::Malformed(reason) => malformed(reason),
        })?;
        let bytes = spiegel_core::ipc::to_ipc(&output).map_err(|e| malformed(e.to_string()))?;
        self.producer
            .send(topic::PSEUDONYMISED, &message.key, &bytes)?;
        tracing::info!(records = output.num_rows(), "submission pseudonymised");
        Ok(output.num_rows())
    }

    /// Replaces the `client_token` column by a `pseudonym` and a `record_key` column and
    /// labels the batch with the K2 version and its source; the rest passes unchanged.
    fn pseudonymise(
        &self,
        batch: &RecordBatch,
        source: &str,
    ) -> Result<RecordBatch, Unpseudonymised> {
        let schema = batch.schema();
        let malformed = |reason: &str| Unpseudonymised::Malformed(reason.to_owned());
        let index = schema
            .index_of(column::CLIENT_TOKEN)
            .map_err(|_| malformed("no client_token column"))?;
        let tokens = batch
            .column(index)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| malformed("client_token is not text"))?;
        let (pseudonyms, record_keys) = pseudonymise_column(&self.pseudonymiser, tokens)
            .map_err(|(row, e)| Unpseudonymised::Token(row, e))?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[index] = Field::new(column::PSEUDONYM, DataType::Utf8, true).with_metadata(
            [(
                "description".to_owned(),
                "labelled stage-2 pseudonym ps.<ttp>.<version>.<mac>; null unless subject_kind = token"
                    .to_owned(),
            )]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        );
        fields.insert(
            index + 1,
            Field::new(column::RECORD_KEY, DataType::UInt32, true).with_metadata(
                [(
                    "description".to_owned(),
                    "the child's record key for cell keys (SDC-4), the same under every K2 \
                     version; null unless subject_kind = token"
                        .to_owned(),
                )]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
            ),
        );
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for key in record_keys.iter() {
            // Five bytes a row, so a null never reads as a key.
            match key {
                Some(key) => {
                    digest.update(&[1]);
                    digest.update(&key.to_le_bytes());
                }
                None => digest.update(&[0; 5]),
            }
        }
        let mut metadata = schema.metadata().clone();
        metadata.insert(
            META_KEY_VERSION.to_owned(),
            self.pseudonymiser.version().to_string(),
        );
        metadata.insert(META_SOURCE.to_owned(), source.to_owned());
        metadata.insert(
            META_RECORD_KEYS.to_owned(),
            hex::encode(digest.finish().as_ref()),
        );
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[index] = Arc::new(pseudonyms);
        columns.insert(index + 1, Arc::new(record_keys));
        RecordBatch::try_new(
            Arc::new(Schema::new(fields).with_metadata(metadata)),
            columns,
        )
        .map_err(|e| Unpseudonymised::Malformed(e.to_string()))
    }
}

/// Why a batch could not be pseudonymised: a token of a row, or the batch's shape.
enum Unpseudonymised {
    Token(usize, TokenError),
    Malformed(String),
}

/// Stage 2 over a column, on every core: HMAC per row is the stage's whole cost.
fn pseudonymise_column(
    pseudonymiser: &Pseudonymiser,
    tokens: &StringArray,
) -> Result<(StringArray, UInt32Array), (usize, TokenError)> {
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
                    .map(|p| Some((p.to_wire(), p.record_key())))
                    .map_err(|e| (row, e))
            })
            .collect::<Result<Vec<Option<(String, u32)>>, (usize, TokenError)>>()
    });
    let mut pseudonyms = Vec::with_capacity(rows);
    let mut record_keys = Vec::with_capacity(rows);
    for part in parts {
        for row in part? {
            let (pseudonym, record_key) = row.unzip();
            pseudonyms.push(pseudonym);
            record_keys.push(record_key);
        }
    }
    Ok((
        StringArray::from(pseudonyms),
        UInt32Array::from(record_keys),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_message_is_its_own_fault_and_a_key_mismatch_the_environments() {
        let malformed = StageError::Malformed {
            offset: 1,
            reason: "not arrow".into(),
        };
        assert_eq!(malformed.fault(), Fault::Message);
        let token = |source| StageError::Token {
            offset: 1,
            row: 0,
            source,
        };
        assert_eq!(token(TokenError::Malformed).fault(), Fault::Message);
        assert_eq!(token(TokenError::OtherTtp).fault(), Fault::Environment);
        assert_eq!(
            token(TokenError::UnknownVersion(9)).fault(),
            Fault::Environment
        );
        let transport = StageError::Transport(spiegel_transport::TransportError::Kafka(
            "broker down".into(),
        ));
        assert_eq!(transport.fault(), Fault::Environment);
    }
}
