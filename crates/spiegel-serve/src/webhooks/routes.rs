//! The webhook endpoints of the API: registering, listing and removing a subscription.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{MAX_SUBSCRIPTIONS, MAX_URL_CHARS, Subscription, deliver};
use crate::api_error::ApiError;
use crate::server::{App, Caller};
use crate::{Action, Outcome, Principal};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    url: String,
    /// Deliver from after this feed cursor (default: from now on).
    after: Option<String>,
}

pub(super) fn listed(subscription: &Subscription) -> serde_json::Value {
    serde_json::json!({
        "id": subscription.id,
        "url": subscription.url,
        "created": subscription.created,
        "cursor": subscription.delivered.to_string(),
        "failing": subscription.failing.as_ref().map(|f| serde_json::json!({
            "since": f.since,
            "attempts": f.attempts,
            "last_error": f.last_error,
        })),
        "disabled": subscription.disabled.as_ref().map(|d| serde_json::json!({
            "since": d.since,
            "reason": d.reason,
        })),
    })
}

/// `POST /v1/webhooks`: registers a URL; the answer shows the secret, once.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    credential: crate::server::Credential,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if matches!(principal, Principal::Operator(_)) {
        return Err(app.refuse(&principal, Action::Subscription, "webhooks"));
    }
    let invalid = |message: std::borrow::Cow<'static, str>| {
        app.record(
            &principal,
            Action::Subscription,
            "webhooks",
            Outcome::Rejected,
        );
        ApiError::InvalidSubscription { message }
    };
    let Ok(request) = serde_json::from_slice::<CreateRequest>(&body) else {
        return Err(invalid(
            "expected {\"url\": \"https://…\"} / verwacht {\"url\": \"https://…\"}".into(),
        ));
    };
    if !crate::server::within(&request.url, MAX_URL_CHARS) {
        return Err(invalid(
            format!(
                "a webhook URL has at most {MAX_URL_CHARS} characters / een webhook-URL heeft \
                 hoogstens {MAX_URL_CHARS} tekens"
            )
            .into(),
        ));
    }
    if let Err(why) = app.webhooks.check_url(&request.url) {
        return Err(invalid(why.into()));
    }
    let latest = app.feed.latest();
    let after = request
        .after
        .as_deref()
        .filter(|a| a.len() <= 18 && a.bytes().all(|b| b.is_ascii_digit()));
    let start = match (request.after.is_some(), after.map(str::parse::<u64>)) {
        (false, _) => latest,
        (true, Some(Ok(cursor))) if cursor <= latest => cursor,
        _ => {
            return Err(invalid(
                "after is a cursor from the feed / after is een cursor uit de feed".into(),
            ));
        }
    };
    let random = |n: usize| -> Option<String> {
        let mut bytes = vec![0u8; n];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).ok()?;
        Some(hex::encode(bytes))
    };
    let (Some(id), Some(secret)) = (random(8), random(32)) else {
        return Err(ApiError::Unavailable);
    };
    let subscription = Subscription {
        id: id.clone(),
        principal: principal.clone(),
        url: request.url,
        secret: format!("whsec_{secret}"),
        created: crate::now(),
        delivered: start,
        failing: None,
        token: credential.token,
        disabled: None,
    };
    // Recorded before it is stored: a subscription that cannot be recorded is not made.
    if !app.record(
        &principal,
        Action::Subscription,
        &format!("webhook.{id}"),
        Outcome::Success,
    ) {
        return Err(ApiError::Unavailable);
    }
    let saved = match app.webhooks.subscriptions.lock() {
        Ok(mut subscriptions) => {
            if subscriptions
                .values()
                .filter(|s| s.principal == principal)
                .count()
                >= MAX_SUBSCRIPTIONS
            {
                drop(subscriptions);
                return Err(invalid(
                    format!(
                        "at most {MAX_SUBSCRIPTIONS} webhooks per account; remove one first / \
                         hoogstens {MAX_SUBSCRIPTIONS} webhooks per account; verwijder er eerst \
                         een"
                    )
                    .into(),
                ));
            }
            subscriptions.insert(id.clone(), subscription.clone());
            let saved = app.webhooks.save(&subscriptions);
            if saved.is_err() {
                subscriptions.remove(&id);
            }
            saved
        }
        Err(_) => return Err(ApiError::Unavailable),
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "the webhook registry cannot be written");
        app.record(
            &principal,
            Action::Subscription,
            &format!("webhook.{id}"),
            Outcome::Error,
        );
        return Err(ApiError::Unavailable);
    }
    tokio::spawn(deliver(Arc::clone(&app), id.clone()));
    let mut body = listed(&subscription);
    if let Some(object) = body.as_object_mut() {
        object.insert("secret".into(), subscription.secret.clone().into());
    }
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/webhooks/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /v1/webhooks`: the caller's subscriptions and how their delivery goes.
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
) -> Result<Response, ApiError> {
    // Every read is recorded; one that cannot be is not answered.
    if !app.record(
        &principal,
        Action::Subscription,
        "webhooks",
        Outcome::Success,
    ) {
        return Err(ApiError::Unavailable);
    }
    let Ok(subscriptions) = app.webhooks.subscriptions.lock() else {
        return Err(ApiError::Unavailable);
    };
    let mine: Vec<serde_json::Value> = subscriptions
        .values()
        .filter(|s| s.principal == principal)
        .map(listed)
        .collect();
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({"webhooks": mine})),
    )
        .into_response())
}

/// `DELETE /v1/webhooks/{id}`: the caller's own subscriptions only.
pub(crate) async fn remove(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    if !crate::server::within(&id, 64) {
        app.record(
            &principal,
            Action::Subscription,
            "webhook",
            Outcome::Rejected,
        );
        return Err(ApiError::InvalidParameter {
            name: "id",
            rule: "at most 64 characters",
        });
    }
    let removed = match app.webhooks.subscriptions.lock() {
        Ok(mut subscriptions) => match subscriptions.get(&id) {
            Some(s) if s.principal == principal => {
                // Recorded before it is removed: a removal that cannot be recorded does not
                // happen.
                if !app.record(
                    &principal,
                    Action::Subscription,
                    &format!("webhook.{id}"),
                    Outcome::Success,
                ) {
                    return Err(ApiError::Unavailable);
                }
                let kept = subscriptions.remove(&id);
                let saved = app.webhooks.save(&subscriptions);
                if saved.is_err()
                    && let Some(kept) = kept
                {
                    subscriptions.insert(id.clone(), kept);
                }
                saved.map(|()| true)
            }
            _ => Ok(false),
        },
        Err(_) => return Err(ApiError::Unavailable),
    };
    match removed {
        Ok(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(false) => {
            app.record(&principal, Action::Subscription, "webhook", Outcome::Denied);
            Err(ApiError::NotFound)
        }
        Err(e) => {
            tracing::error!(error = %e, "the webhook registry cannot be written");
            Err(ApiError::Unavailable)
        }
    }
}
