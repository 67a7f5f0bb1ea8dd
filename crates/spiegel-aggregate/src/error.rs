/// Result alias for this crate.
pub type Result<T, E = AggregateError> = std::result::Result<T, E>;

/// Failures of the aggregate stage. None carries a pseudonym.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The state directory could not be read or written.
    #[error("aggregate state: {0}")]
    Io(#[from] std::io::Error),
    /// A topic could not be read or written.
    #[error(transparent)]
    Transport(#[from] spiegel_transport::TransportError),
    /// A message or stored submission is not a pseudonymised submission batch.
    #[error("not a pseudonymised submission: {0}")]
    Malformed(String),
    /// Arrow could not encode or decode a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The configuration could not be serialised for the release id.
    #[error("configuration: {0}")]
    Config(#[from] serde_json::Error),
}
