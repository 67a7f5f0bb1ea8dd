//! The records the commands and stages write to the audit log (key use, releases, operators'
//! actions), through `spiegel-audit`, which holds no part of the HTTP stack.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use spiegel_audit::{
    Action, Actor, AuditLog, AuditOptions, CheckpointSink, DirectorySink, Entry, Outcome, Principal,
};

/// How the audit log of `data_dir` is anchored: checkpoints in `location` (a directory, or
/// `kafka`; by default `SPIEGEL_AUDIT_CHECKPOINTS`, else audit-checkpoints/ in the data
/// directory), one per `SPIEGEL_AUDIT_CHECKPOINT_EVERY` records (default 100).
pub(crate) fn audit_options(
    data_dir: &Path,
    location: Option<&str>,
) -> anyhow::Result<AuditOptions> {
    let location = location
        .map(str::to_owned)
        .or_else(|| std::env::var("SPIEGEL_AUDIT_CHECKPOINTS").ok())
        .filter(|l| !l.is_empty());
    let mut options = AuditOptions::default_for(data_dir);
    if let Ok(every) = std::env::var("SPIEGEL_AUDIT_CHECKPOINT_EVERY") {
        options.checkpoint_every = every.parse().with_context(|| {
            format!("SPIEGEL_AUDIT_CHECKPOINT_EVERY={every:?} is not a number of records")
        })?;
    }
    let sink: Option<Arc<dyn CheckpointSink>> = match location.as_deref() {
        None => None,
        Some("kafka") => Some(kafka_checkpoints()?),
        Some(dir) => Some(Arc::new(DirectorySink::new(PathBuf::from(dir)))),
    };
    if let Some(sink) = sink {
        options.sink = sink;
    }
    Ok(options)
}

#[cfg(feature = "kafka")]
fn kafka_checkpoints() -> anyhow::Result<Arc<dyn CheckpointSink>> {
    Ok(Arc::new(crate::checkpoints::KafkaCheckpoints::from_env()?))
}

#[cfg(not(feature = "kafka"))]
fn kafka_checkpoints() -> anyhow::Result<Arc<dyn CheckpointSink>> {
    anyhow::bail!(
        "audit checkpoints on Kafka need a build with the kafka feature; name a directory \
         instead / auditcontrolepunten op Kafka vragen een build met de kafka-feature"
    )
}

/// The audit log of `data_dir`, anchored as [`audit_options`] says.
pub(crate) fn open_audit_log(data_dir: &Path, location: Option<&str>) -> anyhow::Result<AuditLog> {
    AuditLog::open_with(data_dir, audit_options(data_dir, location)?)
        .with_context(|| format!("opening the audit log in {}", data_dir.display()))
}

/// Appends a record of an action that failed after it was recorded; a failure to record that
/// is logged, since the failure of the action itself is what the operator is told.
pub(crate) fn record_error(log: &AuditLog, actor: Actor, action: Action, object: &str) {
    let entry = Entry {
        actor,
        on_behalf_of: None,
        action,
        object: object.to_owned(),
        outcome: Outcome::Error,
    };
    if let Err(e) = log.append(entry, &spiegel_audit::now()) {
        tracing::error!(error = %e, "the failure could not be recorded in the audit log");
    }
}

/// Appends a record of a successful action.
pub(crate) fn record(
    log: &AuditLog,
    actor: Actor,
    action: Action,
    object: &str,
    on_behalf_of: Option<Principal>,
) -> anyhow::Result<()> {
    log.append(
        Entry {
            actor,
            on_behalf_of,
            action,
            object: object.to_owned(),
            outcome: Outcome::Success,
        },
        &spiegel_audit::now(),
    )?;
    Ok(())
}

/// Records that the pseudonymise stage used the stage-2 key `key` on `submissions`
/// submissions (nothing when it had none).
pub(crate) fn record_key_use(
    audit: &AuditLog,
    key: &str,
    submissions: usize,
) -> anyhow::Result<()> {
    if submissions == 0 {
        return Ok(());
    }
    let object = format!("{key}: {submissions} submissions");
    record(
        audit,
        Actor::System("pseudonymise"),
        Action::KeyUse,
        &object,
        None,
    )
}

/// Records each release before the publish stage publishes it (its manifest makes it
/// readable): a release that cannot be recorded is not published.
pub(crate) fn release_recorder(
    audit: Arc<AuditLog>,
) -> impl Fn(&str) -> std::io::Result<()> + Send + 'static {
    move |release| {
        audit
            .append(
                Entry {
                    actor: Actor::System("publish"),
                    on_behalf_of: None,
                    action: Action::Release,
                    object: format!("release {release}"),
                    outcome: Outcome::Success,
                },
                &spiegel_audit::now(),
            )
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// The name of a stage-2 key in the audit log (never the key).
pub(crate) fn key_name(ttp: &impl std::fmt::Display, version: u32) -> String {
    format!("stage-2 key {ttp}.v{version}")
}

/// Opens the audit log of `data_dir` for a stage's records.
pub(crate) fn audit_log(data_dir: &Path) -> anyhow::Result<AuditLog> {
    open_audit_log(data_dir, None)
}
