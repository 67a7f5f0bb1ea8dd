//! Poison messages and the dead-letter topic ([`crate::topic::DEAD_LETTER`]).
//!
//! A stage that meets a message it cannot decode or apply must not stop on it: it would be
//! handed the same message after every restart and the pipeline would stand still behind it.
//! So each stage's error type says whose fault a failure is ([`Fault`]):
//!
//! - [`Fault::Message`]: the message itself is wrong (a damaged frame or file, an unknown
//!   schema version, a payload that fails validation). Reading it again gives the same
//!   failure. The stage sends a [`DeadLetter`] (where the message was, which stage, why),
//!   counts it, logs it once and commits past it.
//! - [`Fault::Environment`]: something around the message is wrong (the broker is down, the
//!   disk is full, the object store is unreachable, the stage's configuration or keys do not
//!   fit). Reading it again later may well succeed, so the stage stops and is retried from its
//!   committed offsets, as it always was. Every error that does not say otherwise is this
//!   kind.
//!
//! A dead letter never holds the message or anything read from it (a token, a pseudonym, a
//! field of a record): only its position, the stage and a reason written by the stage's own
//! error type, which carries no payload value either (ARCHITECTURE.md, invariant 1). The
//! operator finds the message itself by its position, under the topic's retention.
//!
//! Dead letters are written at least once: a stage that crashes after sending one and before
//! committing past the message sends it again after its restart.

use crate::{Message, Producer, Result, TransportError, topic};

/// Whose fault a failure of a stage is: the message's, which no retry mends (it goes to the
/// dead-letter topic), or the environment's, which a retry may (the stage stops as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The message cannot be decoded or applied, now or ever.
    Message,
    /// The failure is outside the message; the message is kept for a retry.
    Environment,
}

/// What the dead-letter topic keeps of one poison message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// The topic the message was read from (without the cluster's topic prefix).
    pub topic: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition (on Kafka: of its last record).
    pub offset: u64,
    /// The stage that gave up on it.
    pub stage: String,
    /// Why, as the stage's error says it.
    pub reason: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl DeadLetter {
    /// The dead letter of `message`, read from `topic`, which `stage` cannot handle because of
    /// `reason` (an error of the stage's type, which never holds a payload value).
    pub fn new(
        stage: &str,
        topic: &str,
        message: &Message,
        reason: &dyn std::fmt::Display,
    ) -> Self {
        Self {
            topic: topic.to_owned(),
            partition: message.partition,
            offset: message.offset,
            stage: stage.to_owned(),
            reason: reason.to_string(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or_default(),
        }
    }

    /// Sends it on [`topic::DEAD_LETTER`] and logs it: the one line an operator sees about
    /// the message. Durable when this returns, so the stage may commit past the message.
    pub fn send(&self, producer: &mut dyn Producer) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| TransportError::Corrupt {
            path: topic::DEAD_LETTER.into(),
            reason: e.to_string(),
        })?;
        producer.send(topic::DEAD_LETTER, &self.topic, &bytes)?;
        tracing::warn!(
            topic = %self.topic,
            partition = self.partition,
            offset = self.offset,
            stage = %self.stage,
            reason = %self.reason,
            "poison message sent to the dead-letter topic; going on past it"
        );
        Ok(())
    }

    /// A dead letter as read back from the topic.
    pub fn from_message(message: &Message) -> Result<Self> {
        if let Some(damage) = &message.damaged {
            return Err(Self::unreadable(message, damage));
        }
        serde_json::from_slice(&message.payload)
            .map_err(|e| Self::unreadable(message, &e.to_string()))
    }

    fn unreadable(message: &Message, reason: &str) -> TransportError {
        TransportError::Corrupt {
            path: format!(
                "{}/{}@{}",
                topic::DEAD_LETTER,
                message.partition,
                message.offset
            )
            .into(),
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{EmbeddedTransport, Transport};

    #[test]
    fn a_dead_letter_says_where_the_message_was_and_why_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let message = Message {
            partition: 3,
            offset: 41,
            key: "12345678_2025-H1".into(),
            payload: b"secret payload".to_vec(),
            damaged: None,
        };
        let letter = DeadLetter::new("aggregate", topic::PSEUDONYMISED, &message, &"bad batch");
        letter.send(transport.producer().unwrap().as_mut()).unwrap();
        let read = transport
            .consumer(topic::DEAD_LETTER, "reader")
            .unwrap()
            .poll(10)
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].key, topic::PSEUDONYMISED);
        let back = DeadLetter::from_message(&read[0]).unwrap();
        assert_eq!(back, letter);
        assert_eq!(
            (back.partition, back.offset, back.stage.as_str()),
            (3, 41, "aggregate")
        );
        // Neither the payload nor the message key travels.
        let text = String::from_utf8(read[0].payload.clone()).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("12345678"),
            "{text}"
        );
    }
}
