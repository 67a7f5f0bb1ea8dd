//! The transport between the four stages (docs/operations.md).
//!
//! A stage sees topics through [`Transport`]: it sends keyed messages with a [`Producer`] and
//! reads them in order with a [`Consumer`] of a consumer group, committing the offset of what it
//! has made durable. No stage knows whether it runs on the [`EmbeddedTransport`] (one process,
//! a data directory, no broker) or on Kafka; both give the same semantics:
//!
//! - a sent message is durable once [`Producer::send`] returns;
//! - a consumer group reads a topic in offset order and, after a restart, resumes at the first
//!   message it did not commit, so every message is seen at least once and every stage must be
//!   idempotent (which the pipeline's stages are: their output is a function of their input).

pub mod dead_letter;
mod embedded;
mod error;
#[cfg(feature = "kafka")]
pub mod kafka;

pub use dead_letter::{DeadLetter, Fault};
pub use embedded::EmbeddedTransport;
pub use error::{Result, TransportError};

/// The topics of the pipeline.
pub mod topic {
    /// Accepted submissions, stage-1 tokenised, keyed by provider and period.
    pub const SUBMISSIONS: &str = "spiegel.submissions.v1";
    /// The same submissions after stage 2, keyed by provider and period.
    pub const PSEUDONYMISED: &str = "spiegel.pseudonymised.v1";
    /// The aggregate stage's changelog: every pseudonymised submission, in one partition, read
    /// whole by every instance of the stage.
    pub const AGGREGATE_STATE: &str = "spiegel.aggregate-state.v1";
    /// One event per release published: its id and where its manifest is.
    pub const RELEASES: &str = "spiegel.releases.v1";
    /// The feed of one municipality (`GMxxxx`), for subscribers that read Kafka: an event for
    /// each release that changed a report meant for it (its own, or a mirror report shared
    /// with it).
    pub fn feed(municipality: &str) -> String {
        format!("spiegel.feed.{municipality}.v1")
    }
    /// Checkpoints of the API's audit log (sequence number and chain head, HMACed), keyed by
    /// the log's instance: kept where the API can add but not rewrite (docs/serving.md).
    pub const AUDIT_CHECKPOINTS: &str = "spiegel.audit-checkpoints.v1";
    /// Indicator cells of a release (the master table), in parts, all under one key so that
    /// they stay in order.
    pub const AGGREGATES: &str = "spiegel.aggregates.v1";
    /// The publish stage's requests to the aggregate stage to send a release again with every
    /// part in full: a release carries the parts its predecessor carried already by reference
    /// only, and a publish stage that does not hold one of them (a new volume) asks here.
    pub const AGGREGATE_REQUESTS: &str = "spiegel.aggregate-requests.v1";
    /// Poison messages: one [`crate::DeadLetter`] for each message a stage could not decode
    /// or apply and went on past, keyed by the topic it was read from. Never the message
    /// itself: only where it was, which stage gave up on it and why.
    pub const DEAD_LETTER: &str = "spiegel.dead-letter.v1";

    /// Whether a topic's messages are needed only until every consumer group reading it has
    /// committed past them. Each release on [`AGGREGATES`] is complete in itself and a new
    /// one replaces it, so nothing reads an old one again: the embedded transport removes
    /// them once read (a release of a million records is a hundred megabytes), Kafka keeps
    /// them for the topic's retention. A request on [`AGGREGATE_REQUESTS`] is answered by the
    /// next release sent. Every other topic is kept: the submissions rebuild
    /// every later stage, and the release events and feeds are their subscribers' history.
    pub fn is_transient(topic: &str) -> bool {
        topic == AGGREGATES || topic == AGGREGATE_REQUESTS
    }
}

/// One message as read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The partition of the topic it was read from (always 0 on the embedded transport).
    pub partition: u32,
    /// Its position in the partition (on Kafka: of its last record).
    pub offset: u64,
    /// The key (ordering holds per key).
    pub key: String,
    /// The payload; empty when the message is [`Self::damaged`].
    pub payload: Vec<u8>,
    /// Why the transport could not read the message whole, if it could not: a Kafka frame
    /// with missing or inconsistent headers or a wrong digest, a message file that is not
    /// one. Such a message is handed out (and committed past) like any other, so that the
    /// stage can send it to [`topic::DEAD_LETTER`] instead of stopping on it for good.
    pub damaged: Option<String>,
}

/// Handled messages whose commit is still to come. A commit costs two fsyncs on the embedded
/// transport and a broker round trip on Kafka, so a stage commits once per [`Self::BATCH`]
/// messages and when its input runs dry, not once per message. Outputs are durable before
/// the commit that covers their input, as every commit requires; a crash in between
/// redelivers at most a batch, which the stages' idempotence makes harmless.
#[derive(Debug, Default)]
pub struct PendingCommit {
    /// The last handled message, without its payload (a commit needs only its position).
    last: Option<Message>,
    handled: usize,
}

impl PendingCommit {
    /// Messages handled before a commit is due.
    pub const BATCH: usize = 32;

    /// Records that `message` (and every message handed out before it) is handled durably;
    /// true when a commit is due.
    pub fn handled(&mut self, message: &Message) -> bool {
        self.last = Some(message.clone_without_payload());
        self.handled += 1;
        self.handled >= Self::BATCH
    }

    /// The message to commit, if any was handled since the last call.
    pub fn take(&mut self) -> Option<Message> {
        self.handled = 0;
        self.last.take()
    }

    /// Commits what was handled, if anything.
    pub fn commit(&mut self, consumer: &mut dyn Consumer) -> Result<()> {
        match self.take() {
            Some(message) => consumer.commit(&message),
            None => Ok(()),
        }
    }
}

impl Message {
    fn clone_without_payload(&self) -> Self {
        Self {
            partition: self.partition,
            offset: self.offset,
            key: self.key.clone(),
            payload: Vec::new(),
            damaged: None,
        }
    }
}

/// Sends messages to topics.
pub trait Producer: Send {
    /// Appends a message; it is durable when this returns.
    fn send(&mut self, topic: &str, key: &str, payload: &[u8]) -> Result<()>;

    /// Appends several messages (topic, key, payload), durable when this returns; on Kafka
    /// in one transaction, so consumers see all of them or none.
    fn send_all(&mut self, messages: &[(String, String, Vec<u8>)]) -> Result<()> {
        for (topic, key, payload) in messages {
            self.send(topic, key, payload)?;
        }
        Ok(())
    }
}

/// Reads one topic as a member of a consumer group.
pub trait Consumer: Send {
    /// The next messages after the last one returned (at most `max`); empty when the topic has
    /// nothing more for now.
    fn poll(&mut self, max: usize) -> Result<Vec<Message>>;
    /// Records that `message`, and every message this consumer returned before it, has been
    /// dealt with durably: after a restart the group resumes after them.
    fn commit(&mut self, message: &Message) -> Result<()>;
    /// Whether the consumer hands out nothing more because the process is stopping (the
    /// transport's shutdown flag). A stage holding messages it read ahead drops them then, as
    /// the consumer does with what it fetched: uncommitted, they go to the group's next owner.
    fn stopping(&self) -> bool {
        false
    }
}

/// A way to reach the topics.
pub trait Transport: Send + Sync {
    /// A producer.
    fn producer(&self) -> Result<Box<dyn Producer>>;
    /// A consumer of `topic` in consumer group `group`, positioned after the group's last
    /// committed offset.
    fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn handled_messages_are_committed_once_a_batch_and_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let mut producer = transport.producer().unwrap();
        for i in 0..40u8 {
            producer.send("t", "k", &[i]).unwrap();
        }
        let resumes_at = || transport.consumer("t", "g").unwrap().poll(1).unwrap()[0].offset;
        let mut consumer = transport.consumer("t", "g").unwrap();
        let mut pending = PendingCommit::default();
        for message in consumer.poll(40).unwrap() {
            if pending.handled(&message) {
                pending.commit(consumer.as_mut()).unwrap();
                // The whole batch at once, not message by message.
                assert_eq!(resumes_at(), PendingCommit::BATCH as u64);
            }
        }
        assert_eq!(resumes_at(), PendingCommit::BATCH as u64);
        pending.commit(consumer.as_mut()).unwrap();
        assert!(
            transport
                .consumer("t", "g")
                .unwrap()
                .poll(1)
                .unwrap()
                .is_empty()
        );
        // Nothing handled since: nothing to commit.
        assert!(pending.take().is_none());
    }
}
