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

/// Opens the state database (`url`, or the SQLite file in `data_dir`) and brings its schema up
/// to date.
pub async fn open_state(data_dir: &Path, url: Option<&DatabaseUrl>) -> Result<Database> {
    let url = url
        .cloned()
        .unwrap_or_else(|| DatabaseUrl::sqlite_in(data_dir));
    if url.backend() == spiegel_state::Backend::Sqlite {
        std::fs::create_dir_all(data_dir)?;
    }
    Ok(Database::open(&url).await?)
}

/// Moves the token store and certificate registry files of `data_dir` into `db`, once: what the
/// API does on its first start with a data directory from before the database.
pub(crate) async fn move_json_state_in(db: &Database, data_dir: &Path) -> Result<()> {
    move_tokens_in(db, data_dir).await?;
    move_certificates_in(db, data_dir).await
}

/// The JSON state files of `data_dir` that are not moved into a database yet.
pub fn json_state_not_moved(data_dir: &Path) -> Vec<std::path::PathBuf> {
    [TOKENS_FILE, CLIENT_CERTIFICATES_FILE]
        .iter()
        .map(|name| data_dir.join(name))
        .filter(|file| file.exists())
        .collect()
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

/// Each row goes in unless the database has the same one already (a move cut short and run
/// again), then the file is renamed: the move is done once, and redone whole if it was
/// interrupted. A revocation in the file is applied to a row the database holds unrevoked; a
/// row that says otherwise than the database's (another hash or principal) stops the start,
/// named, since one of the two is wrong and only the operator knows which.
async fn move_tokens_in(db: &Database, data_dir: &Path) -> Result<()> {
    let file = data_dir.join(TOKENS_FILE);
    let Some(tokens) = read::<TokenFile>(&file)? else {
        return Ok(());
    };
    let mut inserted = 0;
    for (id, token) in tokens {
        let row = StoredToken {
            id,
            principal: token.principal,
            sha256: token.sha256,
            created: token.created,
            revoked: token.revoked,
        };
        if db.insert_token(&row).await? {
            inserted += 1;
            continue;
        }
        let existing = db.token(&row.id).await?;
        match existing {
            Some(held) if held.principal == row.principal && held.sha256 == row.sha256 => {
                if let (Some(at), None) = (&row.revoked, &held.revoked) {
                    db.revoke_token(&row.id, at).await?;
                }
            }
            _ => return Err(conflict(&file, &format!("token {}", row.id))),
        }
    }
    moved(&file, inserted, "tokens", db)
}

async fn move_certificates_in(db: &Database, data_dir: &Path) -> Result<()> {
    let file = data_dir.join(CLIENT_CERTIFICATES_FILE);
    let Some(subjects) = read::<SubjectFile>(&file)? else {
        return Ok(());
    };
    let mut inserted = 0;
    for (subject_der, subject) in subjects {
        let row = StoredCertificate {
            subject_der,
            subject: subject.subject,
            principal: subject.principal,
            added: subject.added,
        };
        match db.insert_certificate(&row).await? {
            None => inserted += 1,
            Some(held) if held == row.principal => {}
            Some(_) => {
                return Err(conflict(&file, &format!("the subject {}", row.subject)));
            }
        }
    }
    moved(&file, inserted, "client-certificate subjects", db)
}

fn conflict(file: &Path, what: &str) -> crate::ServeError {
    crate::ServeError::Corrupt {
        path: file.to_owned(),
        what: format!(
            "{what} is in the state database already with another hash or principal; nothing \
             of this file was moved: remove the row or the file's entry, whichever is wrong / \
             staat al anders in de database; verwijder wat niet klopt"
        ),
    }
}

fn read<T: serde::de::DeserializeOwned>(file: &Path) -> Result<Option<BTreeMap<String, T>>> {
    if !file.exists() {
        return Ok(None);
    }
    crate::error::read_json_or_default(file).map(Some)
}

fn moved(file: &Path, inserted: usize, what: &str, db: &Database) -> Result<()> {
    let mut renamed = file.as_os_str().to_owned();
    renamed.push(MOVED_SUFFIX);
    std::fs::rename(file, &renamed)?;
    // A warning, seen at the default level: the renamed file still holds token hashes and
    // certificate mappings, which the operator removes once the move is confirmed.
    tracing::warn!(
        file = %file.display(),
        renamed = %Path::new(&renamed).display(),
        database = %db.url(),
        inserted,
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
        assert_eq!(
            json_state_not_moved(dir.path()),
            [
                dir.path().join(TOKENS_FILE),
                dir.path().join(CLIENT_CERTIFICATES_FILE)
            ]
        );
        move_json_state_in(&db, dir.path()).await.unwrap();
        assert!(json_state_not_moved(dir.path()).is_empty());
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
        move_json_state_in(&again, dir.path()).await.unwrap();
        assert_eq!(again.tokens().await.unwrap(), tokens);
    }

    #[tokio::test]
    async fn a_file_moved_again_brings_its_revocations_and_refuses_what_contradicts() {
        let dir = tempfile::tempdir().unwrap();
        let token = |revoked: Option<&str>, sha256: &str| {
            serde_json::json!({"0a0b0c0d": {"principal": {"kind": "provider", "id": "12345678"},
                "sha256": sha256, "created": "2026-11-01T00:00:00Z", "revoked": revoked}})
            .to_string()
        };
        let db = open_state(dir.path(), None).await.unwrap();
        std::fs::write(dir.path().join(TOKENS_FILE), token(None, "ab")).unwrap();
        move_json_state_in(&db, dir.path()).await.unwrap();
        // Rolled back to the files, the token revoked there, then moved again.
        let revoked = token(Some("2026-11-05T00:00:00Z"), "ab");
        std::fs::write(dir.path().join(TOKENS_FILE), revoked).unwrap();
        move_json_state_in(&db, dir.path()).await.unwrap();
        let held = db.token("0a0b0c0d").await.unwrap().unwrap();
        assert_eq!(held.revoked.as_deref(), Some("2026-11-05T00:00:00Z"));
        // A file whose token has another hash than the database's: refused, named, left.
        std::fs::write(dir.path().join(TOKENS_FILE), token(None, "cd")).unwrap();
        let error = move_json_state_in(&db, dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("token 0a0b0c0d"), "{error}");
        assert!(!error.contains("cd\""), "no hash in the message: {error}");
        assert!(dir.path().join(TOKENS_FILE).is_file());
    }

    #[tokio::test]
    async fn a_state_file_that_is_not_what_was_written_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKENS_FILE), "{not json").unwrap();
        let db = open_state(dir.path(), None).await.unwrap();
        let error = move_json_state_in(&db, dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("tokens.json"), "{error}");
        assert!(dir.path().join(TOKENS_FILE).is_file(), "left where it was");
    }
}
