//! Where the cluster is and how the topics are made.

use std::collections::BTreeMap;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;

use super::kafka_error;
use crate::{Result, TransportError, topic};

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

    pub(super) fn client_config(&self) -> ClientConfig {
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
            // Small, and the operator's only record of what was skipped: kept until deleted.
            (self.topic_name(topic::DEAD_LETTER), 1, "-1"),
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
