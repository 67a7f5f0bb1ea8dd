//! The HTTP API (docs/serving.md) and the admin endpoints, on two listeners. Every route resolves
//! the caller's [`Principal`] from its bearer token ([`Caller`]) and answers another tenant's
//! resource exactly as a resource that does not exist: 404, never 403 and never a hint.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use object_store::{ObjectStore, ObjectStoreExt};
use spiegel_publish::{MANIFEST, Manifest, SharingRegistry};

use crate::certificates::{CertificateRegistry, CertificateSubject};
use crate::connections::{ConnectionLimits, Incoming};
use crate::feed::Feed;
use crate::stamp::Stamped;
use crate::submissions::Intake;
use crate::tls::{Peer, TlsConfig, TlsListener};
use crate::webhooks::{WebhookConfig, Webhooks};
use crate::{Action, Actor, AuditLog, AuditOptions, Entry, Outcome, Principal, Result, TokenStore};

/// What the server serves from.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The report store (a local directory holding `manifest.json` and the feed).
    pub reports: PathBuf,
    /// The data directory: tokens, audit log, sharing, annotation, submission and webhook
    /// registries.
    pub data_dir: PathBuf,
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
    /// How often the token store and the certificate registry are looked at for revocations
    /// (which end the revoked credential's long polls and webhooks).
    pub credentials_poll: Duration,
    /// Deadlines for slow clients and the most connections at once, on each listener.
    pub connections: ConnectionLimits,
}

impl ServeConfig {
    /// Serving `reports` with its state in `data_dir`, everything else at its defaults.
    pub fn new(reports: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            reports,
            data_dir,
            upload: UploadConfig::default(),
            webhooks: WebhookConfig::default(),
            feed_poll: Duration::from_millis(500),
            tls: None,
            stages: Vec::new(),
            audit: None,
            audit_checkpoint_interval: Duration::from_secs(60),
            credentials_poll: Duration::from_millis(200),
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
    /// The token store, read again whenever `spiegel tokens` changed it.
    tokens: Stamped<TokenStore>,
    /// The client-certificate registry, read again whenever `spiegel certs` changed it.
    certificates: Stamped<CertificateRegistry>,
    /// Changes whenever the token store or the certificate registry changed: whoever holds
    /// on to a credential (a long poll, a webhook) checks it again.
    pub(crate) credentials: tokio::sync::watch::Sender<u64>,
}

impl App {
    /// Opens the report store and the audit log (refusing a broken one); `intake` takes
    /// uploads (without one, `POST /v1/submissions` answers 503).
    pub fn open(config: ServeConfig, intake: Option<Intake>) -> Result<Arc<Self>> {
        std::fs::create_dir_all(&config.reports)?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&config.reports)
            .map_err(|e| crate::ServeError::Io(std::io::Error::other(e.to_string())))?;
        let audit = AuditLog::open_with(
            &config.data_dir,
            config
                .audit
                .clone()
                .unwrap_or_else(|| AuditOptions::default_for(&config.data_dir)),
        )?;
        let webhooks = Webhooks::open(&config.data_dir, config.webhooks.clone())?;
        Ok(Arc::new(Self {
            store: Arc::new(store),
            audit,
            metrics: Metrics::default(),
            annotations: Mutex::new(()),
            sharing: Mutex::new(()),
            intake,
            uploads_in_flight: Mutex::default(),
            feed: Feed::default(),
            webhooks,
            tokens: Stamped::new(config.data_dir.join(crate::TOKENS_FILE)),
            certificates: Stamped::new(config.data_dir.join(crate::CLIENT_CERTIFICATES_FILE)),
            credentials: tokio::sync::watch::Sender::new(0),
            config,
        }))
    }

    /// Whether `credential` still authenticates `principal`: a token not revoked, a
    /// certificate subject still registered for it.
    pub(crate) fn still_valid(&self, credential: &Credential, principal: &Principal) -> bool {
        let by_token = credential.token.as_ref().is_none_or(|id| {
            self.tokens
                .get(|| TokenStore::open(&self.config.data_dir))
                .is_some_and(|tokens| tokens.current(id) == Some(principal))
        });
        let by_certificate = credential.certificate.as_ref().is_none_or(|subject| {
            self.certificates
                .get(|| CertificateRegistry::open(&self.config.data_dir))
                .is_some_and(|registry| registry.authenticate(subject) == Some(principal))
        });
        by_token && by_certificate
    }

    /// The principal a request is authenticated as: by its bearer token, by the client
    /// certificate of its connection, or by both when they agree. A bearer token that is
    /// presented but not valid, or credentials for two different principals, authenticate
    /// nobody: a mistake in credentials must never fall back to other ones. The token store
    /// and the certificate registry are read again when their files change, so that
    /// `spiegel tokens` and `spiegel certs` count from the next request on.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&CertificateSubject>,
    ) -> Option<Principal> {
        let by_token = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let presented = bearer(value)?;
                let tokens = self
                    .tokens
                    .get(|| TokenStore::open(&self.config.data_dir))?;
                Some(tokens.authenticate(presented.trim())?.clone())
            }
        };
        let by_certificate = certificate.and_then(|subject| {
            self.certificates
                .get(|| CertificateRegistry::open(&self.config.data_dir))?
                .authenticate(subject)
                .cloned()
        });
        match (by_token, by_certificate) {
            (Some(token), Some(certificate)) => (token == certificate).then_some(token),
            (token, certificate) => token.or(certificate),
        }
    }

    /// The sharing registry as it is now; unreadable means nothing is shared (the safe side).
    pub(crate) fn sharing_now(&self) -> SharingRegistry {
        SharingRegistry::load(&self.config.data_dir.join(SHARING_FILE)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the sharing registry cannot be read; sharing nothing");
            SharingRegistry::default()
        })
    }

    /// The manifest of the current release, if there is one.
    pub(crate) async fn manifest(&self) -> Option<Manifest> {
        let bytes = self
            .store
            .get(&object_store::path::Path::from(MANIFEST))
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        serde_json::from_slice(&bytes).ok()
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
    pub(crate) fn refuse(&self, principal: &Principal, action: Action, object: &str) -> Response {
        self.record(principal, action, object, Outcome::Denied);
        not_found()
    }
}

/// The bearer token an `Authorization` header presents.
fn bearer(value: &header::HeaderValue) -> Option<&str> {
    // RFC 7235 §2.1: the scheme is case-insensitive (`bearer`, `BEARER`).
    let (scheme, presented) = value.to_str().ok()?.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(presented)
}

/// The credentials a request presented, by which it can be checked again later: the id of
/// its bearer token (never the token) and the subject of its client certificate. A long poll
/// or a webhook ends when its credential is revoked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credential {
    /// The public id of the bearer token.
    pub(crate) token: Option<String>,
    /// The client certificate's subject.
    pub(crate) certificate: Option<CertificateSubject>,
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(bearer)
            .and_then(|presented| crate::tokens::token_id(presented.trim()))
            .map(str::to_owned);
        let certificate = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .and_then(|peer| peer.0.certificate.as_deref().cloned());
        Ok(Self { token, certificate })
    }
}

/// The principal of an authenticated request. Extracting it answers 401 when the request has
/// no valid credentials, so a handler that takes a `Caller` never runs unauthenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> std::result::Result<Self, Response> {
        let certificate = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .and_then(|peer| peer.0.certificate.clone());
        match app.authenticate(&parts.headers, certificate.as_deref()) {
            Some(principal) => Ok(Caller(principal)),
            None => {
                // Named by the route as declared, never by the caller's path or credentials.
                let route = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map_or("unmatched", |m| m.as_str());
                app.record_unauthenticated(route);
                Err(unauthorised())
            }
        }
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
        .fallback(|| async { not_found() })
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

/// The admin router: liveness, readiness and Prometheus metrics, on a port of its own.
pub fn admin(app: Arc<App>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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
    if let (Some(action), Some(principal)) = (
        action,
        app.authenticate(request.headers(), certificate.as_deref()),
    ) {
        app.record(
            &principal,
            action,
            &format!("request target of {length} bytes"),
            Outcome::Rejected,
        );
    }
    error(
        StatusCode::URI_TOO_LONG,
        "uri_too_long",
        &format!(
            "the request target is longer than {MAX_TARGET_BYTES} bytes; check the ids in the              path / het verzoekdoel is langer dan {MAX_TARGET_BYTES} bytes; controleer de ids              in het pad"
        ),
    )
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

/// A parameter outside what the OpenAPI document allows.
pub(crate) fn invalid_parameter(name: &str, rule: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        &format!("{name}: {rule} / {name}: zie de OpenAPI-beschrijving ({rule})"),
    )
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

/// An error answer: a code for programs and a message, in Dutch and English, for the person
/// who has to act on it.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "message": message})),
    )
        .into_response()
}

pub(crate) fn unauthorised() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "unauthorised",
        "a valid bearer token is required / een geldig bearer-token is nodig",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Spiegel cannot answer right now (a store or log it needs is unavailable); try again.
pub(crate) fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "try again shortly / probeer het zo opnieuw",
    )
}

pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
        .into_response()
}

/// Ready when the token store and the report store can be read. A report store without a
/// release yet is ready: uploads must reach a new deployment for there ever to be one.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let tokens = app
        .tokens
        .get(|| TokenStore::open(&app.config.data_dir))
        .is_some();
    let manifest = app.store.list_with_delimiter(None).await.is_ok();
    let status = if tokens && manifest {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({"tokens": tokens, "reports": manifest})),
    )
        .into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    text.push_str(&format!(
        "# HELP spiegel_audit_checkpoint_failures_total Audit checkpoints that could not be \
         written (tried again with the next record).\n# TYPE \
         spiegel_audit_checkpoint_failures_total counter\n\
         spiegel_audit_checkpoint_failures_total {}\n",
        app.audit.checkpoint_failures()
    ));
    text.push_str(&app.webhooks.metrics());
    if !app.config.stages.is_empty() {
        text.push_str(&crate::stage_admin::render_stages(&app.config.stages));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Requests by route and status, in Prometheus text format.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Uploads by validation outcome (`accepted`, `rejected`).
    submissions: Mutex<BTreeMap<&'static str, u64>>,
    /// Rows of uploads by what became of them (`read`, `accepted`, `merged`, `rejected`).
    records: Mutex<BTreeMap<&'static str, u64>>,
    audit_failures: AtomicU64,
    failed_handshakes: Arc<AtomicU64>,
}

impl Metrics {
    /// Counts an upload and its rows.
    pub(crate) fn uploaded(&self, accepted: bool, counts: &spiegel_ingest::Counts) {
        if let Ok(mut submissions) = self.submissions.lock() {
            *submissions
                .entry(if accepted { "accepted" } else { "rejected" })
                .or_default() += 1;
        }
        if let Ok(mut records) = self.records.lock() {
            for (kind, n) in [
                ("read", counts.rows),
                ("accepted", counts.accepted),
                ("merged", counts.merged),
                ("rejected", counts.rejected),
            ] {
                *records.entry(kind).or_default() += n;
            }
        }
    }

    fn count(&self, route: String, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route, status)).or_default() += 1;
        }
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# HELP spiegel_http_requests_total HTTP API requests by route and status.\n\
             # TYPE spiegel_http_requests_total counter\n",
        );
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                out.push_str(&format!(
                    "spiegel_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        out.push_str(&format!(
            "# HELP spiegel_audit_write_failures_total Requests refused because the audit log \
             could not be written.\n# TYPE spiegel_audit_write_failures_total counter\n\
             spiegel_audit_write_failures_total {}\n",
            self.audit_failures.load(Ordering::Relaxed)
        ));
        for (name, help, label, counts) in [
            (
                "spiegel_submissions_total",
                "Uploaded submissions by validation outcome.",
                "outcome",
                &self.submissions,
            ),
            (
                "spiegel_submission_records_total",
                "Rows of uploaded submissions: read, accepted, merged into another, rejected.",
                "kind",
                &self.records,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            if let Ok(counts) = counts.lock() {
                for (value, n) in counts.iter() {
                    out.push_str(&format!("{name}{{{label}=\"{value}\"}} {n}\n"));
                }
            }
        }
        out.push_str(&format!(
            "# HELP spiegel_tls_handshake_failures_total API connections whose TLS handshake \
             failed or timed out.\n# TYPE spiegel_tls_handshake_failures_total counter\n\
             spiegel_tls_handshake_failures_total {}\n",
            self.failed_handshakes.load(Ordering::Relaxed)
        ));
        out
    }
}

/// Binds the API and admin listeners, reports their addresses through `bound`, and serves
/// until SIGTERM or SIGINT, finishing the requests in flight. Beside the listeners it follows
/// the feed of releases and delivers webhooks.
pub fn run(
    config: ServeConfig,
    intake: Option<Intake>,
    listen: std::net::SocketAddr,
    admin_listen: std::net::SocketAddr,
    bound: impl FnOnce(std::net::SocketAddr, std::net::SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = App::open(config, intake)?;
        // Cursors the feed handed out before a restart are valid from the first request on.
        if let Err(e) = app.feed.refresh(app.store.as_ref()).await {
            tracing::warn!(error = %e, "the feed cannot be read yet");
        }
        let api_listener = tokio::net::TcpListener::bind(listen).await?;
        let admin_listener = tokio::net::TcpListener::bind(admin_listen).await?;
        let api_address = api_listener.local_addr()?;
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |stop: &tokio::sync::broadcast::Sender<()>| {
            let mut receiver = stop.subscribe();
            async move {
                let _ = receiver.recv().await;
            }
        };
        let limits = app.config.connections;
        let slots = || Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let api_slots = slots();
        // Unusable TLS files stop the start, before anyone is told the server listens.
        let api_incoming = match app.config.tls.clone() {
            None => Incoming::Plain(api_listener),
            Some(tls) => Incoming::Tls(TlsListener::new(
                api_listener,
                tls,
                Arc::clone(&app.metrics.failed_handshakes),
                Arc::clone(&api_slots),
            )?),
        };
        let api_server = crate::connections::serve(
            api_incoming,
            api(Arc::clone(&app)),
            limits,
            api_slots,
            stopped(&stop),
        );
        bound(api_address, admin_listener.local_addr()?);
        let feed = tokio::spawn(crate::feed::follow(Arc::clone(&app), stopped(&stop)));
        let anchor = tokio::spawn(anchor_audit_log(Arc::clone(&app)));
        let credentials = tokio::spawn(watch_credentials(Arc::clone(&app)));
        crate::webhooks::start_deliveries(&app);
        let admin_server = crate::connections::serve(
            Incoming::Plain(admin_listener),
            admin(Arc::clone(&app)),
            limits,
            slots(),
            stopped(&stop),
        );
        let signal = async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing the requests in flight");
            let _ = stop.send(());
        };
        tokio::join!(api_server, admin_server, signal);
        feed.abort();
        anchor.abort();
        credentials.abort();
        // What was recorded since the last checkpoint is anchored before the process ends.
        if let Err(e) = app.audit.checkpoint() {
            tracing::error!(error = %e, "the audit log's last records could not be anchored");
        }
        Ok(())
    })
}

/// Anchors the audit log's head now and then, so records written since the last periodic
/// checkpoint are anchored even when few follow.
async fn anchor_audit_log(app: Arc<App>) {
    let mut every = tokio::time::interval(app.config.audit_checkpoint_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let writer = Arc::clone(&app);
        match tokio::task::spawn_blocking(move || writer.audit.checkpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the audit log could not be anchored; trying again")
            }
            Err(e) => tracing::error!(error = %e, "anchoring the audit log panicked"),
        }
    }
}

/// Notices changes of the token store and the certificate registry (`spiegel tokens revoke`,
/// `spiegel certs remove` run as other processes): wakes whatever holds a credential, and
/// disables the webhooks of revoked tokens.
async fn watch_credentials(app: Arc<App>) {
    let files = [
        app.config.data_dir.join(crate::TOKENS_FILE),
        app.config.data_dir.join(crate::CLIENT_CERTIFICATES_FILE),
    ];
    let stamps = || {
        files
            .iter()
            .map(|f| crate::stamp::file_stamp(f))
            .collect::<Vec<_>>()
    };
    let mut seen = stamps();
    let mut every = tokio::time::interval(app.config.credentials_poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = stamps();
        if now != seen {
            seen = now;
            app.credentials.send_modify(|generation| *generation += 1);
        }
        // Every time, not only on a change: a disabling that could not be recorded is
        // tried again.
        let sweeper = Arc::clone(&app);
        let _ =
            tokio::task::spawn_blocking(move || crate::webhooks::disable_revoked(&sweeper)).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
