//! Submissions over HTTP (docs/submission.md, docs/serving.md): `POST /v1/submissions` streams a
//! provider's file (CSV, JSON Lines or Parquet, optionally gzip) straight into the ingest stage's
//! validator, so every limit is decided while the bytes arrive and nothing is buffered past them;
//! the raw file, BSNs and all, is never written anywhere. `GET /v1/submissions/{id}` answers its
//! status and receipt.
//!
//! A submission's id follows from the provider, the period, the format and the SHA-256 of the
//! file's (decompressed) content, so sending the same file again is answered with the same id
//! and changes nothing, while the same bytes sent as another format are another submission; an
//! `Idempotency-Key` additionally ties a client's retry to its first attempt and refuses the
//! key's reuse for a different file, or while an upload with that key is still in progress
//! (409: one key, one upload at a time).
//!
//! A submission without rows withdraws the provider's period (docs/submission.md). Over the API
//! that only happens when the upload says so with `?withdraw=true`; without it an empty file is
//! refused, since a header-only export is more often a mistake than a withdrawal.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use spiegel_core::{Agb, Period};
use spiegel_ingest::stage::{IngestStage, Submitted};
use spiegel_ingest::{Format, IngestError, Ingested, SubmissionMeta};

use crate::server::{App, Caller, error, not_found, unavailable};
use crate::{Action, Outcome, Principal};

/// Where uploads go: the ingest stage (with its stage-1 key and its producer) and what to do
/// once a submission has been sent on (wake the embedded pipeline; nothing on Kafka).
pub struct Intake {
    stage: Arc<IngestStage>,
    sent: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

impl Intake {
    /// Uploads validated and sent on by `stage`; `sent` is called after each accepted one.
    pub fn new(stage: IngestStage, sent: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            stage: Arc::new(stage),
            sent: Box::new(sent),
        }
    }
}

/// The directory of submission records in the data directory.
const SUBMISSIONS_DIR: &str = "submissions";

/// What the API keeps of a submission: its identity and receipt, never its content.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SubmissionRecord {
    id: String,
    provider: String,
    period: String,
    format: Format,
    /// SHA-256 of the decompressed file, hex.
    sha256: String,
    received: String,
    /// `accepted` or `rejected`, as validation decided.
    validation: String,
    receipt: serde_json::Value,
    /// An accepted submission without rows, which withdrew the period.
    #[serde(default)]
    withdrawn: bool,
}

/// The id of a submission: the same provider, period, format and content always give the
/// same id. The format is part of it because the same bytes read as CSV or as JSON Lines are
/// different submissions, one of which may be accepted and the other rejected.
fn submission_id(provider: &Agb, period: &Period, format: Format, sha256: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{provider}\n{period}\n{format}\n{sha256}").as_bytes(),
    );
    hex::encode(&digest.as_ref()[..16])
}

/// Why an upload was cut off while it streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Cutoff {
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
struct Measured<R> {
    inner: R,
    digest: ring::digest::Context,
    read: u64,
    max_bytes: u64,
    /// For gzip: the allowed expansion and the compressed bytes received so far.
    expansion: Option<(u64, Arc<AtomicU64>)>,
    cutoff: Option<Cutoff>,
    unreadable: Option<String>,
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
struct Streamed {
    ingested: Result<Ingested, IngestError>,
    sha256: String,
    cutoff: Option<Cutoff>,
    unreadable: Option<String>,
}

/// The encoding a Content-Type names.
fn format_of(headers: &HeaderMap) -> Option<Format> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" => Some(Format::Csv),
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => {
            Some(Format::Jsonl)
        }
        "application/vnd.apache.parquet" => Some(Format::Parquet),
        _ => None,
    }
}

/// Whether the body is gzip (`Content-Encoding: gzip`); `Err` for an encoding not supported.
fn gzipped(headers: &HeaderMap) -> Result<bool, ()> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().map(|s| s.trim().to_ascii_lowercase()))
    {
        None => Ok(false),
        Some(Ok(e)) if e == "identity" => Ok(false),
        Some(Ok(e)) if e == "gzip" || e == "x-gzip" => Ok(true),
        _ => Err(()),
    }
}

/// An `Idempotency-Key` as the client sent it: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ()> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => match value.to_str() {
            Ok(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(key.to_owned()))
            }
            _ => Err(()),
        },
    }
}

/// `POST /v1/submissions?period=PERIOD`.
pub(crate) async fn upload(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Principal::Provider(agb) = &principal else {
        // Only providers submit; for anyone else the resource does not exist.
        return app.refuse(&principal, Action::SubmissionUpload, "submissions");
    };
    let Some(intake) = &app.intake else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "uploads_disabled",
            "this server does not take submissions / deze server neemt geen aanleveringen aan",
        );
    };
    let record_rejection = || {
        app.record(
            &principal,
            Action::SubmissionUpload,
            &format!("submission.{agb}"),
            Outcome::Rejected,
        );
    };
    let reject = |status, code: &str, message: &str| {
        record_rejection();
        error(status, code, message)
    };
    // A refusal the validator's receipt explains: the receipt goes with the error.
    let reject_with_receipt = |status, code: &str, message: &str, receipt| {
        record_rejection();
        let body = serde_json::json!({ "error": code, "message": message, "receipt": receipt });
        (status, axum::Json(body)).into_response()
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let period = query.get("period").and_then(|p| Period::from_str(p).ok());
    let withdraw = match query.get("withdraw").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return reject(
                StatusCode::BAD_REQUEST,
                "invalid_withdraw",
                "withdraw is true or false / withdraw is true of false",
            );
        }
    };
    let Some(period) = period else {
        return reject(
            StatusCode::BAD_REQUEST,
            "invalid_period",
            "give the period as ?period=2026-H1 (or a quarter, 2026-Q3) / geef de periode op \
             als ?period=2026-H1 (of een kwartaal, 2026-Q3)",
        );
    };
    let Some(format) = format_of(&headers) else {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type text/csv, application/x-ndjson or application/vnd.apache.parquet \
             / stuur Content-Type text/csv, application/x-ndjson of \
             application/vnd.apache.parquet",
        );
    };
    let Ok(gzip) = gzipped(&headers) else {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "Content-Encoding may only be gzip / Content-Encoding mag alleen gzip zijn",
        );
    };
    let Ok(idempotency) = idempotency_key(&headers) else {
        return reject(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "an Idempotency-Key is 1 to 255 visible ASCII characters / een Idempotency-Key is 1 \
             tot 255 zichtbare ASCII-tekens",
        );
    };
    let Ok(provider) = Agb::from_str(agb) else {
        return unavailable();
    };
    // Held until this upload is answered: a second upload with the same key meanwhile would
    // be decided without knowing how the first ends.
    let _in_flight = match &idempotency {
        None => None,
        Some(key) => match InFlight::claim(&app, agb, key) {
            Some(claim) => Some(claim),
            None => {
                return reject(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_use",
                    "an upload with this Idempotency-Key is still in progress; wait for its \
                     answer, then retry to get the same answer / er loopt nog een upload met \
                     deze Idempotency-Key; wacht op het antwoord en probeer het dan opnieuw \
                     voor hetzelfde antwoord",
                );
            }
        },
    };
    let max_bytes = intake.stage.config().limits.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return too_large(&reject, Cutoff::TooLarge(max_bytes));
    }
    let meta = SubmissionMeta {
        provider,
        period,
        format,
    };

    let streamed = stream_into_validator(
        Arc::clone(&intake.stage),
        meta,
        body,
        gzip,
        max_bytes,
        app.config.upload.max_gzip_ratio,
    )
    .await;
    let Ok(streamed) = streamed else {
        return unavailable();
    };
    if let Some(cutoff) = streamed.cutoff {
        return too_large(&reject, cutoff);
    }
    let ingested = match (streamed.unreadable, streamed.ingested) {
        (None, Ok(ingested)) => ingested,
        (unreadable, result) => {
            let why = unreadable
                .or_else(|| result.err().map(|e| e.to_string()))
                .unwrap_or_default();
            tracing::info!(provider = %agb, error = %why, "an upload could not be read");
            let message = if gzip {
                "the upload is not a readable gzip stream of the format its Content-Type names / \
                 de upload is geen leesbare gzip-stroom van het formaat dat Content-Type noemt"
            } else {
                "the upload could not be read in the format its Content-Type names / de upload \
                 kon niet worden gelezen in het formaat dat Content-Type noemt"
            };
            return reject(StatusCode::BAD_REQUEST, "unreadable_upload", message);
        }
    };
    let receipt = match serde_json::to_value(&ingested.receipt) {
        Ok(receipt) => receipt,
        Err(_) => return unavailable(),
    };
    // Limits reached inside the file are answered as such; the receipt says where.
    let limit_status = ingested
        .receipt
        .rejection
        .as_ref()
        .and_then(|r| match r.kind.code() {
            "FILE_TOO_LARGE" | "TOO_MANY_ROWS" => Some(StatusCode::PAYLOAD_TOO_LARGE),
            "RECORD_TOO_LONG" | "FIELD_TOO_LONG" => Some(StatusCode::BAD_REQUEST),
            _ => None,
        });
    if let Some(status) = limit_status {
        return reject_with_receipt(
            status,
            "limit_exceeded",
            "the submission exceeds a limit; the receipt says which / de aanlevering \
             overschrijdt een limiet; het ontvangstbewijs zegt welke",
            receipt,
        );
    }

    let withdrawal = ingested.receipt.accepted() && ingested.receipt.counts.rows == 0;
    if withdrawal && !withdraw {
        return reject_with_receipt(
            StatusCode::UNPROCESSABLE_ENTITY,
            "withdrawal_not_confirmed",
            "the submission holds no rows, which would withdraw everything delivered for this \
             period; to do that, send it again with ?withdraw=true / de aanlevering bevat geen \
             regels en zou alles wat voor deze periode is geleverd intrekken; stuur hem \
             daarvoor opnieuw met ?withdraw=true",
            receipt,
        );
    }
    let id = submission_id(&meta.provider, &meta.period, format, &streamed.sha256);
    let registry = Registry::new(&app.config.data_dir);
    if let Some(key) = &idempotency {
        match registry.idempotency(agb, key) {
            Ok(Some(earlier)) if earlier != id => {
                return reject(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different file; use a new key for a new \
                     file / deze Idempotency-Key is gebruikt voor een ander bestand; gebruik een \
                     nieuwe sleutel voor een nieuw bestand",
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "the idempotency keys cannot be read");
                return unavailable();
            }
        }
    }
    let accepted = ingested.receipt.accepted();
    app.metrics.uploaded(accepted, &ingested.receipt.counts);
    let record = SubmissionRecord {
        id: id.clone(),
        provider: agb.clone(),
        period: period.to_string(),
        format,
        sha256: streamed.sha256.clone(),
        received: crate::now(),
        validation: if accepted { "accepted" } else { "rejected" }.to_owned(),
        receipt,
        withdrawn: withdrawal,
    };
    let outcome = if accepted {
        Outcome::Success
    } else {
        Outcome::Rejected
    };
    // Recorded before anything is sent on or stored: an upload that cannot be recorded does
    // not happen.
    if !app.record(&principal, Action::SubmissionUpload, &id, outcome) {
        return unavailable();
    }
    let stage = Arc::clone(&intake.stage);
    let sha256 = streamed.sha256.clone();
    let applied = tokio::task::spawn_blocking(move || {
        if accepted && stage.is_current(&meta, &sha256) {
            return Ok(Submitted::Unchanged);
        }
        stage.apply(&meta, &sha256, ingested)
    })
    .await;
    let sent = match applied {
        Ok(Ok(submitted)) => matches!(submitted, Submitted::Sent { .. }),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "an accepted submission could not be sent on");
            app.record(&principal, Action::SubmissionUpload, &id, Outcome::Error);
            return unavailable();
        }
        Err(_) => {
            app.record(&principal, Action::SubmissionUpload, &id, Outcome::Error);
            return unavailable();
        }
    };
    let stored = registry.store(&record).and_then(|()| match &idempotency {
        Some(key) => registry.remember(agb, key, &id),
        None => Ok(()),
    });
    if let Err(e) = stored {
        tracing::error!(error = %e, "the submission registry cannot be written");
        app.record(&principal, Action::SubmissionUpload, &id, Outcome::Error);
        return unavailable();
    }
    if sent {
        (intake.sent)();
    }
    tracing::info!(submission = %id, provider = %agb, period = %period, accepted, "submission received");
    let status = if accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = (status, axum::Json(status_body(&app, &record).await)).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/submissions/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn too_large(reject: &impl Fn(StatusCode, &str, &str) -> Response, cutoff: Cutoff) -> Response {
    match cutoff {
        Cutoff::TooLarge(max) => reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload_too_large",
            &format!(
                "the submission is larger than {max} bytes (after decompression) / de \
                 aanlevering is groter dan {max} bytes (na uitpakken)"
            ),
        ),
        Cutoff::Expansion(ratio) => reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompression_limit",
            &format!(
                "the gzip upload expands more than {ratio} times; send it uncompressed or \
                 compressed normally / de gzip-upload wordt meer dan {ratio} keer groter; stuur \
                 hem ongecomprimeerd of normaal gecomprimeerd"
            ),
        ),
        Cutoff::Interrupted => reject(
            StatusCode::BAD_REQUEST,
            "upload_interrupted",
            "the upload stopped before its end; send it again / de upload stopte voor het \
             einde; stuur hem opnieuw",
        ),
    }
}

/// Streams `body` (decompressing gzip) into the validator on a blocking thread, at most
/// `max_bytes` of content; stops reading the body as soon as the validator has stopped.
async fn stream_into_validator(
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

/// `GET /v1/submissions/{id}`: the provider's own submissions only.
pub(crate) async fn status(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if !crate::server::within(&id, 64) {
        app.record(
            &principal,
            Action::ReceiptRead,
            "submission",
            Outcome::Rejected,
        );
        return crate::server::invalid_parameter("id", "at most 64 characters");
    }
    let registry = Registry::new(&app.config.data_dir);
    let record = match registry.load(&id) {
        Ok(Some(record)) if principal == Principal::Provider(record.provider.clone()) => record,
        Ok(found) => {
            let outcome = if found.is_some() {
                Outcome::Denied
            } else {
                Outcome::Rejected
            };
            app.record(&principal, Action::ReceiptRead, "submission", outcome);
            return not_found();
        }
        Err(e) => {
            tracing::error!(error = %e, "the submission registry cannot be read");
            return unavailable();
        }
    };
    if !app.record(&principal, Action::ReceiptRead, &id, Outcome::Success) {
        return unavailable();
    }
    (StatusCode::OK, axum::Json(status_body(&app, &record).await)).into_response()
}

/// A submission as the API shows it: its record and where it stands now — `rejected`,
/// `processing` (accepted, not yet in a release), `published` (the current release was
/// computed from it) or `superseded` (a later submission for the same period replaced it).
async fn status_body(app: &App, record: &SubmissionRecord) -> serde_json::Value {
    let key = format!("{}_{}", record.provider, record.period);
    let mut release = None;
    let status = if record.validation != "accepted" {
        "rejected"
    } else {
        let manifest = app.manifest().await;
        let in_force = manifest.as_ref().and_then(|m| m.submissions.get(&key));
        let current = match (&app.intake, record.provider.parse(), record.period.parse()) {
            (Some(intake), Ok(provider), Ok(period)) => intake.stage.is_current(
                &SubmissionMeta {
                    provider,
                    period,
                    format: record.format,
                },
                &record.sha256,
            ),
            _ => true,
        };
        if in_force == Some(&record.sha256) {
            release = manifest.map(|m| m.release);
            "published"
        } else if !current {
            "superseded"
        } else {
            "processing"
        }
    };
    serde_json::json!({
        "id": record.id,
        "status": status,
        "release": release,
        "period": record.period,
        "format": record.format,
        "sha256": record.sha256,
        "received": record.received,
        "withdrawn": record.withdrawn,
        "receipt": record.receipt,
    })
}

/// An upload in progress under an Idempotency-Key; the claim ends when it is dropped.
struct InFlight<'a> {
    app: &'a App,
    claim: (String, String),
}

impl<'a> InFlight<'a> {
    /// The claim on `key` of `provider`; None while another upload holds it.
    fn claim(app: &'a App, provider: &str, key: &str) -> Option<Self> {
        let claim = (provider.to_owned(), key.to_owned());
        // A poisoned set only means a panic elsewhere; the set itself is still sound.
        let mut claimed = app
            .uploads_in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Lazily: a claim built and dropped here would take this lock again (a deadlock) and
        // release the claim of the upload in progress.
        claimed.insert(claim.clone()).then(|| Self { app, claim })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.app
            .uploads_in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.claim);
    }
}

/// The submission records and idempotency keys in the data directory.
struct Registry {
    dir: PathBuf,
}

impl Registry {
    fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(SUBMISSIONS_DIR),
        }
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        // Ids are 32 lower-case hex digits; anything else names no file.
        (id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| self.dir.join(format!("{id}.json")))
    }

    fn load(&self, id: &str) -> io::Result<Option<SubmissionRecord>> {
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn store(&self, record: &SubmissionRecord) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self
            .path(&record.id)
            .ok_or_else(|| io::Error::other("malformed submission id"))?;
        let json = serde_json::to_vec(record).map_err(io::Error::other)?;
        spiegel_core::durable::write_atomically(&path, &json)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// The file of an idempotency key: named by a hash, so a key's text is never a path.
    fn key_path(&self, provider: &str, key: &str) -> PathBuf {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{provider}\n{key}").as_bytes(),
        );
        self.dir
            .join("idempotency")
            .join(format!("{}.id", hex::encode(digest)))
    }

    fn idempotency(&self, provider: &str, key: &str) -> io::Result<Option<String>> {
        match std::fs::read_to_string(self.key_path(provider, key)) {
            Ok(id) => Ok(Some(id.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn remember(&self, provider: &str, key: &str, id: &str) -> io::Result<()> {
        let path = self.key_path(provider, key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        spiegel_core::durable::write_atomically(&path, id.as_bytes())
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_bomb_is_cut_off_by_its_expansion_not_by_the_byte_limit() {
        let zeros = vec![0u8; 64 << 20];
        let mut compressed = Vec::new();
        {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::best());
            encoder.write_all(&zeros).unwrap();
            encoder.finish().unwrap();
        }
        let received = Arc::new(AtomicU64::new(compressed.len() as u64));
        let mut measured = Measured {
            inner: flate2::read::MultiGzDecoder::new(&compressed[..]),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            read: 0,
            max_bytes: u64::MAX,
            expansion: Some((100, received)),
            cutoff: None,
            unreadable: None,
        };
        let error = io::copy(&mut measured, &mut io::sink()).unwrap_err();
        assert!(error.to_string().contains("expanded"), "{error}");
        assert_eq!(measured.cutoff, Some(Cutoff::Expansion(100)));
        // 100 times the compressed size, far below the 64 MiB it would expand to.
        assert!(measured.read < 16 << 20, "stopped early: {}", measured.read);
    }

    #[test]
    fn ids_follow_from_provider_period_and_content() {
        let agb: Agb = "12345678".parse().unwrap();
        let h1: Period = "2026-H1".parse().unwrap();
        let h2: Period = "2026-H2".parse().unwrap();
        let a = submission_id(&agb, &h1, Format::Csv, "ab");
        assert_eq!(a, submission_id(&agb, &h1, Format::Csv, "ab"));
        assert_ne!(a, submission_id(&agb, &h2, Format::Csv, "ab"));
        assert_ne!(a, submission_id(&agb, &h1, Format::Csv, "ac"));
        assert_ne!(a, submission_id(&agb, &h1, Format::Jsonl, "ab"));
        assert_eq!(a.len(), 32);
        let registry = Registry::new(Path::new("/x"));
        assert!(registry.path(&a).is_some());
        assert!(registry.path("../../etc/passwd").is_none());
    }
}
