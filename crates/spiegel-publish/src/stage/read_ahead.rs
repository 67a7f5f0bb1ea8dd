//! Reading the aggregates topic ahead of the message in hand, so that a release complete
//! behind it can supersede older releases not yet begun.

use std::collections::{BTreeSet, HashMap};

use spiegel_transport::{DeadLetter, Message, topic};

use super::{Progress, PublishStage};
use crate::{PublishError, Result};

/// The stage's name on the dead-letter topic.
pub const STAGE: &str = "publish";

/// Whether `message` says which part of which release it is; an error if not, which is the
/// message's fault.
pub(super) fn readable(message: &Message) -> Result<()> {
    if let Some(damage) = &message.damaged {
        return Err(PublishError::Malformed(damage.clone()));
    }
    let schema = spiegel_core::ipc::schema_of(&message.payload)?;
    PartOf::read(schema.metadata()).map(|_| ())
}

/// How many messages of the aggregates topic the stage reads beyond the one it handles: a
/// release complete among them supersedes the older releases not yet begun. Auditing a
/// release takes long beside computing one (a minute at 24,000 records, where the aggregate
/// stage needs a second), so without it a burst of corrections would be published one
/// outdated release after another. A few releases' worth of parts (one per period).
pub(super) const READ_AHEAD: usize = 16;

/// Where a message of the aggregates topic belongs: its part of which release.
pub(super) struct PartOf {
    pub(super) part: u64,
    pub(super) parts: u64,
    pub(super) watermark: u64,
    pub(super) computed: String,
}

impl PartOf {
    pub(super) fn read(meta: &arrow_schema::Metadata) -> Result<Self> {
        let number = |key: &str| {
            meta.get(key)
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| PublishError::Malformed(format!("no {key}")))
        };
        Ok(Self {
            part: number(spiegel_aggregate::META_PART)?,
            parts: number(spiegel_aggregate::META_PARTS)?,
            watermark: number(spiegel_aggregate::META_WATERMARK)?,
            computed: meta
                .get(spiegel_aggregate::META_RELEASE)
                .cloned()
                .ok_or_else(|| PublishError::Malformed("no release id".into()))?,
        })
    }
}

impl PublishStage {
    /// Sends the dead letter of `message`, which fails with `error`, and passes it:
    /// committed now if no release is in hand, else by the commit of that release.
    pub(super) fn dead_letter(
        &mut self,
        message: &Message,
        error: &PublishError,
        progress: &mut Progress,
    ) -> Result<()> {
        DeadLetter::new(STAGE, topic::AGGREGATES, message, error).send(self.producer.as_mut())?;
        progress.dead_letters += 1;
        if self.current.is_none() {
            self.consumer.commit(message)?;
        }
        Ok(())
    }

    /// The next message of the aggregates topic, after reading ahead what has arrived.
    pub(super) fn next_message(&mut self) -> Result<Option<Message>> {
        if self.consumer.stopping() {
            self.ahead.clear();
            return Ok(None);
        }
        if self.ahead.len() < READ_AHEAD {
            let more = self.consumer.poll(READ_AHEAD - self.ahead.len())?;
            self.ahead.extend(more.into_iter().map(|message| {
                let part = spiegel_core::ipc::schema_of(&message.payload)
                    .ok()
                    .and_then(|schema| PartOf::read(schema.metadata()).ok());
                (message, part)
            }));
        }
        Ok(self.ahead.pop_front().map(|(message, _)| message))
    }

    /// Whether the messages read ahead hold every part of a release newer than `watermark`.
    pub(super) fn complete_ahead_after(&self, watermark: u64) -> bool {
        let mut newer: HashMap<(u64, &str), (u64, BTreeSet<u64>)> = HashMap::new();
        for part in self.ahead.iter().filter_map(|(_, part)| part.as_ref()) {
            if part.watermark > watermark {
                let (parts, seen) = newer
                    .entry((part.watermark, part.computed.as_str()))
                    .or_insert_with(|| (part.parts, BTreeSet::new()));
                seen.insert(part.part);
                if seen.len() as u64 >= *parts {
                    return true;
                }
            }
        }
        false
    }
}
