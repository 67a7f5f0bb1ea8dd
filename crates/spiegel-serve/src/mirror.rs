//! A provider's part in its mirror reports: sharing one with the municipality it is about, and
//! attaching its explanation ("het verhaal achter de cijfers").

use std::sync::Arc;

use axum::extract::rejection::StringRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spiegel_core::ReportKind;
use spiegel_publish::{Share, ShareState, SharingLedger, SharingRegistry};
use spiegel_render::AnnotationRegistry;

use crate::api_error::ApiError;
use crate::server::{App, Caller, SHARING_FILE};
use crate::{Action, Outcome, Principal};

impl App {
    /// The AGB code of `principal` if it is the provider of a mirror report of `period` about
    /// `gemeente` in the current release.
    pub(crate) async fn own_mirror(
        &self,
        principal: &Principal,
        period: &str,
        gemeente: &str,
    ) -> Option<String> {
        let Principal::Provider(agb) = principal else {
            return None;
        };
        // A store that cannot be read has no mirror report to show (logged where it is read).
        let manifest = self.manifest().await.ok().flatten()?;
        manifest
            .files
            .iter()
            .any(|f| {
                f.kind == ReportKind::Mirror
                    && f.recipient == *agb
                    && f.period == period
                    && f.municipality.as_deref() == Some(gemeente)
            })
            .then(|| agb.clone())
    }
}

/// Whether `period` and `gemeente` are what the OpenAPI document allows in the path
/// (`^20[0-9]{2}-(H[12]|Q[1-4])$`, `^GM[0-9]{4}$`): checked before either is recorded or
/// looked up.
fn valid_mirror_path(period: &str, gemeente: &str) -> bool {
    let period_ok = period.len() == 7
        && period.starts_with("20")
        && period.as_bytes()[2..4].iter().all(u8::is_ascii_digit)
        && matches!(&period[4..], "-H1" | "-H2" | "-Q1" | "-Q2" | "-Q3" | "-Q4");
    let gemeente_ok = gemeente.len() == 6
        && gemeente.starts_with("GM")
        && gemeente.as_bytes()[2..].iter().all(u8::is_ascii_digit);
    period_ok && gemeente_ok
}

fn invalid_mirror_path(app: &App, principal: &Principal, action: Action) -> ApiError {
    // Neither path part can be trusted into the audit log: the object is the report kind alone.
    app.record(
        principal,
        action,
        ReportKind::Mirror.as_str(),
        Outcome::Rejected,
    );
    ApiError::InvalidParameter {
        name: "period, gemeente",
        rule: "a period such as 2026-H1 or 2026-Q3 and a municipality code GMxxxx",
    }
}

pub(crate) async fn annotate(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    text: Result<String, StringRejection>,
) -> Result<Response, ApiError> {
    if !valid_mirror_path(&period, &gemeente) {
        return Err(invalid_mirror_path(&app, &principal, Action::Annotation));
    }
    let object = format!("{}.{period}.{gemeente}", ReportKind::Mirror.as_str());
    // Only the provider of an existing mirror report may explain it.
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return Err(app.refuse(&principal, Action::Annotation, &object));
    };
    let text = match text {
        Ok(text) => text,
        Err(rejection) => {
            app.record(&principal, Action::Annotation, &object, Outcome::Rejected);
            // In the API's error format, not axum's plain text.
            return Err(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::AnnotationTooLarge
            } else {
                ApiError::InvalidAnnotation {
                    status: rejection.status(),
                    message: "send the explanation as UTF-8 text / stuur de toelichting als \
                              UTF-8-tekst"
                        .into(),
                }
            });
        }
    };
    if spiegel_pseudonymise::mentions_bsn(&text) {
        // research/privacy.md C-11: a municipality reads the explanation; it may never
        // identify a child. The number itself is not repeated.
        app.record(&principal, Action::Annotation, &object, Outcome::Rejected);
        return Err(ApiError::AnnotationHoldsBsn);
    }
    let agb = &agb;
    let path = app.config.data_dir.join(spiegel_render::ANNOTATIONS_FILE);
    let Ok(_guard) = app.annotations.lock() else {
        return Err(ApiError::Unavailable);
    };
    let mut registry = match AnnotationRegistry::load(&path) {
        Ok(registry) => registry,
        Err(e) => {
            app.record(&principal, Action::Annotation, &object, Outcome::Error);
            tracing::error!(error = %e, "the annotation registry cannot be read");
            return Err(ApiError::Unavailable);
        }
    };
    if text.trim().is_empty() {
        registry.remove(agb, &period, &gemeente);
    } else if let Err(why) = registry.insert(spiegel_render::Annotation {
        provider: agb.clone(),
        period: period.clone(),
        municipality: gemeente.clone(),
        text: text.clone(),
    }) {
        app.record(&principal, Action::Annotation, &object, Outcome::Rejected);
        return Err(ApiError::InvalidAnnotation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: why.into(),
        });
    }
    // Recorded before it is stored: a change that cannot be recorded does not happen.
    if !app.record(&principal, Action::Annotation, &object, Outcome::Success) {
        return Err(ApiError::Unavailable);
    }
    if let Err(e) = registry.save(&path) {
        app.record(&principal, Action::Annotation, &object, Outcome::Error);
        tracing::error!(error = %e, "the annotation registry cannot be written");
        return Err(ApiError::Unavailable);
    }
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "period": period,
            "municipality": gemeente,
            "characters": if text.trim().is_empty() { 0 } else { text.chars().count() },
        })),
    )
        .into_response())
}

pub(crate) async fn share(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !valid_mirror_path(&period, &gemeente) {
        return Err(invalid_mirror_path(&app, &principal, Action::Share));
    }
    let object = format!("{}.{period}.{gemeente}", ReportKind::Mirror.as_str());
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return Err(app.refuse(&principal, Action::Share, &object));
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ShareRequest {
        shared: bool,
    }
    let Ok(ShareRequest { shared }) = serde_json::from_slice(&body) else {
        app.record(&principal, Action::Share, &object, Outcome::Rejected);
        return Err(ApiError::InvalidBody);
    };
    let path = app.config.data_dir.join(SHARING_FILE);
    let stored = match app.sharing.lock() {
        Ok(_guard) => match SharingRegistry::load(&path) {
            Ok(mut registry) => {
                // Recorded before it is stored: a change that cannot be recorded does not
                // happen.
                if !app.record(&principal, Action::Share, &object, Outcome::Success) {
                    return Err(ApiError::Unavailable);
                }
                registry.set(&agb, &period, &gemeente, shared);
                registry.save(&path).map(|()| registry)
            }
            Err(e) => Err(e),
        },
        Err(_) => Err(spiegel_publish::PublishError::Malformed(
            "an earlier share panicked".into(),
        )),
    };
    let states = stored.and_then(|registry| {
        let ledger = SharingLedger::load(&spiegel_publish::ledger_path(&path))?;
        Ok(ledger.states(&registry))
    });
    match states {
        Ok(states) => {
            let share = Share::new(&agb, &period, &gemeente);
            Ok((
                StatusCode::OK,
                axum::Json(share_json(&share, states.get(&share).copied())),
            )
                .into_response())
        }
        Err(e) => {
            app.record(&principal, Action::Share, &object, Outcome::Error);
            tracing::error!(error = %e, "the sharing registry cannot be written");
            Err(ApiError::Unavailable)
        }
    }
}

/// `GET /v1/mirror/shares`: the caller's requests to share, each with where it stands.
pub(crate) async fn shares(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
) -> Result<Response, ApiError> {
    let object = "mirror.shares";
    let Principal::Provider(agb) = &principal else {
        return Err(app.refuse(&principal, Action::Share, object));
    };
    let path = app.config.data_dir.join(SHARING_FILE);
    let states = SharingRegistry::load(&path).and_then(|registry| {
        let ledger = SharingLedger::load(&spiegel_publish::ledger_path(&path))?;
        Ok(ledger.states(&registry))
    });
    match states {
        Ok(states) if app.record(&principal, Action::Share, object, Outcome::Success) => {
            let shares: Vec<serde_json::Value> = states
                .iter()
                .filter(|(share, _)| share.provider == *agb)
                .map(|(share, state)| share_json(share, Some(*state)))
                .collect();
            Ok((
                StatusCode::OK,
                axum::Json(serde_json::json!({ "shares": shares })),
            )
                .into_response())
        }
        Ok(_) => Err(ApiError::Unavailable),
        Err(e) => {
            app.record(&principal, Action::Share, object, Outcome::Error);
            tracing::error!(error = %e, "the sharing registry cannot be read");
            Err(ApiError::Unavailable)
        }
    }
}

/// A request to share as the API tells it: `state` is `in_effect` or `pending` (with how
/// many other providers must ask too) for a request, `withdrawn` where there is none.
fn share_json(share: &Share, state: Option<ShareState>) -> serde_json::Value {
    let mut json = serde_json::json!({
        "period": share.period,
        "municipality": share.municipality,
        "shared": state == Some(ShareState::InEffect),
    });
    match state {
        Some(state) => {
            if let (Some(json), Ok(serde_json::Value::Object(state_json))) =
                (json.as_object_mut(), serde_json::to_value(state))
            {
                json.extend(state_json);
            }
            json["message"] = state.message().into();
        }
        None => {
            json["state"] = "withdrawn".into();
            json["message"] = "Niet (meer) gedeeld: de gemeente kan deze spiegelrapportage niet \
                               lezen. / Not shared (any more): the municipality cannot read this \
                               mirror report."
                .into();
        }
    }
    json
}
