//! `spiegel tokens`, `spiegel certs` and `spiegel audit`: the operator's tools for who may
//! call the API and for checking the record of what was done.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use spiegel_serve::{
    Action, Actor, AuditLog, AuditOptions, CertificateRegistry, CertificateSubject, CheckpointSink,
    DirectorySink, Entry, Outcome, Principal, SubjectRef, TokenStore,
};

/// Who runs the command, for the audit log.
#[derive(Debug, Args)]
pub(crate) struct Operator {
    /// The data directory holding tokens.json and the audit log.
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    data_dir: PathBuf,
    /// The operator running this command, as recorded in the audit log.
    #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
    by: String,
    /// Where the audit log's checkpoints are: a directory, or `kafka` (see `spiegel serve
    /// --help`). Default: audit-checkpoints/ in the data directory.
    #[arg(long, env = "SPIEGEL_AUDIT_CHECKPOINTS")]
    audit_checkpoints: Option<String>,
}

impl Operator {
    fn actor(&self) -> anyhow::Result<Actor> {
        Ok(Actor::Principal(Principal::operator(&self.by)?))
    }

    /// Commands that read or change what is there need a data directory that exists; they
    /// must not create one (and an audit log in it) around a mistyped path.
    fn existing_data_dir(&self) -> anyhow::Result<()> {
        crate::inputs::readable_dir(&self.data_dir, "--data-dir")
    }

    fn audit_log(&self) -> anyhow::Result<AuditLog> {
        open_audit_log(&self.data_dir, self.audit_checkpoints.as_deref())
    }
}

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

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Creates a bearer token for one principal and prints it once; only its hash is kept.
    Create {
        #[command(flatten)]
        principal: PrincipalArgs,
        #[command(flatten)]
        operator: Operator,
    },
    /// Lists the tokens: id, principal, created, revoked (never a token or its hash).
    List {
        #[command(flatten)]
        operator: Operator,
    },
    /// Revokes a token by its id; it authenticates nobody from then on.
    Revoke {
        /// The token's id (as `list` shows it).
        id: String,
        #[command(flatten)]
        operator: Operator,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Registers the subject of a client certificate for one principal: from then on every
    /// certificate with that subject issued by the configured client CA authenticates as it
    /// (a renewed certificate included).
    Add {
        /// PEM file with the client's certificate (the first certificate counts).
        #[arg(long)]
        cert: PathBuf,
        #[command(flatten)]
        principal: PrincipalArgs,
        #[command(flatten)]
        operator: Operator,
    },
    /// Lists the registered subjects and whom they stand for.
    List {
        #[command(flatten)]
        operator: Operator,
    },
    /// Removes a registered subject; its certificates authenticate nobody from then on.
    Remove {
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        operator: Operator,
    },
}

/// A subject: from a certificate, or as `spiegel certs list` shows it.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SubjectArgs {
    /// PEM file with a certificate of that subject.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The subject as `spiegel certs list` shows it.
    #[arg(long)]
    subject: Option<String>,
}

/// Exactly one principal.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PrincipalArgs {
    /// A provider, by AGB code.
    #[arg(long)]
    provider: Option<String>,
    /// A municipality, by CBS code GMxxxx.
    #[arg(long)]
    gemeente: Option<String>,
    /// An operator, by name.
    #[arg(long)]
    operator: Option<String>,
}

impl PrincipalArgs {
    fn principal(&self) -> anyhow::Result<Principal> {
        Ok(match (&self.provider, &self.gemeente, &self.operator) {
            (Some(agb), _, _) => Principal::provider(agb)?,
            (_, Some(code), _) => Principal::gemeente(code)?,
            (_, _, Some(name)) => Principal::operator(name)?,
            // clap's group makes exactly one of them present.
            _ => anyhow::bail!("name one of --provider, --gemeente or --operator"),
        })
    }
}

pub(crate) fn certs(command: &CertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertsCommand::Add {
            cert,
            principal,
            operator,
        } => {
            let principal = principal.principal()?;
            let subject = CertificateSubject::of_pem_file(cert)?;
            let actor = operator.actor()?;
            let log = operator.audit_log()?;
            let mut registry = CertificateRegistry::open(&operator.data_dir)?;
            // Recorded first: a change that cannot be recorded does not happen.
            record(
                &log,
                actor.clone(),
                Action::CertificateAdd,
                subject.text(),
                Some(principal.clone()),
            )?;
            if let Err(e) = registry.add(&subject, principal.clone(), &spiegel_serve::now()) {
                record_error(&log, actor, Action::CertificateAdd, subject.text());
                return Err(e.into());
            }
            println!(
                "client certificates with subject {} stand for {principal}",
                subject.text()
            );
        }
        CertsCommand::List { operator } => {
            operator.existing_data_dir()?;
            for registered in CertificateRegistry::open(&operator.data_dir)?.list() {
                println!(
                    "{:<20}  added {}  {}",
                    registered.principal.to_string(),
                    registered.added,
                    registered.subject
                );
            }
        }
        CertsCommand::Remove { subject, operator } => {
            let actor = operator.actor()?;
            let certificate = subject
                .cert
                .as_deref()
                .map(CertificateSubject::of_pem_file)
                .transpose()?;
            operator.existing_data_dir()?;
            let log = operator.audit_log()?;
            let mut registry = CertificateRegistry::open(&operator.data_dir)?;
            let (which, text) = match (&certificate, &subject.subject) {
                (Some(subject), _) => (SubjectRef::Subject(subject), subject.text().to_owned()),
                (_, Some(text)) => (SubjectRef::Text(text), text.clone()),
                // clap's group makes exactly one of them present.
                _ => anyhow::bail!("name one of --cert or --subject"),
            };
            let registered = registry
                .list()
                .into_iter()
                .find(|c| c.subject == text)
                .map(|c| c.principal);
            // Recorded first (when there is something to remove): a change that cannot be
            // recorded does not happen.
            if registered.is_some() {
                record(
                    &log,
                    actor.clone(),
                    Action::CertificateRemove,
                    &text,
                    registered.clone(),
                )?;
            }
            let principal = match registry.remove(which) {
                Ok(principal) => principal,
                Err(e) => {
                    if registered.is_some() {
                        record_error(&log, actor, Action::CertificateRemove, &text);
                    }
                    return Err(e.into());
                }
            };
            println!("client certificates with subject {text} no longer stand for {principal}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Checks the whole keyed hash chain of the audit log with its key (audit.key) and against
    /// its checkpoints (`--audit-checkpoints`). Exit code 0: intact (the check is recorded and
    /// anchored); 1: broken (the first broken line is named, and nothing is appended).
    Verify {
        #[command(flatten)]
        operator: Operator,
    },
}

pub(crate) fn tokens(command: &TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create {
            principal,
            operator,
        } => {
            let principal = principal.principal()?;
            let actor = operator.actor()?;
            let log = operator.audit_log()?;
            let mut store = TokenStore::open(&operator.data_dir)?;
            // Recorded before the token is stored: one that cannot be recorded is not made.
            let issued = store.create_recorded(principal.clone(), &spiegel_serve::now(), |id| {
                record(
                    &log,
                    actor.clone(),
                    Action::TokenCreate,
                    id,
                    Some(principal.clone()),
                )
                .map_err(|e| spiegel_serve::ServeError::Io(std::io::Error::other(e.to_string())))
            });
            let issued = issued?;
            println!(
                "token {} for {principal} (shown once; Spiegel keeps only its hash):\n{}",
                issued.id, issued.token
            );
        }
        TokensCommand::List { operator } => {
            operator.existing_data_dir()?;
            for token in TokenStore::open(&operator.data_dir)?.list() {
                println!(
                    "{}  {:<20}  created {}{}",
                    token.id,
                    token.principal.to_string(),
                    token.created,
                    token
                        .revoked
                        .map(|at| format!("  revoked {at}"))
                        .unwrap_or_default()
                );
            }
        }
        TokensCommand::Revoke { id, operator } => {
            let actor = operator.actor()?;
            operator.existing_data_dir()?;
            let log = operator.audit_log()?;
            let mut store = TokenStore::open(&operator.data_dir)?;
            let Some(principal) = store.principal_of(id).cloned() else {
                return Err(spiegel_serve::ServeError::UnknownToken(id.clone()).into());
            };
            // Recorded first: a revocation that cannot be recorded does not happen (and the
            // operator sees why).
            record(
                &log,
                actor.clone(),
                Action::TokenRevoke,
                id,
                Some(principal.clone()),
            )?;
            if let Err(e) = store.revoke(id, &spiegel_serve::now()) {
                record_error(&log, actor, Action::TokenRevoke, id);
                return Err(e.into());
            }
            println!("token {id} of {principal} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { operator } = command;
    let actor = operator.actor()?;
    operator.existing_data_dir()?;
    let options = audit_options(&operator.data_dir, operator.audit_checkpoints.as_deref())?;
    let report = spiegel_serve::verify_with(&operator.data_dir, options.sink.as_ref())?;
    let file = operator.data_dir.join(spiegel_serve::AUDIT_FILE);
    match report.broken {
        Some(broken) => {
            println!(
                "audit log {} is BROKEN at line {}: {} (records intact before it: {}; \
                 checkpoints in {}: {})",
                file.display(),
                broken.line,
                broken.reason,
                report.records,
                options.sink.describe(),
                report.checkpoints
            );
            Ok(ExitCode::from(1))
        }
        None => {
            // Reading the log is itself an action on it; what was verified is anchored.
            let log = AuditLog::open_with(&operator.data_dir, options.clone())?;
            record(&log, actor, Action::AuditRead, &display(&file), None)?;
            log.checkpoint()?;
            println!(
                "audit log {} is intact: {} records, every link checked with the audit key, \
                 {} checkpoints in {} agree (the last anchors record {})",
                file.display(),
                report.records,
                report.checkpoints,
                options.sink.describe(),
                report.anchored
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Appends a record of an action that failed after it was recorded; a failure to record that
/// is logged, since the failure of the action itself is what the operator is told.
fn record_error(log: &AuditLog, actor: Actor, action: Action, object: &str) {
    let entry = Entry {
        actor,
        on_behalf_of: None,
        action,
        object: object.to_owned(),
        outcome: Outcome::Error,
    };
    if let Err(e) = log.append(entry, &spiegel_serve::now()) {
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
        &spiegel_serve::now(),
    )?;
    Ok(())
}

fn display(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
