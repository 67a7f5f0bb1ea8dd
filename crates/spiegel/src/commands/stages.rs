//! `spiegel topics create`, `submit`, `ingest`, `pseudonymise`, `aggregate` and `publish`:
//! the pipeline's stages as separate processes over Kafka, each command's arguments beside
//! the call of its stage in [`crate::stages`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::stages::{self, KafkaArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Creates the topics that do not exist yet.
    Create {
        #[command(flatten)]
        kafka: KafkaArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// Submission files named <AGB>_<PERIOD>.(csv|jsonl|parquet).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Directory with stage1.key (the stage-1 key, K1).
    #[arg(long, env = "SPIEGEL_KEYS")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Where complete submission files arrive; handled ones move to done/ or rejected/.
    #[arg(long, env = "SPIEGEL_INBOX")]
    pub(crate) inbox: PathBuf,
    /// Directory with stage1.key (the stage-1 key, K1).
    #[arg(long, env = "SPIEGEL_KEYS")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PseudonymiseArgs {
    /// Directory with stage2.key (the stage-2 key, K2); nothing else needs to be there.
    #[arg(long, env = "SPIEGEL_KEYS")]
    pub(crate) keys: PathBuf,
    /// Stage-1 key versions whose client tokens are accepted, comma separated.
    #[arg(
        long,
        env = "SPIEGEL_ACCEPT_SOURCE_VERSIONS",
        value_delimiter = ',',
        default_value = "1"
    )]
    pub(crate) accept_source_versions: Vec<u32>,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AggregateArgs {
    /// TTP identifier of the pseudonyms to accept.
    #[arg(long, env = "SPIEGEL_TTP_ID", default_value = "spiegel")]
    pub(crate) ttp: String,
    /// Stage-2 key version of the pseudonyms to accept.
    #[arg(long, env = "SPIEGEL_KEY_VERSION", default_value_t = 1)]
    pub(crate) key_version: u32,
    /// Compute a release only after no submission changed the state for this long (ms),
    /// so a stream of submissions does not produce a release per submission.
    #[arg(long, env = "SPIEGEL_RELEASE_QUIET_MS", default_value_t = 1000)]
    pub(crate) release_quiet_ms: u64,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// Where the reports and manifest.json go: a directory, or s3://bucket/prefix (credentials,
    /// region and endpoint from the AWS_* environment variables).
    #[arg(long, env = "SPIEGEL_OUT")]
    pub(crate) out: spiegel_publish::ReportLocation,
    /// The sharing registry `spiegel serve` writes (its `<data-dir>/sharing.json`, on a
    /// volume both mount); default: this stage's own data directory.
    #[arg(long, env = "SPIEGEL_SHARING")]
    pub(crate) sharing: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
}

/// `spiegel topics create`.
pub(crate) fn topics(command: &TopicsCommand) -> anyhow::Result<ExitCode> {
    let TopicsCommand::Create { kafka } = command;
    stages::create_topics(kafka).map(|()| ExitCode::SUCCESS)
}

/// `spiegel submit`: exit code 1 when a file is rejected.
pub(crate) fn submit(args: &SubmitArgs) -> anyhow::Result<ExitCode> {
    stages::submit(&args.kafka, &args.keys, &args.files).map(|accepted| {
        if accepted {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}

/// `spiegel ingest`.
pub(crate) fn ingest(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    stages::ingest(&args.kafka, &args.keys, &args.inbox).map(|()| ExitCode::SUCCESS)
}

/// `spiegel pseudonymise`.
pub(crate) fn pseudonymise(args: &PseudonymiseArgs) -> anyhow::Result<ExitCode> {
    stages::pseudonymise(&args.kafka, &args.keys, &args.accept_source_versions)
        .map(|()| ExitCode::SUCCESS)
}

/// `spiegel aggregate`.
pub(crate) fn aggregate(args: &AggregateArgs) -> anyhow::Result<ExitCode> {
    stages::aggregate(
        &args.kafka,
        &args.ttp,
        args.key_version,
        std::time::Duration::from_millis(args.release_quiet_ms),
    )
    .map(|()| ExitCode::SUCCESS)
}

/// `spiegel publish`.
pub(crate) fn publish(args: &PublishArgs) -> anyhow::Result<ExitCode> {
    stages::publish(&args.kafka, &args.out, args.sharing.as_deref()).map(|()| ExitCode::SUCCESS)
}
