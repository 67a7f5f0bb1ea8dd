//! The messages between stages: every schema-metadata key ("header") and column name a stage
//! writes on a topic and another reads, each defined once, with who writes and who reads it.
//!
//! The stages pass Arrow IPC streams (see [`crate::ipc`]); what identifies a message rides in
//! its schema metadata under the `spiegel.*` keys below. The keys are the contract between
//! stages: renaming one is a change of the message format, so it happens here and nowhere
//! else.
//!
//! | topic | written by | read by | keys |
//! |---|---|---|---|
//! | submissions | ingest | pseudonymise | [`META_PROVIDER`], [`META_PERIOD`], [`META_SUBMISSION`]; columns [`submission_column`] |
//! | pseudonymised | pseudonymise | aggregate | those of submissions, [`META_KEY_VERSION`], [`META_SOURCE`], [`META_RECORD_KEYS`]; columns [`submission_column`] |
//! | aggregates | aggregate | publish | [`META_RELEASE`], [`META_WATERMARK`], [`META_PART`], [`META_PARTS`], [`META_PERIOD`], [`META_PART_DIGEST`], [`META_SUBMISSIONS`], [`META_BY_REFERENCE`]; columns [`master_column`] |
//! | published reports (Parquet) | publish | readers of the reports | [`META_SCHEMA_VERSION`], [`META_RELEASE`] |

// Submissions, as ingest sends them; the pseudonymise stage passes these keys on unchanged.

/// Schema metadata key: the provider's AGB code. Written by ingest on the submissions topic,
/// passed on by pseudonymise, read by aggregate.
pub const META_PROVIDER: &str = "spiegel.provider";
/// Schema metadata key: the delivery period. Written by ingest on the submissions topic (passed
/// on by pseudonymise, read by aggregate), and by aggregate on each master-table part of the
/// aggregates topic (the period of that part, read by publish).
pub const META_PERIOD: &str = "spiegel.period";
/// Schema metadata key: the SHA-256 of the submitted file, which identifies the submission.
/// Written by ingest, passed on by pseudonymise (which logs it), read by aggregate.
pub const META_SUBMISSION: &str = "spiegel.submission";

// Pseudonymised submissions, as the pseudonymise stage stamps them.

/// Schema metadata key: the K2 version of the batch's pseudonyms. Written by pseudonymise on
/// the pseudonymised topic, read by aggregate.
pub const META_KEY_VERSION: &str = "spiegel.key_version";
/// Schema metadata key: where the submission was read, `<partition>:<offset>` of the
/// submissions topic. A provider's submissions share a partition, so a higher offset is a later
/// submission. Written by pseudonymise, read by aggregate.
pub const META_SOURCE: &str = "spiegel.source";
/// Schema metadata key: SHA-256 (hex) of the record keys in row order, which with the
/// submission id identifies everything a release computes from the batch, under any K2 version.
/// Written by pseudonymise, read by aggregate.
pub const META_RECORD_KEYS: &str = "spiegel.record_keys";

// Master-table parts, as the aggregate stage sends them on the aggregates topic.

/// Schema metadata key: the release a master-table part belongs to. Written by aggregate, read
/// by publish; publish also writes it into every published report file.
pub const META_RELEASE: &str = "spiegel.release";
/// Schema metadata key: how many changelog messages the state a release was computed from
/// holds. Written by aggregate, read by publish (which ignores a release older than the one it
/// published last).
pub const META_WATERMARK: &str = "spiegel.watermark";
/// Schema metadata key: this part's number, from 1. Written by aggregate, read by publish.
pub const META_PART: &str = "spiegel.part";
/// Schema metadata key: how many parts the release has. Written by aggregate, read by publish.
pub const META_PARTS: &str = "spiegel.parts";
/// Schema metadata key: what identifies everything this part is computed from; a part of
/// the same digest in another release is the same part. Written by aggregate, read by publish.
pub const META_PART_DIGEST: &str = "spiegel.part_digest";
/// Schema metadata key: the submissions a release was computed from, as a JSON object from
/// `<AGB>_<PERIOD>` to the content digest of the submission in force. Written by aggregate,
/// read by publish.
pub const META_SUBMISSIONS: &str = "spiegel.submissions";
/// Schema metadata key, present (`true`) on a part sent by reference: a message without
/// columns or rows naming by [`META_PART_DIGEST`] a part the release before carried in full.
/// Written by aggregate, read by publish.
pub const META_BY_REFERENCE: &str = "spiegel.by_reference";

// Published reports.

/// Key-value metadata key of a published report file: the report schema version. Written by
/// publish, read by whoever reads the reports (docs/reports.md).
pub const META_SCHEMA_VERSION: &str = "spiegel.schema_version";

/// Column names of the master table: written by aggregate on the aggregates topic, read by
/// publish (docs/release-rules.md, SDC-5).
pub mod master_column {
    /// Delivery period.
    pub const PERIOD: &str = "period";
    /// mirror | municipality | region | national.
    pub const REPORT_KIND: &str = "report_kind";
    /// `GMxxxx`, for mirror and municipality cells.
    pub const MUNICIPALITY_CODE: &str = "municipality_code";
    /// Jeugdzorgregio, for mirror, municipality and region cells.
    pub const REGION: &str = "region";
    /// AGB code, for mirror cells only.
    pub const PROVIDER_ID: &str = "provider_id";
    /// Indicator code.
    pub const INDICATOR: &str = "indicator";
    /// Breakdown.
    pub const DIMENSION: &str = "dimension";
    /// Category of the breakdown.
    pub const CATEGORY: &str = "category";
    /// Exact numerator count.
    pub const NUMERATOR: &str = "numerator";
    /// Cell key of the numerator's units.
    pub const NUMERATOR_KEY: &str = "numerator_key";
    /// Exact denominator count.
    pub const DENOMINATOR: &str = "denominator";
    /// Cell key of the denominator's units.
    pub const DENOMINATOR_KEY: &str = "denominator_key";
    /// Exact value.
    pub const VALUE: &str = "value";
    /// Whether the figure may still change as periods are delivered.
    pub const PROVISIONAL: &str = "provisional";
    /// Providers contributing to the cell's population (aggregate scopes).
    pub const CONTRIBUTORS: &str = "contributors";
    /// Units each of them contributes, in the same order.
    pub const CONTRIBUTOR_UNITS: &str = "contributor_units";
}

/// Column names of a submission batch: written by ingest on the submissions topic (the
/// normalised schema, `spiegel_ingest::normalised_schema`), rewritten by pseudonymise on the
/// pseudonymised topic ([`CLIENT_TOKEN`](submission_column::CLIENT_TOKEN) becomes
/// [`PSEUDONYM`](submission_column::PSEUDONYM) and
/// [`RECORD_KEY`](submission_column::RECORD_KEY)), read by aggregate.
pub mod submission_column {
    /// AGB code of the provider.
    pub const PROVIDER: &str = "provider";
    /// Delivery period.
    pub const PERIOD: &str = "period";
    /// `token`, `unknown` or `unborn`: only tokens are linked.
    pub const SUBJECT_KIND: &str = "subject_kind";
    /// Labelled stage-1 token; written by ingest, replaced by pseudonymise with [`PSEUDONYM`] and [`RECORD_KEY`].
    pub const CLIENT_TOKEN: &str = "client_token";
    /// Age in whole years at `datum_aanvang`.
    pub const AGE_YEARS: &str = "age_years";
    /// CBS age band.
    pub const AGE_BAND: &str = "age_band";
    /// BIJ geslacht code.
    pub const GESLACHT: &str = "geslacht";
    /// Responsible municipality, `GMxxxx`.
    pub const GEMEENTECODE: &str = "gemeentecode";
    /// BIJ verwijzer code.
    pub const VERWIJZER: &str = "verwijzer";
    /// BIJ hulpvorm code.
    pub const HULPVORM: &str = "hulpvorm";
    /// BIJ gestart_met_crisis code.
    pub const GESTART_MET_CRISIS: &str = "gestart_met_crisis";
    /// Start date.
    pub const DATUM_AANVANG: &str = "datum_aanvang";
    /// End date.
    pub const DATUM_EINDE: &str = "datum_einde";
    /// BIJ reden_beeindiging code.
    pub const REDEN_BEEINDIGING: &str = "reden_beeindiging";
    /// Satisfaction score of the youth.
    pub const TEVREDENHEID_JEUGDIGE: &str = "tevredenheid_jeugdige";
    /// Satisfaction score of the parent.
    pub const TEVREDENHEID_OUDER: &str = "tevredenheid_ouder";
    /// Continue-without-help answer of the youth.
    pub const ZONDER_HULP_VERDER_JEUGDIGE: &str = "zonder_hulp_verder_jeugdige";
    /// Continue-without-help answer of the parent.
    pub const ZONDER_HULP_VERDER_OUDER: &str = "zonder_hulp_verder_ouder";
    /// Registration date.
    pub const DATUM_AANMELDING: &str = "datum_aanmelding";
    /// Declared amount in euro.
    pub const GEDECLAREERD_BEDRAG: &str = "gedeclareerd_bedrag";
    /// BIJ doelen_behaald code.
    pub const DOELEN_BEHAALD: &str = "doelen_behaald";
    /// BIJ problematiek_afgenomen code.
    pub const PROBLEMATIEK_AFGENOMEN: &str = "problematiek_afgenomen";
    /// BIJ doelrealisatie_informant code.
    pub const DOELREALISATIE_INFORMANT: &str = "doelrealisatie_informant";
    /// Labelled stage-2 pseudonym; written by pseudonymise in place of [`CLIENT_TOKEN`], read by aggregate.
    pub const PSEUDONYM: &str = "pseudonym";
    /// The child's record key for cell keys (SDC-4); written by pseudonymise, read by aggregate.
    pub const RECORD_KEY: &str = "record_key";
}
