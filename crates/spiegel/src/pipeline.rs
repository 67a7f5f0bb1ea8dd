//! `spiegel run` and `spiegel demo`: the four stages in one process on the embedded
//! transport, their state in a data directory; and the stage builders and the claim of the
//! data directory every command driving the pipeline uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use spiegel_aggregate::{AggregateConfig, AggregateStage, PseudonymLabel};
use spiegel_core::durable::DirLock;
use spiegel_ingest::stage::{IngestStage, Submitted};
use spiegel_ingest::{IngestConfig, Receipt, SubmissionMeta};
use spiegel_pseudonymise::stage::PseudonymiseStage;
use spiegel_pseudonymise::{Pseudonymiser, SourceKey, TtpId, TtpKey};
use spiegel_publish::{Manifest, PublishConfig, PublishStage, ReportLocation};
use spiegel_transport::{EmbeddedTransport, Transport, topic};

use crate::config::PipelineConfig;
use crate::records;

/// What a run did.
#[derive(Debug, Default)]
pub(crate) struct RunSummary {
    pub(crate) sent: usize,
    pub(crate) unchanged: usize,
    pub(crate) rejected: Vec<String>,
    pub(crate) manifest: Option<Manifest>,
}

/// The files of an input directory of submissions.
#[derive(Debug, Default)]
pub(crate) struct InputFiles {
    /// The latest file per (provider, period), in name order.
    pub(crate) submissions: Vec<PathBuf>,
    /// Files whose name is not `<AGB>_<PERIOD>.<ext>`, each with its receipt, in name order.
    pub(crate) misnamed: Vec<(PathBuf, Receipt)>,
}

/// Whether a directory entry is left alone: a hidden file is an upload still being written
/// (it is renamed when complete) or a file system's own (`.DS_Store`), not a delivery.
pub(crate) fn hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The files in `input`: of the submissions, the latest per (provider, period) (a later file
/// replaces an earlier one, by modification time, then name); every other file that is not
/// hidden is misnamed and gets a rejecting receipt, so no delivery disappears unnoticed.
pub(crate) fn input_files(input: &Path, config: &IngestConfig) -> Result<InputFiles> {
    let mut latest: BTreeMap<String, (std::time::SystemTime, PathBuf)> = BTreeMap::new();
    let mut misnamed = Vec::new();
    for entry in std::fs::read_dir(input).with_context(|| format!("reading {}", input.display()))? {
        let path = entry?.path();
        if !path.is_file() || hidden(&path) {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = match SubmissionMeta::parse_file_name(&name) {
            Ok(meta) => meta,
            Err(problem) => {
                let receipt = Receipt::misnamed(&name, problem, config.max_rejected_share);
                misnamed.push((path, receipt));
                continue;
            }
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
    misnamed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(InputFiles {
        submissions: latest.into_values().map(|(_, p)| p).collect(),
        misnamed,
    })
}

/// The latest file per (provider, period) in `input`.
#[cfg(test)]
fn submissions_in(input: &Path) -> Result<Vec<PathBuf>> {
    Ok(input_files(input, &IngestConfig::default())?.submissions)
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

/// The demo keys in `dir` ([`crate::key_files::write_demo_pair`]).
pub(crate) fn demo_keys(dir: &Path) -> Result<(SourceKey, TtpKey)> {
    Ok((
        SourceKey::from_demo_file(&dir.join(crate::key_files::STAGE1))?,
        TtpKey::from_demo_file(&dir.join(crate::key_files::STAGE2))?,
    ))
}

/// K1 and K2 from `--keys`, or from the data directory, generated there on first use.
pub(crate) fn keys(keys: Option<&Path>, data_dir: &Path) -> Result<(SourceKey, TtpKey)> {
    let dir = match keys {
        Some(dir) => dir.to_owned(),
        None => {
            let dir = data_dir.join("keys");
            if !dir.join(crate::key_files::STAGE1).exists() {
                tracing::warn!(
                    dir = %dir.display(),
                    "no --keys given: generated a new K1 and K2 in the data directory; \
                     production keeps them apart, in secrets of their own"
                );
                crate::key_files::write_pair(&dir, 1, &TtpId::new("spiegel")?)?;
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
        SourceKey::from_file(&dir.join(crate::key_files::STAGE1)).with_context(read)?,
        TtpKey::from_file(&dir.join(crate::key_files::STAGE2)).with_context(read)?,
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

/// The publish stage writing to the report store at `out` (first clearing what a killed run
/// left staged in a local directory), its sharing registry and state under `data_dir`.
pub(crate) fn publish_stage(
    config: PublishConfig,
    data_dir: &Path,
    sharing: Option<&Path>,
    out: &ReportLocation,
    transport: &dyn Transport,
) -> Result<PublishStage> {
    if let Some(dir) = out.directory() {
        std::fs::create_dir_all(dir)?;
        remove_interrupted_uploads(dir)?;
    }
    out.verify()?;
    let store = out
        .open()
        .with_context(|| format!("opening the report store {out}"))?;
    let stage = PublishStage::new(
        config,
        &sharing.map_or_else(
            || data_dir.join(spiegel_serve::SHARING_FILE),
            Path::to_owned,
        ),
        &data_dir.join("publish"),
        store,
        transport.consumer(topic::AGGREGATES, spiegel_publish::GROUP)?,
        transport.producer()?,
    )?;
    // The local store writes without fsync: one sync of its file system per step costs less
    // than two fsyncs per report. An object store has every object durable once it answers.
    Ok(match out.directory() {
        Some(dir) => {
            let synced = dir.to_owned();
            stage.with_store_sync(move || spiegel_core::durable::sync_file_system(&synced))
        }
        None => stage,
    })
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
    let key_name = records::key_name(&label.ttp, label.version);
    let transport = EmbeddedTransport::open(&data_dir.join("transport"))?;
    let pseudonymised = pseudonymise_stage(ttp_key, versions, &transport)?.run_until_idle()?;
    let audit = records::audit_log(data_dir)?;
    records::record_key_use(&audit, &key_name, pseudonymised.submissions)?;
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
    out: &ReportLocation,
    data_dir: &Path,
    keys_from: Keys<'_>,
    config: &PipelineConfig,
) -> Result<RunSummary> {
    crate::inputs::readable_dir(input, "--input")?;
    if let Some(dir) = out.directory() {
        crate::inputs::dir_or_absent(dir, "--out")?;
    }
    crate::inputs::dir_or_absent(data_dir, "--data-dir")?;
    // Keys that were named are read before anything is created; only the data directory's
    // own keys may be generated, and only once the directory is claimed.
    let named_keys = match keys_from {
        Keys::Real(Some(dir)) => Some(keys(Some(dir), data_dir)?),
        Keys::Real(None) => None,
        Keys::Demo(dir) => Some(demo_keys(dir)?),
    };
    let _lock = claim(data_dir)?;
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
    let files = input_files(input, &config.ingest)?;
    for (_, receipt) in &files.misnamed {
        // Named as the receipt names it, which masks a name that could hold a BSN.
        let shown = input.join(receipt.file.as_deref().unwrap_or_default());
        summary
            .rejected
            .push(format!("{}: {}", shown.display(), receipt.to_text()));
    }
    // Files are read and validated a few at a time, each on every core it can use, and sent
    // on in name order: the order in which a later file replaces an earlier one.
    for window in files.submissions.chunks(INGEST_WINDOW) {
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
    let audit = Arc::new(records::audit_log(data_dir)?);
    let pseudonymised = pseudonymise.run_until_idle()?;
    records::record_key_use(
        &audit,
        &records::key_name(&label.ttp, label.version),
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
        .with_recorder(records::release_recorder(Arc::clone(&audit)));
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
        summary.manifest = publish.current_manifest()?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
