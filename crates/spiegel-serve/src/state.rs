//! Opening the API's state database (`spiegel-state`), and moving in, once, what a data
//! directory kept in JSON files before there was one.

use std::collections::BTreeMap;
use std::path::Path;

use spiegel_state::{Database, DatabaseUrl, StoredCertificate, StoredToken};

use crate::certificates::CLIENT_CERTIFICATES_FILE;
use crate::tokens::TOKENS_FILE;
use crate::{Principal, Result};

/// What a JSON state file becomes once its content is in the database: kept, not deleted, so
/// that an operator can see what was moved and roll back to an earlier version.
const MOVED_SUFFIX: &str = ".moved-to-database";

/// Opens the state database (`url`, or the SQLite file in `data_dir`), brings its schema up to
/// date, and moves in the token store and certificate registry files of `data_dir`, if any.
pub async fn open_state(data_dir: &Path, url: Option<&DatabaseUrl>) -> Result<Database> {
    let url = url
        .cloned()
        .unwrap_or_else(|| DatabaseUrl::sqlite_in(data_dir));
    if url.backend() == spiegel_state::Backend::Sqlite {
        std::fs::create_dir_all(data_dir)?;
    }
    let db = Database::open(&url).await?;
    move_tokens_in(&db, data_dir).await?;
    move_certificates_in(&db, data_dir).await?;
    Ok(db)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    principal: Principal,
    sha256: String,
    created: String,
    #[serde(default)]
    revoked: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectFile {
    subject: String,
    principal: Principal,
    added: String,
}

/// Each row goes in unless the database has one with the same key already (a move cut short
/// and run again), then the file is renamed: the move is done once, and redone whole if it
/// was interrupted.
async fn move_tokens_in(db: &Database, data_dir: &Path) -> Result<()> {
    let file = data_dir.join(TOKENS_FILE);
    let Some(tokens) = read::<TokenFile>(&file)? else {
        return Ok(());
    };
    let count = tokens.len();
    for (id, token) in tokens {
        db.insert_token(&StoredToken {
            id,
            principal: token.principal,
            sha256: token.sha256,
            created: token.created,
            revoked: token.revoked,
        })
        .await?;
    }
    moved(&file, count, "tokens", db)
}

async fn move_certificates_in(db: &Database, data_dir: &Path) -> Result<()> {
    let file = data_dir.join(CLIENT_CERTIFICATES_FILE);
    let Some(subjects) = read::<SubjectFile>(&file)? else {
        return Ok(());
    };
    let count = subjects.len();
    for (subject_der, subject) in subjects {
        db.insert_certificate(&StoredCertificate {
            subject_der,
            subject: subject.subject,
            principal: subject.principal,
            added: subject.added,
        })
        .await?;
    }
    moved(&file, count, "client-certificate subjects", db)
}

fn read<T: serde::de::DeserializeOwned>(file: &Path) -> Result<Option<BTreeMap<String, T>>> {
    if !file.exists() {
        return Ok(None);
    }
    crate::error::read_json_or_default(file).map(Some)
}

fn moved(file: &Path, count: usize, what: &str, db: &Database) -> Result<()> {
    let mut renamed = file.as_os_str().to_owned();
    renamed.push(MOVED_SUFFIX);
    std::fs::rename(file, &renamed)?;
    // A warning, seen at the default level: the renamed file still holds token hashes and
    // certificate mappings, which the operator removes once the move is confirmed.
    tracing::warn!(
        file = %file.display(),
        renamed = %Path::new(&renamed).display(),
        database = %db.url(),
        count,
        "moved {what} into the state database; the file is kept renamed until you remove it"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn json_state_is_moved_in_once_and_the_files_kept_renamed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TOKENS_FILE),
            r#"{"0a0b0c0d": {"principal": {"kind": "provider", "id": "12345678"},
                "sha256": "ab", "created": "2026-11-01T00:00:00Z"},
               "01020304": {"principal": {"kind": "operator", "id": "alice"},
                "sha256": "cd", "created": "2026-11-02T00:00:00Z",
                "revoked": "2026-11-03T00:00:00Z"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join(CLIENT_CERTIFICATES_FILE),
            r#"{"3012": {"subject": "CN=Oost", "principal": {"kind": "gemeente", "id": "GM0363"},
                "added": "2026-11-04T00:00:00Z"}}"#,
        )
        .unwrap();
        let db = open_state(dir.path(), None).await.unwrap();
        let tokens = db.tokens().await.unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].revoked.as_deref(), Some("2026-11-03T00:00:00Z"));
        assert_eq!(tokens[1].principal, Principal::Provider("12345678".into()));
        assert_eq!(
            db.certificate("3012").await.unwrap().unwrap().principal,
            Principal::Gemeente("GM0363".into())
        );
        assert!(!dir.path().join(TOKENS_FILE).exists());
        assert!(dir.path().join("tokens.json.moved-to-database").is_file());
        assert!(
            dir.path()
                .join("client-certificates.json.moved-to-database")
                .is_file()
        );
        db.close().await;

        // A second start finds nothing to move and changes nothing.
        let again = open_state(dir.path(), None).await.unwrap();
        assert_eq!(again.tokens().await.unwrap(), tokens);
    }

    #[tokio::test]
    async fn a_state_file_that_is_not_what_was_written_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKENS_FILE), "{not json").unwrap();
        let error = open_state(dir.path(), None).await.unwrap_err().to_string();
        assert!(error.contains("tokens.json"), "{error}");
        assert!(dir.path().join(TOKENS_FILE).is_file(), "left where it was");
    }
}
