//! Bearer tokens (docs/serving.md): 256 random bits, shown once, stored only as a SHA-256 hash
//! in the state database, compared in constant time, each standing for one principal.

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use spiegel_state::{Database, StoredToken};

use crate::{Principal, Result, ServeError};

/// Name of the token store in a data directory before the state database: moved into the
/// database on first start (see `state.rs`).
pub(crate) const TOKENS_FILE: &str = "tokens.json";

const PREFIX: &str = "spiegel_";

/// The registered tokens, in the state database: every process that opens the same database
/// (`spiegel tokens`, each API replica) sees the same tokens from the next request on.
#[derive(Debug, Clone)]
pub struct TokenStore {
    db: Database,
}

/// A token as `spiegel tokens list` shows it: who it stands for and when, never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Public id (the part of the token after `spiegel_` and before the secret).
    pub id: String,
    /// Whom it stands for.
    pub principal: Principal,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
}

/// A token just created: the only moment its value exists outside the caller's hands.
#[derive(Debug)]
pub struct IssuedToken {
    /// Public id.
    pub id: String,
    /// The bearer token, to hand over once; Spiegel keeps only its hash.
    pub token: String,
}

impl TokenStore {
    /// The tokens kept in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Creates a token for `principal` and stores its hash.
    pub async fn create(&self, principal: Principal, now: &str) -> Result<IssuedToken> {
        self.create_recorded(principal, now, |_| Ok(())).await
    }

    /// Creates a token for `principal`, calls `record` with its id, and stores its hash only
    /// when that succeeded: a token whose creation cannot be audited never authenticates.
    pub async fn create_recorded(
        &self,
        principal: Principal,
        now: &str,
        record: impl FnOnce(&str) -> Result<()>,
    ) -> Result<IssuedToken> {
        let random = SystemRandom::new();
        let fill = |bytes: &mut [u8]| {
            random
                .fill(bytes)
                .map_err(|_| std::io::Error::other("the system random source failed"))
        };
        let mut id = [0u8; 4];
        loop {
            fill(&mut id)?;
            if self.db.token(&hex::encode(id)).await?.is_none() {
                break;
            }
        }
        let mut secret = [0u8; 32];
        fill(&mut secret)?;
        let id = hex::encode(id);
        let token = format!("{PREFIX}{id}_{}", hex::encode(secret));
        record(&id)?;
        let stored = StoredToken {
            id: id.clone(),
            principal,
            sha256: hash(&token),
            created: now.to_owned(),
            revoked: None,
        };
        if !self.db.insert_token(&stored).await? {
            // Another process drew the same 32-bit id between the look and the insert; the
            // record above names a token that was never made, so say so rather than retry.
            return Err(ServeError::Io(std::io::Error::other(
                "another token with the same id was created at the same moment; run the \
                 command again / tegelijk is een token met hetzelfde id gemaakt; probeer opnieuw",
            )));
        }
        Ok(IssuedToken { id, token })
    }

    /// Marks a token revoked; it authenticates nobody from then on.
    pub async fn revoke(&self, id: &str, now: &str) -> Result<Principal> {
        self.db
            .revoke_token(id, now)
            .await?
            .ok_or_else(|| ServeError::UnknownToken(id.to_owned()))
    }

    /// Every token, by id.
    pub async fn list(&self) -> Result<Vec<TokenInfo>> {
        Ok(self
            .db
            .tokens()
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                principal: t.principal,
                created: t.created,
                revoked: t.revoked,
            })
            .collect())
    }

    /// Whom the token `id` stands for, revoked or not; None for no such token.
    pub async fn principal_of(&self, id: &str) -> Result<Option<Principal>> {
        Ok(self.db.token(id).await?.map(|t| t.principal))
    }
}

/// Whether `presented` is the token `stored` keeps the hash of, and that token is not revoked.
pub(crate) fn current_and_matching(presented: &str, stored: &StoredToken) -> bool {
    let matches = constant_time_eq(hash(presented).as_bytes(), stored.sha256.as_bytes());
    matches && stored.revoked.is_none()
}

/// The public id of a presented token (`spiegel_<id>_<secret>`): what may be kept and logged
/// of it.
pub(crate) fn token_id(presented: &str) -> Option<&str> {
    presented.strip_prefix(PREFIX)?.split('_').next()
}

fn hash(token: &str) -> String {
    hex::encode(digest(&SHA256, token.as_bytes()))
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_authenticates_its_principal_until_revoked_and_is_stored_only_as_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let url = spiegel_state::DatabaseUrl::sqlite_in(dir.path());
        let db = Database::open(&url).await.unwrap();
        let store = TokenStore::new(db.clone());
        let server = crate::credentials::CredentialCache::open(db).await.unwrap();
        let principal = Principal::gemeente("GM0363").unwrap();
        let issued = store
            .create(principal.clone(), "2026-11-23T10:00:00Z")
            .await
            .unwrap();
        assert_eq!(issued.token.len(), PREFIX.len() + 8 + 1 + 64, "256 bits");
        assert_eq!(
            server.by_token(&issued.token).await.unwrap(),
            Some(principal.clone())
        );
        let mut forged = issued.token.clone();
        forged.pop();
        forged.push('x');
        for presented in [forged.as_str(), "spiegel_00000000_00", "Bearer nonsense"] {
            assert_eq!(
                server.by_token(presented).await.unwrap(),
                None,
                "{presented}"
            );
        }

        let secret = issued.token.rsplit('_').next().unwrap();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the token itself is never stored"
            );
        }

        // Revoked by another process (its own connection): the very next check refuses it.
        let elsewhere = TokenStore::new(Database::open(&url).await.unwrap());
        elsewhere
            .revoke(&issued.id, "2026-11-23T11:00:00Z")
            .await
            .unwrap();
        assert_eq!(server.by_token(&issued.token).await.unwrap(), None);
        assert_eq!(server.token_holder(&issued.id).await.unwrap(), None);
        let listed = elsewhere.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked.as_deref(), Some("2026-11-23T11:00:00Z"));
        assert!(matches!(
            elsewhere.revoke("ffffffff", "x").await,
            Err(ServeError::UnknownToken(_))
        ));
    }

    #[test]
    fn constant_time_comparison_is_a_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
