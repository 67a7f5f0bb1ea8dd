//! The PostgreSQL server of the test suite (started by `scripts/test.sh` through
//! `scripts/postgres.sh`, which passes its directory in `SPIEGEL_TEST_POSTGRES_DIR`): a fresh
//! database per test, reached as an operator reaches it.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

/// One test's database on the test server.
pub(crate) struct Postgres {
    /// `postgres://spiegel@127.0.0.1:PORT/NAME`, without the password.
    pub(crate) url: String,
    password: String,
}

impl Postgres {
    /// Creates a database of its own for `test`.
    pub(crate) fn for_test(test: &str) -> Self {
        let dir = PathBuf::from(std::env::var("SPIEGEL_TEST_POSTGRES_DIR").expect(
            "SPIEGEL_TEST_POSTGRES_DIR is not set: run the suite with scripts/test.sh, which \
             starts a PostgreSQL server on 127.0.0.1",
        ));
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
                .trim()
                .to_owned()
        };
        let (admin, password, bin) = (read("url"), read("password"), read("bin"));
        let nonce = super::nonce();
        let name = format!("{test}_{nonce:08x}");
        let created = Command::new(PathBuf::from(bin).join("psql"))
            .arg(&admin)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let host = admin
            .split_once('@')
            .and_then(|(_, rest)| rest.split_once('/'))
            .unwrap()
            .0
            .to_owned();
        Self {
            url: format!("postgres://spiegel@{host}/{name}"),
            password,
        }
    }

    /// Points `command` at this database as a Kubernetes Secret would: the URL in
    /// `SPIEGEL_DATABASE_URL`, the password in `PGPASSWORD`.
    pub(crate) fn env<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env("SPIEGEL_DATABASE_URL", &self.url)
            .env("PGPASSWORD", &self.password)
    }
}
