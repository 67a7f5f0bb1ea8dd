//! What can go wrong with the state database.

/// Result alias for this crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// Failures of the state database. None of them carries a password, a token or its hash: the
/// database URL is shown redacted and the driver's errors name tables and columns, not values.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// `--database-url` is not a SQLite or PostgreSQL URL (shown by its scheme only: what was
    /// given may be a password in the wrong place).
    #[error(
        "the database URL {0} is not one: expected sqlite://PATH or \
         postgres://USER@HOST/DATABASE / de database-URL {0} is er geen: verwacht sqlite://PAD \
         of postgres://GEBRUIKER@HOST/DATABASE"
    )]
    InvalidUrl(String),
    /// The database cannot be reached or opened.
    #[error("the database {url} cannot be opened: {source} / de database {url} is niet te openen")]
    Connect {
        /// The database, its password redacted.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema cannot be brought up to date.
    #[error("migrating the database {url}: {source} / het schema van {url} bijwerken mislukte")]
    Migrate {
        /// The database, its password redacted.
        url: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("state database: {0}")]
    Query(#[from] sqlx::Error),
    /// A row holds what this version never writes (edited by hand, or a newer version's).
    #[error("state database: table {table} holds a row this version cannot read: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: String,
    },
}
