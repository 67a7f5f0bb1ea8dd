/// Result alias for this crate.
pub type Result<T, E = PublishError> = std::result::Result<T, E>;

/// Failures of the publish stage.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A file or directory of the stage's state, the sharing registry or its ledger could
    /// not be read or written.
    #[error("publish state at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file of the stage's state is not what the stage writes there.
    #[error("publish state file {path} cannot be read: {reason}")]
    StateFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The stage's worker threads could not be started.
    #[error("the publish stage's threads could not be started: {0}")]
    Runtime(#[source] std::io::Error),
    /// The report store's writes could not be made durable; the release is not announced.
    #[error("the report store could not be synced to disk: {0}")]
    Sync(#[source] std::io::Error),
    /// A topic could not be read or written.
    #[error(transparent)]
    Transport(#[from] spiegel_transport::TransportError),
    /// The object store refused a read or write.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Arrow could not encode or decode a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Parquet could not be written.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A master-table message is not what the aggregate stage sends.
    #[error("not a master-table part: {0}")]
    Malformed(String),
    /// The configuration breaks a rule of docs/release-rules.md.
    #[error("configuration: {0}")]
    Config(String),
    /// The sharing registry is not valid JSON of the expected shape.
    #[error("sharing registry {path}: {source}")]
    Sharing {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The attacker audit found a suppressed cell that could be recovered; nothing is
    /// published.
    #[error("attacker audit failed for {0}")]
    Audit(String),
    /// The release could not be recorded before it was published (the audit log cannot be
    /// written), so it was not published.
    #[error("release {release} not published: it could not be recorded first ({reason})")]
    Unrecorded {
        /// The release.
        release: String,
        /// Why not.
        reason: String,
    },
    /// A report path of this release already holds different bytes: another writer, or a
    /// configuration or sharing registry that changed while the release was being written.
    #[error("report {0} already exists with other content; nothing overwritten")]
    Conflict(String),
}

impl PublishError {
    /// An IO failure on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
