//! Serving (docs/serving.md): who may see what, and a record of who saw what. This crate holds what
//! every route of the HTTP API relies on: the [`Principal`] a request acts as, bearer tokens
//! that stand for one principal each ([`TokenStore`]: 256 random bits, shown once, stored
//! only as SHA-256 hashes, compared in constant time), and the hash-chained, append-only audit
//! log ([`AuditLog`], [`verify`]) in the NEN 7513 style.

mod admin;
mod api_error;
mod auth;
mod certificates;
mod connections;
mod credentials;
mod error;
mod feed;
mod mirror;
mod openapi;
mod reports;
mod run;
mod server;
mod stage_admin;
mod state;
mod submissions;
mod tls;
mod tokens;
mod webhooks;

pub use admin::admin;
// The audit chain and the principals it names live in `spiegel-audit`, so that the pipeline can
// record without the HTTP stack; re-exported so that every route keeps its imports.
pub use certificates::{CertificateInfo, CertificateRegistry, CertificateSubject, SubjectRef};
pub use connections::ConnectionLimits;
pub use error::{Result, ServeError};
pub use openapi::{API_ROUTES, openapi, to_yaml};
pub use reports::{may_read, report_id};
pub use run::run;
pub use server::{App, SHARING_FILE, ServeConfig, UploadConfig, api};
pub use spiegel_audit::{
    AUDIT_CHECKPOINTS_DIR, AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE, Action, Actor, AuditKey,
    AuditLog, AuditOptions, AuditRecord, Broken, Checkpoint, CheckpointSink, DirectorySink, Entry,
    Outcome, Principal, VerifyReport, now, verify, verify_with,
};
pub use spiegel_state::{Database, DatabaseUrl};
pub use stage_admin::{StageHealth, serve_stage_admin};
pub use state::{json_state_not_moved, open_state};
pub use submissions::Intake;
pub use tls::TlsConfig;
pub use tokens::{IssuedToken, TokenInfo, TokenStore};
pub use webhooks::{WEBHOOKS_FILE, WebhookConfig, WebhookTargets};
