/// Result alias for this crate.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Failures of the serving foundations.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A state file (tokens, audit log) could not be read or written.
    #[error("serving state: {0}")]
    Io(#[from] std::io::Error),
    /// A state file is not valid JSON of the expected shape.
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
    /// A client certificate or subject named on the command line is not usable.
    #[error("{0}")]
    InvalidCertificate(String),
    /// The TLS certificate, key or client CA cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// No token has this id.
    #[error("no token with id {0}")]
    UnknownToken(String),
    /// The report store cannot be opened.
    #[error("the report store {location} cannot be opened: {source}")]
    ReportStore {
        /// Where it is.
        location: String,
        /// Why not.
        #[source]
        source: object_store::Error,
    },
    /// An audit checkpoint cannot be written or read where it is kept.
    #[error("audit checkpoints: {0}")]
    Checkpoint(String),
    /// The state database cannot be opened, read or written.
    #[error(transparent)]
    State(#[from] spiegel_state::StateError),
}

/// The audit chain's failures are this crate's, variant for variant, so that callers matching
/// on them and the messages they show are as before the chain moved to `spiegel-audit`.
impl From<spiegel_audit::AuditError> for ServeError {
    fn from(e: spiegel_audit::AuditError) -> Self {
        use spiegel_audit::AuditError;
        match e {
            AuditError::Io(e) => Self::Io(e),
            AuditError::Corrupt { path, what } => Self::Corrupt { path, what },
            AuditError::InvalidPrincipal(what) => Self::InvalidPrincipal(what),
            AuditError::Checkpoint(what) => Self::Checkpoint(what),
        }
    }
}

/// A JSON state file of the data directory, or the empty default when there is none yet; a
/// file that is not the expected JSON is [`ServeError::Corrupt`], never silently empty.
pub(crate) fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &std::path::Path,
) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupt {
            path: path.to_owned(),
            what: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e.into()),
    }
}

/// Writes a JSON state file atomically, readable by the server's user only: the token hashes,
/// certificate mappings and webhook secrets are nobody else's business.
pub(crate) fn write_json_private<T: serde::Serialize + ?Sized>(
    path: &std::path::Path,
    value: &T,
) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| ServeError::Corrupt {
        path: path.to_owned(),
        what: e.to_string(),
    })?;
    json.push(b'\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spiegel_core::durable::write_private_atomically(path, &json)?;
    Ok(())
}
