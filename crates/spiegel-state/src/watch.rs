//! Noticing, without a query, that another process may have changed the credentials: what lets
//! a server keep them in memory and still count a revocation from the next request on.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Backend, Database, Result};

/// The PostgreSQL channel every change of a token or subject notifies, in its transaction.
pub(crate) const CREDENTIALS_CHANNEL: &str = "spiegel_credentials";

/// A marker that changes whenever the credentials may have changed, by any process.
///
/// On SQLite it is read from the database file and its write-ahead log (every commit writes
/// one of them; two stat calls, no query). On PostgreSQL every change sends a notification on
/// commit, which a listener connection of this watch counts; a lost listener connection counts
/// too, since notifications sent meanwhile are lost. A change whose marker looks the same (two
/// SQLite commits within one tick of the file system's clock, leaving the log the same size) is
/// still seen by whoever also polls [`Database::credentials_revision`].
#[derive(Debug)]
pub struct CredentialWatch {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Files(Vec<PathBuf>),
    Notifications {
        received: Arc<AtomicU64>,
        listener: tokio::task::JoinHandle<()>,
    },
}

impl CredentialWatch {
    /// The current marker: equal markers mean no change was seen in between.
    pub fn marker(&self) -> u64 {
        match &self.inner {
            Inner::Files(files) => {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                for file in files {
                    stamp(file).hash(&mut hasher);
                }
                hasher.finish()
            }
            Inner::Notifications { received, .. } => received.load(Ordering::Acquire),
        }
    }
}

impl Drop for CredentialWatch {
    fn drop(&mut self) {
        if let Inner::Notifications { listener, .. } = &self.inner {
            listener.abort();
        }
    }
}

impl Database {
    /// Starts watching the credentials for changes; on PostgreSQL this holds one connection
    /// listening on a task of the current runtime.
    pub async fn watch_credentials(&self) -> Result<CredentialWatch> {
        let inner = match self.url.backend() {
            Backend::Sqlite => {
                let file = self.url.sqlite_file().unwrap_or_default();
                let mut wal = file.clone().into_os_string();
                wal.push("-wal");
                Inner::Files(vec![file, wal.into()])
            }
            Backend::Postgres => {
                let mut listener = sqlx::postgres::PgListener::connect(self.url.secret())
                    .await
                    .map_err(|source| crate::StateError::Connect {
                        url: self.url.to_string(),
                        source,
                    })?;
                listener.listen(CREDENTIALS_CHANNEL).await?;
                let received = Arc::new(AtomicU64::new(0));
                let counter = Arc::clone(&received);
                let listener = tokio::spawn(async move {
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => {}
                            Ok(None) => {
                                tracing::warn!(
                                    "the credentials listener lost its connection; reconnecting"
                                );
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the credentials listener cannot reconnect yet");
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                        counter.fetch_add(1, Ordering::Release);
                    }
                });
                Inner::Notifications { received, listener }
            }
        };
        Ok(CredentialWatch { inner })
    }
}

/// Modification time, length and inode of `file`; all None when it is not there.
fn stamp(file: &std::path::Path) -> Option<(Option<std::time::SystemTime>, u64, u64)> {
    let metadata = std::fs::metadata(file).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok(), metadata.len(), inode))
}
