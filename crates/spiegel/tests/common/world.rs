//! A server on loopback with generated submissions of two providers, as the API tests use it.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::{Answer, Server, call};
use super::{generate, token};

/// Submissions of two providers for 2026-H1, a server with no release yet, and tokens.
pub(crate) struct World {
    // Dropped first: the server stops before its directories go.
    pub(crate) server: Server,
    pub(crate) data: PathBuf,
    pub(crate) reports: PathBuf,
    pub(crate) files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl World {
    pub(crate) fn new(records: u32, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        generate(&input, records, 2, 11, "2026-H1");
        let mut files: Vec<PathBuf> = fs::read_dir(&input)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let data = dir.path().join("data");
        fs::create_dir_all(&data).unwrap();
        let reports = dir.path().join("reports");
        let server = Server::start_with(&reports, &data, extra);
        Self {
            _dir: dir,
            data,
            reports,
            files,
            server,
        }
    }

    /// The AGB code of provider `i`.
    pub(crate) fn agb(&self, i: usize) -> String {
        let name = self.files[i].file_name().unwrap().to_string_lossy();
        name.split('_').next().unwrap().to_owned()
    }

    pub(crate) fn bearer(&self, principal: [&str; 2]) -> String {
        format!("Bearer {}", token(&self.data, principal, "setup"))
    }

    /// Uploads `body` for 2026-H1 as text/csv unless `extra` names another Content-Type.
    pub(crate) fn upload(&self, bearer: &str, body: &[u8], extra: &[(&str, &str)]) -> Answer {
        self.upload_with(bearer, "", body, extra)
    }

    /// [`World::upload`] with more of the query string (`&name=value…`).
    pub(crate) fn upload_with(
        &self,
        bearer: &str,
        query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut headers = vec![("Authorization", bearer)];
        if !extra.iter().any(|(name, _)| *name == "Content-Type") {
            headers.push(("Content-Type", "text/csv"));
        }
        headers.extend_from_slice(extra);
        call(
            &self.server.api,
            "POST",
            &format!("/v1/submissions?period=2026-H1{query}"),
            &headers,
            body,
        )
    }

    pub(crate) fn get(&self, bearer: &str, path: &str) -> Answer {
        call(
            &self.server.api,
            "GET",
            path,
            &[("Authorization", bearer)],
            b"",
        )
    }

    /// Polls a submission until it has `status`.
    pub(crate) fn wait_for(&self, bearer: &str, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let answer = self.get(bearer, &format!("/v1/submissions/{id}"));
            assert_eq!(answer.status, 200);
            let body = answer.json();
            if body["status"] == status {
                return body;
            }
            assert!(Instant::now() < deadline, "never {status}: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
