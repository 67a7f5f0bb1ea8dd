//! The four stages as separate long-running processes over Kafka (`spiegel ingest`,
//! `pseudonymise`, `aggregate`, `publish`), `spiegel submit` and `spiegel topics create`.
//!
//! Each process runs the same stage code as `spiegel run`, on the Kafka transport instead of
//! the embedded one, until SIGTERM (or SIGINT): then its consumer hands out no more messages,
//! the stage finishes and commits the message in hand, the producer is flushed and the consumer
//! leaves its group as it is dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use spiegel_aggregate::PseudonymLabel;
use spiegel_ingest::SubmissionMeta;
use spiegel_ingest::stage::Submitted;
use spiegel_pseudonymise::{SourceKey, TtpId, TtpKey};
use spiegel_transport::kafka::{KafkaConfig, KafkaTransport};

use spiegel_core::durable::DirLock;
use spiegel_serve::StageHealth;

use crate::config::PipelineConfig;
use crate::health::{aggregate_pass, publish_metrics};
use crate::{key_files, pipeline, records};

/// Options every Kafka command shares.
#[derive(Debug, clap::Args)]
pub(crate) struct KafkaArgs {
    /// Configuration file with sections kafka, ingest, aggregate and publish: TOML when its
    /// name ends in .toml, else JSON.
    #[arg(long, env = "SPIEGEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: KafkaOverrides,
    /// The stage's durable local state.
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// Where to serve /livez, /readyz and /metrics (for example 0.0.0.0:9090); none without.
    #[arg(long, env = "SPIEGEL_ADMIN_LISTEN")]
    admin_listen: Option<std::net::SocketAddr>,
}

/// What the command line and environment override of the configuration's `kafka` section.
#[derive(Debug, clap::Args)]
pub(crate) struct KafkaOverrides {
    /// Bootstrap servers; overrides `kafka.brokers` of the configuration.
    #[arg(long, env = "SPIEGEL_KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Put before every topic and group name; overrides `kafka.topic_prefix`.
    #[arg(long, env = "SPIEGEL_KAFKA_TOPIC_PREFIX")]
    topic_prefix: Option<String>,
    /// This instance's stable name among its stage's instances; overrides `kafka.instance`.
    #[arg(long, env = "SPIEGEL_KAFKA_INSTANCE")]
    instance: Option<String>,
}

impl KafkaOverrides {
    pub(crate) fn apply(&self, config: &mut KafkaConfig) {
        if let Some(brokers) = &self.brokers {
            config.brokers.clone_from(brokers);
        }
        if let Some(prefix) = &self.topic_prefix {
            config.topic_prefix.clone_from(prefix);
        }
        if let Some(instance) = &self.instance {
            config.instance = Some(instance.clone());
        }
    }
}

impl KafkaArgs {
    fn config(&self) -> Result<PipelineConfig> {
        let mut config = PipelineConfig::load(self.config.as_deref())?;
        self.overrides.apply(&mut config.kafka);
        Ok(config)
    }

    fn transport(
        &self,
        config: &KafkaConfig,
        role: &'static str,
    ) -> Result<(KafkaTransport, Shutdown)> {
        crate::inputs::dir_or_absent(&self.data_dir, "--data-dir")?;
        let lock = pipeline::claim(&self.data_dir)?;
        let health = StageHealth::new(role);
        if let Some(listen) = self.admin_listen {
            let bound = spiegel_serve::serve_stage_admin(listen, Arc::clone(&health))
                .with_context(|| format!("serving the admin endpoints on {listen}"))?;
            tracing::info!(stage = role, admin = %bound, "admin endpoints: /livez /readyz /metrics");
        }
        let shutdown =
            Shutdown::on_signals(health, Duration::from_millis(config.drain_timeout_ms), lock)?;
        let lag = Arc::clone(&shutdown.health);
        let transport = KafkaTransport::new(config.clone(), role, Arc::clone(&shutdown.flag))
            .with_lag_sink(Arc::new(move |topic: &str, partition: i32, behind: i64| {
                lag.consumer_lag(topic, partition, behind);
            }));
        Ok((transport, shutdown))
    }
}

/// Raised by SIGTERM or SIGINT; and what the stage loop tells the admin endpoints.
struct Shutdown {
    flag: Arc<AtomicBool>,
    health: Arc<StageHealth>,
    /// The process's claim of its data directory, for as long as it runs.
    _lock: DirLock,
}

impl Shutdown {
    /// Raised by SIGTERM or SIGINT; `drain` after that, a process still busy with the work in
    /// hand exits with code 1 without committing it, so that a stuck stage never outlives
    /// its pod's grace period half-way (what it had is redelivered to the next instance).
    fn on_signals(health: Arc<StageHealth>, drain: Duration, lock: DirLock) -> Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .context("installing the signal handler")?;
        }
        let raised = Arc::clone(&flag);
        std::thread::Builder::new()
            .name("drain".into())
            .spawn(move || {
                while !raised.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "shutdown requested: no new input, finishing the work in hand"
                );
                std::thread::sleep(drain);
                tracing::error!(
                    drain_ms = drain.as_millis() as u64,
                    "the work in hand did not finish within the drain timeout; exiting \
                     without committing it (it is redelivered)"
                );
                std::process::exit(1);
            })
            .context("starting the drain watchdog")?;
        Ok(Self {
            flag,
            health,
            _lock: lock,
        })
    }

    fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Runs `step` until shutdown is requested; `step` returns after each idle poll with the
    /// number of submissions or messages it handled. The stage is ready from the first step
    /// on: its state is restored by then.
    fn serve(&self, stage: &str, mut step: impl FnMut() -> Result<u64>) -> Result<()> {
        // Every line the stage logs carries its name (a field of its own in JSON logs).
        let _stage = tracing::info_span!("stage", stage).entered();
        tracing::info!("running until SIGTERM");
        self.health.set_ready(true);
        while !self.requested() {
            if let Err(e) = self.health.measure(&mut step, |handled| *handled) {
                self.health.set_ready(false);
                return Err(e);
            }
        }
        self.health.set_ready(false);
        tracing::info!(
            stage,
            "shutting down: input stopped, work in hand committed"
        );
        Ok(())
    }
}

/// `spiegel topics create`.
pub(crate) fn create_topics(args: &KafkaArgs) -> Result<()> {
    let config = args.config()?;
    let municipalities: Vec<String> = spiegel_core::Reference::embedded()
        .gemeenten()
        .iter()
        .map(|g| g.code.to_string())
        .collect();
    let (created, existing) = config.kafka.create_topics(&municipalities)?;
    for name in &created {
        tracing::debug!(topic = %name, "topic created");
    }
    println!(
        "{} topics created ({} existed already), among them a feed topic for each of {} municipalities",
        created.len(),
        existing.len(),
        municipalities.len()
    );
    Ok(())
}

/// The stage-1 key K1 (`stage1.key` in `keys`): all that ingest holds, never K2.
pub(crate) fn source_key(keys: &Path) -> Result<SourceKey> {
    SourceKey::from_file(&keys.join(key_files::STAGE1))
        .with_context(|| format!("reading the stage-1 key in {}", keys.display()))
}

/// `spiegel submit`: ingests submission files and produces the accepted ones.
pub(crate) fn submit(args: &KafkaArgs, keys: &Path, files: &[PathBuf]) -> Result<bool> {
    let config = args.config()?;
    for file in files {
        crate::inputs::readable_file(file, "submission")?;
    }
    let key = source_key(keys)?;
    let (transport, _shutdown) = args.transport(&config.kafka, "submit")?;
    let ingest = pipeline::ingest_stage(&config, key, &args.data_dir, &transport)?;
    let mut all_accepted = true;
    for file in files {
        all_accepted &= report(file, ingest.submit(file)?);
    }
    Ok(all_accepted)
}

/// Where a handled file belongs (`done` or `rejected`) and the text of its receipt.
fn outcome(submitted: &Submitted) -> (&'static str, String) {
    match submitted {
        Submitted::Sent { receipt, .. } => ("done", receipt.to_text()),
        Submitted::Rejected { receipt } => ("rejected", receipt.to_text()),
        Submitted::Unchanged => (
            "done",
            "identical to the submission already accepted; nothing to do".to_owned(),
        ),
    }
}

/// Prints what became of one file; false when it was rejected.
fn report(file: &Path, submitted: Submitted) -> bool {
    let (dir, receipt) = outcome(&submitted);
    println!("{}: {receipt}", file.display());
    dir != "rejected"
}

/// `spiegel ingest --inbox DIR`: takes every submission file that appears in the inbox (an
/// upload lands there under a temporary name and is renamed when complete), produces it, and
/// moves it with its receipt to `done/` or `rejected/`.
pub(crate) fn ingest(args: &KafkaArgs, keys: &Path, inbox: &Path) -> Result<()> {
    let config = args.config()?;
    crate::inputs::readable_dir(inbox, "--inbox")?;
    let key = source_key(keys)?;
    let (transport, shutdown) = args.transport(&config.kafka, "ingest")?;
    let ingest = pipeline::ingest_stage(&config, key, &args.data_dir, &transport)?;
    let poll = Duration::from_millis(config.kafka.poll_timeout_ms);
    for dir in ["done", "rejected"] {
        std::fs::create_dir_all(inbox.join(dir))?;
    }
    shutdown.serve("ingest", || {
        let mut handled = reject_misnamed(inbox, &config.ingest)?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(inbox)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| SubmissionMeta::from_file_name(n).is_ok())
            })
            .collect();
        // Oldest first, so a correction follows what it corrects.
        files.sort_by_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.clone(),
            )
        });
        for file in files {
            if shutdown.requested() {
                break;
            }
            handled += 1;
            let (dir, receipt) = outcome(&ingest.submit(&file)?);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // The receipt first: a file in done/ or rejected/ always has its receipt beside it.
            std::fs::write(inbox.join(dir).join(format!("{name}.receipt.txt")), receipt)?;
            std::fs::rename(&file, inbox.join(dir).join(&name))?;
        }
        std::thread::sleep(poll);
        Ok(handled)
    })
}

/// Moves every complete file in `inbox` whose name is not a submission name to `rejected/`,
/// its receipt beside it, as [`ingest`] does with a rejected submission; returns how many.
/// Both are named as the receipt names the file, which masks a name that could hold a BSN.
fn reject_misnamed(inbox: &Path, config: &spiegel_ingest::IngestConfig) -> Result<u64> {
    let misnamed = pipeline::input_files(inbox, config)?.misnamed;
    for (file, receipt) in &misnamed {
        let name = receipt.file.clone().unwrap_or_default();
        tracing::warn!(file = %name, "not a submission name <AGB>_<PERIOD>.<ext>; rejected");
        // The receipt first, as for every file handled.
        let rejected = inbox.join("rejected");
        std::fs::write(
            rejected.join(format!("{name}.receipt.txt")),
            receipt.to_text(),
        )?;
        std::fs::rename(file, rejected.join(&name))?;
    }
    Ok(misnamed.len() as u64)
}

/// `spiegel pseudonymise`.
pub(crate) fn pseudonymise(args: &KafkaArgs, keys: &Path, versions: &[u32]) -> Result<()> {
    let config = args.config()?;
    let key = TtpKey::from_file(&keys.join(key_files::STAGE2))
        .with_context(|| format!("reading the stage-2 key in {}", keys.display()))?;
    let (transport, shutdown) = args.transport(&config.kafka, "pseudonymise")?;
    let key_name = records::key_name(key.ttp(), key.version());
    let mut stage = pipeline::pseudonymise_stage(key, versions.to_vec(), &transport)?;
    let audit = records::audit_log(&args.data_dir)?;
    shutdown.serve("pseudonymise", || {
        let progress = stage.run_until_idle()?;
        shutdown.health.dead_lettered(progress.dead_letters as u64);
        records::record_key_use(&audit, &key_name, progress.submissions)?;
        Ok(progress.submissions as u64)
    })
}

/// `spiegel aggregate`.
pub(crate) fn aggregate(
    args: &KafkaArgs,
    ttp: &str,
    key_version: u32,
    release_quiet: Duration,
) -> Result<()> {
    let config = args.config()?;
    let label = PseudonymLabel {
        ttp: TtpId::new(ttp)?,
        version: key_version,
    };
    let (transport, shutdown) = args.transport(&config.kafka, "aggregate")?;
    let mut stage = pipeline::aggregate_stage(
        config.aggregate,
        label,
        &args.data_dir,
        &config.kafka.instance(),
        &transport,
    )?
    .with_release_quiet(release_quiet);
    shutdown.serve("aggregate", || {
        let progress = stage.run_until_idle()?;
        Ok(aggregate_pass(&shutdown.health, &progress))
    })
}

/// `spiegel publish --out DIR|s3://BUCKET/PREFIX [--sharing FILE]`.
pub(crate) fn publish(
    args: &KafkaArgs,
    out: &spiegel_publish::ReportLocation,
    sharing: Option<&Path>,
) -> Result<()> {
    let config = args.config()?;
    if let Some(dir) = out.directory() {
        crate::inputs::dir_or_absent(dir, "--out")?;
    }
    let (transport, shutdown) = args.transport(&config.kafka, "publish")?;
    let audit = Arc::new(records::audit_log(&args.data_dir)?);
    let mut stage =
        pipeline::publish_stage(config.publish, &args.data_dir, sharing, out, &transport)?
            .with_recorder(records::release_recorder(audit));
    shutdown.serve("publish", || {
        let progress = stage.run_until_idle()?;
        shutdown.health.dead_lettered(progress.dead_letters as u64);
        let published = progress.published;
        if let Some(manifest) = &published {
            publish_metrics(&shutdown.health, manifest);
        }
        Ok(u64::from(published.is_some()))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_misnamed_file_in_the_inbox_moves_to_rejected_with_its_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        std::fs::create_dir(inbox.join("rejected")).unwrap();
        for name in [
            "12345678_2026-H9.csv",
            "12345678_2026-H1.csv",
            ".12345678_2026-H2.csv.part",
        ] {
            std::fs::write(inbox.join(name), "bsn\n").unwrap();
        }
        let config = spiegel_ingest::IngestConfig::default();
        assert_eq!(reject_misnamed(inbox, &config).unwrap(), 1);
        let receipt =
            std::fs::read_to_string(inbox.join("rejected/12345678_2026-H9.csv.receipt.txt"))
                .unwrap();
        assert!(receipt.contains("FILE_NAME_INVALID"), "{receipt}");
        assert!(inbox.join("rejected/12345678_2026-H9.csv").is_file());
        // The submission waits for the stage; the upload in progress is left alone.
        assert!(inbox.join("12345678_2026-H1.csv").is_file());
        assert!(inbox.join(".12345678_2026-H2.csv.part").is_file());
        assert_eq!(reject_misnamed(inbox, &config).unwrap(), 0);
    }
}
