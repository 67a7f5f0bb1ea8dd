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

mod registry;
mod stream;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spiegel_core::{Agb, Period};
use spiegel_ingest::stage::{IngestStage, Submitted};
use spiegel_ingest::{Format, Ingested, SubmissionMeta};

use self::registry::{InFlight, Registry};
use self::stream::{Cutoff, stream_into_validator};
use crate::api_error::ApiError;
use crate::server::{App, Caller};
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

/// What an upload asks for, read from its query and headers before any of its body.
struct UploadRequest {
    period: Period,
    /// `?withdraw=true`: an empty file may withdraw the period.
    withdraw: bool,
    format: Format,
    gzip: bool,
    idempotency: Option<String>,
}

impl UploadRequest {
    /// The request's parameters, checked in the order their errors are answered.
    fn read(query: &BTreeMap<String, String>, headers: &HeaderMap) -> Result<Self, ApiError> {
        let period = query.get("period").and_then(|p| Period::from_str(p).ok());
        let withdraw = match query.get("withdraw").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ApiError::InvalidWithdraw),
        };
        let period = period.ok_or(ApiError::InvalidPeriod)?;
        let format = format_of(headers).ok_or(ApiError::UnsupportedMediaType)?;
        let gzip = gzipped(headers).map_err(|()| ApiError::UnsupportedEncoding)?;
        let idempotency = idempotency_key(headers).map_err(|()| ApiError::InvalidIdempotencyKey)?;
        Ok(Self {
            period,
            withdraw,
            format,
            gzip,
            idempotency,
        })
    }
}

/// `POST /v1/submissions?period=PERIOD`.
pub(crate) async fn upload(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Principal::Provider(agb) = &principal else {
        // Only providers submit; for anyone else the resource does not exist.
        return Err(app.refuse(&principal, Action::SubmissionUpload, "submissions"));
    };
    let intake = app.intake.as_ref().ok_or(ApiError::UploadsDisabled)?;
    // The upload's own faults are recorded as its rejection; Spiegel's (unavailable) are not,
    // and those after the audit record was written are recorded as errors where they happen.
    let rejected = |error: ApiError| {
        if !matches!(error, ApiError::Unavailable) {
            app.record(
                &principal,
                Action::SubmissionUpload,
                &format!("submission.{agb}"),
                Outcome::Rejected,
            );
        }
        error
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let request = UploadRequest::read(&query, &headers).map_err(&rejected)?;
    let provider = Agb::from_str(agb).map_err(|_| ApiError::Unavailable)?;
    // Held until this upload is answered: a second upload with the same key meanwhile would
    // be decided without knowing how the first ends.
    let _in_flight = match &request.idempotency {
        None => None,
        Some(key) => Some(
            InFlight::claim(&app, agb, key)
                .ok_or_else(|| rejected(ApiError::IdempotencyKeyInUse))?,
        ),
    };
    let meta = SubmissionMeta {
        provider,
        period: request.period,
        format: request.format,
    };
    let (sha256, ingested) = receive(&app, intake, meta, &request, &headers, body, agb)
        .await
        .map_err(&rejected)?;
    let (receipt, withdrawal) = receipt_of(&ingested, request.withdraw).map_err(&rejected)?;
    let id = submission_id(&meta.provider, &meta.period, request.format, &sha256);
    let registry = Registry::new(&app.config.data_dir);
    check_idempotency(&registry, agb, request.idempotency.as_deref(), &id).map_err(&rejected)?;

    let accepted = ingested.receipt.accepted();
    app.metrics.uploaded(accepted, &ingested.receipt.counts);
    let record = SubmissionRecord {
        id: id.clone(),
        provider: agb.clone(),
        period: request.period.to_string(),
        format: request.format,
        sha256: sha256.clone(),
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
        return Err(ApiError::Unavailable);
    }
    let failed = || {
        app.record(&principal, Action::SubmissionUpload, &id, Outcome::Error);
        ApiError::Unavailable
    };
    let sent = send_on(intake, meta, sha256, ingested, accepted)
        .await
        .map_err(|()| failed())?;
    let stored = registry
        .store(&record)
        .and_then(|()| match &request.idempotency {
            Some(key) => registry.remember(agb, key, &id),
            None => Ok(()),
        });
    if let Err(e) = stored {
        tracing::error!(error = %e, "the submission registry cannot be written");
        return Err(failed());
    }
    if sent {
        (intake.sent)();
    }
    tracing::info!(submission = %id, provider = %agb, period = %request.period, accepted, "submission received");
    Ok(answer(&app, &record, accepted).await)
}

/// Streams the body into the validator: the SHA-256 of the file and what the validator made
/// of it, or why the upload is refused.
async fn receive(
    app: &App,
    intake: &Intake,
    meta: SubmissionMeta,
    request: &UploadRequest,
    headers: &HeaderMap,
    body: Body,
    agb: &str,
) -> Result<(String, Ingested), ApiError> {
    let max_bytes = intake.stage.config().limits.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(Cutoff::TooLarge(max_bytes).into());
    }
    let streamed = stream_into_validator(
        Arc::clone(&intake.stage),
        meta,
        body,
        request.gzip,
        max_bytes,
        app.config.upload.max_gzip_ratio,
    )
    .await
    .map_err(|_| ApiError::Unavailable)?;
    if let Some(cutoff) = streamed.cutoff {
        return Err(cutoff.into());
    }
    match (streamed.unreadable, streamed.ingested) {
        (None, Ok(ingested)) => Ok((streamed.sha256, ingested)),
        (unreadable, result) => {
            let why = unreadable
                .or_else(|| result.err().map(|e| e.to_string()))
                .unwrap_or_default();
            tracing::info!(provider = %agb, error = %why, "an upload could not be read");
            Err(ApiError::UnreadableUpload { gzip: request.gzip })
        }
    }
}

/// The receipt as the answer carries it, and whether the submission withdraws its period. A
/// limit reached inside the file, or a withdrawal not asked for, refuses the upload with the
/// receipt.
fn receipt_of(ingested: &Ingested, withdraw: bool) -> Result<(serde_json::Value, bool), ApiError> {
    let receipt = serde_json::to_value(&ingested.receipt).map_err(|_| ApiError::Unavailable)?;
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
        return Err(ApiError::LimitExceeded { status, receipt });
    }
    let withdrawal = ingested.receipt.accepted() && ingested.receipt.counts.rows == 0;
    if withdrawal && !withdraw {
        return Err(ApiError::WithdrawalNotConfirmed { receipt });
    }
    Ok((receipt, withdrawal))
}

/// Refuses an `Idempotency-Key` that was used before for a different file.
fn check_idempotency(
    registry: &Registry,
    agb: &str,
    key: Option<&str>,
    id: &str,
) -> Result<(), ApiError> {
    let Some(key) = key else {
        return Ok(());
    };
    match registry.idempotency(agb, key) {
        Ok(Some(earlier)) if earlier != id => Err(ApiError::IdempotencyKeyReused),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "the idempotency keys cannot be read");
            Err(ApiError::Unavailable)
        }
    }
}

/// Hands the submission to the ingest stage, which sends it on unless the same file is
/// already current; whether it was sent.
async fn send_on(
    intake: &Intake,
    meta: SubmissionMeta,
    sha256: String,
    ingested: Ingested,
    accepted: bool,
) -> Result<bool, ()> {
    let stage = Arc::clone(&intake.stage);
    let applied = tokio::task::spawn_blocking(move || {
        if accepted && stage.is_current(&meta, &sha256) {
            return Ok(Submitted::Unchanged);
        }
        stage.apply(&meta, &sha256, ingested)
    })
    .await;
    match applied {
        Ok(Ok(submitted)) => Ok(matches!(submitted, Submitted::Sent { .. })),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "an accepted submission could not be sent on");
            Err(())
        }
        Err(_) => Err(()),
    }
}

/// The answer to an upload that was taken: 202 when accepted, 422 when validation rejected
/// it, with where its status can be read.
async fn answer(app: &App, record: &SubmissionRecord, accepted: bool) -> Response {
    let status = if accepted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = (status, axum::Json(status_body(app, record).await)).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/submissions/{}", record.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `GET /v1/submissions/{id}`: the provider's own submissions only.
pub(crate) async fn status(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    if !crate::server::within(&id, 64) {
        app.record(
            &principal,
            Action::ReceiptRead,
            "submission",
            Outcome::Rejected,
        );
        return Err(ApiError::InvalidParameter {
            name: "id",
            rule: "at most 64 characters",
        });
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
            return Err(ApiError::NotFound);
        }
        Err(e) => {
            tracing::error!(error = %e, "the submission registry cannot be read");
            return Err(ApiError::Unavailable);
        }
    };
    if !app.record(&principal, Action::ReceiptRead, &id, Outcome::Success) {
        return Err(ApiError::Unavailable);
    }
    Ok((StatusCode::OK, axum::Json(status_body(&app, &record).await)).into_response())
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
        // Unreadable (logged where it is read): the status says what it can without it.
        let manifest = app.manifest().await.ok().flatten();
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

#[cfg(test)]
mod tests;
