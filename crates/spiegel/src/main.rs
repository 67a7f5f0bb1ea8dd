//! `spiegel`: the one binary of the Spiegel trusted third party.
// A command-line program's output is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod admin;
#[cfg(feature = "kafka")]
mod checkpoints;
mod generate;
mod inputs;
mod keys;
mod prepare;
mod run;
mod serve;
#[cfg(feature = "kafka")]
mod stages;
#[cfg(feature = "otel")]
mod telemetry;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use spiegel_core::{Period, RedenCodelijst};
use spiegel_ingest::{IngestConfig, Limits};

/// Spiegel: providers deliver youth-care outcome data once; municipalities and providers get
/// aggregated, non-benchmarking mirror reports.
#[derive(Debug, Parser)]
#[command(name = "spiegel", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `spiegel_ingest=debug`.
    #[arg(long, env = "SPIEGEL_LOG", default_value = "warn", global = true)]
    log: String,
    /// `json` (one object per line, for a log collector; what the Kubernetes manifests set)
    /// or `text` (for people).
    #[arg(
        long,
        env = "SPIEGEL_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes realistic synthetic submissions, one file per provider and period.
    Generate(GenerateArgs),
    /// Checks submission files exactly as Spiegel will, and prints the receipt. Exit code 0:
    /// every file accepted; 1: a file rejected; 2: usage error.
    Validate(ValidateArgs),
    /// Stage 1 at the provider: replaces each BSN by a client token made with the source key
    /// (K1) and drops the postcode, so no BSN leaves the provider.
    Prepare(PrepareArgs),
    /// Runs the whole pipeline in one process (ingest, pseudonymise, aggregate, publish) on
    /// a directory of submissions and writes the reports and their manifest to OUT. Only what
    /// changed since the last run is redone; a killed run resumes.
    Run(RunArgs),
    /// Generates a realistic data set, runs the pipeline on it, renders the pages and
    /// summarises the reports.
    Demo(DemoArgs),
    /// Renders each mirror and municipality report of the current release as one
    /// self-contained HTML page (Dutch, and an English variant) with trend charts and a print
    /// stylesheet, for the quality conversation.
    Render(RenderArgs),
    /// Serves the HTTP API (uploads, feed, webhooks, reports for their readers, by bearer
    /// token or client certificate, over TLS when configured) with the embedded pipeline behind it and, on a port of its own, /livez, /readyz
    /// and /metrics; until SIGTERM.
    Serve(serve::ServeArgs),
    /// Bearer tokens for the HTTP API: each stands for one provider, municipality or operator.
    Tokens {
        #[command(subcommand)]
        command: admin::TokensCommand,
    },
    /// Client certificates for the HTTP API: each registered subject stands for one provider,
    /// municipality or operator.
    Certs {
        #[command(subcommand)]
        command: admin::CertsCommand,
    },
    /// The effective configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The hash-chained audit log of every action on the data (NEN 7513 style).
    Audit {
        #[command(subcommand)]
        command: admin::AuditCommand,
    },
    /// Creates the pipeline's Kafka topics with their partition counts and cleanup policies.
    #[cfg(feature = "kafka")]
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Ingests submission files and produces the accepted ones to Kafka. Exit code 1 when a
    /// file is rejected.
    #[cfg(feature = "kafka")]
    Submit {
        /// Submission files named <AGB>_<PERIOD>.(csv|jsonl|parquet).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Directory with stage1.key (the stage-1 key, K1).
        #[arg(long, env = "SPIEGEL_KEYS")]
        keys: PathBuf,
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
    /// The ingest stage over Kafka: takes submission files from an inbox directory, until
    /// SIGTERM.
    #[cfg(feature = "kafka")]
    Ingest {
        /// Where complete submission files arrive; handled ones move to done/ or rejected/.
        #[arg(long, env = "SPIEGEL_INBOX")]
        inbox: PathBuf,
        /// Directory with stage1.key (the stage-1 key, K1).
        #[arg(long, env = "SPIEGEL_KEYS")]
        keys: PathBuf,
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
    /// The pseudonymise stage over Kafka, until SIGTERM.
    #[cfg(feature = "kafka")]
    Pseudonymise {
        /// Directory with stage2.key (the stage-2 key, K2); nothing else needs to be there.
        #[arg(long, env = "SPIEGEL_KEYS")]
        keys: PathBuf,
        /// Stage-1 key versions whose client tokens are accepted, comma separated.
        #[arg(
            long,
            env = "SPIEGEL_ACCEPT_SOURCE_VERSIONS",
            value_delimiter = ',',
            default_value = "1"
        )]
        accept_source_versions: Vec<u32>,
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
    /// The aggregate stage over Kafka, until SIGTERM. Its state lives in the data directory.
    #[cfg(feature = "kafka")]
    Aggregate {
        /// TTP identifier of the pseudonyms to accept.
        #[arg(long, env = "SPIEGEL_TTP_ID", default_value = "spiegel")]
        ttp: String,
        /// Stage-2 key version of the pseudonyms to accept.
        #[arg(long, env = "SPIEGEL_KEY_VERSION", default_value_t = 1)]
        key_version: u32,
        /// Compute a release only after no submission changed the state for this long (ms),
        /// so a stream of submissions does not produce a release per submission.
        #[arg(long, env = "SPIEGEL_RELEASE_QUIET_MS", default_value_t = 1000)]
        release_quiet_ms: u64,
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
    /// The publish stage over Kafka, until SIGTERM: writes each release's reports to OUT.
    #[cfg(feature = "kafka")]
    Publish {
        /// Where the reports and manifest.json go.
        #[arg(long, env = "SPIEGEL_OUT")]
        out: PathBuf,
        /// The sharing registry `spiegel serve` writes (its `<data-dir>/sharing.json`, on a
        /// volume both mount); default: this stage's own data directory.
        #[arg(long, env = "SPIEGEL_SHARING")]
        sharing: Option<PathBuf>,
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Directory to write `<AGB>_<PERIOD>.csv` files into.
    #[arg(long, env = "SPIEGEL_GENERATE_OUT")]
    out: PathBuf,
    /// Total number of records (rows) over all files.
    #[arg(long, env = "SPIEGEL_GENERATE_RECORDS", default_value_t = 100_000)]
    records: u64,
    /// Seed; the same seed gives the same files.
    #[arg(long, env = "SPIEGEL_GENERATE_SEED", default_value_t = 1)]
    seed: u64,
    /// Number of providers (default: scales with the number of records).
    #[arg(long, env = "SPIEGEL_GENERATE_PROVIDERS")]
    providers: Option<usize>,
    /// Periods to deliver, comma separated (default: 2024-H1 to 2026-H1).
    #[arg(long, env = "SPIEGEL_GENERATE_PERIODS", value_delimiter = ',')]
    periods: Vec<Period>,
    /// Write semicolon-separated CSV with decimal commas, as Dutch spreadsheets do.
    #[arg(long, env = "SPIEGEL_GENERATE_SEMICOLON")]
    semicolon: bool,
}

/// Options of submission validation shared by `validate` and `prepare`.
#[derive(Debug, Args)]
struct ValidationArgs {
    /// Provider AGB code, when the file name does not say (`<AGB>_<PERIOD>.<ext>`).
    #[arg(long, env = "SPIEGEL_PROVIDER")]
    provider: Option<spiegel_core::Agb>,
    /// Period, when the file name does not say.
    #[arg(long, env = "SPIEGEL_PERIOD")]
    period: Option<Period>,
    /// Encoding (csv, jsonl, parquet), when the file extension does not say.
    #[arg(long, env = "SPIEGEL_FORMAT")]
    format: Option<spiegel_ingest::Format>,
    /// Share of rejected rows at which the whole submission is rejected.
    #[arg(long, env = "SPIEGEL_MAX_REJECTED_SHARE", default_value_t = 0.05)]
    max_rejected_share: f64,
    /// Largest submission in bytes.
    #[arg(long, env = "SPIEGEL_MAX_BYTES", default_value_t = Limits::default().max_bytes)]
    max_bytes: u64,
    /// Most rows in one submission.
    #[arg(long, env = "SPIEGEL_MAX_ROWS", default_value_t = Limits::default().max_rows)]
    max_rows: u64,
    /// Longest field value in bytes.
    #[arg(long, env = "SPIEGEL_MAX_FIELD_BYTES", default_value_t = Limits::default().max_field_bytes)]
    max_field_bytes: usize,
    /// Longest record in bytes.
    #[arg(long, env = "SPIEGEL_MAX_RECORD_BYTES", default_value_t = Limits::default().max_record_bytes)]
    max_record_bytes: usize,
    /// Code list of `reden_beeindiging`: `bij` (JZ588 31-39 also mapped) or `jz588`.
    #[arg(long, env = "SPIEGEL_REDEN_CODELIJST", default_value = "bij", value_parser = parse_codelijst)]
    reden_codelijst: RedenCodelijst,
}

fn parse_codelijst(s: &str) -> Result<RedenCodelijst, String> {
    match s {
        "bij" => Ok(RedenCodelijst::Bij),
        "jz588" => Ok(RedenCodelijst::Jz588),
        _ => Err("use bij or jz588".into()),
    }
}

impl ValidationArgs {
    fn config(&self) -> anyhow::Result<IngestConfig> {
        anyhow::ensure!(
            self.max_rejected_share > 0.0 && self.max_rejected_share <= 1.0,
            "--max-rejected-share must lie in (0, 1]"
        );
        Ok(IngestConfig {
            limits: Limits {
                max_bytes: self.max_bytes,
                max_rows: self.max_rows,
                max_field_bytes: self.max_field_bytes,
                max_record_bytes: self.max_record_bytes,
            },
            max_rejected_share: self.max_rejected_share,
            reden_codelijst: self.reden_codelijst,
            ..IngestConfig::default()
        })
    }

    fn meta(&self, path: &Path) -> anyhow::Result<spiegel_ingest::SubmissionMeta> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let from_name = spiegel_ingest::SubmissionMeta::from_file_name(&name);
        let format = self
            .format
            .or_else(|| spiegel_ingest::Format::from_path(path));
        match (from_name, self.provider, self.period, format) {
            (_, Some(provider), Some(period), Some(format)) => Ok(spiegel_ingest::SubmissionMeta {
                provider,
                period,
                format,
            }),
            (Ok(mut meta), provider, period, format) => {
                meta.provider = provider.unwrap_or(meta.provider);
                meta.period = period.unwrap_or(meta.period);
                meta.format = format.unwrap_or(meta.format);
                Ok(meta)
            }
            (Err(e), ..) => Err(anyhow::anyhow!(
                "{e}\n(or give --provider, --period and --format)"
            )),
        }
    }
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Submission files, or directories of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print each receipt as one line of JSON instead of a table.
    #[arg(long, env = "SPIEGEL_JSON")]
    json: bool,
    #[command(flatten)]
    validation: ValidationArgs,
}

#[derive(Debug, Args)]
struct PrepareArgs {
    /// The stage-1 key file (K1) received from the TTP.
    #[arg(long, env = "SPIEGEL_SOURCE_KEY_FILE")]
    source_key: PathBuf,
    /// The submission with BSNs.
    input: PathBuf,
    /// Where to write the submission with client tokens (csv, jsonl or parquet by extension).
    output: PathBuf,
    /// Print the receipt as JSON.
    #[arg(long, env = "SPIEGEL_JSON")]
    json: bool,
    #[command(flatten)]
    validation: ValidationArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Directory of submissions named <AGB>_<PERIOD>.(csv|jsonl|parquet).
    #[arg(long, env = "SPIEGEL_INPUT")]
    input: PathBuf,
    /// Where the reports and manifest.json go.
    #[arg(long, env = "SPIEGEL_OUT")]
    out: PathBuf,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Prints the configuration in effect (built-in defaults, then the file, then
    /// `SPIEGEL__SECTION__KEY` variables) as JSON, every secret masked; fails on a key no
    /// section knows.
    Show {
        /// The configuration file (JSON, or TOML by its `.toml` extension).
        #[arg(long, env = "SPIEGEL_CONFIG")]
        config: Option<PathBuf>,
        /// What the stage processes' own options override of the `kafka` section.
        #[cfg(feature = "kafka")]
        #[command(flatten)]
        kafka: stages::KafkaOverrides,
    },
}

#[derive(Debug, Args)]
struct PipelineArgs {
    /// The pipeline's durable state (topics, accepted submissions, aggregate state).
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// Directory with stage1.key and stage2.key (`spiegel keys generate`). Default: keys/ in
    /// the data directory, which `run` and `serve` generate once when it is missing.
    #[arg(long, env = "SPIEGEL_KEYS")]
    keys: Option<PathBuf>,
    /// Configuration file with sections ingest, aggregate and publish: TOML when its name ends
    /// in .toml, else JSON.
    #[arg(long, env = "SPIEGEL_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where the demo writes its submissions, state and reports.
    #[arg(long, env = "SPIEGEL_DEMO_DIR", default_value = "spiegel-out/demo")]
    dir: PathBuf,
    /// Records to generate.
    #[arg(long, env = "SPIEGEL_DEMO_RECORDS", default_value_t = 200_000)]
    records: u64,
    /// The seed of the data and of the demo's keys: the same seed gives byte-identical
    /// reports and pages. The keys are public and refused outside the demo.
    #[arg(long, env = "SPIEGEL_DEMO_SEED", default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// The report store written by `spiegel run` or `spiegel publish` (with its manifest.json).
    #[arg(long, env = "SPIEGEL_REPORTS")]
    reports: PathBuf,
    /// Where the pages go: a directory per recipient with a page per period, `PERIOD.html`
    /// (Dutch) and `PERIOD.en.html` (English).
    #[arg(long, env = "SPIEGEL_PAGES")]
    out: PathBuf,
    /// The data directory whose annotations.json holds the providers' explanations.
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// The languages to render: Dutch, the language of the quality conversation, or also
    /// an English variant of every page.
    #[arg(long, value_enum, default_value = "nl")]
    lang: Languages,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Languages {
    /// Dutch only.
    Nl,
    /// English only.
    En,
    /// Dutch and English.
    Both,
}

impl Languages {
    fn list(self) -> &'static [spiegel_render::Language] {
        use spiegel_render::Language;
        match self {
            Self::Nl => &[Language::Nl],
            Self::En => &[Language::En],
            Self::Both => &Language::ALL,
        }
    }
}

#[cfg(feature = "kafka")]
#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Creates the topics that do not exist yet.
    Create {
        #[command(flatten)]
        kafka: stages::KafkaArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Writes a new random stage-1 key (K1) and stage-2 key (K2) to DIR, mode 0600.
    Generate {
        /// Directory for `stage1.key` and `stage2.key`; created if absent.
        #[arg(long, env = "SPIEGEL_KEYS_OUT")]
        out: PathBuf,
        /// Key version written into both keys and every label made with them.
        #[arg(long, env = "SPIEGEL_KEY_VERSION", default_value_t = 1)]
        version: u32,
        /// Identifier of this trusted third party, carried in every label.
        #[arg(long, env = "SPIEGEL_TTP_ID", default_value = "spiegel")]
        ttp: String,
    },
    /// Puts a new stage-2 key version in force (the old one is kept as stage2.v<N>.key) and
    /// switches the embedded pipeline of the data directory to it: every stored submission
    /// is re-pseudonymised and the aggregate stage takes the copies; the reports do not
    /// change. Stop `spiegel serve` on that data directory first.
    Rotate {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Only put the new key in force in the keys directory, for a deployment whose stages
        /// run as separate processes (see the runbook in deploy/README.md).
        #[arg(long)]
        key_only: bool,
        /// The operator running this command, as recorded in the audit log.
        #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
        by: String,
    },
    /// Overwrites and removes a retired stage-2 key version (never the one in force).
    Destroy {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The retired version, as in stage2.v<VERSION>.key.
        #[arg(long)]
        version: u32,
        /// The operator running this command, as recorded in the audit log.
        #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
        by: String,
    },
}

fn show_config(command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Show { config, .. } = command;
    #[cfg_attr(not(feature = "kafka"), allow(unused_mut))]
    let mut effective = run::PipelineConfig::load(config.as_deref())?;
    #[cfg(feature = "kafka")]
    {
        let ConfigCommand::Show { kafka, .. } = command;
        kafka.apply(&mut effective.kafka);
    }
    println!("{}", serde_json::to_string_pretty(&effective.masked()?)?);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[cfg(not(feature = "otel"))]
mod telemetry {
    /// Built without the `otel` feature: nothing to export.
    pub(crate) struct Telemetry;
}

/// What must live as long as the process logs: the span exporter, flushed when dropped.
type Exporting = Option<telemetry::Telemetry>;

/// Log lines on stderr and, with the `otel` feature and an OTLP endpoint configured, the
/// spans to an OpenTelemetry collector; both filtered by `filter`.
fn init_logging(filter: &str, format: LogFormat, command: &str) -> anyhow::Result<Exporting> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = || {
        tracing_subscriber::EnvFilter::try_new(filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
    let mut layers: Vec<Box<dyn tracing_subscriber::Layer<_> + Send + Sync>> = vec![match format {
        // Fields (stage, submission id, release) as keys of their own, for the collector.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_filter(filter())
            .boxed(),
        // Colour codes only on a terminal, never in a log file.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter())
            .boxed(),
    }];
    #[cfg(feature = "otel")]
    let exporting = match telemetry::layer(command)? {
        Some((spans, telemetry)) => {
            layers.push(spans.with_filter(filter()).boxed());
            Some(telemetry)
        }
        None => None,
    };
    #[cfg(not(feature = "otel"))]
    let exporting = {
        let _ = command;
        None
    };
    tracing_subscriber::registry().with(layers).init();
    Ok(exporting)
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
fn kafka_hint(error: &clap::Error) -> Option<String> {
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

fn main() -> ExitCode {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => {
            #[cfg(not(feature = "kafka"))]
            if let Some(hint) = kafka_hint(&error) {
                eprintln!("spiegel: {hint}");
                return ExitCode::from(2);
            }
            error.exit()
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let _exporting = match init_logging(
        &cli.log,
        cli.log_format,
        matches.subcommand_name().unwrap_or("spiegel"),
    ) {
        Ok(exporting) => exporting,
        Err(error) => {
            eprintln!("spiegel: {error:#}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Generate(args) => generate_command(args),
        Command::Validate(args) => validate::run(&args.files, args.json, &args.validation),
        Command::Prepare(args) => prepare::run(&args),
        Command::Run(args) => run_command(&args),
        Command::Demo(args) => demo_command(&args),
        Command::Render(args) => render_command(&args),
        Command::Tokens { command } => admin::tokens(&command),
        Command::Serve(args) => serve::serve(&args).map(|()| ExitCode::SUCCESS),
        Command::Certs { command } => admin::certs(&command),
        Command::Config { command } => show_config(&command),
        Command::Audit { command } => admin::audit(&command),
        Command::Keys {
            command: KeysCommand::Generate { out, version, ttp },
        } => keys::generate(&out, version, &ttp),
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    pipeline,
                    key_only,
                    by,
                },
        } => keys::rotate(&pipeline, key_only, &by),
        Command::Keys {
            command:
                KeysCommand::Destroy {
                    pipeline,
                    version,
                    by,
                },
        } => keys::destroy(&pipeline, version, &by),
        #[cfg(feature = "kafka")]
        Command::Topics {
            command: TopicsCommand::Create { kafka },
        } => stages::create_topics(&kafka).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "kafka")]
        Command::Submit { files, keys, kafka } => {
            stages::submit(&kafka, &keys, &files).map(|accepted| {
                if accepted {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            })
        }
        #[cfg(feature = "kafka")]
        Command::Ingest { inbox, keys, kafka } => {
            stages::ingest(&kafka, &keys, &inbox).map(|()| ExitCode::SUCCESS)
        }
        #[cfg(feature = "kafka")]
        Command::Pseudonymise {
            keys,
            accept_source_versions,
            kafka,
        } => {
            stages::pseudonymise(&kafka, &keys, &accept_source_versions).map(|()| ExitCode::SUCCESS)
        }
        #[cfg(feature = "kafka")]
        Command::Aggregate {
            ttp,
            key_version,
            release_quiet_ms,
            kafka,
        } => stages::aggregate(
            &kafka,
            &ttp,
            key_version,
            std::time::Duration::from_millis(release_quiet_ms),
        )
        .map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "kafka")]
        Command::Publish {
            out,
            sharing,
            kafka,
        } => stages::publish(&kafka, &out, sharing.as_deref()).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("spiegel: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn generate_command(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let periods = if args.periods.is_empty() {
        generate::default_periods()
    } else {
        args.periods
    };
    let options = generate::GenerateOptions {
        out: args.out,
        records: args.records,
        seed: args.seed,
        providers: args.providers,
        periods,
        semicolon: args.semicolon,
    };
    let started = std::time::Instant::now();
    let summary = generate::generate(&options, |done| {
        tracing::info!(records = done, "generating");
    })?;
    println!(
        "{} records for {} children in {} files ({} providers, {} gemeenten, {} periods) written to {} in {:.2} s",
        summary.records,
        summary.children,
        summary.files,
        summary.providers,
        summary.gemeenten,
        options.periods.len(),
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_command(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = run::PipelineConfig::load(args.pipeline.config.as_deref())?;
    let started = std::time::Instant::now();
    let summary = run::run(
        &args.input,
        &args.out,
        &args.pipeline.data_dir,
        run::Keys::Real(args.pipeline.keys.as_deref()),
        &config,
    )?;
    for rejected in &summary.rejected {
        eprintln!("{rejected}");
    }
    let files = summary.manifest.as_ref().map_or(0, |m| m.files.len());
    println!(
        "{} submissions applied, {} unchanged, {} rejected; {} report files in {} ({:.2} s)",
        summary.sent,
        summary.unchanged,
        summary.rejected.len(),
        files,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render_command(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    inputs::readable_dir(&args.reports, "--reports")?;
    inputs::readable_file(
        &args.reports.join(spiegel_publish::MANIFEST),
        "--reports (its manifest)",
    )?;
    inputs::dir_or_absent(&args.out, "--out")?;
    let summary = render(&args.reports, &args.data_dir, args.lang.list(), &args.out)?;
    println!(
        "rendered release {}: {} mirror and {} municipality reports, {} pages ({:.1} MB) in {}",
        summary.release,
        summary.mirror,
        summary.municipality,
        summary.pages,
        summary.bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn render(
    reports: &Path,
    data_dir: &Path,
    languages: &[spiegel_render::Language],
    out: &Path,
) -> anyhow::Result<spiegel_render::RenderSummary> {
    let store = anyhow::Context::with_context(
        object_store::local::LocalFileSystem::new_with_prefix(reports),
        || format!("the report store {} cannot be opened", reports.display()),
    )?;
    let notes = spiegel_render::ProviderNotes::load(data_dir)?;
    Ok(spiegel_render::render_release(
        std::sync::Arc::new(store),
        &notes,
        languages,
        out,
    )?)
}

/// The file at the top of the demo's output that links every page and report.
const DEMO_INDEX: &str = "index.html";

fn demo_command(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let submissions = args.dir.join("submissions");
    let data_dir = args.dir.join("data");
    let out = args.dir.join("reports");
    let pages = args.dir.join("pages");
    let index = args.dir.join(DEMO_INDEX);
    for dir in [&submissions, &data_dir, &out, &pages] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    if index.exists() {
        std::fs::remove_file(&index)?;
    }
    let options = generate::GenerateOptions {
        out: submissions.clone(),
        records: args.records,
        seed: args.seed,
        providers: None,
        periods: generate::default_periods(),
        semicolon: false,
    };
    let started = std::time::Instant::now();
    let generated = generate::generate(&options, |_| {})?;
    let generating = started.elapsed();

    let started = std::time::Instant::now();
    // Keys from the seed, not at random: the same seed gives the same pseudonyms, and so the
    // same perturbed figures, release id and page paths on every run.
    let keys_dir = data_dir.join("keys");
    keys::write_demo_pair(&keys_dir, args.seed)?;
    let summary = run::run(
        &submissions,
        &out,
        &data_dir,
        run::Keys::Demo(&keys_dir),
        &run::PipelineConfig::default(),
    )?;
    let manifest = summary
        .manifest
        .ok_or_else(|| anyhow::anyhow!("the demo published no release"))?;
    let pipeline = started.elapsed();

    let started = std::time::Instant::now();
    let languages = spiegel_render::Language::ALL;
    let rendered = render(&out, &data_dir, &languages, &pages)?;
    // Links relative to the index, so the output can be moved or served as it is.
    let html = spiegel_render::index_page(
        &manifest,
        "pages",
        "reports",
        &languages,
        "Spiegel demo: alle rapportages / all reports",
    );
    std::fs::write(&index, html)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", index.display()))?;
    let rendering = started.elapsed();

    let count = |kind: &str| manifest.files.iter().filter(|f| f.kind == kind).count();
    let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
    let suppressed: u64 = manifest.files.iter().map(|f| f.suppressed).sum();
    println!(
        "Spiegel demo (seed {}: the same output on every run)\n\
         - input: {} records for {} children from {} providers in {} gemeenten, periods {}\n\
         - accepted: {} submissions ({} rejected)\n\
         - reports: {} mirror, {} municipality, {} region, {} national ({} cells, {} suppressed by the release rules), release {}\n\
         - pages: {} ({:.0} MB), Dutch and English\n\
         - time: generate {:.1} s, pipeline {:.1} s, render {:.1} s\n\
         - manifest: {}\n\
         - open in a browser: {}",
        args.seed,
        generated.records,
        generated.children,
        generated.providers,
        generated.gemeenten,
        options
            .periods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        summary.sent,
        summary.rejected.len(),
        count("mirror"),
        count("municipality"),
        count("region"),
        count("national"),
        rows,
        suppressed,
        manifest.release,
        rendered.pages,
        rendered.bytes as f64 / 1e6,
        generating.as_secs_f64(),
        pipeline.as_secs_f64(),
        rendering.as_secs_f64(),
        out.join(spiegel_publish::MANIFEST).display(),
        index.display(),
    );
    Ok(ExitCode::SUCCESS)
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
