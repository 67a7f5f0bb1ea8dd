//! `spiegel dead-letter list`: the poison messages the stages went on past, for an operator.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use spiegel_transport::{DeadLetter, EmbeddedTransport, Message, Transport, topic};

#[derive(Debug, Subcommand)]
pub(crate) enum DeadLetterCommand {
    /// Lists every dead letter: where the message was (topic, partition, offset), the stage
    /// that gave up on it, why, and when. Never the message itself.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The data directory of `spiegel run` or `spiegel serve`, whose embedded topics are read.
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// One JSON array of the dead letters instead of a line each.
    #[arg(long)]
    json: bool,
    /// Read the dead-letter topic on Kafka (the configuration's `kafka` section and the
    /// flags below) instead of a data directory.
    #[cfg(feature = "kafka")]
    #[arg(long)]
    kafka: bool,
    /// Configuration file with a kafka section: TOML when its name ends in .toml, else JSON.
    #[cfg(feature = "kafka")]
    #[arg(long, env = "SPIEGEL_CONFIG")]
    config: Option<PathBuf>,
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    overrides: crate::stages::KafkaOverrides,
}

/// Runs `spiegel dead-letter list`.
pub(crate) fn run(command: &DeadLetterCommand) -> anyhow::Result<ExitCode> {
    let DeadLetterCommand::List(args) = command;
    let messages = read(args)?;
    let mut letters = Vec::with_capacity(messages.len());
    for message in &messages {
        match DeadLetter::from_message(message) {
            Ok(letter) => letters.push(letter),
            // One unreadable entry must not hide the others.
            Err(e) => eprintln!("skipped: {e}"),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&letters)?);
        return Ok(ExitCode::SUCCESS);
    }
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in &letters {
        println!("{}", line(letter));
    }
    Ok(ExitCode::SUCCESS)
}

/// One dead letter as a line for people: when, which stage, where, why.
fn line(letter: &DeadLetter) -> String {
    let at = i64::try_from(letter.at_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || letter.at_ms.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    format!(
        "{at}  {}  {} partition {} offset {}  {}",
        letter.stage, letter.topic, letter.partition, letter.offset, letter.reason
    )
}

/// Every message on the dead-letter topic, read without committing anything.
fn read(args: &ListArgs) -> anyhow::Result<Vec<Message>> {
    #[cfg(feature = "kafka")]
    if args.kafka {
        let mut config = crate::config::PipelineConfig::load(args.config.as_deref())?.kafka;
        args.overrides.apply(&mut config);
        let name = config.topic_name(topic::DEAD_LETTER);
        // Nothing here consumes for long, so nothing has to stop on a signal.
        let transport = spiegel_transport::kafka::KafkaTransport::new(
            config,
            "dead-letter-list",
            std::sync::Arc::default(),
        );
        return anyhow::Context::with_context(
            transport.read_whole(topic::DEAD_LETTER, std::time::Duration::from_secs(5)),
            || format!("reading Kafka topic {name}"),
        );
    }
    let root = args.data_dir.join("transport");
    crate::inputs::readable_dir(&args.data_dir, "--data-dir")?;
    if !root.join("topics").join(topic::DEAD_LETTER).is_dir() {
        return Ok(Vec::new());
    }
    let transport = EmbeddedTransport::open(&root)?;
    // A group that never commits: every listing starts at the beginning.
    let mut consumer = transport.consumer(topic::DEAD_LETTER, "spiegel-dead-letter-list")?;
    let mut messages = Vec::new();
    loop {
        let batch = consumer.poll(1024)?;
        if batch.is_empty() {
            return Ok(messages);
        }
        messages.extend(batch);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_line_says_when_which_stage_where_and_why() {
        let letter = DeadLetter {
            topic: topic::PSEUDONYMISED.into(),
            partition: 2,
            offset: 17,
            stage: "aggregate".into(),
            reason: "not a pseudonymised submission: no spiegel.provider".into(),
            at_ms: 1_767_225_600_000,
        };
        assert_eq!(
            line(&letter),
            "2026-01-01T00:00:00Z  aggregate  spiegel.pseudonymised.v1 partition 2 offset 17  \
             not a pseudonymised submission: no spiegel.provider"
        );
    }
}
