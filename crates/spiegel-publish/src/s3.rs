//! The report store on S3: object_store's client, and its failures told without what the
//! store answered.
//!
//! object_store puts the body of a refused request into its error; an S3 error body can quote
//! the request it refused (`SignatureDoesNotMatch` quotes the canonical request, with the
//! access key id and, for temporary credentials, the session token). Every error of this
//! store keeps its kind (not found, already exists, precondition, ...), so the stage decides
//! as before, but its text keeps only what object_store says before the body and the S3
//! error code and message from it.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The longest S3 error message kept.
const MESSAGE_CHARS: usize = 200;

/// The store for `bucket` under `prefix`, configured from the standard AWS environment
/// variables; reports are created with `If-None-Match: *`.
pub(crate) fn open(bucket: &str, prefix: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    // reqwest's TLS takes the process-wide rustls provider; ring is the one every other TLS
    // connection of Spiegel uses. Installing it a second time changes nothing.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s3 = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .build()
        .map_err(redact)?;
    let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    };
    Ok(Arc::new(Redacting { inner }))
}

/// An error's text without the body of the store's answer.
#[derive(Debug)]
struct Told(String);

impl fmt::Display for Told {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Told {}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What of `source` may be shown: its text up to the first XML tag, then the S3 `Code` and
/// `Message` of the body, if it has them.
fn told(source: &Source) -> Source {
    let text = source.to_string();
    let Some(body) = text.find('<') else {
        return Box::new(Told(text));
    };
    let mut shown = text[..body].trim_end().to_owned();
    for tag in ["Code", "Message"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let Some(start) = text.find(&open).map(|at| at + open.len())
            && let Some(length) = text[start..].find(&close)
        {
            let value: String = text[start..start + length]
                .chars()
                .take(MESSAGE_CHARS)
                .collect();
            shown.push_str(&format!(" {tag}: {}.", value.trim_end_matches('.')));
        }
    }
    Box::new(Told(shown))
}

/// `error` of the same kind, its source [`told`].
fn redact(error: object_store::Error) -> object_store::Error {
    use object_store::Error;
    match error {
        Error::Generic { store, source } => Error::Generic {
            store,
            source: told(&source),
        },
        Error::NotFound { path, source } => Error::NotFound {
            path,
            source: told(&source),
        },
        Error::NotSupported { source } => Error::NotSupported {
            source: told(&source),
        },
        Error::AlreadyExists { path, source } => Error::AlreadyExists {
            path,
            source: told(&source),
        },
        Error::Precondition { path, source } => Error::Precondition {
            path,
            source: told(&source),
        },
        Error::NotModified { path, source } => Error::NotModified {
            path,
            source: told(&source),
        },
        Error::PermissionDenied { path, source } => Error::PermissionDenied {
            path,
            source: told(&source),
        },
        Error::Unauthenticated { path, source } => Error::Unauthenticated {
            path,
            source: told(&source),
        },
        // Paths, configuration keys, task joins: nothing the store answered.
        other => other,
    }
}

/// An [`ObjectStore`] whose every failure is [`redact`]ed.
#[derive(Debug)]
struct Redacting {
    inner: Arc<dyn ObjectStore>,
}

impl fmt::Display for Redacting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Redacting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner
            .put_opts(location, payload, opts)
            .await
            .map_err(redact)
    }

    /// Spiegel writes every report in one put; a multipart upload's parts would fail
    /// unredacted, so there is none.
    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(object_store::Error::NotImplemented {
            operation: "put_multipart_opts".into(),
            implementer: "Spiegel's S3 report store".into(),
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let mut result = self
            .inner
            .get_opts(location, options)
            .await
            .map_err(redact)?;
        if let object_store::GetResultPayload::Stream(stream) = result.payload {
            result.payload =
                object_store::GetResultPayload::Stream(stream.map(|r| r.map_err(redact)).boxed());
        }
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner
            .delete_stream(locations)
            .map(|r| r.map_err(redact))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix).map(|r| r.map_err(redact)).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner
            .list_with_offset(prefix, offset)
            .map(|r| r.map_err(redact))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await.map_err(redact)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner
            .copy_opts(from, to, options)
            .await
            .map_err(redact)
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner
            .rename_opts(from, to, options)
            .await
            .map_err(redact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_its_kind_and_s3_code_but_not_the_request_it_quotes() {
        let body = "Error performing PUT http://127.0.0.1:9000/b/r.parquet in 12ms - Server \
                    returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error>\
                    <Code>SignatureDoesNotMatch</Code><Message>The request signature we \
                    calculated does not match the signature you provided.</Message>\
                    <AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId><CanonicalRequest>PUT\n\
                    x-amz-security-token:SECRET-SESSION-TOKEN</CanonicalRequest></Error>";
        let refused = object_store::Error::PermissionDenied {
            path: "r.parquet".into(),
            source: body.into(),
        };
        let redacted = redact(refused);
        assert!(matches!(
            redacted,
            object_store::Error::PermissionDenied { .. }
        ));
        let text = redacted.to_string();
        assert!(
            text.contains("403 Forbidden")
                && text.contains("Code: SignatureDoesNotMatch.")
                && text.contains("Message: The request signature"),
            "{text}"
        );
        for secret in ["AKIAEXAMPLE", "SECRET-SESSION-TOKEN", "CanonicalRequest"] {
            assert!(!text.contains(secret), "{text}");
        }
        let plain = redact(object_store::Error::NotFound {
            path: "manifest.json".into(),
            source: "connection refused".into(),
        });
        assert!(matches!(plain, object_store::Error::NotFound { .. }));
        assert!(plain.to_string().ends_with("connection refused"));
    }
}
