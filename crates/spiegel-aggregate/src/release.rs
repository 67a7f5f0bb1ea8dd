//! The messages of a release on the aggregates topic: each master-table part, or for a
//! release without parts one empty message, with the release's schema metadata.

use arrow_array::RecordBatch;

use crate::compute::Part;
use crate::{
    META_BY_REFERENCE, META_PART, META_PART_DIGEST, META_PARTS, META_PERIOD, META_RELEASE,
    META_SUBMISSIONS, META_WATERMARK, Result, table,
};

/// What every message of a release carries in its schema metadata.
pub(crate) struct ReleaseHeader {
    pub(crate) release: String,
    /// [`META_WATERMARK`].
    pub(crate) watermark: String,
    /// [`META_SUBMISSIONS`].
    pub(crate) submissions: String,
}

impl ReleaseHeader {
    /// Part `index` of `parts` as its message: the part's cells (or, sent by reference, its
    /// digest alone) with the release's metadata.
    pub(crate) fn part_message(&self, index: usize, parts: usize, part: &Part) -> Result<Vec<u8>> {
        let mut metadata = if part.by_reference {
            let mut metadata = arrow_schema::Metadata::new();
            metadata.insert(META_BY_REFERENCE.to_owned(), "true".to_owned());
            metadata
        } else {
            spiegel_core::ipc::schema_of(&part.ipc)?.metadata().clone()
        };
        metadata.insert(META_RELEASE.to_owned(), self.release.clone());
        metadata.insert(META_WATERMARK.to_owned(), self.watermark.clone());
        metadata.insert(META_PART.to_owned(), index.to_string());
        metadata.insert(META_PARTS.to_owned(), parts.to_string());
        metadata.insert(META_PERIOD.to_owned(), part.period.to_string());
        metadata.insert(META_PART_DIGEST.to_owned(), part.digest.clone());
        metadata.insert(META_SUBMISSIONS.to_owned(), self.submissions.clone());
        Ok(if part.by_reference {
            // No columns: a publish stage of a version before parts by reference
            // stops on it rather than publish a period without cells.
            let schema = arrow_schema::Schema::empty().with_metadata(metadata);
            spiegel_core::ipc::to_ipc(&RecordBatch::new_empty(std::sync::Arc::new(schema)))?
        } else {
            spiegel_core::ipc::with_metadata(&part.ipc, metadata)?
        })
    }

    /// The one message of a release without parts: the master table's schema, no rows.
    pub(crate) fn empty_message(&self) -> Result<Vec<u8>> {
        let mut metadata = std::collections::HashMap::new();
        metadata.insert(META_RELEASE.to_owned(), self.release.clone());
        metadata.insert(META_WATERMARK.to_owned(), self.watermark.clone());
        metadata.insert(META_PART.to_owned(), "1".to_owned());
        metadata.insert(META_PARTS.to_owned(), "1".to_owned());
        metadata.insert(META_SUBMISSIONS.to_owned(), self.submissions.clone());
        let schema = std::sync::Arc::new(
            table::master_schema()
                .as_ref()
                .clone()
                .with_metadata(metadata),
        );
        Ok(spiegel_core::ipc::to_ipc(&RecordBatch::new_empty(schema))?)
    }
}
