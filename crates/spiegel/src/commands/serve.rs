//! `spiegel serve`: the HTTP API with the pipeline behind it. Embedded (the default), uploads
//! go through the ingest stage on the embedded transport and a worker thread runs
//! pseudonymise, aggregate and publish whenever one was sent on (and every second, for
//! releases that wait for quiet), recording each release and each use of the stage-2 key in
//! the audit log. With `--kafka`, the server is the ingest stage of a Kafka deployment: uploads
//! are produced to the submissions topic, the other stages run as processes of their own, and
//! the server holds only the stage-1 key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use spiegel_aggregate::PseudonymLabel;
use spiegel_audit::AuditLog;
use spiegel_pseudonymise::stage::PseudonymiseStage;
use spiegel_publish::ReportLocation;
use spiegel_serve::{Intake, StageHealth};
use spiegel_transport::EmbeddedTransport;

use crate::args::PipelineArgs;
use crate::config::PipelineConfig;
use crate::health::{aggregate_pass, publish_metrics};
use crate::records::{key_name, record_key_use};
use crate::{pipeline, records};

/// Options of `spiegel serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The API address.
    #[arg(long, env = "SPIEGEL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The admin address (health and metrics).
    #[arg(long, env = "SPIEGEL_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    admin_listen: std::net::SocketAddr,
    /// The report store: where the pipeline publishes and the API reads; a directory, or
    /// s3://bucket/prefix (credentials, region and endpoint from the AWS_* environment
    /// variables).
    #[arg(long, env = "SPIEGEL_REPORTS")]
    reports: ReportLocation,
    /// Which webhook URLs may be registered: `public` (https to public hosts) or `loopback`
    /// (this machine only, for trials and tests).
    #[arg(
        long,
        env = "SPIEGEL_WEBHOOK_TARGETS",
        value_enum,
        default_value = "public"
    )]
    webhook_targets: Targets,
    /// The first webhook retry's delay, in milliseconds; it doubles per attempt up to an hour.
    #[arg(long, env = "SPIEGEL_WEBHOOK_FIRST_RETRY_MS", default_value_t = 10_000)]
    webhook_first_retry_ms: u64,
    /// The HTTP(S) proxy webhook deliveries go through, for webhooks alone. Without it they
    /// connect directly, whatever HTTPS_PROXY or HTTP_PROXY say; with it each target must
    /// resolve to public addresses only before the proxy is asked to connect.
    #[arg(long, env = "SPIEGEL_WEBHOOK_PROXY")]
    webhook_proxy: Option<String>,
    /// How long a client may take to send a request's line and headers, in milliseconds; the
    /// same deadline closes a kept-alive connection on which no next request begins.
    #[arg(long, env = "SPIEGEL_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// How long a request body may send nothing before it is cut off, in milliseconds.
    #[arg(long, env = "SPIEGEL_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    body_read_timeout_ms: u64,
    /// The most connections served at once on each listener; further ones wait to be
    /// accepted.
    #[arg(long, env = "SPIEGEL_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// PEM file with the API's TLS certificate chain; with `--tls-key`, the API speaks HTTPS
    /// only.
    #[arg(long, env = "SPIEGEL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `--tls-cert`.
    #[arg(long, env = "SPIEGEL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM file with the CAs that issue client certificates: a verified client certificate
    /// whose subject is registered with `spiegel certs add` authenticates as its principal.
    #[arg(long, env = "SPIEGEL_CLIENT_CA", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Produce uploads to Kafka for the stage processes instead of running the pipeline in
    /// this process; `--keys` then needs only stage1.key, and `--reports` is where
    /// `spiegel publish` writes.
    #[cfg(feature = "kafka")]
    #[arg(long, env = "SPIEGEL_SERVE_KAFKA", requires = "keys")]
    kafka: bool,
    #[cfg(feature = "kafka")]
    #[command(flatten)]
    kafka_overrides: crate::stages::KafkaOverrides,
    /// Where the audit log's checkpoints go: a directory (create-only files; put it on a
    /// separately mounted, append-only volume) or `kafka` (the topic
    /// spiegel.audit-checkpoints.v1, with the `kafka` feature). Default: audit-checkpoints/
    /// in the data directory, which guards against accidents only.
    #[arg(long, env = "SPIEGEL_AUDIT_CHECKPOINTS")]
    audit_checkpoints: Option<String>,
    #[command(flatten)]
    database: crate::args::DatabaseArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Targets {
    Public,
    Loopback,
}

/// `spiegel serve`, with the population table of `SPIEGEL_POPULATION` when one is named.
pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    // The pages served divide their rates by the same table `render` would use.
    if let Some(path) = std::env::var_os("SPIEGEL_POPULATION") {
        crate::pages::use_population(Path::new(&path))?;
    }
    serve(args).map(|()| ExitCode::SUCCESS)
}

/// Serves until SIGTERM, then stops the pipeline worker after the batch in hand.
fn serve(args: &ServeArgs) -> Result<()> {
    let data_dir = &args.pipeline.data_dir;
    let config = PipelineConfig::load(args.pipeline.config.as_deref())?;
    check_inputs(args)?;
    #[cfg(feature = "kafka")]
    if args.kafka {
        let _lock = pipeline::claim(data_dir)?;
        return serve_on_kafka(args, config);
    }
    // Keys that were named are read before anything is created; only the data directory's
    // own keys may be generated, and only once the directory is claimed.
    let named_keys = args
        .pipeline
        .keys
        .as_deref()
        .map(|dir| pipeline::keys(Some(dir), data_dir))
        .transpose()?;
    let _lock = pipeline::claim(data_dir)?;
    let (source_key, ttp_key) = match named_keys {
        Some(named) => named,
        None => pipeline::keys(None, data_dir)?,
    };
    let versions = vec![source_key.version()];
    let transport = EmbeddedTransport::open(&data_dir.join("transport"))?;
    let ingest = pipeline::ingest_stage(&config, source_key, data_dir, &transport)?;
    let label = PseudonymLabel {
        ttp: ttp_key.ttp().clone(),
        version: ttp_key.version(),
    };
    let pseudonymise = pipeline::pseudonymise_stage(ttp_key, versions, &transport)?;
    let aggregate = pipeline::aggregate_stage(
        config.aggregate,
        label.clone(),
        data_dir,
        "embedded",
        &transport,
    )?;
    let audit = Arc::new(records::open_audit_log(
        data_dir,
        args.audit_checkpoints.as_deref(),
    )?);
    let publish =
        pipeline::publish_stage(config.publish, data_dir, None, &args.reports, &transport)?
            .with_recorder(records::release_recorder(Arc::clone(&audit)));
    let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
    let stop = Arc::new(AtomicBool::new(false));
    let health = [
        StageHealth::new("pseudonymise"),
        StageHealth::new("aggregate"),
        StageHealth::new("publish"),
    ];
    for stage in &health {
        // Each stage restored its state when it was opened above.
        stage.set_ready(true);
    }
    let worker = {
        let stop = Arc::clone(&stop);
        let key = key_name(&label.ttp, label.version);
        let health = health.clone();
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || -> Result<()> {
                let mut stages = Stages {
                    pseudonymise,
                    aggregate,
                    publish,
                    audit,
                    key,
                    health,
                };
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = stages.step() {
                        // The stages resume from their committed offsets: try again.
                        tracing::error!(error = %format!("{e:#}"), "pipeline step failed; retrying");
                    }
                    let _ = woken.recv_timeout(Duration::from_secs(1));
                }
                Ok(())
            })?
    };
    let intake = Intake::new(ingest, move || {
        // A full channel already holds a wake-up; one is enough.
        let _ = wake.try_send(());
    });
    let served = serve_api(args, intake, health.to_vec());
    stop.store(true, Ordering::Relaxed);
    let worked = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the pipeline worker panicked"))?;
    served?;
    worked
}

/// The API's TLS files, when `--tls-cert` and `--tls-key` are given.
fn tls_config(args: &ServeArgs) -> Option<spiegel_serve::TlsConfig> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(certificate_chain), Some(private_key)) => Some(spiegel_serve::TlsConfig {
            certificate_chain: certificate_chain.clone(),
            private_key: private_key.clone(),
            client_ca: args.client_ca.clone(),
        }),
        // clap requires both or neither.
        _ => None,
    }
}

/// What `spiegel serve` is given exists and can be read, before it claims the data directory
/// or creates anything: the TLS files, the report store and data directory (each a directory
/// or not there yet), and with `--kafka` the stage-1 key.
fn check_inputs(args: &ServeArgs) -> Result<()> {
    for (file, flag) in [
        (&args.tls_cert, "--tls-cert"),
        (&args.tls_key, "--tls-key"),
        (&args.client_ca, "--client-ca"),
    ] {
        if let Some(file) = file {
            crate::inputs::readable_file(file, flag)?;
        }
    }
    if let Some(tls) = tls_config(args) {
        tls.check()?;
    }
    if let Some(dir) = args.reports.directory() {
        crate::inputs::dir_or_absent(dir, "--reports")?;
    }
    args.reports.verify()?;
    crate::inputs::dir_or_absent(&args.pipeline.data_dir, "--data-dir")?;
    #[cfg(feature = "kafka")]
    if args.kafka {
        let keys = args.pipeline.keys.as_deref().ok_or_else(|| {
            anyhow::anyhow!("--kafka needs --keys, the directory with stage1.key")
        })?;
        crate::stages::source_key(keys)?;
    }
    Ok(())
}

/// The API as the ingest stage of a Kafka deployment: an accepted upload is produced to the
/// submissions topic (framed and idempotent as `spiegel ingest` produces it) before it is
/// answered 202; the stage processes do the rest, and the feed follows `--reports`.
#[cfg(feature = "kafka")]
fn serve_on_kafka(args: &ServeArgs, mut config: PipelineConfig) -> Result<()> {
    args.kafka_overrides.apply(&mut config.kafka);
    let keys =
        args.pipeline.keys.as_deref().ok_or_else(|| {
            anyhow::anyhow!("--kafka needs --keys, the directory with stage1.key")
        })?;
    // Nothing here consumes, so nothing has to stop consuming on a signal.
    let never = Arc::new(AtomicBool::new(false));
    let transport =
        spiegel_transport::kafka::KafkaTransport::new(config.kafka.clone(), "serve", never);
    let ingest = pipeline::ingest_stage(
        &config,
        crate::stages::source_key(keys)?,
        &args.pipeline.data_dir,
        &transport,
    )?;
    serve_api(args, Intake::new(ingest, || {}), Vec::new())
}

/// Serves the API and admin endpoints with `intake` taking the uploads, until SIGTERM; the
/// admin endpoint also serves the metrics of the `stages` running in this process.
fn serve_api(args: &ServeArgs, intake: Intake, stages: Vec<Arc<StageHealth>>) -> Result<()> {
    let data_dir = &args.pipeline.data_dir;
    let mut serve_config = spiegel_serve::ServeConfig::new(args.reports.clone(), data_dir.clone());
    serve_config.database = args.database.url()?;
    serve_config.webhooks.targets = match args.webhook_targets {
        Targets::Public => spiegel_serve::WebhookTargets::Public,
        Targets::Loopback => spiegel_serve::WebhookTargets::Loopback,
    };
    serve_config.webhooks.first_retry = Duration::from_millis(args.webhook_first_retry_ms);
    serve_config.webhooks.proxy = args.webhook_proxy.clone();
    serve_config.tls = tls_config(args);
    // The pages name the windows and norms the reports were computed with.
    serve_config.indicators = PipelineConfig::load(args.pipeline.config.as_deref())?.aggregate;
    serve_config.stages = stages;
    serve_config.audit = Some(records::audit_options(
        data_dir,
        args.audit_checkpoints.as_deref(),
    )?);
    serve_config.connections = spiegel_serve::ConnectionLimits {
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
        max_connections: args.max_connections,
    };
    let scheme = if serve_config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    spiegel_serve::run(
        serve_config,
        Some(intake),
        args.listen,
        args.admin_listen,
        |api, admin| {
            // Tests and supervisors read the bound ports from this line.
            println!("listening on {scheme}://{api} (admin http://{admin})");
        },
    )?;
    Ok(())
}

/// The stages after ingest, on the embedded transport.
struct Stages {
    pseudonymise: PseudonymiseStage,
    aggregate: spiegel_aggregate::AggregateStage,
    publish: spiegel_publish::PublishStage,
    audit: Arc<AuditLog>,
    key: String,
    /// Pseudonymise, aggregate, publish.
    health: [Arc<StageHealth>; 3],
}

impl Stages {
    fn step(&mut self) -> Result<()> {
        let [pseudonymise, aggregate, publish] = &self.health;
        let pseudonymised = pseudonymise.measure(
            || self.pseudonymise.run_until_idle(),
            |progress| progress.submissions as u64,
        )?;
        record_key_use(&self.audit, &self.key, pseudonymised.submissions)?;
        aggregate.measure(
            || self.aggregate.run_until_idle(),
            |progress| aggregate_pass(aggregate, progress),
        )?;
        let published = publish
            .measure(
                || self.publish.run_until_idle(),
                |progress| u64::from(progress.published.is_some()),
            )?
            .published;
        if let Some(manifest) = &published {
            publish_metrics(publish, manifest);
        }
        Ok(())
    }
}
