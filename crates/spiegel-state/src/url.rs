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
            // Only the scheme: what was given may be a password put in the wrong place.
            let scheme: String = url
                .split(':')
                .next()
                .unwrap_or_default()
                .chars()
                .take(20)
                .filter(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
                .collect();
            return Err(StateError::InvalidUrl(format!("with scheme {scheme:?}")));
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
/// authority replaced by `***`. The user information ends at the last `@`, so a password with an
/// unencoded `/`, `?`, `#` or `@` is still hidden whole.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:PATH`: a path, no credentials.
        return url.split(['?', '#']).next().unwrap_or_default().to_owned();
    };
    let (user, host_and_path) = match rest.rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            let user = user_info.split(':').next().unwrap_or_default();
            let shown = if user_info.contains(':') {
                format!("{user}:***@")
            } else {
                format!("{user}@")
            };
            (shown, &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let host_and_path = host_and_path.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}://{user}{host_and_path}")
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
        for refused in [
            "mysql://root:hunter2@db/spiegel",
            "postgress://spiegel:hunter2@db/spiegel",
            "host=db user=spiegel password=hunter2",
        ] {
            let error = DatabaseUrl::parse(refused).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
        for awkward in [
            "postgres://spiegel:hun/ter2@db/spiegel",
            "postgres://spiegel:hun?ter2@db/spiegel",
            "postgres://spiegel:hun#ter2@db/spiegel",
            "postgres://spiegel:hun@ter2@db/spiegel",
        ] {
            let shown = DatabaseUrl::parse(awkward).unwrap().to_string();
            assert!(!shown.contains("hun") && !shown.contains("ter2"), "{shown}");
            assert_eq!(shown, "postgres://spiegel:***@db/spiegel");
        }
        assert_eq!(
            DatabaseUrl::sqlite_in(Path::new("/var/lib/spiegel")).to_string(),
            "sqlite:///var/lib/spiegel/spiegel.sqlite"
        );
    }
}
