use spiegel_core::RedenCodelijst;

/// Resource limits, enforced while reading so that nothing is buffered past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest submission accepted, in bytes (as uploaded, after any decompression).
    pub max_bytes: u64,
    /// Most data rows in one submission.
    pub max_rows: u64,
    /// Longest value of a single field, in bytes. Free text is never accepted, so this is small.
    pub max_field_bytes: usize,
    /// Longest single record (a CSV record or a JSON line), in bytes; bounds what is buffered.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_rows: 5_000_000,
            max_field_bytes: 128,
            max_record_bytes: 16 * 1024,
        }
    }
}

/// Configuration of submission validation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Resource limits.
    pub limits: Limits,
    /// A submission whose share of rejected rows reaches this fraction is rejected whole.
    pub max_rejected_share: f64,
    /// How many issues of one code a receipt lists; further ones are counted only (the receipt
    /// gives every code's total). A file of junk rows must not turn into a receipt, a response
    /// and server memory many times its own size, and the first hundred of a code show the
    /// provider what to fix.
    pub max_listed_per_code: usize,
    /// How many issues a receipt lists in all, whatever their codes: with about fifty codes
    /// the per-code bound alone would still allow a receipt of megabytes.
    pub max_listed: usize,
    /// The code list of `reden_beeindiging`.
    pub reden_codelijst: RedenCodelijst,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_rejected_share: 0.05,
            max_listed_per_code: 100,
            max_listed: 1_000,
            reden_codelijst: RedenCodelijst::Bij,
        }
    }
}
