//! `spiegel audit verify`: checking the record of what was done.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use spiegel_audit::{Action, AuditLog};

use crate::args::Operator;
use crate::records::{audit_options, record};

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

/// Runs `spiegel audit verify`: exit code 0 when the chain is intact, 1 when it is broken.
pub(crate) fn run(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { operator } = command;
    let actor = operator.actor()?;
    operator.existing_data_dir()?;
    let options = audit_options(&operator.data_dir, operator.audit_checkpoints.as_deref())?;
    let report = spiegel_audit::verify_with(&operator.data_dir, options.sink.as_ref())?;
    let file = operator.data_dir.join(spiegel_audit::AUDIT_FILE);
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

fn display(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
