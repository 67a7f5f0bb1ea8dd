//! The S3-compatible server of the test suite (`scripts/s3.sh`, SeaweedFS, started by
//! `scripts/test.sh`, which passes its directory in `SPIEGEL_TEST_S3_DIR`), read through a
//! client of the tests' own: every test uses a prefix of its own in the one bucket.

#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};

/// The server and a prefix of one test.
pub(crate) struct S3 {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    /// This test's prefix in the bucket.
    pub(crate) prefix: String,
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

impl S3 {
    /// The server `scripts/test.sh` started, with a fresh prefix named after `test`.
    pub(crate) fn for_test(test: &str) -> Self {
        let dir = PathBuf::from(std::env::var("SPIEGEL_TEST_S3_DIR").expect(
            "SPIEGEL_TEST_S3_DIR is not set: run the suite with scripts/test.sh, which starts \
             an S3-compatible server (SeaweedFS) on 127.0.0.1",
        ));
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
                .trim()
                .to_owned()
        };
        let nonce = super::nonce();
        let (endpoint, bucket) = (read("endpoint"), read("bucket"));
        let (access_key, secret_key) = (read("access_key"), read("secret_key"));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&bucket)
            .with_access_key_id(&access_key)
            .with_secret_access_key(&secret_key)
            .build()
            .unwrap();
        Self {
            endpoint,
            bucket,
            access_key,
            secret_key,
            prefix: format!("{test}-{nonce:08x}"),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            store: Arc::new(store),
        }
    }

    /// `s3://bucket/<prefix>/<under>`: where a `spiegel` process is to write or read.
    pub(crate) fn url(&self, under: &str) -> String {
        format!("s3://{}/{}/{under}", self.bucket, self.prefix)
    }

    /// The environment a `spiegel` process reaches the server with, as an operator sets it.
    pub(crate) fn env(&self, command: &mut Command) {
        // Nothing inherited may point the process elsewhere (AWS_ENDPOINT_URL_S3, a profile):
        // the tests touch only loopback.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key);
    }

    /// The keys under `<prefix>/<under>`, relative to it.
    pub(crate) fn keys(&self, under: &str) -> Vec<String> {
        let root = self.root(under);
        self.runtime.block_on(async {
            let listed: Vec<object_store::ObjectMeta> = self
                .store
                .list(Some(&StorePath::from(root.as_str())))
                .try_collect()
                .await
                .unwrap();
            listed
                .into_iter()
                .map(|meta| meta.location.as_ref()[root.len() + 1..].to_owned())
                .collect()
        })
    }

    /// Every object under `<prefix>/<under>`, by key relative to it.
    pub(crate) fn objects(&self, under: &str) -> BTreeMap<String, Vec<u8>> {
        let root = self.root(under);
        self.keys(under)
            .into_iter()
            .map(|key| {
                let location = StorePath::from(format!("{root}/{key}"));
                let bytes = self.runtime.block_on(async {
                    self.store
                        .get(&location)
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap()
                });
                (key, bytes.to_vec())
            })
            .collect()
    }

    /// The object `<prefix>/<under>/<key>`, if there is one.
    pub(crate) fn get(&self, under: &str, key: &str) -> Option<Vec<u8>> {
        let location = StorePath::from(format!("{}/{key}", self.root(under)));
        self.runtime.block_on(async {
            match self.store.get(&location).await {
                Ok(found) => Some(found.bytes().await.unwrap().to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{location}: {e}"),
            }
        })
    }

    /// Writes `bytes` to `<prefix>/<under>/<key>`, over whatever is there.
    pub(crate) fn put(&self, under: &str, key: &str, bytes: &[u8]) {
        let location = StorePath::from(format!("{}/{key}", self.root(under)));
        self.runtime
            .block_on(self.store.put(&location, bytes.to_vec().into()))
            .unwrap();
    }

    fn root(&self, under: &str) -> String {
        format!("{}/{under}", self.prefix)
    }

    /// What a reader of `<prefix>/<under>` sees: `manifest.json` and the objects it lists.
    pub(crate) fn published(&self, under: &str) -> BTreeMap<String, Vec<u8>> {
        let mut objects = self.objects(under);
        let Some(manifest) = objects.remove("manifest.json") else {
            return BTreeMap::new();
        };
        super::with_listed(manifest, |path| {
            objects
                .remove(path)
                .unwrap_or_else(|| panic!("{path} missing"))
        })
    }
}
