//! Audit checkpoints on a Kafka topic (`spiegel.audit-checkpoints.v1`): the anchor of the API's
//! audit log where a holder of the API's disk cannot rewrite it (docs/serving.md). Each checkpoint
//! is a message keyed by the log's instance name, written in a transaction and read with
//! `read_committed`; `spiegel audit verify` reads the topic whole and keeps its own log's.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spiegel_audit::{AuditError, Checkpoint, CheckpointSink};
use spiegel_transport::kafka::{KafkaConfig, KafkaTransport};
use spiegel_transport::{Producer, Transport as _, topic};

/// The checkpoints of one log (one instance) on the cluster the configuration names.
pub(crate) struct KafkaCheckpoints {
    transport: KafkaTransport,
    /// The log's name: the message key.
    log: String,
    describe: String,
    /// Made on the first checkpoint: starting a transactional producer costs a round trip.
    producer: Mutex<Option<Box<dyn Producer>>>,
}

impl std::fmt::Debug for KafkaCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl KafkaCheckpoints {
    /// On the cluster of the configuration (`SPIEGEL_CONFIG`, `SPIEGEL__KAFKA__*`,
    /// `SPIEGEL_KAFKA_BROKERS`, `SPIEGEL_KAFKA_TOPIC_PREFIX`), for the log of instance
    /// `SPIEGEL_KAFKA_INSTANCE` (default the host name).
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let path = std::env::var_os("SPIEGEL_CONFIG").map(std::path::PathBuf::from);
        let mut config = crate::config::PipelineConfig::load(path.as_deref())?.kafka;
        if let Ok(brokers) = std::env::var("SPIEGEL_KAFKA_BROKERS") {
            config.brokers = brokers;
        }
        if let Ok(prefix) = std::env::var("SPIEGEL_KAFKA_TOPIC_PREFIX") {
            config.topic_prefix = prefix;
        }
        if let Ok(instance) = std::env::var("SPIEGEL_KAFKA_INSTANCE") {
            config.instance = Some(instance);
        }
        Ok(Self::new(config))
    }

    pub(crate) fn new(config: KafkaConfig) -> Self {
        let log = config.instance();
        let describe = format!(
            "Kafka topic {} (key {log})",
            config.topic_name(topic::AUDIT_CHECKPOINTS)
        );
        // Nothing here consumes for long, so nothing has to stop on a signal.
        let transport = KafkaTransport::new(config, "audit", Arc::new(AtomicBool::new(false)));
        Self {
            transport,
            log,
            describe,
            producer: Mutex::new(None),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> AuditError {
    AuditError::Checkpoint(e.to_string())
}

impl CheckpointSink for KafkaCheckpoints {
    fn put(&self, checkpoint: &Checkpoint) -> spiegel_audit::Result<()> {
        let mut producer = self
            .producer
            .lock()
            .map_err(|_| failed("an earlier checkpoint panicked"))?;
        if producer.is_none() {
            *producer = Some(self.transport.producer().map_err(failed)?);
        }
        let sent = match producer.as_mut() {
            Some(producer) => {
                producer.send(topic::AUDIT_CHECKPOINTS, &self.log, &checkpoint.to_bytes())
            }
            None => return Err(failed("no producer")),
        };
        if let Err(e) = sent {
            // A producer that failed is fenced or broken: the next checkpoint makes a new one.
            *producer = None;
            return Err(failed(e));
        }
        Ok(())
    }

    fn all(&self) -> spiegel_audit::Result<Vec<Checkpoint>> {
        let messages = self
            .transport
            .read_whole(topic::AUDIT_CHECKPOINTS, Duration::from_secs(5))
            .map_err(failed)?;
        messages
            .into_iter()
            .filter(|m| m.key == self.log)
            .map(|m| {
                Checkpoint::from_bytes(&m.payload).ok_or_else(|| {
                    failed(format!(
                        "{}: offset {} is not a checkpoint",
                        self.describe, m.offset
                    ))
                })
            })
            .collect()
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
