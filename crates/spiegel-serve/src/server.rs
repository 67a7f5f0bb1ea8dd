//! The HTTP API (SPEC §10) and the admin endpoints, on two listeners. Every route resolves the
//! caller's [`Principal`] from its bearer token and answers another tenant's resource exactly
//! as a resource that does not exist: 404, never 403 and never a hint.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use object_store::{ObjectStore, ObjectStoreExt};
use spiegel_publish::{MANIFEST, Manifest, ManifestFile, SharingRegistry, region_slug};
use spiegel_render::{AnnotationRegistry, Language};

use crate::{Action, Actor, AuditLog, Entry, Outcome, Principal, Result, TokenStore};

/// What the server serves from.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The report store (a local directory holding `manifest.json`).
    pub reports: PathBuf,
    /// The data directory: tokens, audit log, sharing and annotation registries.
    pub data_dir: PathBuf,
}

/// The state every request shares.
#[derive(Debug)]
pub struct App {
    config: ServeConfig,
    store: Arc<dyn ObjectStore>,
    audit: AuditLog,
    metrics: Metrics,
    /// Serialises read-modify-write of the annotation registry.
    annotations: Mutex<()>,
    /// Serialises read-modify-write of the sharing registry.
    sharing: Mutex<()>,
}

impl App {
    /// Opens the report store and the audit log (refusing a broken one).
    pub fn open(config: ServeConfig) -> Result<Arc<Self>> {
        let store = object_store::local::LocalFileSystem::new_with_prefix(&config.reports)
            .map_err(|e| crate::ServeError::Io(std::io::Error::other(e.to_string())))?;
        let audit = AuditLog::open(&config.data_dir)?;
        Ok(Arc::new(Self {
            config,
            store: Arc::new(store),
            audit,
            metrics: Metrics::default(),
            annotations: Mutex::new(()),
            sharing: Mutex::new(()),
        }))
    }

    /// The principal a request's bearer token stands for. The token store is read per
    /// request, so a revocation takes effect at once.
    fn principal(&self, headers: &HeaderMap) -> Option<Principal> {
        let presented = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let store = TokenStore::open(&self.config.data_dir).ok()?;
        store.authenticate(presented.trim()).cloned()
    }

    /// The sharing registry as it is now; unreadable means nothing is shared (the safe side).
    fn sharing(&self) -> SharingRegistry {
        SharingRegistry::load(&self.config.data_dir.join(SHARING_FILE)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the sharing registry cannot be read; sharing nothing");
            SharingRegistry::default()
        })
    }

    /// The AGB code of `principal` if it is the provider of a mirror report of `period` about
    /// `gemeente` in the current release.
    async fn own_mirror(
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

    async fn manifest(&self) -> Option<Manifest> {
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

    fn record(&self, actor: &Principal, action: Action, object: &str, outcome: Outcome) -> bool {
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
}

/// The sharing registry in the data directory (written by the share endpoint, read by the
/// publish stage for NB-3).
const SHARING_FILE: &str = "sharing.json";

/// The API router.
pub fn api(app: Arc<App>) -> Router {
    // The routes of `API_ROUTES`: the OpenAPI document describes exactly these.
    Router::new()
        .route(crate::openapi::REPORTS_ROUTE, get(list_reports))
        .route(crate::openapi::REPORT_ROUTE, get(get_report))
        .route(
            crate::openapi::ANNOTATION_ROUTE,
            axum::routing::post(annotate),
        )
        .route(crate::openapi::SHARE_ROUTE, axum::routing::post(share))
        .fallback(not_found)
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

/// A report's id in the API: stable across releases, so a subscriber can fetch the newest
/// version of the same report (`mirror.2026-H1.12345678.GM0363`, `municipality.2026-H1.GM0363`,
/// `region.2026-H1.utrecht-stad`, `national.2026-H1`).
pub fn report_id(file: &ManifestFile) -> String {
    match file.kind.as_str() {
        "mirror" => format!(
            "mirror.{}.{}.{}",
            file.period,
            file.recipient,
            file.municipality.as_deref().unwrap_or_default()
        ),
        "region" => format!("region.{}.{}", file.period, region_slug(&file.recipient)),
        "national" => format!("national.{}", file.period),
        kind => format!("{kind}.{}.{}", file.period, file.recipient),
    }
}

/// Whether `principal` may read `file` (NB-2, SPEC §1): a provider its own mirror reports; a
/// municipality its own report, its region's, the national one, and the mirror reports shared
/// with it now (the live registry: a municipality's aggregates were published under the
/// sharing of their release, and a later share only ever made them more protective); an
/// operator no report content.
pub fn may_read(principal: &Principal, file: &ManifestFile, sharing: &SharingRegistry) -> bool {
    match principal {
        Principal::Provider(agb) => file.kind == "mirror" && file.recipient == *agb,
        Principal::Gemeente(code) => match file.kind.as_str() {
            "municipality" => file.recipient == *code,
            "mirror" => {
                file.municipality.as_deref() == Some(code)
                    && sharing.shared(&file.recipient, &file.period, code)
            }
            "national" => true,
            "region" => region_of(code).is_some_and(|r| r == file.recipient),
            _ => false,
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

async fn list_reports(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(principal) = app.principal(&headers) else {
        return app.metrics.count("reports", unauthorised());
    };
    let manifest = app.manifest().await;
    let sharing = app.sharing();
    let files: Vec<Listed<'_>> = manifest
        .iter()
        .flat_map(|m| &m.files)
        .filter(|f| may_read(&principal, f, &sharing))
        .map(|f| Listed {
            id: report_id(f),
            kind: &f.kind,
            period: &f.period,
            municipality: if f.kind == "municipality" {
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
    app.metrics.count(
        "reports",
        (StatusCode::OK, axum::Json(body)).into_response(),
    )
}

async fn get_report(
    State(app): State<Arc<App>>,
    UrlPath(requested): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(principal) = app.principal(&headers) else {
        return app.metrics.count("report", unauthorised());
    };
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
        .await
        .and_then(|m| m.files.into_iter().find(|f| report_id(f) == id));
    let file = match found {
        Some(file) if may_read(&principal, &file, &app.sharing()) => file,
        other => {
            // Another tenant's report and no report at all look the same from outside; the
            // log tells them apart.
            let outcome = if other.is_some() {
                Outcome::Denied
            } else {
                Outcome::Rejected
            };
            app.record(&principal, Action::ReportRead, &id, outcome);
            let response = not_found().await;
            return app.metrics.count("report", response);
        }
    };
    let has_page = file.kind == "mirror" || file.kind == "municipality";
    if html && !has_page {
        // Region and national reports are shown inside municipality pages only.
        app.record(
            &principal,
            Action::ReportRead,
            &requested,
            Outcome::Rejected,
        );
        let response = not_found().await;
        return app.metrics.count("report", response);
    }
    if !app.record(&principal, Action::ReportRead, &id, Outcome::Success) {
        return app.metrics.count("report", unavailable());
    }
    let response = if html {
        let annotations =
            AnnotationRegistry::load(&app.config.data_dir.join(spiegel_render::ANNOTATIONS_FILE))
                .unwrap_or_default();
        let language = match headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|l| l.to_str().ok())
        {
            Some(l) if l.trim_start().starts_with("en") => Language::En,
            _ => Language::Nl,
        };
        match spiegel_render::render_report(app.store.as_ref(), &file.path, &annotations, language)
            .await
        {
            Ok(page) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, report = %id, "rendering failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
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
                    response
                }
                Err(_) => unavailable(),
            },
            // Replaced by a newer release between reading the manifest and the file.
            Err(_) => unavailable(),
        }
    };
    app.metrics.count("report", response)
}

async fn annotate(
    State(app): State<Arc<App>>,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    headers: HeaderMap,
    text: String,
) -> Response {
    let Some(principal) = app.principal(&headers) else {
        return app.metrics.count("annotation", unauthorised());
    };
    let object = format!("mirror.{period}.{gemeente}");
    // Only the provider of an existing mirror report may explain it.
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return refuse(&app, &principal, Action::Annotation, &object, "annotation").await;
    };
    let agb = &agb;
    let path = app.config.data_dir.join(spiegel_render::ANNOTATIONS_FILE);
    let stored = {
        let Ok(_guard) = app.annotations.lock() else {
            return app.metrics.count("annotation", unavailable());
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
    let response = match stored {
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
                (
                    status,
                    axum::Json(serde_json::json!({"error": "invalid_annotation", "message": why})),
                )
                    .into_response()
            } else {
                tracing::error!(error = %why, "the annotation registry cannot be written");
                unavailable()
            }
        }
    };
    app.metrics.count("annotation", response)
}

async fn share(
    State(app): State<Arc<App>>,
    UrlPath((period, gemeente)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(principal) = app.principal(&headers) else {
        return app.metrics.count("share", unauthorised());
    };
    let object = format!("mirror.{period}.{gemeente}");
    let Some(agb) = app.own_mirror(&principal, &period, &gemeente).await else {
        return refuse(&app, &principal, Action::Share, &object, "share").await;
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ShareRequest {
        shared: bool,
    }
    let Ok(ShareRequest { shared }) = serde_json::from_slice(&body) else {
        app.record(&principal, Action::Share, &object, Outcome::Rejected);
        let response = (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({
                "error": "invalid_body",
                "message": "expected {\"shared\": true} or {\"shared\": false} / verwacht \
                            {\"shared\": true} of {\"shared\": false}"
            })),
        )
            .into_response();
        return app.metrics.count("share", response);
    };
    let path = app.config.data_dir.join(SHARING_FILE);
    let stored = match app.sharing.lock() {
        Ok(_guard) => SharingRegistry::load(&path).and_then(|mut registry| {
            registry.set(&agb, &period, &gemeente, shared);
            registry.save(&path)
        }),
        Err(_) => Err(spiegel_publish::PublishError::Malformed(
            "an earlier share panicked".into(),
        )),
    };
    let response = match stored {
        Ok(()) if app.record(&principal, Action::Share, &object, Outcome::Success) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "period": period,
                "municipality": gemeente,
                "shared": shared,
            })),
        )
            .into_response(),
        Ok(()) => unavailable(),
        Err(e) => {
            app.record(&principal, Action::Share, &object, Outcome::Error);
            tracing::error!(error = %e, "the sharing registry cannot be written");
            unavailable()
        }
    };
    app.metrics.count("share", response)
}

/// Not this caller's resource: recorded as denied, answered as if it did not exist.
async fn refuse(
    app: &App,
    principal: &Principal,
    action: Action,
    object: &str,
    route: &'static str,
) -> Response {
    app.record(principal, action, object, Outcome::Denied);
    let response = not_found().await;
    app.metrics.count(route, response)
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({
            "error": "unauthorised",
            "message": "a valid bearer token is required / een geldig bearer-token is nodig"
        })),
    )
        .into_response()
}

/// Spiegel cannot answer right now (a store or log it needs is unavailable); try again.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({
            "error": "unavailable",
            "message": "try again shortly / probeer het zo opnieuw"
        })),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
        .into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let tokens = TokenStore::open(&app.config.data_dir).is_ok();
    let manifest = app.manifest().await.is_some();
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// Requests by route and status, in Prometheus text format.
#[derive(Debug, Default)]
struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    audit_failures: AtomicU64,
}

impl Metrics {
    fn count(&self, route: &'static str, response: Response) -> Response {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((route, response.status().as_u16()))
                .or_default() += 1;
        }
        response
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
        out
    }
}

/// Binds the API and admin listeners, reports their addresses through `bound`, and serves
/// until SIGTERM or SIGINT, finishing the requests in flight.
pub fn run(
    config: ServeConfig,
    listen: std::net::SocketAddr,
    admin_listen: std::net::SocketAddr,
    bound: impl FnOnce(std::net::SocketAddr, std::net::SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = App::open(config)?;
        let api_listener = tokio::net::TcpListener::bind(listen).await?;
        let admin_listener = tokio::net::TcpListener::bind(admin_listen).await?;
        bound(api_listener.local_addr()?, admin_listener.local_addr()?);
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |stop: &tokio::sync::broadcast::Sender<()>| {
            let mut receiver = stop.subscribe();
            async move {
                let _ = receiver.recv().await;
            }
        };
        let api_server =
            axum::serve(api_listener, api(Arc::clone(&app))).with_graceful_shutdown(stopped(&stop));
        let admin_server =
            axum::serve(admin_listener, admin(app)).with_graceful_shutdown(stopped(&stop));
        let signal = async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing the requests in flight");
            let _ = stop.send(());
        };
        let (api_result, admin_result, ()) = tokio::join!(api_server, admin_server, signal);
        api_result?;
        admin_result?;
        Ok(())
    })
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
