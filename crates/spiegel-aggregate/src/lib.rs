//! The aggregate stage (docs/linkage.md, docs/indicators.md): keeps the latest complete submission
//! per (provider, period), links children across providers and periods by their pseudonyms, and
//! computes every indicator cell for the scopes mirror (a provider in a gemeente), gemeente,
//! jeugdzorgregio and national, with the breakdowns of [`indicators::INDICATORS`].
//!
//! Its output is the master table of a release: exact cells with what the publish stage needs
//! to apply the release rules, never published as such. The table is a pure function of the
//! stored submissions and the configuration, so replaying a message changes nothing.
//!
//! The computation is [`master_table`]; the stage around it, with its state, its instances,
//! parts by reference and key rotation, is [`AggregateStage`] (see the `stage` module).

mod cells;
mod compute;
mod error;
pub mod indicators;
mod link;
mod model;
mod release;
mod stage;
mod store;
pub mod table;

pub use compute::{AggregateConfig, METHOD_VERSION, PseudonymLabel, master_table};
pub use error::{AggregateError, Result};
// The schema metadata keys of a master-table part on the aggregates topic, defined with
// every other key between stages in `spiegel_core::wire`.
pub use spiegel_core::wire::{
    META_BY_REFERENCE, META_PART, META_PART_DIGEST, META_PARTS, META_PERIOD, META_RELEASE,
    META_SUBMISSIONS, META_WATERMARK,
};
pub use stage::{
    AggregateStage, FullRelease, GROUP, Progress, RELEASES_KEY, STAGE, request_group, state_dir,
    state_group,
};
