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
//! the frame, checks length and digest, and only then hands the message to the stage.
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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::{Consumer, Message, Producer, Result, Transport, TransportError, topic};

const HEADER_FRAME: &str = "spiegel-frame";
const HEADER_CHUNK: &str = "spiegel-chunk";
const HEADER_LENGTH: &str = "spiegel-length";
const HEADER_DIGEST: &str = "spiegel-digest";

/// How the stages reach Kafka.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// Put before every topic name, to run several environments on one cluster.
    pub topic_prefix: String,
    /// This process's stable name among the instances of its stage (for example the pod name
    /// of a StatefulSet); part of its transactional id, so a restarted instance fences its dead
    /// predecessor and aborts what that one left open. Default: the host name.
    pub instance: Option<String>,
    /// Partition counts of the topics `spiegel topics create` makes.
    pub partitions: Partitions,
    /// Replication factor of the topics `spiegel topics create` makes; -1 is the broker's
    /// `default.replication.factor`.
    pub replication_factor: i32,
    /// Largest chunk of a message in one Kafka record; below the broker's `message.max.bytes`.
    pub chunk_bytes: usize,
    /// How long a consumer waits for a message before it reports the topic idle. A stage
    /// whose input is idle moves on (the aggregate stage from its input to its changelog and
    /// its release), so a message can wait this long at every step of the chain: 100 ms keeps
    /// a correction's way through the stages short for ten wake-ups a second when idle.
    pub poll_timeout_ms: u64,
    /// Longest a producer's transaction may stay open before the broker aborts it.
    pub transaction_timeout_ms: u64,
    /// After SIGTERM, how long a stage may take to finish and commit the work in hand; past
    /// it, the process exits with code 1 without committing (the work is redelivered).
    /// Kubernetes' `terminationGracePeriodSeconds` must be longer.
    pub drain_timeout_ms: u64,
    /// Further librdkafka settings for every client, for example `security.protocol`,
    /// `ssl.ca.location` or `sasl.mechanism`. Secrets such as `sasl.password` belong in the
    /// environment (`SPIEGEL_KAFKA_SASL_PASSWORD`), not in a file.
    pub properties: BTreeMap<String, String>,
    /// Further librdkafka settings for consumers only, for example `session.timeout.ms`
    /// (librdkafka warns about a consumer setting given to a producer).
    pub consumer_properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            topic_prefix: String::new(),
            instance: None,
            partitions: Partitions::default(),
            replication_factor: -1,
            chunk_bytes: 512 * 1024,
            poll_timeout_ms: 100,
            transaction_timeout_ms: 60_000,
            drain_timeout_ms: 60_000,
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
        }
    }
}

/// Partition counts per topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Partitions {
    /// [`topic::SUBMISSIONS`]: the pseudonymise stage scales out over these.
    pub submissions: i32,
    /// [`topic::PSEUDONYMISED`].
    pub pseudonymised: i32,
}

impl Default for Partitions {
    fn default() -> Self {
        Self {
            submissions: 6,
            pseudonymised: 6,
        }
    }
}

impl KafkaConfig {
    /// The topic's name on the cluster.
    pub fn topic_name(&self, topic: &str) -> String {
        format!("{}{topic}", self.topic_prefix)
    }

    /// This process's instance name: [`KafkaConfig::instance`] or the host name.
    pub fn instance(&self) -> String {
        self.instance.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "spiegel".to_owned())
        })
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        if let Ok(password) = std::env::var("SPIEGEL_KAFKA_SASL_PASSWORD") {
            config.set("sasl.password", password);
        }
        config
    }

    /// Creates the pipeline's topics that do not exist yet, with a feed topic for each of
    /// `municipalities`; returns the names created and the names that existed already.
    pub fn create_topics(&self, municipalities: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().map_err(kafka_error)?;
        let names: Vec<(String, i32, &str)> = vec![
            (
                self.topic_name(topic::SUBMISSIONS),
                self.partitions.submissions,
                // Kept until deleted by the operator: replaying them rebuilds every later stage.
                "-1",
            ),
            (
                self.topic_name(topic::PSEUDONYMISED),
                self.partitions.pseudonymised,
                "-1",
            ),
            // One partition: every aggregate instance reads all of it, in one order.
            (self.topic_name(topic::AGGREGATE_STATE), 1, "-1"),
            // One partition: releases are totally ordered, the publish stage must see them in
            // the order they were computed.
            (self.topic_name(topic::AGGREGATES), 1, "604800000"),
            // Answered within seconds; a week covers a stage that was down for long.
            (self.topic_name(topic::AGGREGATE_REQUESTS), 1, "604800000"),
            // Events are small and subscribers may start late: kept until deleted.
            (self.topic_name(topic::RELEASES), 1, "-1"),
            // The anchors of the API's audit log: never deleted (ACLs should let the API
            // write to it, not delete from it).
            (self.topic_name(topic::AUDIT_CHECKPOINTS), 1, "-1"),
        ]
        .into_iter()
        .chain(
            municipalities
                .iter()
                .map(|m| (self.topic_name(&topic::feed(m)), 1, "-1")),
        )
        .collect();
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|(name, partitions, retention)| {
                NewTopic::new(
                    name,
                    *partitions,
                    TopicReplication::Fixed(self.replication_factor),
                )
                .set("cleanup.policy", "delete")
                .set("retention.ms", retention)
                .set("max.message.bytes", "1048576")
            })
            .collect();
        let results =
            futures_executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
                .map_err(kafka_error)?;
        let (mut created, mut existing) = (Vec::new(), Vec::new());
        for result in results {
            match result {
                Ok(name) => created.push(name),
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(name),
                Err((name, code)) => {
                    return Err(TransportError::Kafka(format!(
                        "creating topic {name}: {code}"
                    )));
                }
            }
        }
        Ok((created, existing))
    }
}

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

struct KafkaProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
    config: KafkaConfig,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer").finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// Waits until the broker has acknowledged every record sent. `commit_transaction` flushes
    /// too, but between its flush attempts it polls an event queue that the threaded
    /// producer's own thread drains, so each commit would sleep 100 ms for nothing.
    fn await_delivery(&self) {
        let deadline = Instant::now() + self.timeout;
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn send_chunks(&self, topic: &str, key: &str, payload: &[u8]) -> Result<()> {
        let mut frame = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut frame)
            .map_err(|_| TransportError::Kafka("no randomness for a frame id".into()))?;
        let frame = hex::encode(frame);
        let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
        let length = payload.len().to_string();
        let chunk_bytes = self.config.chunk_bytes.max(1);
        let count = payload.len().div_ceil(chunk_bytes).max(1);
        for index in 0..count {
            let part = &payload[(index * chunk_bytes).min(payload.len())
                ..((index + 1) * chunk_bytes).min(payload.len())];
            let position = format!("{index}/{count}");
            let headers = OwnedHeaders::new_with_capacity(4)
                .insert(Header {
                    key: HEADER_FRAME,
                    value: Some(frame.as_bytes()),
                })
                .insert(Header {
                    key: HEADER_CHUNK,
                    value: Some(position.as_bytes()),
                })
                .insert(Header {
                    key: HEADER_LENGTH,
                    value: Some(length.as_bytes()),
                })
                .insert(Header {
                    key: HEADER_DIGEST,
                    value: Some(digest.as_bytes()),
                });
            let mut record = BaseRecord::to(topic)
                .key(key)
                .payload(part)
                .headers(headers);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue drains as the broker acknowledges; wait for room.
                        record = back;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err((error, _)) => return Err(kafka_error(error)),
                }
            }
        }
        Ok(())
    }
}

impl KafkaProducer {
    /// Sends `messages` in one transaction.
    fn transaction(&mut self, messages: &[(&str, &str, &[u8])]) -> Result<()> {
        self.producer.begin_transaction().map_err(kafka_error)?;
        let sent = messages
            .iter()
            .try_for_each(|(topic, key, payload)| {
                self.send_chunks(&self.config.topic_name(topic), key, payload)
            })
            .and_then(|()| {
                self.await_delivery();
                self.producer
                    .commit_transaction(self.timeout)
                    .map_err(kafka_error)
            });
        if let Err(error) = sent {
            // Whatever reached the broker stays invisible to read_committed consumers.
            if let Err(abort) = self.producer.abort_transaction(self.timeout) {
                tracing::warn!(error = %abort, "aborting a failed Kafka transaction failed too");
            }
            return Err(error);
        }
        Ok(())
    }
}

impl Producer for KafkaProducer {
    fn send(&mut self, topic: &str, key: &str, payload: &[u8]) -> Result<()> {
        self.transaction(&[(topic, key, payload)])
    }

    fn send_all(&mut self, messages: &[(String, String, Vec<u8>)]) -> Result<()> {
        let borrowed: Vec<(&str, &str, &[u8])> = messages
            .iter()
            .map(|(t, k, p)| (t.as_str(), k.as_str(), p.as_slice()))
            .collect();
        self.transaction(&borrowed)
    }
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        if let Err(error) = self.producer.flush(self.timeout) {
            tracing::warn!(error = %error, "flushing the Kafka producer on shutdown");
        }
    }
}

/// A message whose chunks are still arriving.
struct Partial {
    first_offset: i64,
    key: String,
    count: usize,
    length: usize,
    digest: String,
    data: Vec<u8>,
    next: usize,
}

/// A message that was read and not yet committed: its partition, first and last offset.
#[derive(Debug, Clone, Copy)]
struct Open {
    partition: i32,
    first: i64,
    last: i64,
}

struct KafkaConsumer {
    consumer: BaseConsumer<StatisticsContext>,
    poll_timeout: Duration,
    shutdown: Arc<AtomicBool>,
    state: Reassembly,
}

/// What a consumer has read and not yet committed.
struct Reassembly {
    topic: String,
    /// Frames being reassembled, by partition and frame id.
    partial: HashMap<(i32, String), Partial>,
    /// Reassembled messages not yet handed out.
    ready: VecDeque<Message>,
    /// Messages handed out and not yet committed, in the order they were handed out.
    open: VecDeque<Open>,
    /// The partitions assigned at the last look.
    owned: Vec<i32>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("topic", &self.state.topic)
            .finish_non_exhaustive()
    }
}

/// One Kafka record as the reassembly sees it.
struct Record<'a> {
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
    /// Its frame headers, by name.
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Record<'a> {
    fn of(message: &'a rdkafka::message::BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .filter_map(|h| Some((h.key, std::str::from_utf8(h.value?).ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload().unwrap_or_default(),
            headers,
        }
    }

    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

impl Reassembly {
    fn corrupt(&self, partition: i32, offset: i64, reason: &str) -> TransportError {
        TransportError::Corrupt {
            path: format!("{}/{partition}@{offset}", self.topic).into(),
            reason: reason.to_owned(),
        }
    }

    /// Adds one record; a message whose last chunk this was moves to `ready`.
    fn take(&mut self, record: &Record<'_>) -> Result<()> {
        let (partition, offset) = (record.partition, record.offset);
        let frame = record
            .header(HEADER_FRAME)
            .ok_or_else(|| self.corrupt(partition, offset, "a record without a frame header"))?
            .to_owned();
        let (index, count) = record
            .header(HEADER_CHUNK)
            .and_then(|c| c.split_once('/'))
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .ok_or_else(|| self.corrupt(partition, offset, "a chunk header that is not i/n"))?;
        let length = record
            .header(HEADER_LENGTH)
            .and_then(|l| l.parse::<usize>().ok())
            .ok_or_else(|| self.corrupt(partition, offset, "no message length"))?;
        let digest = record
            .header(HEADER_DIGEST)
            .ok_or_else(|| self.corrupt(partition, offset, "no message digest"))?
            .to_owned();
        let key = record
            .key
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let slot = (partition, frame);
        if index == 0 {
            self.partial.insert(
                slot.clone(),
                Partial {
                    first_offset: offset,
                    key,
                    count,
                    length,
                    digest,
                    data: Vec::with_capacity(length),
                    next: 0,
                },
            );
        }
        let Some(partial) = self.partial.get_mut(&slot) else {
            // The frame began before this consumer's position: only possible for a message
            // that was already committed, whose tail is read again after a rebalance.
            return Ok(());
        };
        if index != partial.next || count != partial.count {
            return Err(self.corrupt(partition, offset, "chunks out of order"));
        }
        partial.data.extend_from_slice(record.payload);
        partial.next += 1;
        if partial.next < partial.count {
            return Ok(());
        }
        let Some(done) = self.partial.remove(&slot) else {
            return Ok(());
        };
        let actual = hex::encode(ring::digest::digest(&ring::digest::SHA256, &done.data));
        if done.data.len() != done.length || actual != done.digest {
            return Err(self.corrupt(partition, offset, "message length or digest mismatch"));
        }
        self.open.push_back(Open {
            partition,
            first: done.first_offset,
            last: offset,
        });
        self.ready.push_back(Message {
            partition: u32::try_from(partition).unwrap_or_default(),
            offset: u64::try_from(offset).unwrap_or_default(),
            key: done.key,
            payload: done.data,
        });
        Ok(())
    }

    /// Marks `message` and every message handed out before it as done; returns, per partition
    /// involved, the offset to resume from: the first record still needed (the first chunk of
    /// a message handed out later or still being reassembled), else the record after the
    /// message. None if `message` is not one handed out and still open.
    fn done(&mut self, message: &Message) -> Option<BTreeMap<i32, i64>> {
        let partition = i32::try_from(message.partition).ok()?;
        let last = i64::try_from(message.offset).ok()?;
        let position = self
            .open
            .iter()
            .position(|o| o.partition == partition && o.last == last)?;
        let mut resume: BTreeMap<i32, i64> = BTreeMap::new();
        for o in self.open.drain(..=position) {
            let entry = resume.entry(o.partition).or_insert(o.last + 1);
            *entry = (*entry).max(o.last + 1);
        }
        for (p, offset) in &mut resume {
            let still_needed = self
                .open
                .iter()
                .filter(|o| o.partition == *p)
                .map(|o| o.first)
                .chain(
                    self.partial
                        .iter()
                        .filter(|((q, _), _)| q == p)
                        .map(|(_, partial)| partial.first_offset),
                )
                .min();
            if let Some(first) = still_needed {
                *offset = (*offset).min(first);
            }
        }
        Some(resume)
    }

    /// Forgets what was read from partitions this consumer no longer owns: their new owner
    /// reads them from the last committed offset.
    fn forget_revoked(&mut self, consumer: &BaseConsumer<StatisticsContext>) -> Result<()> {
        let assignment = consumer.assignment().map_err(kafka_error)?;
        let mut owned: Vec<i32> = assignment
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        owned.sort_unstable();
        if owned != self.owned {
            tracing::info!(topic = %self.topic, partitions = ?owned, "partitions assigned");
            self.owned.clone_from(&owned);
        }
        self.partial.retain(|(p, _), _| owned.contains(p));
        self.ready
            .retain(|m| owned.contains(&i32::try_from(m.partition).unwrap_or(-1)));
        self.open.retain(|o| owned.contains(&o.partition));
        Ok(())
    }
}

impl Consumer for KafkaConsumer {
    fn poll(&mut self, max: usize) -> Result<Vec<Message>> {
        let deadline = Instant::now() + self.poll_timeout;
        let state = &mut self.state;
        while state.ready.len() < max.max(1) && !self.shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            // Once something is ready, only take what has already arrived.
            let wait = if state.ready.is_empty() {
                deadline
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(100))
            } else {
                Duration::ZERO
            };
            state.forget_revoked(&self.consumer)?;
            match self.consumer.poll(wait) {
                Some(Ok(record)) => state.take(&Record::of(&record))?,
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(error)) => return Err(kafka_error(error)),
                None if !state.ready.is_empty() || Instant::now() >= deadline => break,
                None => {}
            }
        }
        // After the shutdown flag nothing more is handed out, not even what was already
        // fetched and reassembled: it is not committed, so the group's next owner gets it.
        if self.shutdown.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let n = state.ready.len().min(max);
        Ok(state.ready.drain(..n).collect())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    fn commit(&mut self, message: &Message) -> Result<()> {
        let state = &mut self.state;
        let Some(resume) = state.done(message) else {
            // Its partition was revoked since: the new owner handles it again.
            tracing::debug!(topic = %state.topic, partition = message.partition, "commit for a partition no longer owned");
            return Ok(());
        };
        let mut list = TopicPartitionList::new();
        for (p, offset) in resume {
            list.add_partition_offset(&state.topic, p, Offset::Offset(offset))
                .map_err(kafka_error)?;
        }
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => Ok(()),
            Err(KafkaError::ConsumerCommit(
                code @ (RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId),
            )) => {
                // The group moved on: whoever owns the partition now reads the message again,
                // which the stages' idempotence makes harmless.
                tracing::warn!(topic = %state.topic, error = %code, "commit refused after a rebalance");
                Ok(())
            }
            Err(error) => Err(kafka_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn reassembly() -> Reassembly {
        Reassembly {
            topic: "t".to_owned(),
            partial: HashMap::new(),
            ready: VecDeque::new(),
            open: VecDeque::new(),
            owned: Vec::new(),
        }
    }

    /// The records `send` would write for `payload` in chunks of `chunk` bytes, from `offset`.
    fn chunks(frame: &str, payload: &[u8], chunk: usize) -> Vec<(String, Vec<u8>)> {
        let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
        let count = payload.len().div_ceil(chunk).max(1);
        (0..count)
            .map(|i| {
                let headers = format!("{frame}|{i}/{count}|{}|{digest}", payload.len());
                let part = payload
                    [(i * chunk).min(payload.len())..((i + 1) * chunk).min(payload.len())]
                    .to_vec();
                (headers, part)
            })
            .collect()
    }

    fn take(r: &mut Reassembly, offset: i64, (headers, payload): &(String, Vec<u8>)) -> Result<()> {
        let values: Vec<&str> = headers.split('|').collect();
        r.take(&Record {
            partition: 0,
            offset,
            key: Some(b"k"),
            payload,
            headers: vec![
                (HEADER_FRAME, values[0]),
                (HEADER_CHUNK, values[1]),
                (HEADER_LENGTH, values[2]),
                (HEADER_DIGEST, values[3]),
            ],
        })
    }

    #[test]
    fn interleaved_transactions_are_reassembled_and_never_committed_past() {
        let mut r = reassembly();
        let a = chunks("a", b"first message", 7);
        let b = chunks("b", b"second message!", 8);
        // Two producers' transactions interleave on one partition: a0 b0 a1 b1.
        take(&mut r, 10, &a[0]).unwrap();
        take(&mut r, 11, &b[0]).unwrap();
        take(&mut r, 12, &a[1]).unwrap();
        take(&mut r, 13, &b[1]).unwrap();
        let ready: Vec<Message> = r.ready.drain(..).collect();
        assert_eq!(ready[0].payload, b"first message");
        assert_eq!(ready[0].offset, 12);
        assert_eq!(ready[1].payload, b"second message!");
        // Done with the first: the second's first chunk (11) is still needed.
        assert_eq!(r.done(&ready[0]), Some(BTreeMap::from([(0, 11)])));
        assert_eq!(r.done(&ready[1]), Some(BTreeMap::from([(0, 14)])));
        // Committing twice, or something never handed out, does nothing.
        assert_eq!(r.done(&ready[1]), None);
    }

    #[test]
    fn a_message_still_arriving_holds_the_commit_back_to_its_first_chunk() {
        let mut r = reassembly();
        let slow = chunks("slow", b"0123456789", 4);
        let fast = chunks("fast", b"xy", 4);
        take(&mut r, 20, &slow[0]).unwrap();
        take(&mut r, 21, &fast[0]).unwrap();
        let fast = r.ready.pop_front().unwrap();
        assert_eq!(fast.payload, b"xy");
        assert_eq!(r.done(&fast), Some(BTreeMap::from([(0, 20)])));
        take(&mut r, 22, &slow[1]).unwrap();
        take(&mut r, 23, &slow[2]).unwrap();
        let slow = r.ready.pop_front().unwrap();
        assert_eq!(slow.payload, b"0123456789");
        assert_eq!(r.done(&slow), Some(BTreeMap::from([(0, 24)])));
    }

    #[test]
    fn a_damaged_message_is_refused_not_handed_out() {
        let mut r = reassembly();
        let mut records = chunks("f", b"payload", 4);
        records[1].1[0] ^= 1;
        take(&mut r, 0, &records[0]).unwrap();
        let error = take(&mut r, 1, &records[1]).unwrap_err();
        assert!(error.to_string().contains("digest"), "{error}");
        assert!(r.ready.is_empty());
        // Chunks out of order are refused too.
        let mut r = reassembly();
        let records = chunks("g", b"payload", 2);
        take(&mut r, 0, &records[0]).unwrap();
        assert!(take(&mut r, 1, &records[2]).is_err());
    }

    #[test]
    fn the_tail_of_a_frame_begun_before_the_position_is_ignored() {
        let mut r = reassembly();
        let records = chunks("h", b"abcdef", 3);
        take(&mut r, 5, &records[1]).unwrap();
        assert!(r.ready.is_empty() && r.partial.is_empty());
    }
}
