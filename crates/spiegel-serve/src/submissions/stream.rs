//! The upload on its way into the validator: the request body read as a blocking stream,
//! decompressed, hashed, counted and cut off at its limits while it arrives.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use spiegel_ingest::stage::IngestStage;
use spiegel_ingest::{IngestError, Ingested, SubmissionMeta};

use crate::api_error::ApiError;

/// Why an upload was cut off while it streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Cutoff {
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("gzip expanded more than {0} times")]
    Expansion(u64),
    #[error("the upload stopped before its end")]
    Interrupted,
}

/// The request body as a blocking reader, fed chunk by chunk through a small bounded channel:
/// the validator pulls at its own pace and the connection waits for it.
struct BodyReader {
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, Cutoff>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(cutoff)) => return Err(io::Error::other(cutoff)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The decompressed upload on its way to the validator: hashed, counted and cut off at the
/// byte limit or, for gzip, at the expansion limit.
pub(super) struct Measured<R> {
    pub(super) inner: R,
    pub(super) digest: ring::digest::Context,
    pub(super) read: u64,
    pub(super) max_bytes: u64,
    /// For gzip: the allowed expansion and the compressed bytes received so far.
    pub(super) expansion: Option<(u64, Arc<AtomicU64>)>,
    pub(super) cutoff: Option<Cutoff>,
    pub(super) unreadable: Option<String>,
}

impl<R: Read> Read for Measured<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(cutoff) = self.cutoff {
            return Err(io::Error::other(cutoff));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                match e.get_ref().and_then(|i| i.downcast_ref::<Cutoff>()) {
                    Some(cutoff) => self.cutoff = Some(*cutoff),
                    None => self.unreadable = Some(e.to_string()),
                }
                return Err(e);
            }
        };
        self.read += n as u64;
        if self.read > self.max_bytes {
            self.cutoff = Some(Cutoff::TooLarge(self.max_bytes));
        } else if let Some((ratio, compressed)) = &self.expansion {
            let compressed = compressed.load(Ordering::Acquire);
            if self.read > (1 << 20) && self.read > ratio.saturating_mul(compressed) {
                self.cutoff = Some(Cutoff::Expansion(*ratio));
            }
        }
        if let Some(cutoff) = self.cutoff {
            return Err(io::Error::other(cutoff));
        }
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// What the validator made of a streamed upload.
pub(super) struct Streamed {
    pub(super) ingested: Result<Ingested, IngestError>,
    pub(super) sha256: String,
    pub(super) cutoff: Option<Cutoff>,
    pub(super) unreadable: Option<String>,
}

/// Streams `body` (decompressing gzip) into the validator on a blocking thread, at most
/// `max_bytes` of content; stops reading the body as soon as the validator has stopped.
pub(super) async fn stream_into_validator(
    stage: Arc<IngestStage>,
    meta: SubmissionMeta,
    body: Body,
    gzip: bool,
    max_bytes: u64,
    max_gzip_ratio: u64,
) -> Result<Streamed, tokio::task::JoinError> {
    let (sender, chunks) = tokio::sync::mpsc::channel::<Result<Bytes, Cutoff>>(8);
    let compressed = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&compressed);
    let validator = tokio::task::spawn_blocking(move || {
        let body = BodyReader {
            chunks,
            current: Bytes::new(),
        };
        let (inner, expansion): (Box<dyn Read + Send>, _) = if gzip {
            (
                Box::new(flate2::read::MultiGzDecoder::new(body)),
                Some((max_gzip_ratio, counted)),
            )
        } else {
            (Box::new(body), None)
        };
        let mut measured = Measured {
            inner,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            read: 0,
            max_bytes,
            expansion,
            cutoff: None,
            unreadable: None,
        };
        let ingested = stage.read(&meta, &mut measured);
        // The digest covers the whole file, whatever the validator left unread after its end.
        if ingested.is_ok() && measured.cutoff.is_none() && measured.unreadable.is_none() {
            let _ = io::copy(&mut measured, &mut io::sink());
        }
        Streamed {
            ingested,
            sha256: hex::encode(measured.digest.finish()),
            cutoff: measured.cutoff,
            unreadable: measured.unreadable,
        }
    });
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let message = match chunk {
            Ok(bytes) => {
                received += bytes.len() as u64;
                compressed.store(received, Ordering::Release);
                if received > max_bytes {
                    Err(Cutoff::TooLarge(max_bytes))
                } else {
                    Ok(bytes)
                }
            }
            Err(_) => Err(Cutoff::Interrupted),
        };
        let stop = message.is_err();
        // A closed channel means the validator has stopped: the rest is not read.
        if sender.send(message).await.is_err() || stop {
            break;
        }
    }
    drop(sender);
    validator.await
}

impl From<Cutoff> for ApiError {
    fn from(cutoff: Cutoff) -> Self {
        match cutoff {
            Cutoff::TooLarge(max) => Self::UploadTooLarge { max },
            Cutoff::Expansion(ratio) => Self::DecompressionLimit { ratio },
            Cutoff::Interrupted => Self::UploadInterrupted,
        }
    }
}
