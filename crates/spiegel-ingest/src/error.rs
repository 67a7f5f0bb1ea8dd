/// Result alias for this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Failures that prevent a receipt from being written at all. Everything about the content of
/// a submission, including limits, is reported in the [`crate::Receipt`] instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the input failed.
    #[error("reading the submission failed: {0}")]
    Io(#[from] std::io::Error),
    /// A submission file name that is not `<AGB>_<PERIOD>.<csv|jsonl|parquet>`.
    #[error(
        "bestandsnaam '{name}' moet de vorm <AGB>_<PERIODE>.<csv|jsonl|parquet> hebben, bijv. 12345678_2026-H1.csv ({reason}) / file name '{name}' must look like <AGB>_<PERIOD>.<csv|jsonl|parquet>, e.g. 12345678_2026-H1.csv ({reason})"
    )]
    FileName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Handing the submission on to the next stage failed.
    #[error("sending the submission on failed: {0}")]
    Stage(String),
}
