//! The feed (docs/serving.md): `GET /v1/feed?after=CURSOR&wait=SECONDS` answers the releases that
//! changed a report the caller may read, in order, each with those reports; with `wait` it
//! holds the request until such a release arrives (long poll). Webhooks deliver the same
//! entries.
//!
//! The publish stage writes one feed event per release to the report store (`feed/`); the
//! server follows that listing and keeps the events in memory, so a poll at the head of the
//! feed costs no I/O and every server replica hands out the same cursors.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use spiegel_core::ReportKind;
use spiegel_publish::{FEED_PREFIX, FeedEvent, SharingRegistry, feed_object};

use crate::api_error::ApiError;
use crate::reports::{may_read, report_id};
use crate::server::{App, Caller, Credential};
use crate::{Action, Outcome, Principal};

/// The longest a feed request waits for a release.
pub(crate) const MAX_WAIT_SECONDS: u64 = 30;
/// The most entries one feed answer holds.
pub(crate) const MAX_ENTRIES: usize = 100;

/// The feed events published so far, in order, and a signal for each new one.
#[derive(Debug)]
pub(crate) struct Feed {
    events: RwLock<Vec<Arc<FeedEvent>>>,
    latest: tokio::sync::watch::Sender<u64>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            events: RwLock::new(Vec::new()),
            latest: tokio::sync::watch::Sender::new(0),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Feed {
    /// The sequence number of the newest event known.
    pub(crate) fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// A receiver that changes with every new event.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Reads the events the store has beyond those known.
    pub(crate) async fn refresh(&self, store: &dyn ObjectStore) -> object_store::Result<()> {
        let known = self.latest();
        let prefix = StorePath::from(FEED_PREFIX.trim_end_matches('/'));
        let offset = StorePath::from(feed_object(known));
        let mut listed: Vec<object_store::ObjectMeta> = store
            .list_with_offset(Some(&prefix), &offset)
            .try_collect()
            .await?;
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        let mut newest = known;
        for object in listed {
            let bytes = store.get(&object.location).await?.bytes().await?;
            let event: FeedEvent = match serde_json::from_slice(&bytes) {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(object = %object.location, error = %e, "a feed event cannot be read; skipped");
                    continue;
                }
            };
            if event.seq <= newest {
                continue;
            }
            newest = event.seq;
            if let Ok(mut events) = self.events.write() {
                events.push(Arc::new(event));
            }
        }
        if newest > known {
            self.latest.send_replace(newest);
        }
        Ok(())
    }

    /// Up to `limit` events after `seq`, in order.
    pub(crate) fn after(&self, seq: u64, limit: usize) -> Vec<Arc<FeedEvent>> {
        let Ok(events) = self.events.read() else {
            return Vec::new();
        };
        let start = events.partition_point(|e| e.seq <= seq);
        events[start..].iter().take(limit).cloned().collect()
    }

    /// Ends every waiting request (at shutdown).
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// Follows the report store's feed until `stopped` completes.
pub(crate) async fn follow(app: Arc<App>, stopped: impl Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        if let Err(e) = app.feed.refresh(app.store.as_ref()).await {
            tracing::warn!(error = %e, "the feed cannot be read now; trying again");
        }
        tokio::select! {
            () = &mut stopped => {
                app.feed.close();
                return;
            }
            () = tokio::time::sleep(app.config.feed_poll) => {}
        }
    }
}

/// The part of `event` that `principal` may see, as the feed and webhooks show it; `None`
/// when the release changed nothing the principal may read.
pub(crate) fn entry_for(
    principal: &Principal,
    event: &FeedEvent,
    sharing: &SharingRegistry,
) -> Option<serde_json::Value> {
    let reports: Vec<serde_json::Value> = event
        .changes
        .iter()
        .filter(|c| may_read(principal, &c.file, sharing))
        .map(|c| {
            let id = report_id(&c.file);
            let municipality = if c.file.kind == ReportKind::Municipality {
                Some(&c.file.recipient)
            } else {
                c.file.municipality.as_ref()
            };
            serde_json::json!({
                "id": id,
                "change": c.change,
                "kind": c.file.kind,
                "period": c.file.period,
                "municipality": municipality,
                "content_sha256": c.file.content_sha256,
                "href": format!("/v1/reports/{id}"),
            })
        })
        .collect();
    (!reports.is_empty()).then(|| {
        serde_json::json!({
            "cursor": event.seq.to_string(),
            "release": event.release,
            "reports": reports,
        })
    })
}

/// `GET /v1/feed`.
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    credential: Credential,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    if matches!(principal, Principal::Operator(_)) {
        // Operators receive no reports, so they have no feed.
        return Err(app.refuse(&principal, Action::ReportRead, "feed"));
    }
    let Ok(Query(query)) = query else {
        return Err(ApiError::InvalidQuery);
    };
    let number = |name: &str| -> Result<Option<u64>, ()> {
        query
            .get(name)
            .map(|v| v.parse::<u64>().map_err(|_| ()))
            .transpose()
    };
    let (Ok(after), Ok(wait)) = (number("after"), number("wait")) else {
        return Err(ApiError::InvalidQuery);
    };
    let after = after.unwrap_or(0);
    let wait = wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::InvalidQuery);
    }
    if after > app.feed.latest() {
        // A position beyond the head was never handed out.
        return Err(ApiError::UnknownCursor);
    }
    // Every read is recorded; one that cannot be is not answered.
    if !app.record(&principal, Action::ReportRead, "feed", Outcome::Success) {
        return Err(ApiError::Unavailable);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut changed = app.feed.subscribe();
    let mut closing = app.feed.closing.subscribe();
    let mut credentials = app.credentials_changed.subscribe();
    loop {
        // A credential revoked while the request waits ends it: nothing more is sent for it.
        match app.still_valid(&credential, &principal).await {
            Ok(true) => {}
            Ok(false) => return Err(ApiError::Unauthorised),
            Err(e) => {
                tracing::error!(error = %e, "the state database cannot be read; ending the long poll");
                return Err(ApiError::Unavailable);
            }
        }
        // Mark the current head as seen before scanning, so an event arriving during the scan
        // wakes the wait below.
        changed.borrow_and_update();
        let events = app.feed.after(after, usize::MAX);
        // Read only when there is something to filter: a poll at the head costs no I/O.
        let sharing = if events.is_empty() {
            SharingRegistry::default()
        } else {
            app.sharing_now()
        };
        let mut entries = Vec::new();
        let mut cursor = after;
        for event in &events {
            if entries.len() == MAX_ENTRIES {
                break;
            }
            cursor = event.seq;
            entries.extend(entry_for(&principal, event, &sharing));
        }
        let done =
            !entries.is_empty() || tokio::time::Instant::now() >= deadline || *closing.borrow();
        if done {
            let body = serde_json::json!({"entries": entries, "cursor": cursor.to_string()});
            return Ok((StatusCode::OK, axum::Json(body)).into_response());
        }
        tokio::select! {
            _ = changed.changed() => {}
            _ = closing.changed() => {}
            _ = credentials.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}
