/// Result alias for this crate.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;

/// Failures of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A page could not be written, or the annotation registry read.
    #[error("render output: {0}")]
    Io(#[from] std::io::Error),
    /// The report store refused a read.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A report file is not valid Parquet.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The arrow data of a report could not be read.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The store has no manifest, or one that is not valid JSON.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A report file does not have the layout of docs/reports.md.
    #[error("report {path}: {what}")]
    Malformed {
        /// The report file.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// The requested report is not in the current release.
    #[error("no report {0} in the current release")]
    NotFound(String),
    /// The sharing registry or its ledger could not be read.
    #[error(transparent)]
    Sharing(#[from] spiegel_publish::PublishError),
    /// The annotation registry is not valid JSON of the expected shape, or an annotation
    /// breaks its rules.
    #[error("annotation registry {path}: {what}")]
    Annotations {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        what: String,
    },
}
