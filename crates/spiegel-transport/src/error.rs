/// Result alias for this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// What can go wrong reaching a topic.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Reading or writing the data directory failed.
    #[error("transport storage at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored message or offset is damaged.
    #[error("transport storage at {path} is damaged: {reason}")]
    Corrupt {
        /// The file involved.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A topic or group name that cannot be used.
    #[error("invalid topic or group name '{0}'")]
    InvalidName(String),
    /// The Kafka cluster refused or failed an operation.
    #[error("kafka: {0}")]
    Kafka(String),
}

impl TransportError {
    /// Always the environment's: a damaged message is no error of the transport but a
    /// [`crate::Message::damaged`] handed out, so what fails here is the storage, the
    /// cluster or a name the configuration gave.
    pub fn fault(&self) -> crate::Fault {
        crate::Fault::Environment
    }
}
