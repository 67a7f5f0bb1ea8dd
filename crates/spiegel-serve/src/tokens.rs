//! Bearer tokens (docs/serving.md): 256 random bits, shown once, stored only as a SHA-256 hash,
//! compared in constant time, each standing for one principal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::{Principal, Result, ServeError};

/// Name of the token store in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";

const PREFIX: &str = "spiegel_";

/// The registered tokens, by their public id.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    tokens: BTreeMap<String, StoredToken>,
}

/// What is kept of a token: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredToken {
    principal: Principal,
    sha256: String,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked: Option<String>,
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
    /// Reads the store in `data_dir`; a missing file is an empty store.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(TOKENS_FILE);
        let tokens = crate::error::read_json_or_default(&path)?;
        Ok(Self { path, tokens })
    }

    /// Creates a token for `principal` and stores its hash.
    pub fn create(&mut self, principal: Principal, now: &str) -> Result<IssuedToken> {
        self.create_recorded(principal, now, |_| Ok(()))
    }

    /// Creates a token for `principal`, calls `record` with its id, and stores its hash only
    /// when that succeeded: a token whose creation cannot be audited never authenticates.
    pub fn create_recorded(
        &mut self,
        principal: Principal,
        now: &str,
        record: impl FnOnce(&str) -> Result<()>,
    ) -> Result<IssuedToken> {
        let random = SystemRandom::new();
        let mut id = [0u8; 4];
        let mut secret = [0u8; 32];
        loop {
            random
                .fill(&mut id)
                .map_err(|_| std::io::Error::other("the system random source failed"))?;
            if !self.tokens.contains_key(&hex::encode(id)) {
                break;
            }
        }
        random
            .fill(&mut secret)
            .map_err(|_| std::io::Error::other("the system random source failed"))?;
        let id = hex::encode(id);
        let token = format!("{PREFIX}{id}_{}", hex::encode(secret));
        record(&id)?;
        self.tokens.insert(
            id.clone(),
            StoredToken {
                principal,
                sha256: hash(&token),
                created: now.to_owned(),
                revoked: None,
            },
        );
        if let Err(e) = self.save() {
            self.tokens.remove(&id);
            return Err(e);
        }
        Ok(IssuedToken { id, token })
    }

    /// Marks a token revoked; it authenticates nobody from then on.
    pub fn revoke(&mut self, id: &str, now: &str) -> Result<Principal> {
        let stored = self
            .tokens
            .get_mut(id)
            .ok_or_else(|| ServeError::UnknownToken(id.to_owned()))?;
        if stored.revoked.is_none() {
            stored.revoked = Some(now.to_owned());
        }
        let principal = stored.principal.clone();
        self.save()?;
        Ok(principal)
    }

    /// Every token, by id.
    pub fn list(&self) -> Vec<TokenInfo> {
        self.tokens
            .iter()
            .map(|(id, t)| TokenInfo {
                id: id.clone(),
                principal: t.principal.clone(),
                created: t.created.clone(),
                revoked: t.revoked.clone(),
            })
            .collect()
    }

    /// Whom the token `id` stands for, revoked or not; None for no such token.
    pub fn principal_of(&self, id: &str) -> Option<&Principal> {
        self.tokens.get(id).map(|t| &t.principal)
    }

    /// Whom the token `id` stands for while it is not revoked.
    pub fn current(&self, id: &str) -> Option<&Principal> {
        self.tokens
            .get(id)
            .filter(|t| t.revoked.is_none())
            .map(|t| &t.principal)
    }

    /// The principal a presented bearer token stands for, if it is a current token.
    pub fn authenticate(&self, presented: &str) -> Option<&Principal> {
        let id = token_id(presented)?;
        let stored = self.tokens.get(id)?;
        let matches = constant_time_eq(hash(presented).as_bytes(), stored.sha256.as_bytes());
        (matches && stored.revoked.is_none()).then_some(&stored.principal)
    }

    fn save(&self) -> Result<()> {
        crate::error::write_json_private(&self.path, &self.tokens)
    }
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

    #[test]
    fn a_token_authenticates_its_principal_until_revoked_and_is_stored_only_as_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TokenStore::open(dir.path()).unwrap();
        let principal = Principal::gemeente("GM0363").unwrap();
        let issued = store
            .create(principal.clone(), "2026-11-23T10:00:00Z")
            .unwrap();
        assert_eq!(issued.token.len(), PREFIX.len() + 8 + 1 + 64, "256 bits");
        assert_eq!(store.authenticate(&issued.token), Some(&principal));
        let mut forged = issued.token.clone();
        forged.pop();
        forged.push('x');
        assert_eq!(store.authenticate(&forged), None);
        assert_eq!(store.authenticate("spiegel_00000000_00"), None);
        assert_eq!(store.authenticate("Bearer nonsense"), None);

        let on_disk = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        let secret = issued.token.rsplit('_').next().unwrap();
        assert!(
            !on_disk.contains(secret),
            "the token itself is never stored"
        );
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(reopened.authenticate(&issued.token), Some(&principal));

        let mut store = reopened;
        store.revoke(&issued.id, "2026-11-23T11:00:00Z").unwrap();
        assert_eq!(store.authenticate(&issued.token), None);
        let listed = TokenStore::open(dir.path()).unwrap().list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked.as_deref(), Some("2026-11-23T11:00:00Z"));
        assert!(matches!(
            store.revoke("ffffffff", "x"),
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
