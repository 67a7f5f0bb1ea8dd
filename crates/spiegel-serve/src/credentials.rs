//! Tokens and certificate subjects as the server checks them on every request: a snapshot of
//! the state database in memory, read again whenever the database may have changed. A query
//! per request would cost more than the rest of a feed poll; the snapshot costs a marker check
//! (two stat calls on SQLite, an atomic load on PostgreSQL), and a revocation still counts from
//! the next request on (see `spiegel_state::CredentialWatch` for how a change is noticed).

use std::collections::HashMap;
use std::sync::Arc;

use spiegel_state::{CredentialWatch, Database, StoredCertificate, StoredToken};

use crate::certificates::CertificateSubject;
use crate::{Principal, Result};

/// Every token and subject, as of one marker.
#[derive(Debug, Default)]
struct Snapshot {
    tokens: HashMap<String, StoredToken>,
    certificates: HashMap<String, StoredCertificate>,
}

/// The credentials of the state database, held in memory.
#[derive(Debug)]
pub(crate) struct Credentials {
    db: Database,
    watch: CredentialWatch,
    /// The snapshot and the marker read before it was loaded; None after `invalidate`.
    snapshot: std::sync::Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// One reload at a time: the requests arriving meanwhile wait for it rather than each
    /// loading the tables again.
    reloading: tokio::sync::Mutex<()>,
}

impl Credentials {
    pub(crate) async fn open(db: Database) -> Result<Self> {
        let watch = db.watch_credentials().await?;
        Ok(Self {
            db,
            watch,
            snapshot: std::sync::Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Whom a presented bearer token stands for, if it is a current token.
    pub(crate) async fn by_token(&self, presented: &str) -> Result<Option<Principal>> {
        let Some(id) = crate::tokens::token_id(presented) else {
            return Ok(None);
        };
        Ok(self
            .current()
            .await?
            .tokens
            .get(id)
            .filter(|stored| crate::tokens::current_and_matching(presented, stored))
            .map(|stored| stored.principal.clone()))
    }

    /// Whom the token `id` stands for while it is not revoked.
    pub(crate) async fn token_holder(&self, id: &str) -> Result<Option<Principal>> {
        Ok(self
            .current()
            .await?
            .tokens
            .get(id)
            .filter(|stored| stored.revoked.is_none())
            .map(|stored| stored.principal.clone()))
    }

    /// Whom a verified client certificate with this subject stands for.
    pub(crate) async fn by_certificate(
        &self,
        subject: &CertificateSubject,
    ) -> Result<Option<Principal>> {
        Ok(self
            .current()
            .await?
            .certificates
            .get(&subject.key())
            .map(|stored| stored.principal.clone()))
    }

    /// Drops the snapshot: the next request reads the tables again. For a change seen by
    /// polling the credentials revision that the marker missed.
    pub(crate) fn invalidate(&self) {
        if let Ok(mut snapshot) = self.snapshot.lock() {
            *snapshot = None;
        }
    }

    async fn current(&self) -> Result<Arc<Snapshot>> {
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        let _one_at_a_time = self.reloading.lock().await;
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        // The marker before the tables: a change after this read changes the marker again.
        let marker = self.watch.marker();
        let tokens = self.db.tokens().await?;
        let certificates = self.db.certificates().await?;
        let snapshot = Arc::new(Snapshot {
            tokens: tokens.into_iter().map(|t| (t.id.clone(), t)).collect(),
            certificates: certificates
                .into_iter()
                .map(|c| (c.subject_der.clone(), c))
                .collect(),
        });
        if let Ok(mut held) = self.snapshot.lock() {
            *held = Some((marker, Arc::clone(&snapshot)));
        }
        Ok(snapshot)
    }

    /// The snapshot, if nothing may have changed since it was loaded.
    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let marker = self.watch.marker();
        let held = self.snapshot.lock().ok()?;
        held.as_ref()
            .filter(|(loaded_at, _)| *loaded_at == marker)
            .map(|(_, snapshot)| Arc::clone(snapshot))
    }
}
