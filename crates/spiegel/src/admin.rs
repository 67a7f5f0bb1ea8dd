//! `spiegel tokens`, `spiegel certs` and `spiegel audit`: the operator's tools for who may
//! call the API and for checking the record of what was done.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use spiegel_serve::{
    Action, Actor, AuditLog, CertificateRegistry, CertificateSubject, Entry, Outcome, Principal,
    SubjectRef, TokenStore,
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
}

impl Operator {
    fn actor(&self) -> anyhow::Result<Actor> {
        Ok(Actor::Principal(Principal::operator(&self.by)?))
    }
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
            let log = AuditLog::open(&operator.data_dir)?;
            CertificateRegistry::open(&operator.data_dir)?.add(
                &subject,
                principal.clone(),
                &spiegel_serve::now(),
            )?;
            record(
                &log,
                actor,
                Action::CertificateAdd,
                subject.text(),
                Some(principal.clone()),
            )?;
            println!(
                "client certificates with subject {} stand for {principal}",
                subject.text()
            );
        }
        CertsCommand::List { operator } => {
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
            let log = AuditLog::open(&operator.data_dir)?;
            let mut registry = CertificateRegistry::open(&operator.data_dir)?;
            let (principal, text) = match (&subject.cert, &subject.subject) {
                (Some(cert), _) => {
                    let subject = CertificateSubject::of_pem_file(cert)?;
                    let principal = registry.remove(SubjectRef::Subject(&subject))?;
                    (principal, subject.text().to_owned())
                }
                (_, Some(text)) => (registry.remove(SubjectRef::Text(text))?, text.clone()),
                // clap's group makes exactly one of them present.
                _ => anyhow::bail!("name one of --cert or --subject"),
            };
            record(
                &log,
                actor,
                Action::CertificateRemove,
                &text,
                Some(principal.clone()),
            )?;
            println!("client certificates with subject {text} no longer stand for {principal}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Checks the whole hash chain of the audit log. Exit code 0: intact; 1: broken (the first
    /// broken line is named, and nothing is appended).
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
            let log = AuditLog::open(&operator.data_dir)?;
            let mut store = TokenStore::open(&operator.data_dir)?;
            let issued = store.create(principal.clone(), &spiegel_serve::now())?;
            record(
                &log,
                actor,
                Action::TokenCreate,
                &issued.id,
                Some(principal.clone()),
            )?;
            println!(
                "token {} for {principal} (shown once; Spiegel keeps only its hash):\n{}",
                issued.id, issued.token
            );
        }
        TokensCommand::List { operator } => {
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
            let log = AuditLog::open(&operator.data_dir)?;
            let mut store = TokenStore::open(&operator.data_dir)?;
            let principal = store.revoke(id, &spiegel_serve::now())?;
            record(
                &log,
                actor,
                Action::TokenRevoke,
                id,
                Some(principal.clone()),
            )?;
            println!("token {id} of {principal} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { operator } = command;
    let actor = operator.actor()?;
    let report = spiegel_serve::verify(&operator.data_dir)?;
    let file = operator.data_dir.join(spiegel_serve::AUDIT_FILE);
    match report.broken {
        Some(broken) => {
            println!(
                "audit log {} is BROKEN at line {}: {} (records intact before it: {})",
                file.display(),
                broken.line,
                broken.reason,
                report.records
            );
            Ok(ExitCode::from(1))
        }
        None => {
            // Reading the log is itself an action on it.
            let log = AuditLog::open(&operator.data_dir)?;
            record(&log, actor, Action::AuditRead, &display(&file), None)?;
            println!(
                "audit log {} is intact: {} records, every link checked",
                file.display(),
                report.records
            );
            Ok(ExitCode::SUCCESS)
        }
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
