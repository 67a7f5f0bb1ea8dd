//! Reports in S3-compatible object storage (`--out`/`--reports s3://bucket/prefix`), against
//! a real server: SeaweedFS on 127.0.0.1, started by `scripts/test.sh` (`scripts/s3.sh`).
//! The Kafka publish stage on S3 is tested with the other stage processes in `kafka.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::s3::S3;
use common::server::{Server, get};
use common::{assert_same, generate, p, spiegel, token, tree};

/// `spiegel` with `args`, reaching `s3` as an operator configures it; insists it succeeds.
fn spiegel_on(s3: &S3, args: &[&str]) -> Output {
    common::spiegel_with(args, |command| s3.env(command))
}

/// The store's objects without the feed: the history of releases, which depends on how many
/// releases a run made (as `tree` leaves it out of a directory).
fn reports(objects: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    objects
        .into_iter()
        .filter(|(key, _)| !key.starts_with("feed/"))
        .collect()
}

#[test]
fn run_render_and_serve_on_s3_give_the_bytes_of_a_local_directory() {
    let s3 = S3::for_test("run");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let input = root.join("input");
    generate(&input, 3000, 3, 5, "2025-H2,2026-H1");
    let keys = root.join("keys");
    spiegel(&["keys", "generate", "--out", p(&keys)]);
    let run = |out: &str, data: &str| {
        spiegel_on(
            &s3,
            &[
                "run",
                "--input",
                p(&input),
                "--out",
                out,
                "--data-dir",
                p(&root.join(data)),
                "--keys",
                p(&keys),
            ],
        )
    };
    let local = root.join("local");
    run(p(&local), "data-local");
    let expected = tree(&local);
    assert!(expected.len() > 100, "{} files", expected.len());

    let reports_url = s3.url("reports");
    let first = run(&reports_url, "data-s3");
    assert!(
        String::from_utf8_lossy(&first.stdout).contains(&reports_url),
        "the summary names where the reports went"
    );
    assert_same(
        &expected,
        &reports(s3.objects("reports")),
        "spiegel run to S3",
    );
    // Nothing new: nothing written. A second writer of the same release (another data
    // directory, as after losing one) finds every object there with the same bytes; the
    // conditional puts refuse nothing and overwrite nothing.
    let again = run(&reports_url, "data-s3");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 submissions applied"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    run(&reports_url, "data-s3-second");
    assert_same(
        &expected,
        &reports(s3.objects("reports")),
        "after a second writer of the same release",
    );

    // Create-only for real: a report object with other bytes (another writer, a changed
    // configuration) is never overwritten; the release stops and says so.
    let manifest: spiegel_publish::Manifest =
        serde_json::from_slice(&expected["manifest.json"]).unwrap();
    let tampered = &manifest.files[0].path;
    s3.put("reports", tampered, b"not the report");
    let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
    command.args([
        "run",
        "--input",
        p(&input),
        "--out",
        &reports_url,
        "--data-dir",
        p(&root.join("data-s3-third")),
        "--keys",
        p(&keys),
    ]);
    s3.env(&mut command);
    let refused = command.output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("already exists with other content; nothing overwritten"),
        "{stderr}"
    );
    assert_eq!(s3.objects("reports")[tampered], b"not the report");
    s3.put("reports", tampered, &expected[tampered]);

    // The pages rendered from S3 are those rendered from the directory.
    for (reports, pages) in [(p(&local), "pages-local"), (&reports_url, "pages-s3")] {
        spiegel_on(
            &s3,
            &[
                "render",
                "--reports",
                reports,
                "--out",
                p(&root.join(pages)),
                "--data-dir",
                p(&root.join("data-s3")),
            ],
        );
    }
    assert_same(
        &tree(&root.join("pages-local")),
        &tree(&root.join("pages-s3")),
        "spiegel render from S3",
    );

    // The API serves the reports from S3: a municipality lists and reads its own, byte for
    // byte those of the directory, and its page.
    let data = root.join("data-s3");
    let own = manifest
        .files
        .iter()
        .find(|f| f.kind == spiegel_core::ReportKind::Municipality)
        .unwrap();
    let bearer = format!(
        "Bearer {}",
        token(&data, ["--gemeente", &own.recipient], "s3-test")
    );
    let server = serve_from(&s3, &data, &reports_url);
    let auth = [("Authorization", bearer.as_str())];
    let (status, body) = get(&server.api, "/v1/reports", &auth);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["release"], manifest.release.as_str());
    let id = spiegel_serve::report_id(own);
    assert!(
        listed["reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str()),
        "{listed}"
    );
    let (status, body) = get(&server.api, &format!("/v1/reports/{id}"), &auth);
    assert_eq!(status, 200);
    assert!(body == expected[&own.path], "{id} served from S3 differs");
    let (status, page) = get(&server.api, &format!("/v1/reports/{id}.html"), &auth);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("<html"));
}

/// `spiegel serve` of the reports at `reports` (an `s3://` URL) with state in `data`.
fn serve_from(s3: &S3, data: &Path, reports: &str) -> Server {
    let mut command = common::server::serve_command(reports, data);
    s3.env(&mut command);
    Server::spawn(&mut command)
}

#[test]
fn a_missing_bucket_or_a_wrong_secret_is_refused_at_once_and_the_secret_never_shown() {
    let s3 = S3::for_test("refused");
    let dir = tempfile::tempdir().unwrap();
    let render = |reports: &str, secret: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
        command.args([
            "render",
            "--reports",
            reports,
            "--out",
            p(&dir.path().join("pages")),
        ]);
        s3.env(&mut command);
        if let Some(secret) = secret {
            command.env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Not taken for a store with nothing published yet.
    let missing = render("s3://no-such-bucket/releases", None);
    assert!(
        missing.contains("s3://no-such-bucket/releases cannot be used")
            && missing.contains("NoSuchBucket"),
        "{missing}"
    );
    let secret = "not-the-secret-0123456789";
    let refused = render(&s3.url("reports"), Some(secret));
    assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");
    assert!(!refused.contains(secret), "{refused}");
    assert!(!refused.contains("CanonicalRequest"), "{refused}");
}
