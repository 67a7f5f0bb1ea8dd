//! Where the reports live: a local directory (the embedded default) or a bucket of an
//! S3-compatible object store (`s3://bucket/prefix`), behind the one [`ObjectStore`] every
//! reader and writer of reports takes.
//!
//! On S3 a report is created with a conditional put (`If-None-Match: *`, which Amazon S3 and
//! the S3-compatible servers Spiegel is tested against honour), so a publish stage restarted
//! between two objects finds the ones it wrote and converges to the same bytes, exactly as
//! with the create-only files of a local directory. Credentials, region and endpoint come from
//! the standard AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a plain-HTTP endpoint), as every
//! AWS tool reads them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;

use crate::{LocalReportStore, PublishError};

/// The scheme of an object-store location.
const S3_SCHEME: &str = "s3://";

/// Where the reports of a release are written and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportLocation {
    /// A directory on a local (or mounted) file system.
    Directory(PathBuf),
    /// A bucket of an S3-compatible object store, and the prefix under which the reports lie
    /// (never empty, never with a leading or trailing `/`): Spiegel owns everything under it,
    /// as it owns a directory, and deletes what no release names.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
}

/// A `--reports` value that names no usable location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a report location: {reason}")]
pub struct LocationError {
    given: String,
    reason: &'static str,
}

impl FromStr for ReportLocation {
    type Err = LocationError;

    /// `s3://bucket/some/prefix` for object storage; anything else is a directory.
    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| LocationError {
            given: given.to_owned(),
            reason,
        };
        if given.is_empty() {
            return Err(refuse("it is empty"));
        }
        let Some(rest) = given.strip_prefix(S3_SCHEME) else {
            if given.contains("://") || given.starts_with("s3:") {
                return Err(refuse(
                    "only a directory or s3://bucket/prefix is supported",
                ));
            }
            return Ok(Self::Directory(PathBuf::from(given)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(refuse("it names no bucket (s3://bucket/prefix)"));
        }
        let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
        if prefix.is_empty() {
            // A release deletes every object under its location that it does not name.
            return Err(refuse(
                "it names no prefix; name one that only Spiegel writes under \
                 (s3://bucket/releases)",
            ));
        }
        // The keys are the prefix as written: nothing object_store would encode, no empty,
        // '.' or '..' part.
        let plain = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !prefix.split('/').all(plain) {
            return Err(refuse(
                "its prefix must be parts of letters, digits, '-', '_' and '.' separated by '/'",
            ));
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for ReportLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directory(dir) => write!(f, "{}", dir.display()),
            Self::S3 { bucket, prefix } => write!(f, "{S3_SCHEME}{bucket}/{prefix}"),
        }
    }
}

impl From<PathBuf> for ReportLocation {
    fn from(dir: PathBuf) -> Self {
        Self::Directory(dir)
    }
}

impl From<&Path> for ReportLocation {
    fn from(dir: &Path) -> Self {
        Self::Directory(dir.to_owned())
    }
}

impl ReportLocation {
    /// The directory, when the reports live on a local file system.
    pub fn directory(&self) -> Option<&Path> {
        match self {
            Self::Directory(dir) => Some(dir),
            Self::S3 { .. } => None,
        }
    }

    /// The store at this location. A directory must exist; a bucket is only reached at the
    /// first read or write, so an unreachable or refusing store shows there, as an
    /// [`object_store::Error`] naming the store.
    pub fn open(&self) -> object_store::Result<Arc<dyn ObjectStore>> {
        match self {
            Self::Directory(dir) => Ok(Arc::new(LocalReportStore::new(dir)?)),
            Self::S3 { bucket, prefix } => crate::s3::open(bucket, prefix),
        }
    }

    /// Whether the store can be used, asked before a command relies on it: for a bucket,
    /// that it exists and these credentials may list it, so that a missing bucket is not
    /// taken for a store with nothing published yet. A directory is checked where it is
    /// created. Call it outside an async runtime.
    pub fn verify(&self) -> crate::Result<()> {
        let Self::S3 { bucket, .. } = self else {
            return Ok(());
        };
        let store = self.open()?;
        let unusable = |reason: String| PublishError::Unusable {
            location: self.to_string(),
            reason,
        };
        match runtime()?.block_on(store.list_with_delimiter(None)) {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(unusable(format!(
                "the bucket {bucket} does not exist, or these credentials cannot see it"
            ))),
            Err(e) => Err(unusable(e.to_string())),
        }
    }

    /// The manifest of the release stored here now (`None` before the first release), read
    /// on a runtime of its own: for a command that reads nothing else of the store.
    pub fn manifest(&self) -> crate::Result<Option<crate::Manifest>> {
        let store = self.open()?;
        runtime()?.block_on(crate::read_manifest(store.as_ref()))
    }
}

/// A runtime for one blocking call into the store.
fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PublishError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str) -> ReportLocation {
        ReportLocation::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn an_s3_url_names_a_bucket_and_a_prefix_and_anything_else_a_directory() {
        let parse = |s: &str| s.parse::<ReportLocation>();
        assert_eq!(
            parse("s3://reports/releases"),
            Ok(s3("reports", "releases"))
        );
        assert_eq!(
            parse("s3://reports/spiegel/prod/"),
            Ok(s3("reports", "spiegel/prod"))
        );
        assert_eq!(
            parse("out/reports"),
            Ok(ReportLocation::Directory("out/reports".into()))
        );
        // A bucket's root would be Spiegel's to sweep; keys that are not the prefix as written.
        for bad in [
            "",
            "s3://",
            "s3:///x",
            "s3://b",
            "s3://b/",
            "s3://b//",
            "s3://b//x",
            "s3://b/x//",
            "s3://b/./x",
            "s3://b/../x",
            "s3://b/a%20b",
            "s3://b/a#1",
            "s3:/b/x",
            "gs://b/x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(s3("reports", "a/b").to_string(), "s3://reports/a/b");
        assert_eq!(
            parse("s3://reports/a/b").unwrap().to_string(),
            "s3://reports/a/b"
        );
    }

    #[test]
    fn the_refusal_says_what_a_location_looks_like() {
        let refused = "gs://bucket".parse::<ReportLocation>().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "\"gs://bucket\" is not a report location: only a directory or \
             s3://bucket/prefix is supported"
        );
    }
}
