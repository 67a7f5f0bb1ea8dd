use spiegel_transport::Fault;

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
    /// The threads for the report store's I/O could not be started.
    #[error("the threads for the report store's I/O could not be started: {0}")]
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
    /// The report store cannot be used: a bucket that does not exist or that these
    /// credentials may not list.
    #[error("the report store {location} cannot be used: {reason}")]
    Unusable {
        /// The store's location.
        location: String,
        /// Why not.
        reason: String,
    },
    /// The manifest in the report store is not one this stage writes.
    #[error("the manifest.json in the report store cannot be read: {0}")]
    Manifest(#[source] serde_json::Error),
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
    /// Whose fault the failure is when it arises from a message (see the `stage` module):
    /// a master-table part that is not what the aggregate stage sends is its own
    /// ([`Fault::Message`], dead-lettered). The state directory, the object store, the
    /// topics, the configuration, the sharing registry, the audit log and the attacker audit
    /// are the environment's ([`Fault::Environment`], the stage stops and is retried).
    pub fn fault(&self) -> Fault {
        match self {
            Self::Malformed(_) | Self::Arrow(_) => Fault::Message,
            Self::Transport(e) => e.fault(),
            Self::Io { .. }
            | Self::StateFile { .. }
            | Self::Runtime(_)
            | Self::Sync(_)
            | Self::Store(_)
            | Self::Parquet(_)
            | Self::Manifest(_)
            | Self::Unusable { .. }
            | Self::Config(_)
            | Self::Sharing { .. }
            | Self::Audit(_)
            | Self::Unrecorded { .. }
            | Self::Conflict(_) => Fault::Environment,
        }
    }

    /// An IO failure on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_part_is_its_own_fault_and_an_unreachable_store_is_not() {
        assert_eq!(
            PublishError::Malformed("no spiegel.part".into()).fault(),
            Fault::Message
        );
        assert_eq!(
            PublishError::Arrow(arrow_schema::ArrowError::IpcError("not IPC".into())).fault(),
            Fault::Message
        );
        let unreachable = object_store::Error::Generic {
            store: "s3",
            source: "connection refused".into(),
        };
        assert_eq!(PublishError::Store(unreachable).fault(), Fault::Environment);
        assert_eq!(
            PublishError::Sync(std::io::Error::other("disk full")).fault(),
            Fault::Environment
        );
    }
}
