//! Reading reports: the listing of the current release and one report as Parquet or as its
//! page, for whoever may read it (docs/serving.md, NB-2).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::ObjectStoreExt;
use spiegel_core::ReportKind;
use spiegel_publish::{ManifestFile, SharingRegistry, region_slug};
use spiegel_render::{Language, ProviderNotes};

use crate::api_error::ApiError;
use crate::server::{App, Caller};
use crate::{Action, Outcome, Principal};

/// The longest report id, `.html` included (the OpenAPI document's `maxLength`).
pub(crate) const MAX_ID_CHARS: usize = 200;

/// A report's id in the API: stable across releases, so a subscriber can fetch the newest
/// version of the same report (`mirror.2026-H1.12345678.GM0363`, `municipality.2026-H1.GM0363`,
/// `region.2026-H1.utrecht-stad`, `national.2026-H1`).
pub fn report_id(file: &ManifestFile) -> String {
    let kind = file.kind.as_str();
    match file.kind {
        ReportKind::Mirror => format!(
            "{kind}.{}.{}.{}",
            file.period,
            file.recipient,
            file.municipality.as_deref().unwrap_or_default()
        ),
        ReportKind::Region => format!("{kind}.{}.{}", file.period, region_slug(&file.recipient)),
        ReportKind::National => format!("{kind}.{}", file.period),
        ReportKind::Municipality => format!("{kind}.{}.{}", file.period, file.recipient),
    }
}

/// Whether `principal` may read `file` (NB-2, docs/serving.md): a provider its own mirror reports;
/// a municipality its own report, its region's, the national one, and the mirror reports shared
/// with it: those whose share took effect with the release (NB-4, the manifest's `shared`) and are
/// still asked for in the live registry, so a withdrawal holds at once; an operator no report
/// content.
pub fn may_read(principal: &Principal, file: &ManifestFile, sharing: &SharingRegistry) -> bool {
    match principal {
        Principal::Provider(agb) => file.kind == ReportKind::Mirror && file.recipient == *agb,
        Principal::Gemeente(code) => match file.kind {
            ReportKind::Municipality => file.recipient == *code,
            ReportKind::Mirror => {
                file.municipality.as_deref() == Some(code)
                    && file.shared == Some(true)
                    && sharing.requested(&file.recipient, &file.period, code)
            }
            ReportKind::National => true,
            ReportKind::Region => region_of(code).is_some_and(|r| r == file.recipient),
        },
        Principal::Operator(_) => false,
    }
}

fn region_of(code: &str) -> Option<String> {
    let code: spiegel_core::GemeenteCode = code.parse().ok()?;
    spiegel_core::Reference::embedded()
        .gemeente(code)
        .map(|g| g.regio.clone())
}

#[derive(serde::Serialize)]
struct Listed<'a> {
    id: String,
    kind: &'a str,
    period: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    municipality: Option<&'a str>,
    sha256: &'a str,
    content_sha256: &'a str,
    rows: u64,
    suppressed: u64,
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
) -> Result<Response, ApiError> {
    // Every read is recorded; one that cannot be is not answered.
    if !app.record(&principal, Action::ReportRead, "reports", Outcome::Success) {
        return Err(ApiError::Unavailable);
    }
    let manifest = app.manifest().await?;
    let sharing = app.sharing_now();
    let files: Vec<Listed<'_>> = manifest
        .iter()
        .flat_map(|m| &m.files)
        .filter(|f| may_read(&principal, f, &sharing))
        .map(|f| Listed {
            id: report_id(f),
            kind: f.kind.as_str(),
            period: &f.period,
            municipality: if f.kind == ReportKind::Municipality {
                Some(&f.recipient)
            } else {
                f.municipality.as_deref()
            },
            sha256: &f.sha256,
            content_sha256: &f.content_sha256,
            rows: f.rows,
            suppressed: f.suppressed,
        })
        .collect();
    let release = manifest.as_ref().map(|m| m.release.as_str());
    let body = serde_json::json!({"release": release, "reports": files});
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath(requested): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !crate::server::within(&requested, MAX_ID_CHARS) {
        // Only its length is recorded: the id itself is what must not reach the log.
        app.record(
            &principal,
            Action::ReportRead,
            &format!("report id of {} characters", requested.chars().count()),
            Outcome::Rejected,
        );
        return Err(ApiError::InvalidParameter {
            name: "id",
            rule: "at most 200 characters",
        });
    }
    let (id, html) = match requested.strip_suffix(".html") {
        Some(id) => (id.to_owned(), true),
        None => {
            let wants_html = headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            (requested.clone(), wants_html)
        }
    };
    let found: Option<ManifestFile> = app
        .manifest()
        .await?
        .and_then(|m| m.files.into_iter().find(|f| report_id(f) == id));
    let file = match found {
        Some(file) if may_read(&principal, &file, &app.sharing_now()) => file,
        other => {
            // Another tenant's report and no report at all look the same from outside; the
            // log tells them apart.
            let outcome = if other.is_some() {
                Outcome::Denied
            } else {
                Outcome::Rejected
            };
            app.record(&principal, Action::ReportRead, &id, outcome);
            return Err(ApiError::NotFound);
        }
    };
    if !app.record(&principal, Action::ReportRead, &id, Outcome::Success) {
        return Err(ApiError::Unavailable);
    }
    if html {
        let notes = ProviderNotes::load(&app.config.data_dir).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the explanations or sharing requests cannot be read");
            ProviderNotes::default()
        });
        let language = match headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|l| l.to_str().ok())
        {
            Some(l) if l.trim_start().starts_with("en") => Language::En,
            _ => Language::Nl,
        };
        match spiegel_render::render_report(
            app.store.as_ref(),
            &file.path,
            &notes,
            &app.config.indicators,
            language,
        )
        .await
        {
            Ok(page) => {
                Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
            }
            Err(e) => {
                tracing::error!(error = %e, report = %id, "rendering failed");
                // A fault of Spiegel's, not the caller's: no code for the caller to act on.
                Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    } else {
        match app
            .store
            .get(&object_store::path::Path::from(file.path.as_str()))
            .await
        {
            Ok(found) => match found.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    let headers = response.headers_mut();
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/vnd.apache.parquet"),
                    );
                    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", file.sha256)) {
                        headers.insert(header::ETAG, etag);
                    }
                    Ok(response)
                }
                Err(_) => Err(ApiError::Unavailable),
            },
            // Replaced by a newer release between reading the manifest and the file.
            Err(_) => Err(ApiError::Unavailable),
        }
    }
}
