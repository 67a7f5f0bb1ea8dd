//! The Kafka transport: the same [`Transport`] semantics over a Kafka cluster.
//!
//! # Framing: one message, one transaction
//!
//! A stage's message (a whole submission, one master-table part) is often larger than a Kafka
//! record may be, so [`Producer::send`] cuts it into chunks of at most
//! [`KafkaConfig::chunk_bytes`] and writes them, all with the message's key, inside **one Kafka
//! transaction**. Each chunk carries headers: a random frame id, its index and the chunk count,
//! and the length and SHA-256 of the whole message. Consumers read with
//! `isolation.level=read_committed`, so the chunks of a message become visible all together or,
//! when the producer dies half-way (its transaction is aborted by the coordinator, at the latest
//! when a producer with the same transactional id starts again), never. The consumer reassembles
//! the frame, checks length and digest, and only then hands the message to the stage. A frame
//! that cannot be reassembled (a record without the headers, chunks out of order, a wrong
//! length or digest: a foreign producer, or damage) is handed out as [`Message::damaged`], for
//! the stage to send to the dead-letter topic and commit past.
//!
//! # Offsets: stored only after the effect is durable
//!
//! Auto-commit is off. [`Consumer::commit`] stores, for the message's partition, the offset of
//! the first record that is still needed: the first chunk of any message not yet committed,
//! else the record after the message's last chunk. A restart therefore re-reads every message
//! whose effect was not made durable, and nothing else is skipped, even when the chunks of two
//! producers' transactions interleave on one partition. Stages are idempotent, so a message read
//! twice changes nothing.
//!
//! # Shutdown
//!
//! Once the transport's shutdown flag is raised (the binary raises it on SIGTERM), consumers
//! return no more messages: the stage finishes and commits what it has in hand and returns from
//! its loop; dropping a consumer leaves its group, dropping a producer flushes it.

mod config;
mod consumer;
mod producer;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DefaultProducerContext, Producer as _, ThreadedProducer};

use crate::{Consumer, Message, Producer, Result, Transport, TransportError};

pub use config::{KafkaConfig, Partitions};
use consumer::{KafkaConsumer, Reassembly};
use producer::KafkaProducer;

const HEADER_FRAME: &str = "spiegel-frame";
const HEADER_CHUNK: &str = "spiegel-chunk";
const HEADER_LENGTH: &str = "spiegel-length";
const HEADER_DIGEST: &str = "spiegel-digest";

/// A partition and its low and high watermark.
type PartitionEnds = (i32, (i64, i64));

/// The low and high watermark of every partition of `topic`.
fn partition_ends(
    consumer: &BaseConsumer<StatisticsContext>,
    topic: &str,
    timeout: Duration,
) -> std::result::Result<Vec<PartitionEnds>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut ends = Vec::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        ends.push((
            partition.id(),
            consumer.fetch_watermarks(topic, partition.id(), timeout)?,
        ));
    }
    if ends.is_empty() {
        return Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(ends)
}

fn kafka_error(error: KafkaError) -> TransportError {
    TransportError::Kafka(error.to_string())
}

/// Receives a consumer's lag per partition (topic, partition, messages behind the high
/// watermark) from librdkafka's statistics.
pub type LagSink = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// How often a consumer with a [`LagSink`] reports its lag, unless the configuration's
/// `properties` set `statistics.interval.ms`.
const STATISTICS_INTERVAL_MS: &str = "5000";

/// The Kafka transport; see the module documentation for its framing and offset rules.
#[derive(Clone)]
pub struct KafkaTransport {
    config: KafkaConfig,
    role: String,
    producers: Arc<AtomicUsize>,
    shutdown: Arc<AtomicBool>,
    lag: Option<LagSink>,
}

impl std::fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("config", &self.config)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The consumers' librdkafka context: hands the lag of each partition in the statistics to
/// the sink, if there is one.
struct StatisticsContext {
    lag: Option<LagSink>,
}

impl rdkafka::ClientContext for StatisticsContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(sink) = &self.lag else {
            return;
        };
        for (topic, detail) in &statistics.topics {
            for (partition, state) in &detail.partitions {
                // -1 is librdkafka's "unknown" (a partition not assigned, or no offset yet).
                if *partition >= 0 && state.consumer_lag >= 0 {
                    sink(topic, *partition, state.consumer_lag);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for StatisticsContext {}

impl KafkaTransport {
    /// The transport of one stage (`role`, e.g. `pseudonymise`, names its transactional ids
    /// together with the instance); consumers stop handing out messages once `shutdown` is set.
    pub fn new(config: KafkaConfig, role: &str, shutdown: Arc<AtomicBool>) -> Self {
        Self {
            config,
            role: role.to_owned(),
            producers: Arc::default(),
            shutdown,
            lag: None,
        }
    }

    /// Reports every consumer's lag per partition to `sink` (every 5 s, or as the
    /// configuration's `statistics.interval.ms` says).
    pub fn with_lag_sink(mut self, sink: LagSink) -> Self {
        self.lag = Some(sink);
        self
    }
}

impl Transport for KafkaTransport {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        let n = self.producers.fetch_add(1, Ordering::Relaxed);
        let transactional_id = format!(
            "{}spiegel.{}.{}.{n}",
            self.config.topic_prefix,
            self.role,
            self.config.instance()
        );
        let producer: ThreadedProducer<DefaultProducerContext> = self
            .config
            .client_config()
            .set("transactional.id", &transactional_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "transaction.timeout.ms",
                self.config.transaction_timeout_ms.to_string(),
            )
            .set(
                "message.max.bytes",
                (self.config.chunk_bytes + 64 * 1024).to_string(),
            )
            .create()
            .map_err(kafka_error)?;
        let timeout = Duration::from_millis(self.config.transaction_timeout_ms);
        // Starting fences a dead predecessor with the same id; the coordinator first has to
        // finish aborting what that one left open, which can outlast the timeout it had.
        producer
            .init_transactions(timeout + Duration::from_secs(60))
            .map_err(kafka_error)?;
        Ok(Box::new(KafkaProducer {
            producer,
            config: self.config.clone(),
            timeout,
        }))
    }

    fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(self.kafka_consumer(topic, group)?))
    }
}

impl KafkaTransport {
    /// Every message on `topic` from its beginning to its end as of now, read by a consumer
    /// group of its own that commits nothing: for a small topic read whole, such as the audit
    /// checkpoints. It ends when the consumer's position has reached each partition's high
    /// watermark (transaction markers included), or, failing that, after `patience` without
    /// a new message once partitions were assigned.
    pub fn read_whole(&self, topic: &str, patience: Duration) -> Result<Vec<Message>> {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let group = format!("spiegel.read-whole.{}.{nonce}", std::process::id());
        let mut consumer = self.kafka_consumer(topic, &group)?;
        let name = self.config.topic_name(topic);
        let timeout = Duration::from_secs(30);
        // A topic just created has no leader for a moment: its ends are asked again then.
        let mut attempts = 0;
        let ends = loop {
            match partition_ends(&consumer.consumer, &name, timeout) {
                Ok(ends) => break ends,
                Err(e) if attempts < 20 => {
                    attempts += 1;
                    tracing::debug!(topic = %name, error = %e, "the topic's ends are not known yet");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(kafka_error(e)),
            }
        };
        let mut ends: HashMap<i32, i64> = ends
            .into_iter()
            .filter(|(_, (low, high))| high > low)
            .map(|(p, (_, high))| (p, high))
            .collect();
        let mut messages = Vec::new();
        let mut quiet_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ends.is_empty() {
            let batch = consumer.poll(1000)?;
            if batch.is_empty() {
                if quiet_since.elapsed() >= patience && !consumer.state.owned.is_empty() {
                    break;
                }
            } else {
                quiet_since = Instant::now();
            }
            messages.extend(batch);
            let positions = consumer.consumer.position().map_err(kafka_error)?;
            ends.retain(|partition, high| {
                let at =
                    positions
                        .find_partition(&name, *partition)
                        .and_then(|p| match p.offset() {
                            Offset::Offset(at) => Some(at),
                            _ => None,
                        });
                at.is_none_or(|at| at < *high)
            });
            if Instant::now() >= deadline {
                return Err(TransportError::Kafka(format!(
                    "{name} could not be read to its end within two minutes"
                )));
            }
        }
        Ok(messages)
    }

    fn kafka_consumer(&self, topic: &str, group: &str) -> Result<KafkaConsumer> {
        let topic = self.config.topic_name(topic);
        let mut client = self.config.client_config();
        for (key, value) in &self.config.consumer_properties {
            client.set(key, value);
        }
        if self.lag.is_some() && client.get("statistics.interval.ms").is_none() {
            client.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        }
        let consumer: BaseConsumer<StatisticsContext> = client
            .set("group.id", format!("{}{group}", self.config.topic_prefix))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set(
                "fetch.message.max.bytes",
                (self.config.chunk_bytes + 64 * 1024).to_string(),
            )
            .create_with_context(StatisticsContext {
                lag: self.lag.clone(),
            })
            .map_err(kafka_error)?;
        consumer.subscribe(&[&topic]).map_err(kafka_error)?;
        Ok(KafkaConsumer {
            consumer,
            poll_timeout: Duration::from_millis(self.config.poll_timeout_ms),
            shutdown: Arc::clone(&self.shutdown),
            state: Reassembly {
                topic,
                partial: HashMap::new(),
                ready: VecDeque::new(),
                open: VecDeque::new(),
                owned: Vec::new(),
            },
        })
    }
}
