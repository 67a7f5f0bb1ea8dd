//! Sending a message as the chunks of one transaction.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};

use super::{HEADER_CHUNK, HEADER_DIGEST, HEADER_FRAME, HEADER_LENGTH, KafkaConfig, kafka_error};
use crate::{Producer, Result, TransportError};

pub(super) struct KafkaProducer {
    pub(super) producer: ThreadedProducer<DefaultProducerContext>,
    pub(super) config: KafkaConfig,
    pub(super) timeout: Duration,
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
    pub(super) fn await_delivery(&self) {
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
    pub(super) fn transaction(&mut self, messages: &[(&str, &str, &[u8])]) -> Result<()> {
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
