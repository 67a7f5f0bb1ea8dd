use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = PseudonymiseError> = std::result::Result<T, E>;

/// Errors of key handling. None of them ever carries key material.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymiseError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A key file already exists; keys are never overwritten.
    #[error("key file {0} already exists; refusing to overwrite a key")]
    KeyExists(PathBuf),
    /// An environment variable named as a key source is not set.
    #[error("environment variable {0} is not set")]
    KeyEnvMissing(String),
    /// The key text is not in the Spiegel key format.
    #[error("{origin}: not a Spiegel key ({reason})")]
    KeyFormat {
        /// Where the key came from (a path or an environment variable name).
        origin: String,
        /// What is wrong, without any of the key text.
        reason: &'static str,
    },
    /// A stage-1 key was given where a stage-2 key was needed, or the reverse.
    #[error("{origin}: this is a stage-{found} key, a stage-{expected} key is needed")]
    WrongStage {
        /// Where the key came from.
        origin: String,
        /// The stage required.
        expected: u8,
        /// The stage found.
        found: u8,
    },
    /// A demo key, derived from the public seed of `spiegel demo`, was given for real data.
    #[error(
        "{origin}: this is a demo key, derived by `spiegel demo` from a public seed, so it \
         protects nothing and is refused outside the demo; for real data make keys with \
         `spiegel keys generate --out DIR` and name DIR with --keys"
    )]
    DemoKey {
        /// Where the key came from.
        origin: String,
    },
    /// `spiegel demo` was given a key that is not a demo key.
    #[error(
        "{origin}: not a demo key; spiegel demo only uses the keys it derives itself, so a \
         real key never meets its public data (remove the demo directory and run it again)"
    )]
    NotADemoKey {
        /// Where the key came from.
        origin: String,
    },
    /// A TTP id that is not 1..=32 characters of `a-z`, `0-9` and `-`.
    #[error("TTP id must be 1 to 32 characters a-z, 0-9 or '-'")]
    InvalidTtpId,
    /// The system random source failed.
    #[error("the system random number generator failed")]
    Random,
}
