//! A provider's part in its mirror reports: sharing one with the municipality it is about, and
//! attaching its explanation ("het verhaal achter de cijfers").

use std::sync::Arc;

use axum::extract::rejection::StringRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spiegel_publish::{Share, ShareState, SharingLedger, SharingRegistry};
use spiegel_render::AnnotationRegistry;

use crate::server::{App, Caller, SHARING_FILE, error, unavailable};
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
        let manifest = self.manifest().await?;
        manifest
            .files
            .iter()
            .any(|f| {
                f.kind == "mirror"
                    && f.recipient == *agb
                    && f.period == period
                    && f.municipality.as_deref() == Some(gemeente)
            })
            .then(|| agb.clone())
    }
}

pub(crate) async fn annotate(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    text: Result<String, StringRejection>,
) -> Response {
    let object = format!("mirror.{period}.{gemeente}");
    // Only the provider of an existing mirror report may explain it.
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return app.refuse(&principal, Action::Annotation, &object);
    };
    let text = match text {
        Ok(text) => text,
        Err(rejection) => {
            app.record(&principal, Action::Annotation, &object, Outcome::Rejected);
            // In the API's error format, not axum's plain text.
            return if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "annotation_too_large",
                    "the explanation is too long; keep it to a few paragraphs / de toelichting \
                     is te lang; houd het bij een paar alinea's",
                )
            } else {
                error(
                    rejection.status(),
                    "invalid_annotation",
                    "send the explanation as UTF-8 text / stuur de toelichting als UTF-8-tekst",
                )
            };
        }
    };
    if spiegel_pseudonymise::mentions_bsn(&text) {
        // research/privacy.md C-11: a municipality reads the explanation; it may never
        // identify a child. The number itself is not repeated.
        app.record(&principal, Action::Annotation, &object, Outcome::Rejected);
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "annotation_holds_bsn",
            "the explanation contains a number that could be a BSN (nine digits that pass the \
             11-proef); remove it, an explanation may never identify a child / de toelichting \
             bevat een nummer dat een BSN kan zijn (negen cijfers die de 11-proef doorstaan); \
             haal het weg, een toelichting mag nooit een jeugdige identificeren",
        );
    }
    let agb = &agb;
    let path = app.config.data_dir.join(spiegel_render::ANNOTATIONS_FILE);
    let stored = {
        let Ok(_guard) = app.annotations.lock() else {
            return unavailable();
        };
        AnnotationRegistry::load(&path)
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
            .and_then(|mut registry| {
                if text.trim().is_empty() {
                    registry.remove(agb, &period, &gemeente);
                } else {
                    registry
                        .insert(spiegel_render::Annotation {
                            provider: agb.clone(),
                            period: period.clone(),
                            municipality: gemeente.clone(),
                            text: text.clone(),
                        })
                        .map_err(|why| (StatusCode::UNPROCESSABLE_ENTITY, why))?;
                }
                registry
                    .save(&path)
                    .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
            })
    };
    match stored {
        Ok(()) if app.record(&principal, Action::Annotation, &object, Outcome::Success) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "period": period,
                "municipality": gemeente,
                "characters": if text.trim().is_empty() { 0 } else { text.chars().count() },
            })),
        )
            .into_response(),
        Ok(()) => unavailable(),
        Err((status, why)) => {
            let outcome = if status == StatusCode::UNPROCESSABLE_ENTITY {
                Outcome::Rejected
            } else {
                Outcome::Error
            };
            app.record(&principal, Action::Annotation, &object, outcome);
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                error(status, "invalid_annotation", &why)
            } else {
                tracing::error!(error = %why, "the annotation registry cannot be written");
                unavailable()
            }
        }
    }
}

pub(crate) async fn share(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let object = format!("mirror.{period}.{gemeente}");
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return app.refuse(&principal, Action::Share, &object);
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ShareRequest {
        shared: bool,
    }
    let Ok(ShareRequest { shared }) = serde_json::from_slice(&body) else {
        app.record(&principal, Action::Share, &object, Outcome::Rejected);
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "expected {\"shared\": true} or {\"shared\": false} / verwacht \
             {\"shared\": true} of {\"shared\": false}",
        );
    };
    let path = app.config.data_dir.join(SHARING_FILE);
    let stored = match app.sharing.lock() {
        Ok(_guard) => SharingRegistry::load(&path).and_then(|mut registry| {
            registry.set(&agb, &period, &gemeente, shared);
            registry.save(&path)?;
            Ok(registry)
        }),
        Err(_) => Err(spiegel_publish::PublishError::Malformed(
            "an earlier share panicked".into(),
        )),
    };
    let states = stored.and_then(|registry| {
        let ledger = SharingLedger::load(&spiegel_publish::ledger_path(&path))?;
        Ok(ledger.states(&registry))
    });
    match states {
        Ok(states) if app.record(&principal, Action::Share, &object, Outcome::Success) => {
            let share = Share::new(&agb, &period, &gemeente);
            (
                StatusCode::OK,
                axum::Json(share_json(&share, states.get(&share).copied())),
            )
                .into_response()
        }
        Ok(_) => unavailable(),
        Err(e) => {
            app.record(&principal, Action::Share, &object, Outcome::Error);
            tracing::error!(error = %e, "the sharing registry cannot be written");
            unavailable()
        }
    }
}

/// `GET /v1/mirror/shares`: the caller's requests to share, each with where it stands.
pub(crate) async fn shares(State(app): State<Arc<App>>, Caller(principal): Caller) -> Response {
    let object = "mirror.shares";
    let Principal::Provider(agb) = &principal else {
        return app.refuse(&principal, Action::Share, object);
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
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "shares": shares })),
            )
                .into_response()
        }
        Ok(_) => unavailable(),
        Err(e) => {
            app.record(&principal, Action::Share, object, Outcome::Error);
            tracing::error!(error = %e, "the sharing registry cannot be read");
            unavailable()
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
