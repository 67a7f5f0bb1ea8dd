//! Tokens and certificate subjects as the server checks them on every request: a snapshot of
//! the state database in memory, read again whenever the database may have changed. A query
//! per request would cost more than the rest of a feed poll; the snapshot costs a marker check
//! (two stat calls on SQLite, an atomic load on PostgreSQL), and a revocation still counts from
//! the next request on (see `spiegel_state::CredentialWatch` for how a change is noticed).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spiegel_state::{CredentialWatch, Database, StoredCertificate, StoredToken};

use crate::certificates::CertificateSubject;
use crate::{Principal, Result};

/// Every token and subject, as of one marker.
#[derive(Debug, Default)]
struct Snapshot {
    tokens: HashMap<String, StoredToken>,
    certificates: HashMap<String, StoredCertificate>,
}

/// The change marker of the database and the cache's own epoch, as of one moment: a snapshot is
/// fresh while both are what they were before it was loaded.
type Version = (u64, u64);

/// The credentials of the state database, held in memory.
#[derive(Debug)]
pub(crate) struct CredentialCache {
    db: Database,
    watch: CredentialWatch,
    /// Raised by `invalidate`: a snapshot loaded under an older epoch is never fresh, even one
    /// whose load was under way when it was raised.
    epoch: AtomicU64,
    /// The snapshot, with the version read before it was loaded.
    snapshot: std::sync::Mutex<Option<(Version, Arc<Snapshot>)>>,
    /// One reload at a time: the requests arriving meanwhile wait for it rather than each
    /// loading the tables again.
    reloading: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    pub(crate) async fn open(db: Database) -> Result<Self> {
        let watch = db.watch_credentials().await?;
        Ok(Self {
            db,
            watch,
            epoch: AtomicU64::new(0),
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

    /// Makes the snapshot stale, including one being loaded now: the next request reads the
    /// tables again. For a change seen by polling the credentials revision that the marker
    /// missed, and whenever that poll fails (so that a replica cut off from the database
    /// answers 503 rather than serve from memory).
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// What a snapshot loaded now is valid for: the marker and the epoch, read before it.
    fn version(&self) -> Version {
        (self.watch.marker(), self.epoch.load(Ordering::Acquire))
    }

    async fn current(&self) -> Result<Arc<Snapshot>> {
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        let _one_at_a_time = self.reloading.lock().await;
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        // Read before the tables: a change or invalidation after this read makes it differ.
        let version = self.version();
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
            *held = Some((version, Arc::clone(&snapshot)));
        }
        Ok(snapshot)
    }

    /// The snapshot, if nothing may have changed since it was loaded.
    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let version = self.version();
        let held = self.snapshot.lock().ok()?;
        held.as_ref()
            .filter(|(loaded_at, _)| *loaded_at == version)
            .map(|(_, snapshot)| Arc::clone(snapshot))
    }
}
