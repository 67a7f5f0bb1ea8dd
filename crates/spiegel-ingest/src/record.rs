//! The records that leave the ingest stage.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use spiegel_core::{
    AgeBand, BirthDate, DoelenBehaald, DoelrealisatieInformant, GemeenteCode, Geslacht,
    GestartMetCrisis, Hulpvorm, ProblematiekAfgenomen, RedenBeeindiging, Verwijzer,
    ZonderHulpVerder,
};
use spiegel_pseudonymise::{ClientToken, Sentinel};

/// Whom a record is about, once stage 1 has run: a linkable token, or one of the BIJ
/// placeholders for an unknown or unborn child, which are never linked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A stage-1 token.
    Token(ClientToken),
    /// `999999999` or `000000000`.
    Unlinkable(Sentinel),
}

/// One trajectory (BIJ §3.3: one child, one hulpvorm), minimised: no birth date, no postcode,
/// no identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trajectory {
    /// Age in whole years at `datum_aanvang`.
    pub age_years: u8,
    /// CBS age band of that age.
    pub age_band: AgeBand,
    /// Sex.
    pub geslacht: Geslacht,
    /// Responsible municipality, on the 2026 boundaries.
    pub gemeente: GemeenteCode,
    /// Referrer.
    pub verwijzer: Verwijzer,
    /// Form of care.
    pub hulpvorm: Hulpvorm,
    /// Started in crisis.
    pub gestart_met_crisis: GestartMetCrisis,
    /// Start.
    pub datum_aanvang: NaiveDate,
    /// End, if it ended within the period.
    pub datum_einde: Option<NaiveDate>,
    /// Why it ended (BIJ codes; JZ588 mapped).
    pub reden_beeindiging: Option<RedenBeeindiging>,
    /// Satisfaction 1..=10 according to the youth.
    pub tevredenheid_jeugdige: Option<u8>,
    /// Satisfaction 1..=10 according to the parent.
    pub tevredenheid_ouder: Option<u8>,
    /// Can continue without help, according to the youth.
    pub zonder_hulp_verder_jeugdige: Option<ZonderHulpVerder>,
    /// Can continue without help, according to the parent.
    pub zonder_hulp_verder_ouder: Option<ZonderHulpVerder>,
    /// Registration date (for waiting times).
    pub datum_aanmelding: Option<NaiveDate>,
    /// Amount declared in the period, in euro cents.
    pub gedeclareerd_bedrag_cent: Option<i64>,
    /// Whether the agreed goals were achieved (NJi 3.4).
    pub doelen_behaald: Option<DoelenBehaald>,
    /// Whether the problems decreased (NJi 3.3).
    pub problematiek_afgenomen: Option<ProblematiekAfgenomen>,
    /// Who judged the two above; set whenever either is.
    pub doelrealisatie_informant: Option<DoelrealisatieInformant>,
}

impl Trajectory {
    /// Folds a second row with the same record key into this one, per BIJ: the latest end
    /// (an open end is latest) and the outcome reported with it; amounts declared add up.
    pub(crate) fn merge(&mut self, later: Trajectory) {
        let later_ends_later = match (self.datum_einde, later.datum_einde) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
        };
        if later_ends_later {
            self.datum_einde = later.datum_einde;
            self.reden_beeindiging = later.reden_beeindiging;
            self.tevredenheid_jeugdige = later.tevredenheid_jeugdige;
            self.tevredenheid_ouder = later.tevredenheid_ouder;
            self.zonder_hulp_verder_jeugdige = later.zonder_hulp_verder_jeugdige;
            self.zonder_hulp_verder_ouder = later.zonder_hulp_verder_ouder;
            self.doelen_behaald = later.doelen_behaald;
            self.problematiek_afgenomen = later.problematiek_afgenomen;
            self.doelrealisatie_informant = later.doelrealisatie_informant;
        }
        self.datum_aanmelding = match (self.datum_aanmelding, later.datum_aanmelding) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.gedeclareerd_bedrag_cent = match (
            self.gedeclareerd_bedrag_cent,
            later.gedeclareerd_bedrag_cent,
        ) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A validated row before minimisation, as `spiegel prepare` needs it to write a submission
/// again (with `client_token` in place of `bsn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    /// Whom it is about.
    pub subject: Subject,
    /// Birth date as delivered (kept only until the record is minimised).
    pub geboortedatum: BirthDate,
    /// The trajectory.
    pub trajectory: Trajectory,
}

impl ValidRecord {
    /// The record as submission format v1 text, one value per [`crate::Column::ALL`] entry:
    /// `client_token` in place of `bsn` (placeholders stay in `bsn`), no postcode, codes as
    /// BIJ codes and municipalities on current boundaries. This is what `spiegel prepare`
    /// writes, and it validates to the same record again.
    pub fn to_v1(&self) -> Vec<Option<String>> {
        use spiegel_core::{CodeList, format_bij};
        let t = &self.trajectory;
        let (bsn, token) = match &self.subject {
            Subject::Token(token) => (None, Some(token.to_wire())),
            Subject::Unlinkable(Sentinel::Unknown) => (Some("999999999".to_owned()), None),
            Subject::Unlinkable(Sentinel::Unborn) => (Some("000000000".to_owned()), None),
        };
        let code = |c: &dyn Fn() -> &'static str| Some(c().to_owned());
        vec![
            bsn,
            token,
            Some(self.geboortedatum.to_bij()),
            code(&|| t.geslacht.code()),
            Some(t.gemeente.to_string()),
            None,
            code(&|| t.verwijzer.code()),
            code(&|| t.hulpvorm.code()),
            code(&|| t.gestart_met_crisis.code()),
            Some(format_bij(t.datum_aanvang)),
            t.datum_einde.map(format_bij),
            t.reden_beeindiging.map(|r| r.code().to_owned()),
            t.tevredenheid_jeugdige.map(|s| s.to_string()),
            t.tevredenheid_ouder.map(|s| s.to_string()),
            t.zonder_hulp_verder_jeugdige.map(|z| z.code().to_owned()),
            t.zonder_hulp_verder_ouder.map(|z| z.code().to_owned()),
            t.datum_aanmelding.map(format_bij),
            t.gedeclareerd_bedrag_cent
                .map(|c| format!("{}.{:02}", c / 100, c % 100)),
            t.doelen_behaald.map(|d| d.code().to_owned()),
            t.problematiek_afgenomen.map(|p| p.code().to_owned()),
            t.doelrealisatie_informant.map(|i| i.code().to_owned()),
        ]
    }

    /// Drops what must not pass the ingest stage (docs/pseudonymisation.md data minimisation).
    pub fn minimise(self) -> NormalisedRecord {
        NormalisedRecord {
            subject: self.subject,
            trajectory: self.trajectory,
        }
    }
}

/// The normalised record: what the ingest stage hands on, whatever the input encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedRecord {
    /// Whom it is about.
    pub subject: Subject,
    /// The minimised trajectory.
    pub trajectory: Trajectory,
}

fn field(name: &str, data_type: DataType, nullable: bool, description: &str) -> Field {
    Field::new(name, data_type, nullable).with_metadata(
        [("description".to_owned(), description.to_owned())]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    )
}

/// The Arrow schema of the normalised record, as the ingest stage hands records on.
/// `schemas/normalised-record.arrow.json` is this schema, kept in step by a test.
pub fn normalised_schema() -> Arc<Schema> {
    use spiegel_core::wire::submission_column as column;
    let code = || DataType::Utf8;
    Arc::new(Schema::new(vec![
        field(
            column::PROVIDER,
            DataType::Utf8,
            false,
            "AGB code of the provider (8 digits)",
        ),
        field(
            column::PERIOD,
            DataType::Utf8,
            false,
            "delivery period, e.g. 2026-H1",
        ),
        field(
            column::SUBJECT_KIND,
            DataType::Utf8,
            false,
            "token | unknown (BSN 999999999) | unborn (BSN 000000000); only tokens are linked",
        ),
        field(
            column::CLIENT_TOKEN,
            DataType::Utf8,
            true,
            "labelled stage-1 token ct.<ttp>.<version>.<mac>; null unless subject_kind = token",
        ),
        field(
            column::AGE_YEARS,
            DataType::UInt8,
            false,
            "age in whole years at datum_aanvang",
        ),
        field(
            column::AGE_BAND,
            code(),
            false,
            "CBS age band: 0-3, 4-11, 12-17, 18-22",
        ),
        field(column::GESLACHT, code(), false, "M, V, O"),
        field(
            column::GEMEENTECODE,
            code(),
            false,
            "responsible municipality on the 2026 boundaries, GMxxxx",
        ),
        field(column::VERWIJZER, code(), false, "BIJ verwijzer code"),
        field(column::HULPVORM, code(), false, "BIJ hulpvorm code"),
        field(column::GESTART_MET_CRISIS, code(), false, "01 ja, 02 nee"),
        field(
            column::DATUM_AANVANG,
            DataType::Date32,
            false,
            "start of the trajectory",
        ),
        field(
            column::DATUM_EINDE,
            DataType::Date32,
            true,
            "end, if it ended within the period",
        ),
        field(
            column::REDEN_BEEINDIGING,
            code(),
            true,
            "BIJ reason code 01..05 (JZ588 mapped)",
        ),
        field(
            column::TEVREDENHEID_JEUGDIGE,
            DataType::UInt8,
            true,
            "1..10, youth",
        ),
        field(
            column::TEVREDENHEID_OUDER,
            DataType::UInt8,
            true,
            "1..10, parent",
        ),
        field(
            column::ZONDER_HULP_VERDER_JEUGDIGE,
            code(),
            true,
            "01..04, youth",
        ),
        field(
            column::ZONDER_HULP_VERDER_OUDER,
            code(),
            true,
            "01..04, parent",
        ),
        field(
            column::DATUM_AANMELDING,
            DataType::Date32,
            true,
            "registration date",
        ),
        field(
            column::GEDECLAREERD_BEDRAG,
            DataType::Decimal128(14, 2),
            true,
            "euros declared for the trajectory in the period",
        ),
        field(
            column::DOELEN_BEHAALD,
            code(),
            true,
            "01 volledig, 02 gedeeltelijk, 03 niet behaald (NJi 3.4)",
        ),
        field(
            column::PROBLEMATIEK_AFGENOMEN,
            code(),
            true,
            "01 ja, 02 nee (NJi 3.3)",
        ),
        field(
            column::DOELREALISATIE_INFORMANT,
            code(),
            true,
            "01 jeugdige, 02 ouder, 03 samen, 04 met jeugdprofessional",
        ),
    ]))
}

/// The Arrow schema a provider writes a Parquet submission with: every column text, so that
/// leading zeros of BSNs and codes survive. Satisfaction scores, dates and the amount may also
/// be numeric.
pub fn submission_schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        crate::Column::ALL
            .into_iter()
            .map(|c| Field::new(c.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}
