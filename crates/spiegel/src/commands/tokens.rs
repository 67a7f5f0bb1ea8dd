//! `spiegel tokens`: the bearer tokens of the HTTP API.

use std::process::ExitCode;

use clap::Subcommand;
use spiegel_audit::Action;

use crate::args::{Operator, PrincipalArgs};
use crate::records::{record, record_error};

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

/// Runs a `spiegel tokens` command.
pub(crate) fn run(command: &TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create {
            principal,
            operator,
        } => {
            let principal = principal.principal()?;
            let actor = operator.actor()?;
            let log = operator.audit_log()?;
            let state = operator.state()?;
            // Recorded before the token is stored: one that cannot be recorded is not made.
            let issued = state.run(state.tokens().create_recorded(
                principal.clone(),
                &spiegel_serve::now(),
                |id| {
                    record(
                        &log,
                        actor.clone(),
                        Action::TokenCreate,
                        id,
                        Some(principal.clone()),
                    )
                    .map_err(|e| {
                        spiegel_serve::ServeError::Io(std::io::Error::other(e.to_string()))
                    })
                },
            ));
            let issued = issued?;
            println!(
                "token {} for {principal} (shown once; Spiegel keeps only its hash):\n{}",
                issued.id, issued.token
            );
        }
        TokensCommand::List { operator } => {
            operator.existing_data_dir()?;
            let state = operator.state()?;
            for token in state.run(state.tokens().list())? {
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
            let state = operator.state()?;
            let store = state.tokens();
            let Some(principal) = state.run(store.principal_of(id))? else {
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
            if let Err(e) = state.run(store.revoke(id, &spiegel_serve::now())) {
                record_error(&log, actor, Action::TokenRevoke, id);
                return Err(e.into());
            }
            println!("token {id} of {principal} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
