//! What can go wrong with the log, its checkpoints or a principal's name.

/// Result alias for this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// Failures of the audit log. The messages are those `spiegel-serve`'s `ServeError` shows for
/// the same failures, so that an error reads the same whichever crate reports it.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log, its head, key or a checkpoint file could not be read or written.
    #[error("serving state: {0}")]
    Io(#[from] std::io::Error),
    /// The log, its head or key is not what was written.
    #[error("{path}: {what}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A principal named on the command line or in a request is not valid.
    #[error("{0}")]
    InvalidPrincipal(String),
    /// An audit checkpoint cannot be written or read where it is kept.
    #[error("audit checkpoints: {0}")]
    Checkpoint(String),
}
