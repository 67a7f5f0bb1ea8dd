//! Where the state lives: a SQLite file or a PostgreSQL database.

use std::fmt;
use std::path::Path;

use crate::{Result, StateError};

/// The SQLite file the API keeps its state in when no `--database-url` is given.
pub const DATABASE_FILE: &str = "spiegel.sqlite";

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: the embedded default, one host.
    Sqlite,
    /// A PostgreSQL server: what two or more API replicas share.
    Postgres,
}

/// A database URL. It may carry a password, so it is never shown whole: `Display` and `Debug`
/// give it without password and query.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// `sqlite://…` (or `sqlite:…`) or `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StateError::InvalidUrl(redact(url)));
        };
        Ok(Self {
            url: url.to_owned(),
            backend,
        })
    }

    /// The embedded default: [`DATABASE_FILE`] in `data_dir`, created when missing.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self {
            url: format!(
                "sqlite://{}?mode=rwc",
                data_dir.join(DATABASE_FILE).display()
            ),
            backend: Backend::Sqlite,
        }
    }

    /// Which database it names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file, for a SQLite URL naming one.
    pub(crate) fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| path.into())
    }

    /// The URL to connect with, password included: for the driver only.
    pub(crate) fn secret(&self) -> &str {
        &self.url
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = StateError;

    fn from_str(url: &str) -> Result<Self> {
        Self::parse(url)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact(&self.url))
            .finish()
    }
}

/// The URL without its query (which may hold `password=`) and with any password in its
/// authority replaced by `***`.
fn redact(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = without_query.split_once("://") else {
        return without_query.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            if user_info.contains(':') {
                format!("{user}:***@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password_or_query() {
        let url = DatabaseUrl::parse(
            "postgres://spiegel:s3cr3t-pass@db.internal:5432/spiegel?sslmode=require&password=x",
        )
        .unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(!shown.contains("password=x"), "{shown}");
            assert!(
                shown.contains("postgres://spiegel:***@db.internal:5432/spiegel"),
                "{shown}"
            );
        }
        let refused = DatabaseUrl::parse("mysql://root:hunter2@db/spiegel").unwrap_err();
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
        assert_eq!(
            DatabaseUrl::sqlite_in(Path::new("/var/lib/spiegel")).to_string(),
            "sqlite:///var/lib/spiegel/spiegel.sqlite"
        );
    }
}
