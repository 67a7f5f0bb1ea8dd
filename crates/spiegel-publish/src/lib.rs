//! The publish stage (docs/reports.md, docs/release-rules.md): turns the master table of a release
//! into reports. It applies the non-benchmarking release rules and statistical disclosure control,
//! writes one Parquet file per report (kind, period, recipient and, for a mirror report,
//! municipality) in the tidy layout to the object store, and a manifest listing them with their
//! digests. The same release, sharing registry and configuration always give byte-identical
//! files.
//!
//! Each report is named by a release id of its own, derived from its published figures, so
//! a release writes only the reports whose figures changed; the others stay where the release
//! before left them. A master-table part whose digest ([`spiegel_aggregate::META_PART_DIGEST`])
//! equals one of the last release, published with the same sharing and thresholds, is not
//! even decoded: its reports and their audit are the ones published then. Within a part that
//! did change, a report whose own cells digest the same as in the last release
//! ([`FileAudit::input`]) is taken the same way: a correction reaches a few reports of a
//! period, and only those go through the release rules again. A part the aggregate stage
//! sends by reference (its digest alone) is taken from the parts this stage holds; when it
//! holds none of that digest, it asks the aggregate stage for the release in full
//! ([`spiegel_aggregate::FullRelease`]) and publishes once that has come.

mod audit;
mod config;
mod error;
mod local;
mod location;
mod report;
mod rules;
mod s3;
mod sharing;
mod stage;
mod state;

pub use config::PublishConfig;
pub use error::{PublishError, Result};
pub use local::LocalReportStore;
pub use location::{LocationError, ReportLocation};
pub use report::{
    Change, FEED_PREFIX, FeedChange, FeedEvent, FileAudit, MANIFEST, Manifest, ManifestFile,
    REPORT_SCHEMA_VERSION, feed_object, read_manifest, region_slug, report_schema,
};
pub use rules::counts_rounded;
pub use sharing::{
    LEDGER_FILE, SHARING_FILE, Share, ShareState, Sharing, SharingLedger, SharingRegistry,
    ledger_path,
};
pub use stage::{GROUP, Progress, PublishStage, STAGE};
