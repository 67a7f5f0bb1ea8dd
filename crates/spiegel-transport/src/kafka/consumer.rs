//! Reading committed chunks back into whole messages, and committing what is durable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{
    HEADER_CHUNK, HEADER_DIGEST, HEADER_FRAME, HEADER_LENGTH, StatisticsContext, kafka_error,
};
use crate::{Consumer, Message, Result};

/// A message whose chunks are still arriving.
pub(super) struct Partial {
    pub(super) first_offset: i64,
    pub(super) key: String,
    pub(super) count: usize,
    pub(super) length: usize,
    pub(super) digest: String,
    pub(super) data: Vec<u8>,
    pub(super) next: usize,
}

/// A message that was read and not yet committed: its partition, first and last offset.
#[derive(Debug, Clone, Copy)]
pub(super) struct Open {
    pub(super) partition: i32,
    pub(super) first: i64,
    pub(super) last: i64,
}

pub(super) struct KafkaConsumer {
    pub(super) consumer: BaseConsumer<StatisticsContext>,
    pub(super) poll_timeout: Duration,
    pub(super) shutdown: Arc<AtomicBool>,
    pub(super) state: Reassembly,
}

/// What a consumer has read and not yet committed.
pub(super) struct Reassembly {
    pub(super) topic: String,
    /// Frames being reassembled, by partition and frame id.
    pub(super) partial: HashMap<(i32, String), Partial>,
    /// Reassembled messages not yet handed out.
    pub(super) ready: VecDeque<Message>,
    /// Messages handed out and not yet committed, in the order they were handed out.
    pub(super) open: VecDeque<Open>,
    /// The partitions assigned at the last look.
    pub(super) owned: Vec<i32>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("topic", &self.state.topic)
            .finish_non_exhaustive()
    }
}

/// One Kafka record as the reassembly sees it.
pub(super) struct Record<'a> {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<&'a [u8]>,
    pub(super) payload: &'a [u8],
    /// Its frame headers, by name.
    pub(super) headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Record<'a> {
    pub(super) fn of(message: &'a rdkafka::message::BorrowedMessage<'_>) -> Self {
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

    pub(super) fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

/// The frame headers of one record: its frame id, chunk index and count, message length and
/// digest; or why they cannot be read.
type FrameHeaders = std::result::Result<(String, usize, usize, usize, String), &'static str>;

impl Reassembly {
    /// Hands out, as [`Message::damaged`], the message that spans `first..=last` of
    /// `partition` and cannot be reassembled: the stage sends it to the dead-letter topic and
    /// commits past it, where an error would stop it on the same record after every restart.
    fn damaged(&mut self, partition: i32, first: i64, last: i64, key: String, reason: &str) {
        tracing::debug!(topic = %self.topic, partition, offset = last, reason, "a damaged message");
        self.open.push_back(Open {
            partition,
            first,
            last,
        });
        self.ready.push_back(Message {
            partition: u32::try_from(partition).unwrap_or_default(),
            offset: u64::try_from(last).unwrap_or_default(),
            key,
            payload: Vec::new(),
            damaged: Some(format!("damaged Kafka frame: {reason}")),
        });
    }

    fn headers(record: &Record<'_>) -> FrameHeaders {
        let frame = record
            .header(HEADER_FRAME)
            .ok_or("a record without a frame header")?
            .to_owned();
        let (index, count) = record
            .header(HEADER_CHUNK)
            .and_then(|c| c.split_once('/'))
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .ok_or("a chunk header that is not i/n")?;
        let length = record
            .header(HEADER_LENGTH)
            .and_then(|l| l.parse::<usize>().ok())
            .ok_or("no message length")?;
        let digest = record
            .header(HEADER_DIGEST)
            .ok_or("no message digest")?
            .to_owned();
        Ok((frame, index, count, length, digest))
    }

    /// Adds one record; a message whose last chunk this was moves to `ready`, as does one
    /// found damaged (with [`Message::damaged`] set).
    pub(super) fn take(&mut self, record: &Record<'_>) -> Result<()> {
        let (partition, offset) = (record.partition, record.offset);
        let key = record
            .key
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let (frame, index, count, length, digest) = match Self::headers(record) {
            Ok(headers) => headers,
            Err(reason) => {
                self.damaged(partition, offset, offset, key, reason);
                return Ok(());
            }
        };
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
            let (first, key) = (partial.first_offset, std::mem::take(&mut partial.key));
            self.partial.remove(&slot);
            self.damaged(partition, first, offset, key, "chunks out of order");
            return Ok(());
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
            self.damaged(
                partition,
                done.first_offset,
                offset,
                done.key,
                "message length or digest mismatch",
            );
            return Ok(());
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
            damaged: None,
        });
        Ok(())
    }

    /// Marks `message` and every message handed out before it as done; returns, per partition
    /// involved, the offset to resume from: the first record still needed (the first chunk of
    /// a message handed out later or still being reassembled), else the record after the
    /// message. None if `message` is not one handed out and still open.
    pub(super) fn done(&mut self, message: &Message) -> Option<BTreeMap<i32, i64>> {
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
    pub(super) fn forget_revoked(
        &mut self,
        consumer: &BaseConsumer<StatisticsContext>,
    ) -> Result<()> {
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
