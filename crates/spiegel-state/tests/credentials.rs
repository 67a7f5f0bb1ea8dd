//! Tokens and client-certificate subjects kept in both backends: the embedded SQLite file and
//! a real PostgreSQL server (started by `scripts/test.sh`, which passes its directory in
//! `SPIEGEL_TEST_POSTGRES_DIR`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use spiegel_audit::Principal;
use spiegel_state::{Database, DatabaseUrl, StoredCertificate, StoredToken};

/// A fresh database of its own on the test server, for one test.
async fn postgres(test: &str) -> DatabaseUrl {
    let dir = std::env::var("SPIEGEL_TEST_POSTGRES_DIR").expect(
        "SPIEGEL_TEST_POSTGRES_DIR is not set: run the suite with scripts/test.sh, which starts \
         a PostgreSQL server on 127.0.0.1",
    );
    let admin = std::fs::read_to_string(std::path::Path::new(&dir).join("url")).unwrap();
    let admin = admin.trim();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    let name = format!("{test}_{nonce:08x}");
    sqlx::any::install_default_drivers();
    let mut admin_connection = <sqlx::AnyConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap();
    sqlx::Executor::execute(
        &mut admin_connection,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await
    .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    DatabaseUrl::parse(&format!("{base}/{name}")).unwrap()
}

fn token(id: &str, principal: Principal) -> StoredToken {
    StoredToken {
        id: id.to_owned(),
        principal,
        sha256: format!("{:0>64}", id),
        created: "2026-12-07T10:00:00Z".to_owned(),
        revoked: None,
    }
}

async fn tokens_and_certificates_are_kept_and_every_change_raises_the_revision(url: DatabaseUrl) {
    let db = Database::open(&url).await.unwrap();
    let provider = Principal::Provider("12345678".into());
    let gemeente = Principal::Gemeente("GM0363".into());
    let start = db.credentials_revision().await.unwrap();

    assert!(
        db.insert_token(&token("0a0b0c0d", provider.clone()))
            .await
            .unwrap()
    );
    assert!(
        !db.insert_token(&token("0a0b0c0d", gemeente.clone()))
            .await
            .unwrap(),
        "an id that is taken is refused, not overwritten"
    );
    assert!(
        db.insert_token(&token("01020304", gemeente.clone()))
            .await
            .unwrap()
    );
    assert_eq!(db.credentials_revision().await.unwrap(), start + 2);
    assert_eq!(
        db.token("0a0b0c0d").await.unwrap().unwrap().principal,
        provider
    );
    assert_eq!(db.token("ffffffff").await.unwrap(), None);

    assert_eq!(
        db.revoke_token("0a0b0c0d", "2026-12-07T11:00:00Z")
            .await
            .unwrap(),
        Some(provider.clone())
    );
    assert_eq!(
        db.revoke_token("0a0b0c0d", "2026-12-07T12:00:00Z")
            .await
            .unwrap(),
        Some(provider.clone()),
        "revoked again: still whom it stood for"
    );
    assert_eq!(db.revoke_token("ffffffff", "2026").await.unwrap(), None);
    let listed = db.tokens().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["01020304", "0a0b0c0d"]
    );
    assert_eq!(
        listed[1].revoked.as_deref(),
        Some("2026-12-07T11:00:00Z"),
        "a revocation keeps its first time"
    );
    assert_eq!(db.credentials_revision().await.unwrap(), start + 3);

    let subject = StoredCertificate {
        subject_der: "3012".to_owned(),
        subject: "CN=Jeugdhulp Oost".to_owned(),
        principal: provider.clone(),
        added: "2026-12-07T10:00:00Z".to_owned(),
    };
    assert_eq!(db.insert_certificate(&subject).await.unwrap(), None);
    let again = StoredCertificate {
        principal: gemeente.clone(),
        ..subject.clone()
    };
    assert_eq!(
        db.insert_certificate(&again).await.unwrap(),
        Some(provider.clone()),
        "a registered subject keeps its principal"
    );
    assert_eq!(db.certificate("3012").await.unwrap(), Some(subject.clone()));
    assert_eq!(db.certificates().await.unwrap(), vec![subject]);
    assert_eq!(db.credentials_revision().await.unwrap(), start + 4);
    assert_eq!(db.remove_certificate("3012").await.unwrap(), Some(provider));
    assert_eq!(db.remove_certificate("3012").await.unwrap(), None);
    assert_eq!(db.certificates().await.unwrap(), vec![]);
    assert_eq!(db.credentials_revision().await.unwrap(), start + 5);
    db.close().await;

    // Opened again (migrations already applied), everything is still there.
    let reopened = Database::open(&url).await.unwrap();
    assert_eq!(reopened.tokens().await.unwrap(), listed);
    assert_eq!(reopened.credentials_revision().await.unwrap(), start + 5);
}

#[tokio::test]
async fn sqlite_keeps_tokens_and_certificates() {
    let dir = tempfile::tempdir().unwrap();
    tokens_and_certificates_are_kept_and_every_change_raises_the_revision(DatabaseUrl::sqlite_in(
        dir.path(),
    ))
    .await;
    let file = dir.path().join(spiegel_state::DATABASE_FILE);
    assert!(file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let file = file.unwrap().path();
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
}

#[tokio::test]
async fn postgres_keeps_tokens_and_certificates() {
    tokens_and_certificates_are_kept_and_every_change_raises_the_revision(
        postgres("credentials").await,
    )
    .await;
}

#[tokio::test]
async fn replicas_starting_together_migrate_the_schema_once() {
    let url = postgres("migrate_together").await;
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Database::open(&url).await.map(|_| ()) })
        })
        .collect();
    for replica in opening {
        replica.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_showing_it() {
    let url = postgres("wrong_password").await.to_string();
    // The shown URL has `***` for the password: put a wrong one in its place.
    let wrong = url.replace("***", "not-the-password-4711");
    let Err(error) = Database::open(&DatabaseUrl::parse(&wrong).unwrap()).await else {
        panic!("a wrong password connected");
    };
    let shown = error.to_string();
    assert!(!shown.contains("not-the-password-4711"), "{shown}");
    assert!(shown.contains("spiegel:***@127.0.0.1"), "{shown}");
}
