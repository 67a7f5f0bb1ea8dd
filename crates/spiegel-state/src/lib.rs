//! The HTTP API's state in one database: a SQLite file in the data directory by default
//! (nothing to install), PostgreSQL in production, where any number of `spiegel serve`
//! replicas share it.
//!
//! One schema, in `migrations/` (SQL both backends accept), brought up to date by
//! [`Database::open`] on every start; on PostgreSQL, replicas starting together take
//! turns under sqlx's advisory lock. What the API keeps here so far: bearer tokens (their
//! SHA-256 only) and client-certificate subjects, with a revision counter that every change
//! raises in its own transaction, so that a server notices what another process changed by
//! reading one row, and a [`CredentialWatch`] that notices it without a query.
//!
//! Queries go through sqlx's `Any` driver with `$1` placeholders, which both backends accept;
//! the crate has no other SQL than its own, and no query builds SQL from a value.

mod credentials;
mod error;
mod url;
mod watch;

use std::borrow::Cow;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Executor, SqlSafeStr};

pub use credentials::{StoredCertificate, StoredToken};
pub use error::{Result, StateError};
pub use url::{Backend, DATABASE_FILE, DatabaseUrl};
pub use watch::CredentialWatch;

/// The state database, connected and migrated.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    url: DatabaseUrl,
}

impl Database {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &DatabaseUrl) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let connect = |source| StateError::Connect {
            url: url.to_string(),
            source,
        };
        let options = AnyPoolOptions::new().max_connections(match url.backend() {
            // One writer at a time is all SQLite has; a few readers beside it.
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        });
        if let Some(file) = url.sqlite_file() {
            create_private(&file).map_err(|e| connect(sqlx::Error::Io(e)))?;
        }
        let pool = options.connect(url.secret()).await.map_err(connect)?;
        if url.backend() == Backend::Sqlite {
            // Readers never wait for the writer (a property of the file, kept across
            // connections and restarts).
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(connect)?;
        }
        migrator()
            .run(&pool)
            .await
            .map_err(|source| StateError::Migrate {
                url: url.to_string(),
                source,
            })?;
        Ok(Self {
            pool,
            url: url.clone(),
        })
    }

    /// Where it is, as it may be shown.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Closes every connection; what was committed stays.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the SQLite file readable by its owner only, when it is not there yet: it holds token
/// hashes and certificate mappings. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file).map(drop)
}

/// The schema's migrations, embedded in the binary. Their SQL is written for both backends
/// (`TEXT`, `BIGINT`, `ON CONFLICT`); a migration that needs a dialect of its own gets a
/// file per backend, chosen by the URL's backend.
fn migrator() -> Migrator {
    let files: &[(i64, &str, &'static str)] = &[(
        1,
        "credentials",
        include_str!("../migrations/0001_credentials.sql"),
    )];
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
