//! The two steps that take input, forward and apply, with the poison messages they send to the
//! dead-letter topic instead of stopping on them.

use spiegel_core::Reference;
use spiegel_transport::{DeadLetter, Fault, Message, PendingCommit, topic};

use super::{AggregateStage, Progress, STAGE};
use crate::compute::decode_submission;
use crate::{AggregateError, PseudonymLabel, Result, model};

impl AggregateStage {
    /// The forward step: copies the submissions of this instance's partitions, unchanged, to
    /// the changelog, committing the input in batches once the copies are sent. A poison
    /// message goes to the dead-letter topic instead.
    pub(super) fn forward_to_changelog(&mut self, progress: &mut Progress) -> Result<()> {
        let mut forwarded = PendingCommit::default();
        while let Some(message) = self.input.poll(1)?.into_iter().next() {
            match self.check(&message) {
                Ok(()) => {
                    self.producer
                        .send(topic::AGGREGATE_STATE, &message.key, &message.payload)?;
                    tracing::info!(
                        partition = message.partition,
                        "submission forwarded to the changelog"
                    );
                    progress.forwarded += 1;
                }
                Err(e) => self.dead_letter(topic::PSEUDONYMISED, &message, e, progress)?,
            }
            if forwarded.handled(&message) {
                forwarded.commit(self.input.as_mut())?;
            }
        }
        forwarded.commit(self.input.as_mut())?;
        Ok(())
    }

    /// Reads `message` as the apply step and a release will: a damaged message, one that is no
    /// Arrow batch, lacks what the pseudonymise stage stamps or fails the validation of its
    /// rows is refused. Its rows are validated under the K2 version it carries, not the one in
    /// force: one of a retired version is the apply step's to reject, during a rotation.
    fn check(&self, message: &Message) -> Result<()> {
        if let Some(damage) = &message.damaged {
            return Err(AggregateError::Malformed(damage.clone()));
        }
        let batch = spiegel_core::ipc::from_ipc(&message.payload)?;
        let entry = model::pseudonymisation(&batch)?;
        let label = PseudonymLabel {
            ttp: self.label.ttp.clone(),
            version: entry.key_version,
        };
        let reference = Reference::embedded();
        decode_submission(&batch, &label, reference, reference.regions())?;
        Ok(())
    }

    /// Sends the dead letter of `message`, read from `topic`, when `error` is the message's
    /// fault; returns `error` when it is the environment's.
    fn dead_letter(
        &mut self,
        topic: &str,
        message: &Message,
        error: AggregateError,
        progress: &mut Progress,
    ) -> Result<()> {
        if error.fault() == Fault::Environment {
            return Err(error);
        }
        DeadLetter::new(STAGE, topic, message, &error).send(self.producer.as_mut())?;
        progress.dead_letters += 1;
        Ok(())
    }

    /// The apply step: stores every submission of the changelog, committing the changelog
    /// offset in batches once stored. A poison message (forwarded before the forward step
    /// checked them) goes to the dead-letter topic.
    pub(super) fn apply_changelog(&mut self, progress: &mut Progress) -> Result<()> {
        let mut applied = PendingCommit::default();
        while let Some(message) = self.changelog.poll(1)?.into_iter().next() {
            if let Err(e) = self.apply(&message, progress) {
                self.dead_letter(topic::AGGREGATE_STATE, &message, e, progress)?;
            }
            if applied.handled(&message) {
                self.commit_applied(&mut applied)?;
            }
        }
        self.commit_applied(&mut applied)
    }

    /// Stores one message of the changelog if it is in force.
    fn apply(&mut self, message: &Message, progress: &mut Progress) -> Result<()> {
        if let Some(damage) = &message.damaged {
            return Err(AggregateError::Malformed(damage.clone()));
        }
        let batch = spiegel_core::ipc::from_ipc(&message.payload)?;
        let (provider, period, submission) = model::batch_identity(&batch)?;
        let _span = tracing::info_span!(
            "submission",
            provider = %provider,
            period = %period,
            submission
        )
        .entered();
        self.store_if_in_force(&batch, provider, period, &message.payload, progress)
    }
}
