//! `spiegel certs`: the client-certificate subjects of the HTTP API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use spiegel_audit::Action;

use crate::args::{Operator, PrincipalArgs};
use crate::records::{record, record_error};
use spiegel_serve::{CertificateSubject, SubjectRef};

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

/// Runs a `spiegel certs` command.
pub(crate) fn run(command: &CertsCommand) -> anyhow::Result<ExitCode> {
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
            let state = operator.state()?;
            // Recorded first: a change that cannot be recorded does not happen.
            record(
                &log,
                actor.clone(),
                Action::CertificateAdd,
                subject.text(),
                Some(principal.clone()),
            )?;
            let added = state.run(state.certificates().add(
                &subject,
                principal.clone(),
                &spiegel_serve::now(),
            ));
            if let Err(e) = added {
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
            let state = operator.state()?;
            for registered in state.run(state.certificates().list())? {
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
            let state = operator.state()?;
            let registry = state.certificates();
            let (which, text) = match (&certificate, &subject.subject) {
                (Some(subject), _) => (SubjectRef::Subject(subject), subject.text().to_owned()),
                (_, Some(text)) => (SubjectRef::Text(text), text.clone()),
                // clap's group makes exactly one of them present.
                _ => anyhow::bail!("name one of --cert or --subject"),
            };
            let registered = state
                .run(registry.list())?
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
            let principal = match state.run(registry.remove(which)) {
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
