use spiegel_pseudonymise::TokenError;
use spiegel_transport::Fault;

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
    /// A pseudonym of a row cannot be linked.
    #[error("not a pseudonymised submission: row {row}: {source}")]
    Pseudonym {
        /// The row, from 0.
        row: usize,
        /// Why; never the pseudonym.
        #[source]
        source: TokenError,
    },
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
    /// Whose fault the failure is when it arises from a message (see the `stage` module):
    /// a message that is damaged, no Arrow batch, or not a valid pseudonymised submission is
    /// its own ([`Fault::Message`], dead-lettered). A pseudonym of another TTP is the
    /// environment's, like the state directory, the topics, the configuration and a newer
    /// K2 version ([`Fault::Environment`], the stage stops and is retried): the stage's
    /// `--ttp` not fitting the pseudonymise stage's key would otherwise send every message
    /// to the dead-letter topic.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Malformed(_)
            | Self::Arrow(_)
            | Self::Pseudonym {
                source: TokenError::Malformed | TokenError::UnknownVersion(_),
                ..
            } => Fault::Message,
            Self::Transport(e) => e.fault(),
            Self::Io { .. }
            | Self::Pseudonym {
                source: TokenError::OtherTtp,
                ..
            }
            | Self::NewerKeyVersion { .. }
            | Self::Config(_) => Fault::Environment,
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
    fn a_bad_message_is_its_own_fault_and_a_failing_environment_is_not() {
        for poison in [
            AggregateError::Malformed("no spiegel.provider in the batch metadata".into()),
            AggregateError::Arrow(arrow_schema::ArrowError::ParseError("not IPC".into())),
            AggregateError::Pseudonym {
                row: 3,
                source: TokenError::Malformed,
            },
        ] {
            assert_eq!(poison.fault(), Fault::Message, "{poison}");
        }
        for environment in [
            AggregateError::Io {
                path: "state".into(),
                source: std::io::Error::other("disk full"),
            },
            AggregateError::Transport(spiegel_transport::TransportError::Kafka(
                "broker down".into(),
            )),
            AggregateError::NewerKeyVersion {
                found: 2,
                in_force: 1,
            },
            AggregateError::Pseudonym {
                row: 0,
                source: TokenError::OtherTtp,
            },
        ] {
            assert_eq!(environment.fault(), Fault::Environment, "{environment}");
        }
    }
}
