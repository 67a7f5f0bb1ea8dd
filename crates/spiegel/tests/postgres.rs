//! The API's state in PostgreSQL (`--database-url`), against a real server started by
//! `scripts/test.sh` (`scripts/postgres.sh`): replicas that share one database share its
//! tokens, and a data directory from before the database is moved in on first start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

mod common;
use common::postgres::Postgres;
use common::server::{Server, get, serve_command};
use common::{p, released};

/// `spiegel` with `args` on `db`; insists it succeeds.
fn spiegel_on(db: &Postgres, args: &[&str]) -> Output {
    common::spiegel_with(args, |command| {
        db.env(command);
    })
}

fn replica(db: &Postgres, reports: &Path, data: &Path) -> Server {
    let mut command = serve_command(reports, data);
    db.env(&mut command);
    Server::spawn(&mut command)
}

#[test]
fn two_replicas_on_one_database_share_its_tokens_and_a_revocation_counts_on_both() {
    let root = tempfile::tempdir().unwrap();
    let (reports, _, _) = released(root.path(), 3_000, 3, 41);
    let db = Postgres::for_test("replicas");
    // Each replica has a data directory of its own (its audit log); the state is shared.
    let (data_a, data_b, operator) = (
        root.path().join("replica-a"),
        root.path().join("replica-b"),
        root.path().join("operator"),
    );
    let a = replica(&db, &reports, &data_a);
    let b = replica(&db, &reports, &data_b);

    let token = common::token_with(&operator, ["--gemeente", "GM0363"], "alice", |command| {
        db.env(command);
    });
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str())];
    for server in [&a, &b] {
        assert_eq!(get(&server.api, "/v1/reports", &headers).0, 200);
        assert_eq!(get(&server.admin, "/readyz", &[]).0, 200);
    }

    // Revoked by an operator elsewhere: refused on either replica once the database's
    // notification has reached it, which takes milliseconds; the 200 ms revision poll bounds
    // it whatever happens to the notification, so a second is a generous deadline.
    let id = &token["spiegel_".len().."spiegel_".len() + 8];
    spiegel_on(&db, &["tokens", "revoke", id, "--data-dir", p(&operator)]);
    let revoked = std::time::Instant::now();
    for server in [&a, &b] {
        while get(&server.api, "/v1/reports", &headers).0 != 401 {
            assert!(
                revoked.elapsed() < std::time::Duration::from_secs(1),
                "a revoked token still authenticates on {} a second later",
                server.api
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    let listed = spiegel_on(&db, &["tokens", "list", "--data-dir", p(&operator)]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("revoked"), "{listed}");

    // Nothing of the state is kept beside the replicas: no SQLite file in a data directory.
    for data in [&data_a, &data_b, &operator] {
        assert!(!data.join("spiegel.sqlite").exists(), "{}", data.display());
    }
}

#[test]
fn a_data_directory_from_before_the_database_is_moved_in_on_first_start_and_said_so() {
    let root = tempfile::tempdir().unwrap();
    let (reports, _, _) = released(root.path(), 3_000, 3, 43);
    let db = Postgres::for_test("moved");
    // A data directory as the JSON token store left it: one current token of a municipality.
    let data = root.path().join("data-before");
    std::fs::create_dir_all(&data).unwrap();
    let token = format!("spiegel_0a0b0c0d_{}", "7".repeat(64));
    let sha256 = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    std::fs::write(
        data.join("tokens.json"),
        serde_json::json!({"0a0b0c0d": {
            "principal": {"kind": "gemeente", "id": "GM0363"},
            "sha256": sha256,
            "created": "2026-11-01T10:00:00Z",
        }})
        .to_string(),
    )
    .unwrap();

    let mut command = serve_command(&reports, &data);
    db.env(&mut command).stderr(std::process::Stdio::piped());
    let mut server = Server::spawn(&mut command);
    let auth = format!("Bearer {token}");
    assert_eq!(
        get(
            &server.api,
            "/v1/reports",
            &[("Authorization", auth.as_str())]
        )
        .0,
        200,
        "the moved token authenticates"
    );
    assert!(!data.join("tokens.json").exists());
    assert!(data.join("tokens.json.moved-to-database").is_file());
    let _ = server.child.kill();
    let mut log = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("moved tokens into the state database"),
        "{log}"
    );
    assert!(!log.contains(&token[17..]), "the token's secret in the log");

    let listed = spiegel_on(&db, &["tokens", "list", "--data-dir", p(&data)]);
    assert!(
        String::from_utf8(listed.stdout)
            .unwrap()
            .contains("0a0b0c0d")
    );
}
