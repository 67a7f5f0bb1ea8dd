//! Bearer tokens (hashes only) and client-certificate subjects, each standing for one
//! principal. What a token or subject means is `spiegel-serve`'s; this module keeps them.

use spiegel_audit::Principal;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::watch::CREDENTIALS_CHANNEL;
use crate::{Backend, Database, Result, StateError};

/// What is kept of a bearer token: never the token itself. Its `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Public id (the part of the token after `spiegel_` and before the secret).
    pub id: String,
    /// Whom it stands for.
    pub principal: Principal,
    /// SHA-256 of the whole token, lower-case hex.
    pub sha256: String,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("id", &self.id)
            .field("principal", &self.principal)
            .field("sha256", &"…")
            .field("created", &self.created)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// A registered client-certificate subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// The subject's distinguished name exactly as encoded (DER), lower-case hex: what a
    /// presented certificate is compared by.
    pub subject_der: String,
    /// The distinguished name as text, as an operator reads it.
    pub subject: String,
    /// Whom a certificate with this subject stands for.
    pub principal: Principal,
    /// When it was registered (RFC 3339, UTC).
    pub added: String,
}

const CREDENTIALS: &str = "credentials";

impl Database {
    /// Stores a new token; false when its id is taken (the caller draws another).
    pub async fn insert_token(&self, token: &StoredToken) -> Result<bool> {
        let (kind, id) = principal_columns(&token.principal);
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tokens (id, principal_kind, principal_id, sha256, created, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&token.id)
        .bind(kind)
        .bind(id)
        .bind(&token.sha256)
        .bind(&token.created)
        .bind(token.revoked.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            self.raise_credentials(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// The token with public id `id`, revoked or not.
    pub async fn token(&self, id: &str) -> Result<Option<StoredToken>> {
        sqlx::query(
            "SELECT id, principal_kind, principal_id, sha256, created, revoked FROM tokens \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| token_of(&row))
        .transpose()
    }

    /// Every token, by id.
    pub async fn tokens(&self) -> Result<Vec<StoredToken>> {
        sqlx::query(
            "SELECT id, principal_kind, principal_id, sha256, created, revoked FROM tokens \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_of)
        .collect()
    }

    /// Marks token `id` revoked at `at` (a token revoked before keeps its first time); None
    /// for no such token, else whom it stood for.
    pub async fn revoke_token(&self, id: &str, at: &str) -> Result<Option<Principal>> {
        let mut tx = self.pool.begin().await?;
        let changed =
            sqlx::query("UPDATE tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed > 0 {
            self.raise_credentials(&mut tx).await?;
        }
        let principal =
            sqlx::query("SELECT principal_kind, principal_id FROM tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| principal_of(&row, "tokens"))
                .transpose()?;
        tx.commit().await?;
        Ok(principal)
    }

    /// Registers a subject; when it is registered already, the principal it stands for
    /// (and nothing changes).
    pub async fn insert_certificate(
        &self,
        certificate: &StoredCertificate,
    ) -> Result<Option<Principal>> {
        let (kind, id) = principal_columns(&certificate.principal);
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO client_certificates \
             (subject_der, subject_text, principal_kind, principal_id, added) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject_der) DO NOTHING",
        )
        .bind(&certificate.subject_der)
        .bind(&certificate.subject)
        .bind(kind)
        .bind(id)
        .bind(&certificate.added)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let existing = if inserted {
            self.raise_credentials(&mut tx).await?;
            None
        } else {
            sqlx::query(
                "SELECT principal_kind, principal_id FROM client_certificates \
                 WHERE subject_der = $1",
            )
            .bind(&certificate.subject_der)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| principal_of(&row, "client_certificates"))
            .transpose()?
        };
        tx.commit().await?;
        Ok(existing)
    }

    /// The subject registered with this DER encoding (hex).
    pub async fn certificate(&self, subject_der: &str) -> Result<Option<StoredCertificate>> {
        sqlx::query(
            "SELECT subject_der, subject_text, principal_kind, principal_id, added \
             FROM client_certificates WHERE subject_der = $1",
        )
        .bind(subject_der)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| certificate_of(&row))
        .transpose()
    }

    /// Every registered subject, by distinguished name.
    pub async fn certificates(&self) -> Result<Vec<StoredCertificate>> {
        sqlx::query(
            "SELECT subject_der, subject_text, principal_kind, principal_id, added \
             FROM client_certificates ORDER BY subject_text, subject_der",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(certificate_of)
        .collect()
    }

    /// Removes the subject with this DER encoding (hex); whom it stood for, None when it was
    /// not registered.
    pub async fn remove_certificate(&self, subject_der: &str) -> Result<Option<Principal>> {
        let mut tx = self.pool.begin().await?;
        // One statement, writing first: two removals at once cannot both report the row, and
        // SQLite never has to turn a read into a write inside the transaction.
        let removed = sqlx::query(
            "DELETE FROM client_certificates WHERE subject_der = $1 \
             RETURNING principal_kind, principal_id",
        )
        .bind(subject_der)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| principal_of(&row, "client_certificates"))
        .transpose()?;
        if removed.is_some() {
            self.raise_credentials(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Raised by every change of a token or a subject, by any process: a server that sees it
    /// change checks the credentials it holds on to (a long poll, a webhook) again.
    pub async fn credentials_revision(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT revision FROM revisions WHERE name = $1")
                .bind(CREDENTIALS)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl Database {
    /// Raises the credentials revision inside the transaction of the change it stands for,
    /// and on PostgreSQL notifies the listeners of every replica when it commits.
    async fn raise_credentials(&self, tx: &mut Transaction<'_, Any>) -> Result<()> {
        sqlx::query("UPDATE revisions SET revision = revision + 1 WHERE name = $1")
            .bind(CREDENTIALS)
            .execute(&mut **tx)
            .await?;
        if self.url.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CREDENTIALS_CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

fn principal_columns(principal: &Principal) -> (&'static str, &str) {
    match principal {
        Principal::Provider(id) => ("provider", id),
        Principal::Gemeente(id) => ("gemeente", id),
        Principal::Operator(id) => ("operator", id),
    }
}

fn principal_of(row: &AnyRow, table: &'static str) -> Result<Principal> {
    let kind: String = row.try_get("principal_kind")?;
    let id: String = row.try_get("principal_id")?;
    match kind.as_str() {
        "provider" => Ok(Principal::Provider(id)),
        "gemeente" => Ok(Principal::Gemeente(id)),
        "operator" => Ok(Principal::Operator(id)),
        _ => Err(StateError::Corrupt {
            table,
            what: format!("principal kind {kind:?}"),
        }),
    }
}

fn token_of(row: &AnyRow) -> Result<StoredToken> {
    Ok(StoredToken {
        id: row.try_get("id")?,
        principal: principal_of(row, "tokens")?,
        sha256: row.try_get("sha256")?,
        created: row.try_get("created")?,
        revoked: row.try_get("revoked")?,
    })
}

fn certificate_of(row: &AnyRow) -> Result<StoredCertificate> {
    Ok(StoredCertificate {
        subject_der: row.try_get("subject_der")?,
        subject: row.try_get("subject_text")?,
        principal: principal_of(row, "client_certificates")?,
        added: row.try_get("added")?,
    })
}
