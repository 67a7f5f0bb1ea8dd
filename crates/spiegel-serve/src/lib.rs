//! Serving (docs/serving.md): who may see what, and a record of who saw what. This crate holds what
//! every route of the HTTP API relies on: the [`Principal`] a request acts as, bearer tokens
//! that stand for one principal each ([`TokenStore`]: 256 random bits, shown once, stored
//! only as SHA-256 hashes, compared in constant time), and the hash-chained, append-only audit
//! log ([`AuditLog`], [`verify`]) in the NEN 7513 style.

mod audit;
mod certificates;
mod connections;
mod error;
mod feed;
mod mirror;
mod openapi;
mod principal;
mod reports;
mod server;
mod stage_admin;
mod stamp;
mod submissions;
mod tls;
mod tokens;
mod webhooks;

pub use audit::{
    AUDIT_CHECKPOINTS_DIR, AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE, Action, Actor, AuditKey,
    AuditLog, AuditOptions, AuditRecord, Broken, Checkpoint, CheckpointSink, DirectorySink, Entry,
    Outcome, VerifyReport, verify, verify_with,
};
pub use certificates::{
    CLIENT_CERTIFICATES_FILE, CertificateInfo, CertificateRegistry, CertificateSubject, SubjectRef,
};
pub use connections::ConnectionLimits;
pub use error::{Result, ServeError};
pub use openapi::{API_ROUTES, openapi, to_yaml};
pub use principal::Principal;
pub use reports::{may_read, report_id};
pub use server::{App, SHARING_FILE, ServeConfig, UploadConfig, admin, api, run};
pub use stage_admin::{StageHealth, serve_stage_admin};
pub use submissions::Intake;
pub use tls::TlsConfig;
pub use tokens::{IssuedToken, TOKENS_FILE, TokenInfo, TokenStore};
pub use webhooks::{WEBHOOKS_FILE, WebhookConfig, WebhookTargets};

/// The current time as the audit log and the token store write it (RFC 3339, UTC, seconds).
pub fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
