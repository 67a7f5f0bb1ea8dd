//! The command line: the global options and one subcommand per command, each command's
//! arguments owned by its module under [`crate::commands`].

use clap::{Parser, Subcommand};

use crate::commands;

/// Spiegel: providers deliver youth-care outcome data once; municipalities and providers get
/// aggregated, non-benchmarking mirror reports.
#[derive(Debug, Parser)]
#[command(name = "spiegel", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `spiegel_ingest=debug`.
    #[arg(long, env = "SPIEGEL_LOG", default_value = "warn", global = true)]
    pub(crate) log: String,
    /// `json` (one object per line, for a log collector; what the Kubernetes manifests set)
    /// or `text` (for people).
    #[arg(
        long,
        env = "SPIEGEL_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Writes realistic synthetic submissions, one file per provider and period.
    Generate(commands::generate::GenerateArgs),
    /// Checks submission files exactly as Spiegel will, and prints the receipt. Every file in
    /// a directory gets one, a misnamed file too (rejected, FILE_NAME_INVALID). Exit code 0:
    /// every file accepted; 1: a file rejected; 2: usage error (a file named on the command
    /// line whose name does not say what it is, without --provider, --period and --format).
    Validate(commands::validate::ValidateArgs),
    /// Stage 1 at the provider: replaces each BSN by a client token made with the source key
    /// (K1) and drops the postcode, so no BSN leaves the provider.
    Prepare(commands::prepare::PrepareArgs),
    /// Runs the whole pipeline in one process (ingest, pseudonymise, aggregate, publish) on
    /// a directory of submissions and writes the reports and their manifest to OUT. Only what
    /// changed since the last run is redone; a killed run resumes. Every file in the input
    /// that is not accepted, a misnamed one too, is counted as rejected and its receipt
    /// printed to stderr. Exit code 0: no file rejected; 1: the run completed and a file was
    /// rejected (the rest is applied and published); 2: the run failed.
    Run(commands::run::RunArgs),
    /// Generates a realistic data set, runs the pipeline on it, renders the pages and
    /// summarises the reports.
    Demo(commands::demo::DemoArgs),
    /// Renders each mirror and municipality report of the current release as one
    /// self-contained HTML page (Dutch, and an English variant) with trend charts and a print
    /// stylesheet, for the quality conversation.
    Render(commands::render::RenderArgs),
    /// Attaches a provider's explanation ("het verhaal achter de cijfers") to its mirror report
    /// without the HTTP API: into the data directory's annotations.json, checked and recorded
    /// in the audit log as the API does (POST /v1/mirror/{period}/{gemeente}/annotation), the
    /// operator (--by) acting for the provider. `spiegel render` then shows it.
    Annotate(commands::annotate::AnnotateArgs),
    /// Serves the HTTP API (uploads, feed, webhooks, reports for their readers, by bearer
    /// token or client certificate, over TLS when configured) with the embedded pipeline behind it and, on a port of its own, /livez, /readyz
    /// and /metrics; until SIGTERM.
    Serve(Box<commands::serve::ServeArgs>),
    /// Bearer tokens for the HTTP API: each stands for one provider, municipality or operator.
    Tokens {
        #[command(subcommand)]
        command: commands::tokens::TokensCommand,
    },
    /// Client certificates for the HTTP API: each registered subject stands for one provider,
    /// municipality or operator.
    Certs {
        #[command(subcommand)]
        command: commands::certs::CertsCommand,
    },
    /// The effective configuration.
    Config {
        #[command(subcommand)]
        command: commands::config::ConfigCommand,
    },
    /// The hash-chained audit log of every action on the data (NEN 7513 style).
    Audit {
        #[command(subcommand)]
        command: commands::audit::AuditCommand,
    },
    /// Poison messages: those a stage could not decode or apply, sent to the dead-letter
    /// topic and gone past.
    DeadLetter {
        #[command(subcommand)]
        command: commands::dead_letter::DeadLetterCommand,
    },
    /// Creates the pipeline's Kafka topics with their partition counts and cleanup policies.
    #[cfg(feature = "kafka")]
    Topics {
        #[command(subcommand)]
        command: commands::stages::TopicsCommand,
    },
    /// Ingests submission files and produces the accepted ones to Kafka. Exit code 1 when a
    /// file is rejected.
    #[cfg(feature = "kafka")]
    Submit(commands::stages::SubmitArgs),
    /// The ingest stage over Kafka: takes submission files from an inbox directory, until
    /// SIGTERM. A misnamed file goes to rejected/ with its receipt; hidden files (.*) are
    /// uploads still being written and are left alone.
    #[cfg(feature = "kafka")]
    Ingest(commands::stages::IngestArgs),
    /// The pseudonymise stage over Kafka, until SIGTERM.
    #[cfg(feature = "kafka")]
    Pseudonymise(commands::stages::PseudonymiseArgs),
    /// The aggregate stage over Kafka, until SIGTERM. Its state lives in the data directory.
    #[cfg(feature = "kafka")]
    Aggregate(commands::stages::AggregateArgs),
    /// The publish stage over Kafka, until SIGTERM: writes each release's reports to OUT.
    #[cfg(feature = "kafka")]
    Publish(commands::stages::PublishArgs),
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCommand,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Commands and flags that only a build with the `kafka` feature has.
const KAFKA_ONLY: [&str; 10] = [
    "topics",
    "submit",
    "ingest",
    "pseudonymise",
    "aggregate",
    "publish",
    "--kafka",
    "--brokers",
    "--topic-prefix",
    "--instance",
];

/// For a command line clap refuses because it asks for a Kafka-only command or flag, the one
/// line that says how to get it: on a build without the feature, clap alone would only say
/// "unrecognized".
#[cfg_attr(feature = "kafka", allow(dead_code))]
pub(crate) fn kafka_hint(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = match error.kind() {
        ErrorKind::InvalidSubcommand => ContextKind::InvalidSubcommand,
        ErrorKind::UnknownArgument => ContextKind::InvalidArg,
        _ => return None,
    };
    let Some(ContextValue::String(given)) = error.get(context) else {
        return None;
    };
    let name = given.split('=').next().unwrap_or(given);
    KAFKA_ONLY.contains(&name).then(|| {
        format!(
            "`{name}` belongs to the Kafka transport, which this build leaves out; build \
             with `cargo build --release --features kafka` to get it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the command line on a build without the `kafka` feature: the tests run
    /// with every feature, where clap would accept the Kafka commands.
    fn without_kafka() -> clap::Command {
        clap::Command::new("spiegel")
            .subcommand(clap::Command::new("run"))
            .subcommand(clap::Command::new("serve").arg(clap::Arg::new("tls").long("tls")))
    }

    #[test]
    fn a_kafka_command_or_flag_on_a_build_without_it_says_how_to_get_it() {
        let asking_for_kafka: [&[&str]; 4] = [
            &["spiegel", "topics", "create"],
            &["spiegel", "publish", "--out", "reports"],
            &["spiegel", "serve", "--kafka"],
            &["spiegel", "serve", "--brokers=127.0.0.1:9092"],
        ];
        for args in asking_for_kafka {
            let error = without_kafka().try_get_matches_from(args).unwrap_err();
            let hint = kafka_hint(&error).unwrap_or_else(|| panic!("no hint for {args:?}"));
            assert!(hint.contains("--features kafka"), "{hint}");
        }
        let mistyped: [&[&str]; 2] = [&["spiegel", "rnu"], &["spiegel", "serve", "--tsl"]];
        for args in mistyped {
            let error = without_kafka().try_get_matches_from(args).unwrap_err();
            assert_eq!(kafka_hint(&error), None, "{args:?}");
        }
    }
}
