//! `spiegel run` and `spiegel demo`: the four stages in one process on the embedded
//! transport, their state in a data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use spiegel_aggregate::{AggregateConfig, AggregateStage, PseudonymLabel};
use spiegel_core::durable::DirLock;
use spiegel_ingest::stage::{IngestStage, Submitted};
use spiegel_ingest::{IngestConfig, SubmissionMeta};
use spiegel_pseudonymise::stage::PseudonymiseStage;
use spiegel_pseudonymise::{Pseudonymiser, SourceKey, TtpId, TtpKey};
use spiegel_publish::{Manifest, PublishConfig, PublishStage};
use spiegel_transport::{EmbeddedTransport, Transport, topic};

/// The configuration of every process: each stage's section, each with defaults. Layered as
/// in Arroyo: the built-in defaults, then the file (`--config`/`SPIEGEL_CONFIG`, JSON or TOML
/// by extension), then `SPIEGEL__SECTION__KEY` environment variables (for example
/// `SPIEGEL__PUBLISH__THRESHOLD=12`). A key that no section knows is an error, wherever it
/// comes from, so a misspelt setting never silently does nothing.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PipelineConfig {
    pub(crate) ingest: IngestConfig,
    pub(crate) aggregate: AggregateConfig,
    pub(crate) publish: PublishConfig,
    /// How the separate stage processes reach Kafka (not used by `spiegel run`).
    #[cfg(feature = "kafka")]
    pub(crate) kafka: spiegel_transport::kafka::KafkaConfig,
}

/// The prefix of configuration environment variables; `__` separates section and key.
const ENV_PREFIX: &str = "SPIEGEL__";

impl PipelineConfig {
    pub(crate) fn load(path: Option<&Path>) -> Result<Self> {
        use figment::providers::{Env, Format, Json, Serialized, Toml};
        let mut figment = figment::Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = path {
            if !path.is_file() {
                anyhow::bail!("configuration {}: no such file", path.display());
            }
            figment = match path.extension().and_then(|e| e.to_str()) {
                Some("toml") => figment.merge(Toml::file_exact(path)),
                _ => figment.merge(Json::file_exact(path)),
            };
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Self = figment.extract().map_err(|e| {
            // figment names the key and where it came from (file or variable).
            anyhow::anyhow!(
                "configuration: {}",
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        // Thresholds below what docs/release-rules.md allows stop every command, not only the
        // publish stage.
        config.publish.validate().context("configuration")?;
        Ok(config)
    }
}

/// What `spiegel config show` prints in place of a secret.
const MASK: &str = "********";

/// Words in a setting's name that make its value a secret.
const SECRET_WORDS: [&str; 6] = [
    "password",
    "secret",
    "token",
    "credential",
    "key.pem",
    "sasl.jaas",
];

impl PipelineConfig {
    /// The effective configuration as `spiegel config show` prints it: every value, secrets
    /// (Kafka client settings named like passwords, keys or tokens, and the SASL password from
    /// the environment) replaced by a mask that says only whether one is set.
    pub(crate) fn masked(&self) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(self)?;
        if let Some(properties) = value
            .pointer_mut("/kafka/properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            for (name, setting) in properties.iter_mut() {
                let name = name.to_ascii_lowercase();
                if SECRET_WORDS.iter().any(|word| name.contains(word)) {
                    *setting = serde_json::Value::from(MASK);
                }
            }
            if std::env::var_os("SPIEGEL_KAFKA_SASL_PASSWORD").is_some() {
                properties.insert(
                    "sasl.password".to_owned(),
                    serde_json::Value::from(format!("{MASK} (SPIEGEL_KAFKA_SASL_PASSWORD)")),
                );
            }
        }
        Ok(value)
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct RunSummary {
    pub(crate) sent: usize,
    pub(crate) unchanged: usize,
    pub(crate) rejected: Vec<String>,
    pub(crate) manifest: Option<Manifest>,
}

/// The latest file per (provider, period) in `input`: a later file replaces an earlier one
/// (by modification time, then name).
fn submissions_in(input: &Path) -> Result<Vec<PathBuf>> {
    let mut latest: BTreeMap<String, (std::time::SystemTime, PathBuf)> = BTreeMap::new();
    for entry in std::fs::read_dir(input).with_context(|| format!("reading {}", input.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(meta) = SubmissionMeta::from_file_name(&name) else {
            if path.is_file() {
                tracing::warn!(file = %name, "not a submission name <AGB>_<PERIOD>.<ext>; skipped");
            }
            continue;
        };
        let modified = std::fs::metadata(&path)?.modified()?;
        let key = format!("{}_{}", meta.provider, meta.period);
        let replace = latest
            .get(&key)
            .is_none_or(|(t, p)| (modified, &path) > (*t, p));
        if replace {
            latest.insert(key, (modified, path));
        }
    }
    Ok(latest.into_values().map(|(_, p)| p).collect())
}

/// Claims the data directory for this process: a second process driving the same state
/// (a `spiegel run` beside `spiegel serve`, a key rotation beside either) is refused.
pub(crate) fn claim(data_dir: &Path) -> Result<DirLock> {
    Ok(DirLock::acquire(data_dir)?)
}

/// Which keys a pipeline runs with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keys<'a> {
    /// For real data: `--keys`, or the data directory's, generated there on first use. A demo
    /// key is refused.
    Real(Option<&'a Path>),
    /// The demo keys `spiegel demo` wrote into this directory; no other key is accepted.
    Demo(&'a Path),
}

/// The demo keys in `dir` ([`crate::keys::write_demo_pair`]).
pub(crate) fn demo_keys(dir: &Path) -> Result<(SourceKey, TtpKey)> {
    Ok((
        SourceKey::from_demo_file(&dir.join(crate::keys::STAGE1))?,
        TtpKey::from_demo_file(&dir.join(crate::keys::STAGE2))?,
    ))
}

/// K1 and K2 from `--keys`, or from the data directory, generated there on first use.
pub(crate) fn keys(keys: Option<&Path>, data_dir: &Path) -> Result<(SourceKey, TtpKey)> {
    let dir = match keys {
        Some(dir) => dir.to_owned(),
        None => {
            let dir = data_dir.join("keys");
            if !dir.join(crate::keys::STAGE1).exists() {
                tracing::warn!(
                    dir = %dir.display(),
                    "no --keys given: generated a new K1 and K2 in the data directory; \
                     production keeps them apart, in secrets of their own"
                );
                crate::keys::write_pair(&dir, 1, &TtpId::new("spiegel")?)?;
            }
            dir
        }
    };
    let read = || {
        format!(
            "--keys {}: reading stage1.key and stage2.key",
            dir.display()
        )
    };
    Ok((
        SourceKey::from_file(&dir.join(crate::keys::STAGE1)).with_context(read)?,
        TtpKey::from_file(&dir.join(crate::keys::STAGE2)).with_context(read)?,
    ))
}

/// Removes what a killed run left half-written in the local report store. Reports go to
/// unnamed files, of which a crash leaves nothing; but the manifest and the feed (and every
/// report on a file system without unnamed files) are staged by `object_store` as `<name>#<n>`
/// beside their target and renamed when complete, and its listing never shows staged files,
/// so the publish stage cannot clean them up itself.
fn remove_interrupted_uploads(root: &Path) -> Result<()> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if entry
                .file_name()
                .to_string_lossy()
                .rsplit_once('#')
                .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                std::fs::remove_file(&path).with_context(|| {
                    format!("removing the interrupted upload {}", path.display())
                })?;
            }
        }
    }
    Ok(())
}

/// The ingest stage tokenising with `source_key` (accepting delivered client tokens of its
/// version), its state under `data_dir`.
pub(crate) fn ingest_stage(
    config: &PipelineConfig,
    source_key: SourceKey,
    data_dir: &Path,
    transport: &dyn Transport,
) -> Result<IngestStage> {
    let versions = vec![source_key.version()];
    Ok(IngestStage::new(
        config.ingest.clone(),
        source_key,
        versions,
        &data_dir.join("ingest"),
        transport.producer()?,
    )?)
}

/// The pseudonymise stage with K2 `key`, accepting client tokens of the K1 `versions`, reading
/// the submissions in the consumer group of its K2 version (a new version re-reads them all).
pub(crate) fn pseudonymise_stage(
    key: TtpKey,
    versions: Vec<u32>,
    transport: &dyn Transport,
) -> Result<PseudonymiseStage> {
    let group = spiegel_pseudonymise::stage::group(key.version());
    Ok(PseudonymiseStage::new(
        Pseudonymiser::new(key, versions),
        transport.consumer(topic::SUBMISSIONS, &group)?,
        transport.producer()?,
    ))
}

/// The aggregate stage as instance `instance`, its state under `data_dir`.
pub(crate) fn aggregate_stage(
    config: AggregateConfig,
    label: PseudonymLabel,
    data_dir: &Path,
    instance: &str,
    transport: &dyn Transport,
) -> Result<AggregateStage> {
    Ok(AggregateStage::new(
        config,
        label,
        &spiegel_aggregate::state_dir(data_dir),
        transport.consumer(topic::PSEUDONYMISED, spiegel_aggregate::GROUP)?,
        transport.consumer(
            topic::AGGREGATE_STATE,
            &spiegel_aggregate::state_group(instance),
        )?,
        transport.producer()?,
    )?
    .with_requests(transport.consumer(
        topic::AGGREGATE_REQUESTS,
        &spiegel_aggregate::request_group(instance),
    )?))
}

/// The publish stage writing to the local report store `out` (first clearing what a killed
/// run left staged there), its sharing registry and state under `data_dir`.
pub(crate) fn publish_stage(
    config: PublishConfig,
    data_dir: &Path,
    sharing: Option<&Path>,
    out: &Path,
    transport: &dyn Transport,
) -> Result<PublishStage> {
    std::fs::create_dir_all(out)?;
    remove_interrupted_uploads(out)?;
    let store = Arc::new(
        spiegel_publish::LocalReportStore::new(out)
            .with_context(|| format!("opening the report store {}", out.display()))?,
    );
    let synced = out.to_owned();
    Ok(PublishStage::new(
        config,
        &sharing.map_or_else(
            || data_dir.join(spiegel_serve::SHARING_FILE),
            Path::to_owned,
        ),
        &data_dir.join("publish"),
        store,
        transport.consumer(topic::AGGREGATES, spiegel_publish::GROUP)?,
        transport.producer()?,
    )?
    // The local store writes without fsync: one sync of its file system per step costs less
    // than two fsyncs per report.
    .with_store_sync(move || spiegel_core::durable::sync_file_system(&synced)))
}

/// What [`switch_key_version`] did.
pub(crate) struct Switched {
    /// Submissions re-pseudonymised (every one stored on the submissions topic).
    pub(crate) pseudonymised: usize,
    /// Submissions the aggregate stage holds, all under the new version.
    pub(crate) stored: usize,
    /// Whether the aggregate stage computed a new release (only when submissions were waiting
    /// to be aggregated before the rotation).
    pub(crate) released: bool,
}

/// Switches the embedded pipeline in `data_dir` to the K2 version in force in `keys`: the
/// pseudonymise stage on that version re-reads and re-pseudonymises every stored submission,
/// then the aggregate stage on that version replaces its state with them. The caller holds the
/// claim of the data directory ([`claim`]).
pub(crate) fn switch_key_version(
    config: &PipelineConfig,
    data_dir: &Path,
    keys_dir: &Path,
) -> Result<Switched> {
    let (source_key, ttp_key) = keys(Some(keys_dir), data_dir)?;
    let versions = vec![source_key.version()];
    drop(source_key);
    let label = PseudonymLabel {
        ttp: ttp_key.ttp().clone(),
        version: ttp_key.version(),
    };
    let key_name = crate::serve::key_name(&label.ttp, label.version);
    let transport = EmbeddedTransport::open(&data_dir.join("transport"))?;
    let pseudonymised = pseudonymise_stage(ttp_key, versions, &transport)?.run_until_idle()?;
    let audit = crate::serve::audit_log(data_dir)?;
    crate::serve::record_key_use(&audit, &key_name, pseudonymised.submissions)?;
    let version = label.version;
    let mut aggregate = aggregate_stage(config.aggregate, label, data_dir, "embedded", &transport)?;
    let progress = aggregate.run_until_idle()?;
    if progress.awaiting > 0 {
        anyhow::bail!(
            "{} stored submissions have no copy under stage-2 key version {version}; the \
             submissions topic in {} lacks them. Nothing is released until they are submitted \
             again",
            progress.awaiting,
            data_dir.display()
        );
    }
    Ok(Switched {
        pseudonymised: pseudonymised.submissions,
        stored: aggregate.stored()?,
        released: progress.released.is_some(),
    })
}

/// Submission files read at once by `spiegel run`: enough to keep two cores busy, few enough
/// that their records take little memory before they are sent on.
const INGEST_WINDOW: usize = 4;

/// Runs ingest → pseudonymise → aggregate → publish over every submission in `input`.
pub(crate) fn run(
    input: &Path,
    out: &Path,
    data_dir: &Path,
    keys_from: Keys<'_>,
    config: &PipelineConfig,
) -> Result<RunSummary> {
    crate::inputs::readable_dir(input, "--input")?;
    crate::inputs::dir_or_absent(out, "--out")?;
    crate::inputs::dir_or_absent(data_dir, "--data-dir")?;
    // Keys that were named are read before anything is created; only the data directory's
    // own keys may be generated, and only once the directory is claimed.
    let named_keys = match keys_from {
        Keys::Real(Some(dir)) => Some(keys(Some(dir), data_dir)?),
        Keys::Real(None) => None,
        Keys::Demo(dir) => Some(demo_keys(dir)?),
    };
    let _lock = claim(data_dir)?;
    std::fs::create_dir_all(out)?;
    let (source_key, ttp_key) = match named_keys {
        Some(named) => named,
        None => keys(None, data_dir)?,
    };
    let label = PseudonymLabel {
        ttp: ttp_key.ttp().clone(),
        version: ttp_key.version(),
    };
    let transport = EmbeddedTransport::open(&data_dir.join("transport"))?;
    let mut summary = RunSummary::default();

    let versions = vec![source_key.version()];
    let ingest = ingest_stage(config, source_key, data_dir, &transport)?;
    let timer = std::time::Instant::now();
    // Files are read and validated a few at a time, each on every core it can use, and sent
    // on in name order: the order in which a later file replaces an earlier one.
    for window in submissions_in(input)?.chunks(INGEST_WINDOW) {
        let prepared =
            spiegel_core::parallel::map(window.to_vec(), 2, |path| ingest.prepare(&path));
        for (path, prepared) in window.iter().zip(prepared) {
            match ingest.send(prepared?)? {
                Submitted::Sent { .. } => summary.sent += 1,
                Submitted::Unchanged => summary.unchanged += 1,
                Submitted::Rejected { receipt } => {
                    summary
                        .rejected
                        .push(format!("{}: {}", path.display(), receipt.to_text()));
                }
            }
        }
    }
    drop(ingest);
    tracing::info!(seconds = timer.elapsed().as_secs_f64(), "ingest stage idle");

    let mut pseudonymise = pseudonymise_stage(ttp_key, versions, &transport)?;
    let timer = std::time::Instant::now();
    let audit = Arc::new(crate::serve::audit_log(data_dir)?);
    let pseudonymised = pseudonymise.run_until_idle()?;
    crate::serve::record_key_use(
        &audit,
        &crate::serve::key_name(&label.ttp, label.version),
        pseudonymised.submissions,
    )?;
    tracing::info!(
        seconds = timer.elapsed().as_secs_f64(),
        "pseudonymise stage idle"
    );
    drop(pseudonymise);

    let mut aggregate = aggregate_stage(config.aggregate, label, data_dir, "embedded", &transport)?;
    let timer = std::time::Instant::now();
    aggregate.run_until_idle()?;
    tracing::info!(
        seconds = timer.elapsed().as_secs_f64(),
        "aggregate stage idle"
    );

    let mut publish = publish_stage(config.publish, data_dir, None, out, &transport)?
        .with_recorder(crate::serve::release_recorder(Arc::clone(&audit)));
    let timer = std::time::Instant::now();
    let mut published = publish.run_until_idle()?;
    // The publish stage lacks a part the release sent by reference (its state directory was
    // emptied): the aggregate stage answers with the release in full, once.
    if published.awaiting_parts {
        aggregate.run_until_idle()?;
        published = publish.run_until_idle()?;
    }
    drop(aggregate);
    summary.manifest = published.published;
    tracing::info!(
        seconds = timer.elapsed().as_secs_f64(),
        "publish stage idle"
    );
    if summary.manifest.is_none() {
        let manifest = out.join(spiegel_publish::MANIFEST);
        if let Ok(bytes) = std::fs::read(&manifest) {
            summary.manifest = serde_json::from_slice(&bytes).ok();
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// A small data set through ingest, pseudonymise and aggregate in `dir`: its release waits
    /// on the aggregates topic to be published.
    fn aggregated(dir: &Path) {
        let input = dir.join("in");
        crate::generate::generate(
            &crate::generate::GenerateOptions {
                out: input.clone(),
                records: 400,
                seed: 3,
                providers: Some(3),
                periods: crate::generate::default_periods()[..2].to_vec(),
                semicolon: false,
            },
            |_| {},
        )
        .unwrap();
        assert!(aggregate_input(dir).released.is_some());
    }

    /// The submissions in `dir/in` through ingest, pseudonymise and aggregate in `dir`.
    fn aggregate_input(dir: &Path) -> spiegel_aggregate::Progress {
        let input = dir.join("in");
        let (config, data_dir) = (PipelineConfig::default(), dir.join("data"));
        let (source_key, ttp_key) = keys(None, &data_dir).unwrap();
        let label = PseudonymLabel {
            ttp: ttp_key.ttp().clone(),
            version: ttp_key.version(),
        };
        let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
        let versions = vec![source_key.version()];
        let ingest = ingest_stage(&config, source_key, &data_dir, &transport).unwrap();
        for path in submissions_in(&input).unwrap() {
            ingest.send(ingest.prepare(&path).unwrap()).unwrap();
        }
        drop(ingest);
        pseudonymise_stage(ttp_key, versions, &transport)
            .unwrap()
            .run_until_idle()
            .unwrap();
        aggregate_stage(config.aggregate, label, &data_dir, "embedded", &transport)
            .unwrap()
            .run_until_idle()
            .unwrap()
    }

    fn publish(
        dir: &Path,
        sync: impl Fn() -> std::io::Result<()> + Send + 'static,
    ) -> spiegel_publish::Result<spiegel_publish::Progress> {
        let data_dir = dir.join("data");
        let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
        publish_stage(
            PublishConfig::default(),
            &data_dir,
            None,
            &dir.join("out"),
            &transport,
        )
        .unwrap()
        .with_store_sync(sync)
        .run_until_idle()
    }

    /// The publish stage's committed offset of the aggregates topic.
    fn committed_offset(dir: &Path) -> u64 {
        let path = dir
            .join("data/transport/groups")
            .join(spiegel_publish::GROUP)
            .join(topic::AGGREGATES);
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// What was on disk when the publish stage synced its report store.
    #[derive(Debug, PartialEq, Eq)]
    struct AtSync {
        reports: std::collections::BTreeSet<String>,
        manifest: bool,
        feed: bool,
        announced: bool,
        committed: u64,
    }

    #[test]
    fn reports_are_synced_before_the_manifest_names_them_and_the_manifest_before_the_release_is_recorded()
     {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (recorded, root) = (seen.clone(), dir.path().to_owned());
        let published = publish(dir.path(), move || {
            let out = root.join("out");
            let reports = walk(&out)
                .into_iter()
                .filter(|p| p.ends_with(".parquet"))
                .collect();
            recorded.lock().unwrap().push(AtSync {
                reports,
                manifest: out.join(spiegel_publish::MANIFEST).is_file(),
                feed: out.join(spiegel_publish::feed_object(1)).is_file(),
                announced: root.join("data/publish/announced.json").is_file(),
                committed: committed_offset(&root),
            });
            Ok(())
        })
        .unwrap()
        .published
        .expect("a release is published");
        let reports: std::collections::BTreeSet<String> =
            published.files.into_iter().map(|f| f.path).collect();
        assert!(!reports.is_empty());
        let unrecorded = |manifest, feed| AtSync {
            reports: reports.clone(),
            manifest,
            feed,
            announced: false,
            committed: 0,
        };
        assert_eq!(
            *seen.lock().unwrap(),
            [unrecorded(false, false), unrecorded(true, true)]
        );
        assert!(committed_offset(dir.path()) > 0);
    }

    /// The files under `dir`, as paths relative to it.
    fn walk(dir: &Path) -> Vec<String> {
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_owned()];
        while let Some(next) = dirs.pop() {
            for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(relative) = path.strip_prefix(dir) {
                    files.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        files
    }

    #[test]
    fn a_correction_applies_the_rules_only_to_the_reports_whose_cells_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        let first = publish(dir.path(), || Ok(())).unwrap();
        let before = first.published.expect("a release is published");
        assert_eq!(
            (first.reports_made, first.reports_unchanged),
            (before.files.len(), 0)
        );

        // One record fewer in one submission.
        let corrected = drop_a_record(dir.path());
        assert!(aggregate_input(dir.path()).released.is_some());
        let second = publish(dir.path(), || Ok(())).unwrap();
        let after = second.published.expect("the correction is published");

        let figures = |manifest: &Manifest| -> BTreeMap<String, String> {
            manifest
                .files
                .iter()
                .map(|f| {
                    let report = format!(
                        "{} {} {} {:?}",
                        f.kind, f.period, f.recipient, f.municipality
                    );
                    (report, f.content_sha256.clone())
                })
                .collect()
        };
        let (old, new) = (figures(&before), figures(&after));
        let revised = new
            .iter()
            .filter(|(report, sha)| old.get(*report) != Some(sha))
            .count();
        let name = corrected
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let period = name.split_once('_').unwrap().1;
        let of_period = after.files.iter().filter(|f| f.period == period).count();
        assert!(revised >= 1, "the correction revised no report");
        assert!(
            second.reports_made >= revised && second.reports_made * 4 < of_period,
            "{} reports made again for {revised} revised, of {of_period} in {period}",
            second.reports_made
        );
        assert_eq!(
            second.reports_made + second.reports_unchanged,
            after.files.len()
        );
    }

    /// Takes one record out of the first submission in `dir/in`; returns that file.
    fn drop_a_record(dir: &Path) -> PathBuf {
        let corrected = submissions_in(&dir.join("in")).unwrap()[0].clone();
        let text = std::fs::read_to_string(&corrected).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        std::fs::write(&corrected, lines.join("\n") + "\n").unwrap();
        corrected
    }

    #[test]
    fn a_publish_stage_without_the_parts_sent_by_reference_gets_the_release_in_full() {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        publish(dir.path(), || Ok(())).unwrap().published.unwrap();
        drop_a_record(dir.path());
        let corrected = aggregate_input(dir.path());
        assert!(corrected.released.is_some());
        assert!(
            corrected.parts_by_reference >= 1 && corrected.parts_computed >= 1,
            "{corrected:?}"
        );

        // The same state twice: one publish stage keeps its state, the other lost it.
        let kept = tempfile::tempdir().unwrap();
        let copied = std::process::Command::new("cp")
            .args(["-a", "data", "out"])
            .arg(kept.path())
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(copied.success());
        let expected = publish(kept.path(), || Ok(())).unwrap();
        let expected = expected
            .published
            .expect("published from the parts it holds");

        std::fs::remove_dir_all(dir.path().join("data/publish")).unwrap();
        let waiting = publish(dir.path(), || Ok(())).unwrap();
        assert!(
            waiting.awaiting_parts && waiting.published.is_none(),
            "{waiting:?}"
        );
        let answered = aggregate_input(dir.path());
        assert_eq!(
            (answered.parts_by_reference, answered.parts_computed),
            (0, 0),
            "{answered:?}"
        );
        let published = publish(dir.path(), || Ok(())).unwrap();
        assert!(!published.awaiting_parts);
        let published = published.published.expect("published once sent in full");
        assert_eq!(published.release, expected.release);
        assert_eq!(published.files, expected.files);

        // Answered once: nothing is sent again.
        let again = aggregate_input(dir.path());
        assert!(again.released.is_none(), "{again:?}");
    }

    #[test]
    fn a_release_a_newer_one_supersedes_before_its_turn_is_never_published() {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        drop_a_record(dir.path());
        assert!(aggregate_input(dir.path()).released.is_some());
        let summary = |p: &spiegel_publish::Progress| {
            (
                p.passed_over,
                p.reports_made,
                p.awaiting_parts,
                p.published.is_some(),
            )
        };

        // Both releases wait on the topic: the older is passed over, not audited. The newer
        // sends the unchanged period by reference to the one passed over, which this stage
        // never held: it asks for the release in full.
        let first = publish(dir.path(), || Ok(())).unwrap();
        assert_eq!(summary(&first), (1, 0, true, false));
        aggregate_input(dir.path());
        // A stage started again reads from the same offset and passes it over again.
        let second = publish(dir.path(), || Ok(())).unwrap();
        let made = second.reports_made;
        let published = second.published.expect("the newer release is published");
        assert_eq!((second.passed_over, made), (1, published.files.len()));
        assert!(
            !dir.path()
                .join("out")
                .join(spiegel_publish::feed_object(2))
                .exists(),
            "one release announced, not two"
        );
    }

    #[test]
    fn reports_of_a_release_that_never_completed_are_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        publish(dir.path(), || Ok(())).unwrap().published.unwrap();
        let corrected = submissions_in(&dir.path().join("in")).unwrap()[0].clone();
        let original = std::fs::read(&corrected).unwrap();
        drop_a_record(dir.path());
        assert!(aggregate_input(dir.path()).released.is_some());
        // The correction's reports are written, its manifest never is.
        publish(dir.path(), || Err(std::io::Error::other("disk gone"))).unwrap_err();
        let out = dir.path().join("out");
        let written = walk(&out)
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .count();
        // And the release is never seen again (its messages gone, the stage's offset past
        // them): nothing that comes later names what it wrote.
        let transport = EmbeddedTransport::open(&dir.path().join("data/transport")).unwrap();
        let mut consumer = transport
            .consumer(topic::AGGREGATES, spiegel_publish::GROUP)
            .unwrap();
        let unread = consumer.poll(1000).unwrap();
        consumer.commit(unread.last().unwrap()).unwrap();

        // Withdrawn again: the next release names none of the reports the correction revised.
        std::fs::write(&corrected, original).unwrap();
        assert!(aggregate_input(dir.path()).released.is_some());
        let manifest = publish(dir.path(), || Ok(())).unwrap().published.unwrap();
        let named: std::collections::BTreeSet<String> =
            manifest.files.into_iter().map(|f| f.path).collect();
        let on_disk: std::collections::BTreeSet<String> = walk(&out)
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .collect();
        assert!(
            written > named.len(),
            "the correction wrote no report of its own"
        );
        let orphans: Vec<&String> = on_disk.difference(&named).collect();
        assert!(
            orphans.is_empty(),
            "{} reports that no manifest names, such as {:?}",
            orphans.len(),
            orphans.first()
        );
        assert!(named.is_subset(&on_disk));
    }

    #[test]
    fn a_report_store_that_cannot_be_synced_gets_no_manifest_and_its_release_stays_uncommitted() {
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        let error = publish(dir.path(), || Err(std::io::Error::other("disk gone"))).unwrap_err();
        assert!(
            matches!(error, spiegel_publish::PublishError::Sync(_)),
            "{error}"
        );
        assert!(
            !dir.path()
                .join("out")
                .join(spiegel_publish::MANIFEST)
                .exists()
        );
        assert_eq!(committed_offset(dir.path()), 0);
        // Once the store syncs again, the release is published.
        assert!(publish(dir.path(), || Ok(())).unwrap().published.is_some());
    }

    #[test]
    fn a_release_that_cannot_be_recorded_is_not_published_until_it_is() {
        // Issue 26: a change that cannot be audited does not happen; a release included.
        let dir = tempfile::tempdir().unwrap();
        aggregated(dir.path());
        let data_dir = dir.path().join("data");
        let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
        let recording = Arc::new(Mutex::new(false));
        let recorded = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut stage = publish_stage(
            PublishConfig::default(),
            &data_dir,
            None,
            &dir.path().join("out"),
            &transport,
        )
        .unwrap()
        .with_recorder({
            let (recording, recorded) = (Arc::clone(&recording), Arc::clone(&recorded));
            move |release| {
                if !*recording.lock().unwrap() {
                    return Err(std::io::Error::other("the audit log cannot be written"));
                }
                recorded.lock().unwrap().push(release.to_owned());
                Ok(())
            }
        });
        let manifest = dir.path().join("out").join(spiegel_publish::MANIFEST);
        for _ in 0..2 {
            let error = stage.run_until_idle().unwrap_err();
            assert!(
                matches!(error, spiegel_publish::PublishError::Unrecorded { .. }),
                "{error}"
            );
            assert!(!manifest.exists());
            assert_eq!(committed_offset(dir.path()), 0);
        }
        // Recordable again: the same stage publishes the release in hand, recorded first.
        *recording.lock().unwrap() = true;
        let published = stage.run_until_idle().unwrap().published.unwrap();
        assert!(manifest.exists());
        assert_eq!(*recorded.lock().unwrap(), [published.release]);
    }
}
