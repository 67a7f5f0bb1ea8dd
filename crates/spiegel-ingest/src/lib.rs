//! The ingest stage: reads a provider's submission (CSV, JSON Lines or Parquet), validates every
//! row against submission format v1 (docs/submission.md), merges rows with the same BIJ record key,
//! applies stage 1 of the pseudonymisation in memory, minimises, and answers with a [`Receipt`].
//!
//! ```no_run
//! # fn main() -> Result<(), spiegel_ingest::IngestError> {
//! use spiegel_ingest::{Ingest, IngestConfig, SubmissionMeta};
//! let meta = SubmissionMeta::from_file_name("12345678_2026-H1.csv")?;
//! let config = IngestConfig::default();
//! let outcome = Ingest::new(&config, &meta).read_path("12345678_2026-H1.csv".as_ref())?;
//! println!("{}", outcome.receipt.to_text());
//! # Ok(()) }
//! ```
//!
//! Everything is streamed: limits on bytes, rows, record and field length are enforced while
//! reading, and a BSN never appears in a receipt, an error or a log line.

mod column;
mod config;
mod error;
mod guard;
mod issue;
mod receipt;
mod record;
mod source;
pub mod stage;
mod validate;
pub mod wire;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use spiegel_core::{Agb, Period};
use spiegel_pseudonymise::{SourceKey, TtpId};

pub use column::Column;
pub use config::{IngestConfig, Limits};
pub use error::{IngestError, Result};
pub use issue::{FileIssue, FileNameProblem, HeaderProblem, Issue, IssueKind, Severity};
pub use receipt::{Counts, Receipt, Status};
pub use record::{
    NormalisedRecord, Subject, Trajectory, ValidRecord, normalised_schema, submission_schema,
};

/// The encodings a submission may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSV, comma or semicolon separated, UTF-8 with or without BOM, header row.
    Csv,
    /// JSON Lines, one object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The file extension and name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Parquet => "parquet",
        }
    }
}

impl Format {
    /// The format a file's extension names (`csv`, `jsonl`/`ndjson`, `parquet`), if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension()?.to_str()?.parse().ok()
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            "parquet" => Ok(Self::Parquet),
            _ => Err(format!("unknown format '{s}'; use csv, jsonl or parquet")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a submission is: whose, for which period, in which encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SubmissionMeta {
    /// The provider.
    pub provider: Agb,
    /// The period delivered.
    pub period: Period,
    /// The encoding.
    pub format: Format,
}

impl SubmissionMeta {
    /// Reads `<AGB>_<PERIOD>.<csv|jsonl|parquet>`, the naming convention of deliveries.
    pub fn from_file_name(name: &str) -> Result<Self> {
        Self::parse_file_name(name).map_err(|misnamed| {
            let (nl, en) = misnamed.problem.messages();
            IngestError::FileName {
                name: name.to_owned(),
                reason: format!("{nl} / {en}"),
            }
        })
    }

    /// Like [`SubmissionMeta::from_file_name`], keeping what the name does say when it fails,
    /// for the receipt of a misnamed file ([`Receipt::misnamed`]).
    pub fn parse_file_name(name: &str) -> std::result::Result<Self, Misnamed> {
        let mut misnamed = Misnamed {
            problem: FileNameProblem::Extension,
            provider: None,
            format: None,
        };
        let Some((stem, extension)) = name.rsplit_once('.') else {
            return Err(misnamed);
        };
        let Ok(format) = extension.parse::<Format>() else {
            return Err(misnamed);
        };
        misnamed.format = Some(format);
        let Some((agb, period)) = stem.split_once('_') else {
            misnamed.problem = FileNameProblem::Separator;
            return Err(misnamed);
        };
        let Ok(provider) = agb.parse::<Agb>() else {
            misnamed.problem = FileNameProblem::Provider;
            return Err(misnamed);
        };
        misnamed.provider = Some(provider);
        let Ok(period) = period.parse::<Period>() else {
            misnamed.problem = FileNameProblem::Period;
            return Err(misnamed);
        };
        Ok(Self {
            provider,
            period,
            format,
        })
    }
}

/// A file name that is not `<AGB>_<PERIOD>.<csv|jsonl|parquet>`: what is wrong with it and
/// what it did say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misnamed {
    /// The first thing wrong, reading from the extension back.
    pub problem: FileNameProblem,
    /// The provider, when the name has a valid AGB code.
    pub provider: Option<Agb>,
    /// The encoding, when the extension names one.
    pub format: Option<Format>,
}

/// The result of reading a submission.
#[derive(Debug)]
pub struct Ingested {
    /// The receipt for the provider.
    pub receipt: Receipt,
    /// The accepted records after merging, when stage 1 was applied and the submission was
    /// accepted; empty otherwise.
    pub records: Vec<ValidRecord>,
}

/// Reads one submission. Without a source key it only validates (what `spiegel validate` does
/// at the provider); with one it also tokenises and keeps the records.
#[derive(Debug, Clone, Copy)]
pub struct Ingest<'a> {
    config: &'a IngestConfig,
    meta: &'a SubmissionMeta,
    policy: validate::TokenPolicy<'a>,
}

impl<'a> Ingest<'a> {
    /// Validation only.
    pub fn new(config: &'a IngestConfig, meta: &'a SubmissionMeta) -> Self {
        Self {
            config,
            meta,
            policy: validate::TokenPolicy::default(),
        }
    }

    /// Applies stage 1 with `key` to raw BSNs and keeps the accepted records.
    pub fn tokenise_with(mut self, key: &'a SourceKey) -> Self {
        self.policy.source_key = Some(key);
        self
    }

    /// Accepts delivered client tokens only when made by one of `versions` of `ttp`'s K1.
    pub fn accept_tokens(mut self, ttp: &'a TtpId, versions: &'a [u32]) -> Self {
        self.policy.accepted = Some((ttp, versions));
        self
    }

    /// Reads a submission from a stream in the format of the metadata. A Parquet stream is
    /// held in memory (up to the byte limit) because Parquet is read from its footer.
    pub fn read<R: Read + Send>(self, input: R) -> Result<Ingested> {
        let limits = &self.config.limits;
        self.validate(|sink| match self.meta.format {
            // Parsed on a reading thread, validated on this one.
            Format::Csv => source::pipelined(|rows| source::csv::parse(input, limits, rows), sink),
            Format::Jsonl => {
                source::pipelined(|rows| source::jsonl::parse(input, limits, rows), sink)
            }
            Format::Parquet => {
                let mut bytes = Vec::new();
                input
                    .take(limits.max_bytes.saturating_add(1))
                    .read_to_end(&mut bytes)?;
                if bytes.len() as u64 > limits.max_bytes {
                    return Ok(Some(IssueKind::FileTooLarge {
                        max: limits.max_bytes,
                    }));
                }
                source::parquet::read(bytes::Bytes::from(bytes), limits, sink)
            }
        })
    }

    /// Reads a submission file; Parquet is read in place rather than into memory.
    pub fn read_path(self, path: &Path) -> Result<Ingested> {
        let file = std::fs::File::open(path)?;
        match self.meta.format {
            Format::Parquet => {
                self.validate(|sink| source::parquet::read(file, &self.config.limits, sink))
            }
            _ => self.read(file),
        }
    }

    /// Feeds the rows `read` produces to a validator and closes the submission.
    fn validate(
        self,
        read: impl FnOnce(&mut source::Sink<'_>) -> Result<source::SourceEnd>,
    ) -> Result<Ingested> {
        let mut validator = validate::Validator::new(self.config, self.meta, self.policy);
        let stopped = read(&mut |row| validator.row(row))?;
        let (receipt, records) = validator.finish(stopped);
        Ok(Ingested { receipt, records })
    }
}
