//! Every error the HTTP API answers, in one list: its status, its code for programs and its
//! message, in English and Dutch, for the person who has to act on it. The OpenAPI document
//! takes the codes from here ([`ApiError::CODES`]), so a code cannot be answered without
//! being described.

use std::borrow::Cow;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::feed::MAX_WAIT_SECONDS;
use crate::server::MAX_TARGET_BYTES;

/// Declares [`ApiError`] with each variant's code beside it, so the list of codes is the
/// enum itself.
macro_rules! api_errors {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($(#[$field_doc:meta])* $field:ident: $type:ty),* $(,)? })? => $code:literal,
    )*) => {
        /// An error answer of the API.
        #[derive(Debug)]
        pub(crate) enum ApiError {
            $(
                $(#[$doc])*
                $variant $({ $($(#[$field_doc])* $field: $type),* })?,
            )*
        }

        impl ApiError {
            /// Every code the API answers errors with, in declaration order.
            pub(crate) const CODES: &[&str] = &[$($code),*];

            /// The code for programs.
            pub(crate) fn code(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $code,)*
                }
            }
        }
    };
}

api_errors! {
    /// Not there, or not the caller's: the two look the same from outside.
    NotFound => "not_found",
    /// No valid credentials.
    Unauthorised => "unauthorised",
    /// A store or log the answer needs is unavailable right now; try again.
    Unavailable => "unavailable",
    /// A path or query parameter outside what the OpenAPI document allows.
    InvalidParameter {
        /// The parameter(s).
        name: &'static str,
        /// What it must be.
        rule: &'static str,
    } => "invalid_parameter",
    /// A request target longer than [`MAX_TARGET_BYTES`].
    UriTooLong => "uri_too_long",
    /// `POST /v1/submissions` on a server without intake.
    UploadsDisabled => "uploads_disabled",
    /// `withdraw` is neither `true` nor `false`.
    InvalidWithdraw => "invalid_withdraw",
    /// No valid `period` in the query.
    InvalidPeriod => "invalid_period",
    /// A Content-Type that names no format Spiegel reads.
    UnsupportedMediaType => "unsupported_media_type",
    /// A Content-Encoding other than gzip.
    UnsupportedEncoding => "unsupported_encoding",
    /// An `Idempotency-Key` that is not 1 to 255 visible ASCII characters.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// Another upload with the same `Idempotency-Key` is still in progress.
    IdempotencyKeyInUse => "idempotency_key_in_use",
    /// The upload is larger than the byte limit.
    UploadTooLarge {
        /// The limit, in bytes after decompression.
        max: u64,
    } => "upload_too_large",
    /// A gzip upload expands more than allowed.
    DecompressionLimit {
        /// The allowed expansion.
        ratio: u64,
    } => "decompression_limit",
    /// The upload stopped before its end.
    UploadInterrupted => "upload_interrupted",
    /// The upload cannot be read in the format its Content-Type names.
    UnreadableUpload {
        /// Whether it was sent gzip.
        gzip: bool,
    } => "unreadable_upload",
    /// A limit reached inside the file; the receipt says which.
    LimitExceeded {
        /// 413 for the size limits, 400 for the length limits.
        status: StatusCode,
        /// The validator's receipt.
        receipt: serde_json::Value,
    } => "limit_exceeded",
    /// An empty submission without `?withdraw=true`.
    WithdrawalNotConfirmed {
        /// The validator's receipt.
        receipt: serde_json::Value,
    } => "withdrawal_not_confirmed",
    /// An `Idempotency-Key` used before for a different file.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// `after` or `wait` of the feed is not what it may be.
    InvalidQuery => "invalid_query",
    /// A feed cursor beyond the head, which was never handed out.
    UnknownCursor => "unknown_cursor",
    /// An explanation longer than the body limit.
    AnnotationTooLarge => "annotation_too_large",
    /// An explanation that cannot be taken.
    InvalidAnnotation {
        /// As the body's rejection or the registry decided.
        status: StatusCode,
        /// Why.
        message: Cow<'static, str>,
    } => "invalid_annotation",
    /// An explanation that mentions a BSN.
    AnnotationHoldsBsn => "annotation_holds_bsn",
    /// A share request that is not `{"shared": bool}`.
    InvalidBody => "invalid_body",
    /// A webhook registration that cannot be taken.
    InvalidSubscription {
        /// Why.
        message: Cow<'static, str>,
    } => "invalid_subscription",
}

impl ApiError {
    /// The status the error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorised => StatusCode::UNAUTHORIZED,
            Self::Unavailable | Self::UploadsDisabled => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidParameter { .. }
            | Self::InvalidWithdraw
            | Self::InvalidPeriod
            | Self::InvalidIdempotencyKey
            | Self::UploadInterrupted
            | Self::UnreadableUpload { .. }
            | Self::InvalidQuery => StatusCode::BAD_REQUEST,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType | Self::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::UploadTooLarge { .. }
            | Self::DecompressionLimit { .. }
            | Self::AnnotationTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::LimitExceeded { status, .. } | Self::InvalidAnnotation { status, .. } => *status,
            Self::WithdrawalNotConfirmed { .. }
            | Self::IdempotencyKeyReused
            | Self::AnnotationHoldsBsn
            | Self::InvalidBody
            | Self::InvalidSubscription { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnknownCursor => StatusCode::NOT_FOUND,
        }
    }

    /// The message for the person who has to act on it; None for `not_found`, which gives
    /// no hint.
    pub(crate) fn message(&self) -> Option<Cow<'static, str>> {
        let text: Cow<'static, str> = match self {
            Self::NotFound => return None,
            Self::Unauthorised => {
                "a valid bearer token is required / een geldig bearer-token is nodig".into()
            }
            Self::Unavailable => "try again shortly / probeer het zo opnieuw".into(),
            Self::InvalidParameter { name, rule } => {
                format!("{name}: {rule} / {name}: zie de OpenAPI-beschrijving ({rule})").into()
            }
            Self::UriTooLong => format!(
            "the request target is longer than {MAX_TARGET_BYTES} bytes; check the ids in the              path / het verzoekdoel is langer dan {MAX_TARGET_BYTES} bytes; controleer de ids              in het pad"
            )
            .into(),
            Self::UploadsDisabled => {
                "this server does not take submissions / deze server neemt geen aanleveringen aan"
                    .into()
            }
            Self::InvalidWithdraw => "withdraw is true or false / withdraw is true of false".into(),
            Self::InvalidPeriod => "give the period as ?period=2026-H1 (or a quarter, 2026-Q3) / \
                                    geef de periode op als ?period=2026-H1 (of een kwartaal, \
                                    2026-Q3)"
                .into(),
            Self::UnsupportedMediaType => "send Content-Type text/csv, application/x-ndjson or \
                                           application/vnd.apache.parquet / stuur Content-Type \
                                           text/csv, application/x-ndjson of \
                                           application/vnd.apache.parquet"
                .into(),
            Self::UnsupportedEncoding => {
                "Content-Encoding may only be gzip / Content-Encoding mag alleen gzip zijn".into()
            }
            Self::InvalidIdempotencyKey => "an Idempotency-Key is 1 to 255 visible ASCII \
                                            characters / een Idempotency-Key is 1 tot 255 \
                                            zichtbare ASCII-tekens"
                .into(),
            Self::IdempotencyKeyInUse => "an upload with this Idempotency-Key is still in \
                                          progress; wait for its answer, then retry to get the \
                                          same answer / er loopt nog een upload met deze \
                                          Idempotency-Key; wacht op het antwoord en probeer het \
                                          dan opnieuw voor hetzelfde antwoord"
                .into(),
            Self::UploadTooLarge { max } => format!(
                "the submission is larger than {max} bytes (after decompression) / de \
                 aanlevering is groter dan {max} bytes (na uitpakken)"
            )
            .into(),
            Self::DecompressionLimit { ratio } => format!(
                "the gzip upload expands more than {ratio} times; send it uncompressed or \
                 compressed normally / de gzip-upload wordt meer dan {ratio} keer groter; stuur \
                 hem ongecomprimeerd of normaal gecomprimeerd"
            )
            .into(),
            Self::UploadInterrupted => "the upload stopped before its end; send it again / de \
                                        upload stopte voor het einde; stuur hem opnieuw"
                .into(),
            Self::UnreadableUpload { gzip: true } => "the upload is not a readable gzip stream \
                                                      of the format its Content-Type names / de \
                                                      upload is geen leesbare gzip-stroom van \
                                                      het formaat dat Content-Type noemt"
                .into(),
            Self::UnreadableUpload { gzip: false } => "the upload could not be read in the \
                                                       format its Content-Type names / de \
                                                       upload kon niet worden gelezen in het \
                                                       formaat dat Content-Type noemt"
                .into(),
            Self::LimitExceeded { .. } => "the submission exceeds a limit; the receipt says \
                                           which / de aanlevering overschrijdt een limiet; het \
                                           ontvangstbewijs zegt welke"
                .into(),
            Self::WithdrawalNotConfirmed { .. } => "the submission holds no rows, which would \
                                                    withdraw everything delivered for this \
                                                    period; to do that, send it again with \
                                                    ?withdraw=true / de aanlevering bevat geen \
                                                    regels en zou alles wat voor deze periode \
                                                    is geleverd intrekken; stuur hem daarvoor \
                                                    opnieuw met ?withdraw=true"
                .into(),
            Self::IdempotencyKeyReused => "this Idempotency-Key was used for a different file; \
                                           use a new key for a new file / deze Idempotency-Key \
                                           is gebruikt voor een ander bestand; gebruik een \
                                           nieuwe sleutel voor een nieuw bestand"
                .into(),
            Self::InvalidQuery => format!(
                "after is a cursor from an earlier answer and wait a number of seconds from 0 to \
                 {MAX_WAIT_SECONDS} / after is een cursor uit een eerder antwoord en wait een aantal \
                 seconden van 0 tot en met {MAX_WAIT_SECONDS}"
            )
            .into(),
            Self::UnknownCursor => "this cursor was never handed out; start again without after \
                                    / deze cursor is nooit uitgegeven; begin opnieuw zonder after"
                .into(),
            Self::AnnotationTooLarge => "the explanation is too long; keep it to a few \
                                         paragraphs / de toelichting is te lang; houd het bij \
                                         een paar alinea's"
                .into(),
            Self::InvalidAnnotation { message, .. } | Self::InvalidSubscription { message } => {
                message.clone()
            }
            Self::AnnotationHoldsBsn => spiegel_render::HOLDS_BSN.into(),
            Self::InvalidBody => "expected {\"shared\": true} or {\"shared\": false} / verwacht \
                                  {\"shared\": true} of {\"shared\": false}"
                .into(),
        };
        Some(text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let body = match (self.message(), self) {
            (None, _) => serde_json::json!({ "error": code }),
            (
                Some(message),
                Self::LimitExceeded { receipt, .. } | Self::WithdrawalNotConfirmed { receipt },
            ) => {
                // The validator's receipt explains the refusal: it goes with the error.
                serde_json::json!({ "error": code, "message": message, "receipt": receipt })
            }
            (Some(message), _) => serde_json::json!({ "error": code, "message": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let mut codes = ApiError::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ApiError::CODES.len());
    }
}
