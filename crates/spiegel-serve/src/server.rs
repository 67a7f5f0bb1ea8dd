//! The HTTP API (docs/serving.md) and the admin endpoints, on two listeners. Every route resolves
//! the caller's [`Principal`] from its bearer token ([`Caller`]) and answers another tenant's
//! resource exactly as a resource that does not exist: 404, never 403 and never a hint.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use object_store::ObjectStore;
use spiegel_publish::{Manifest, ReportLocation, SharingRegistry};

use crate::admin::Metrics;
use crate::api_error::ApiError;
use crate::auth::bearer;
pub(crate) use crate::auth::{Caller, Credential};
use crate::certificates::CertificateSubject;
use crate::connections::ConnectionLimits;
use crate::credentials::CredentialCache;
use crate::feed::Feed;
use crate::submissions::Intake;
use crate::tls::{Peer, TlsConfig};
use crate::webhooks::{WebhookConfig, Webhooks};
use crate::{Action, Actor, AuditLog, AuditOptions, Entry, Outcome, Principal, Result};

/// What the server serves from.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The report store (a local directory or an S3 bucket holding `manifest.json` and the
    /// feed).
    pub reports: ReportLocation,
    /// The data directory: audit log, sharing, annotation, submission and webhook registries,
    /// and the state database when `database` is None.
    pub data_dir: PathBuf,
    /// The state database (tokens, client certificates); None: the SQLite file in the data
    /// directory.
    pub database: Option<spiegel_state::DatabaseUrl>,
    /// How uploads are bounded beyond the ingest stage's own limits.
    pub upload: UploadConfig,
    /// Where and how webhooks are delivered.
    pub webhooks: WebhookConfig,
    /// How often the report store is checked for new releases.
    pub feed_poll: Duration,
    /// TLS on the API listener; None serves plain HTTP (behind a TLS-terminating proxy, or
    /// on loopback for trials).
    pub tls: Option<TlsConfig>,
    /// The pipeline stages running in this process (the embedded pipeline), whose metrics the
    /// admin endpoint serves beside the API's.
    pub stages: Vec<Arc<crate::StageHealth>>,
    /// How the audit log is anchored; None: the embedded default in the data directory.
    pub audit: Option<AuditOptions>,
    /// How often the audit log's head is anchored when records were added since the last
    /// checkpoint, however few.
    pub audit_checkpoint_interval: Duration,
    /// How often the state database's credentials revision is looked at for revocations
    /// (which end the revoked credential's long polls and webhooks).
    pub credentials_poll: Duration,
    /// Deadlines for slow clients and the most connections at once, on each listener.
    pub connections: ConnectionLimits,
    /// The windows and norms the reports were computed with, which rendered pages name.
    pub indicators: spiegel_render::AggregateConfig,
}

impl ServeConfig {
    /// Serving `reports` with its state in `data_dir`, everything else at its defaults.
    pub fn new(reports: impl Into<ReportLocation>, data_dir: PathBuf) -> Self {
        Self {
            reports: reports.into(),
            data_dir,
            database: None,
            upload: UploadConfig::default(),
            webhooks: WebhookConfig::default(),
            feed_poll: Duration::from_millis(500),
            tls: None,
            stages: Vec::new(),
            audit: None,
            audit_checkpoint_interval: Duration::from_secs(60),
            credentials_poll: Duration::from_millis(200),
            indicators: spiegel_render::AggregateConfig::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// Bounds of an upload that the ingest stage cannot see: those of the compressed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadConfig {
    /// A gzip upload is refused once it has expanded more than this many times its compressed
    /// size (after the first MiB): a gzip bomb is stopped long before the ingest stage's byte
    /// limit, while real submissions (10–30 times) pass.
    pub max_gzip_ratio: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_gzip_ratio: 100,
        }
    }
}

/// The state every request shares.
#[derive(Debug)]
pub struct App {
    pub(crate) config: ServeConfig,
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) audit: AuditLog,
    pub(crate) metrics: Metrics,
    /// Serialises read-modify-write of the annotation registry.
    pub(crate) annotations: Mutex<()>,
    /// Serialises read-modify-write of the sharing registry.
    pub(crate) sharing: Mutex<()>,
    /// Uploads go here; `None` on a server that only serves reports.
    pub(crate) intake: Option<Intake>,
    /// The (provider, Idempotency-Key) pairs of uploads in progress.
    pub(crate) uploads_in_flight: Mutex<std::collections::HashSet<(String, String)>>,
    pub(crate) feed: Feed,
    pub(crate) webhooks: Webhooks,
    /// The state database: tokens and client certificates, shared with `spiegel tokens`,
    /// `spiegel certs` and every other replica.
    pub(crate) state: spiegel_state::Database,
    /// Its tokens and subjects in memory, as every request checks them.
    pub(crate) credentials: CredentialCache,
    /// Changes whenever the credentials revision in the state database changed: whoever holds
    /// on to a credential (a long poll, a webhook) checks it again.
    pub(crate) credentials_changed: tokio::sync::watch::Sender<u64>,
}

impl App {
    /// Opens the report store, the state database (moving in the JSON state of an older data
    /// directory) and the audit log (refusing a broken one); `intake` takes uploads (without
    /// one, `POST /v1/submissions` answers 503).
    pub async fn open(config: ServeConfig, intake: Option<Intake>) -> Result<Arc<Self>> {
        if let Some(dir) = config.reports.directory() {
            std::fs::create_dir_all(dir)?;
        }
        let store = config
            .reports
            .open()
            .map_err(|source| crate::ServeError::ReportStore {
                location: config.reports.to_string(),
                source,
            })?;
        let audit = AuditLog::open_with(
            &config.data_dir,
            config
                .audit
                .clone()
                .unwrap_or_else(|| AuditOptions::default_for(&config.data_dir)),
        )?;
        let webhooks = Webhooks::open(&config.data_dir, config.webhooks.clone())?;
        let state = crate::open_state(&config.data_dir, config.database.as_ref()).await?;
        crate::state::move_json_state_in(&state, &config.data_dir).await?;
        Ok(Arc::new(Self {
            store,
            audit,
            metrics: Metrics::default(),
            annotations: Mutex::new(()),
            sharing: Mutex::new(()),
            intake,
            uploads_in_flight: Mutex::default(),
            feed: Feed::default(),
            webhooks,
            credentials: CredentialCache::open(state.clone()).await?,
            state,
            credentials_changed: tokio::sync::watch::Sender::new(0),
            config,
        }))
    }

    /// Whether `credential` still authenticates `principal`: a token not revoked, a
    /// certificate subject still registered for it.
    pub(crate) async fn still_valid(
        &self,
        credential: &Credential,
        principal: &Principal,
    ) -> Result<bool> {
        if let Some(id) = &credential.token
            && self.credentials.token_holder(id).await?.as_ref() != Some(principal)
        {
            return Ok(false);
        }
        if let Some(subject) = &credential.certificate
            && self.credentials.by_certificate(subject).await?.as_ref() != Some(principal)
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// The principal a request is authenticated as: by its bearer token, by the client
    /// certificate of its connection, or by both when they agree. A bearer token that is
    /// presented but not valid, or credentials for two different principals, authenticate
    /// nobody: a mistake in credentials must never fall back to other ones. Tokens and
    /// subjects are checked against the state database as of this request (`CredentialCache`),
    /// so that `spiegel tokens` and `spiegel certs` count from the next request on, on every
    /// replica. A database that cannot be read authenticates nobody and says so: 503, not 401.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&CertificateSubject>,
    ) -> std::result::Result<Option<Principal>, ApiError> {
        let unavailable = |e: crate::ServeError| {
            tracing::error!(error = %e, "the state database cannot be read; authenticating nobody");
            ApiError::Unavailable
        };
        let by_token = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let Some(presented) = bearer(value) else {
                    return Ok(None);
                };
                match self
                    .credentials
                    .by_token(presented.trim())
                    .await
                    .map_err(unavailable)?
                {
                    Some(principal) => Some(principal),
                    None => return Ok(None),
                }
            }
        };
        let by_certificate = match certificate {
            Some(subject) => self
                .credentials
                .by_certificate(subject)
                .await
                .map_err(unavailable)?,
            None => None,
        };
        Ok(match (by_token, by_certificate) {
            (Some(token), Some(certificate)) => (token == certificate).then_some(token),
            (token, certificate) => token.or(certificate),
        })
    }

    /// The sharing registry as it is now; unreadable means nothing is shared (the safe side).
    pub(crate) fn sharing_now(&self) -> SharingRegistry {
        SharingRegistry::load(&self.config.data_dir.join(SHARING_FILE)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the sharing registry cannot be read; sharing nothing");
            SharingRegistry::default()
        })
    }

    /// The manifest of the current release, if there is one; a store that cannot be read is
    /// unavailable (503), not a store with nothing published.
    pub(crate) async fn manifest(&self) -> std::result::Result<Option<Manifest>, ApiError> {
        spiegel_publish::read_manifest(self.store.as_ref())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the current release's manifest cannot be read");
                ApiError::Unavailable
            })
    }

    /// Appends an audit record of `actor` doing `action` on `object`; false (and counted) when
    /// the log cannot be written, in which case the caller refuses the request.
    pub(crate) fn record(
        &self,
        actor: &Principal,
        action: Action,
        object: &str,
        outcome: Outcome,
    ) -> bool {
        let entry = Entry {
            actor: Actor::Principal(actor.clone()),
            on_behalf_of: None,
            action,
            object: object.to_owned(),
            outcome,
        };
        match self.audit.append(entry, &crate::now()) {
            Ok(_) => true,
            Err(e) => {
                self.metrics.audit_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "the audit log cannot be written; refusing the request");
                false
            }
        }
    }

    /// Records a request refused for want of valid credentials. There is no principal to name,
    /// so the actor is `system:anonymous`; the object is the route as declared.
    pub(crate) fn record_unauthenticated(&self, route: &str) {
        let entry = Entry {
            actor: Actor::System("anonymous"),
            on_behalf_of: None,
            // A route the API does not have reads like a report lookup.
            action: action_of(route).unwrap_or(Action::ReportRead),
            object: route.to_owned(),
            outcome: Outcome::Denied,
        };
        if let Err(e) = self.audit.append(entry, &crate::now()) {
            // The answer is a refusal either way; nothing changed that went unrecorded.
            self.metrics.audit_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "the audit log cannot be written");
        }
    }

    /// Not this caller's resource: recorded as denied, answered as if it did not exist.
    pub(crate) fn refuse(&self, principal: &Principal, action: Action, object: &str) -> ApiError {
        self.record(principal, action, object, Outcome::Denied);
        ApiError::NotFound
    }
}

/// The sharing registry in the data directory (written by the share endpoint, read by the
/// publish stage, which decides it: NB-4 (docs/release-rules.md)).
pub use spiegel_publish::SHARING_FILE;

/// The API router.
pub fn api(app: Arc<App>) -> Router {
    use crate::openapi as routes;
    // The routes of `API_ROUTES`: the OpenAPI document describes exactly these.
    Router::new()
        .route(
            routes::SUBMISSIONS_ROUTE,
            post(crate::submissions::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(routes::SUBMISSION_ROUTE, get(crate::submissions::status))
        .route(routes::FEED_ROUTE, get(crate::feed::read))
        .route(routes::REPORTS_ROUTE, get(crate::reports::list))
        .route(routes::REPORT_ROUTE, get(crate::reports::get))
        .route(routes::ANNOTATION_ROUTE, post(crate::mirror::annotate))
        .route(routes::SHARE_ROUTE, post(crate::mirror::share))
        .route(routes::SHARES_ROUTE, get(crate::mirror::shares))
        .route(
            routes::WEBHOOKS_ROUTE,
            post(crate::webhooks::create).get(crate::webhooks::list),
        )
        .route(routes::WEBHOOK_ROUTE, delete(crate::webhooks::remove))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(protect_pages))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            bound_target,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            count_requests,
        ))
        .with_state(app)
}

/// Counts every API response by route (as declared, never the caller's path) and status.
async fn count_requests(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    app.metrics.count(route, response.status().as_u16());
    response
}

/// The longest request target (path and query, as sent) the API reads. Every parameter the
/// OpenAPI document describes fits in it several times over, percent-encoded; a longer one
/// is answered 414 before any handler, the audit log or any state sees it.
pub(crate) const MAX_TARGET_BYTES: usize = 2048;

/// Refuses a request target longer than [`MAX_TARGET_BYTES`]. An authenticated caller's
/// attempt is recorded with the target's length, never the target itself.
async fn bound_target(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length <= MAX_TARGET_BYTES {
        return next.run(request).await;
    }
    let action = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| action_of(route.as_str()));
    let certificate = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .and_then(|peer| peer.0.certificate.clone());
    let principal = match action {
        Some(_) => app
            .authenticate(request.headers(), certificate.as_deref())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    if let (Some(action), Some(principal)) = (action, principal) {
        app.record(
            &principal,
            action,
            &format!("request target of {length} bytes"),
            Outcome::Rejected,
        );
    }
    ApiError::UriTooLong.into_response()
}

/// What a request on `route` would be recorded as.
fn action_of(route: &str) -> Option<Action> {
    use crate::openapi as routes;
    match route {
        routes::SUBMISSIONS_ROUTE => Some(Action::SubmissionUpload),
        routes::SUBMISSION_ROUTE => Some(Action::ReceiptRead),
        routes::FEED_ROUTE | routes::REPORTS_ROUTE | routes::REPORT_ROUTE => {
            Some(Action::ReportRead)
        }
        routes::ANNOTATION_ROUTE => Some(Action::Annotation),
        routes::SHARE_ROUTE | routes::SHARES_ROUTE => Some(Action::Share),
        routes::WEBHOOKS_ROUTE | routes::WEBHOOK_ROUTE => Some(Action::Subscription),
        _ => None,
    }
}

/// Whether a path or query parameter is within the `maxLength` (in characters) the OpenAPI
/// document gives it.
pub(crate) fn within(value: &str, max_chars: usize) -> bool {
    value.len() <= max_chars || value.chars().count() <= max_chars
}

/// What a browser may do with an answer. Pages carry the same policy in a meta tag, which a
/// browser only applies once it has parsed that far and which cannot forbid framing; the
/// header covers the whole page, and `nosniff` keeps a JSON or Parquet answer from being run
/// as something else.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

async fn protect_pages(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}
