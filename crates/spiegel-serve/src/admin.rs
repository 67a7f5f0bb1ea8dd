//! The admin listener: liveness, readiness and the Prometheus metrics of the API (and of the
//! embedded pipeline's stages), on a port of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use object_store::ObjectStore;

use crate::server::App;

/// The admin router: liveness, readiness and Prometheus metrics, on a port of its own.
pub fn admin(app: Arc<App>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// Ready when the state database and the report store can be read. A report store without a
/// release yet is ready: uploads must reach a new deployment for there ever to be one.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let tokens = app.state.credentials_revision().await.is_ok();
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
    pub(crate) requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Uploads by validation outcome (`accepted`, `rejected`).
    pub(crate) submissions: Mutex<BTreeMap<&'static str, u64>>,
    /// Rows of uploads by what became of them (`read`, `accepted`, `merged`, `rejected`).
    pub(crate) records: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) audit_failures: AtomicU64,
    pub(crate) failed_handshakes: Arc<AtomicU64>,
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

    pub(crate) fn count(&self, route: String, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route, status)).or_default() += 1;
        }
    }

    pub(crate) fn render(&self) -> String {
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
