/// Result alias for this crate.
pub type Result<T, E = AggregateError> = std::result::Result<T, E>;

/// Failures of the aggregate stage. None carries a pseudonym.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A file or directory of the state could not be read or written.
    #[error("aggregate state at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A topic could not be read or written.
    #[error(transparent)]
    Transport(#[from] spiegel_transport::TransportError),
    /// A message or stored submission is not a pseudonymised submission batch.
    #[error("not a pseudonymised submission: {0}")]
    Malformed(String),
    /// Arrow could not encode or decode a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Pseudonyms of a newer K2 version than the one this stage is switched to.
    #[error(
        "pseudonyms of stage-2 key version {found} arrive, but this aggregate stage is on \
         version {in_force}: switch it to version {found} (SPIEGEL_KEY_VERSION; see the \
         key-rotation runbook in deploy/README.md); nothing was taken from the topic"
    )]
    NewerKeyVersion {
        /// The version of the arriving pseudonyms.
        found: u32,
        /// The version this stage accepts.
        in_force: u32,
    },
    /// The configuration could not be serialised for the release id.
    #[error("configuration: {0}")]
    Config(#[from] serde_json::Error),
}

impl AggregateError {
    /// An IO failure on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
