//! Every finding about a submission, with a stable code and a message in Dutch and English.
//!
//! Messages name the line, the column and what is expected; they never repeat the value that
//! was delivered, so a BSN typed into the wrong column cannot leak into a receipt.

use chrono::NaiveDate;
use serde::ser::SerializeStruct;
use spiegel_core::{
    CodeList, DoelenBehaald, DoelrealisatieInformant, GemeenteCode, Geslacht, GestartMetCrisis,
    Hulpvorm, ProblematiekAfgenomen, RedenCodelijst, Verwijzer, ZonderHulpVerder,
};

use crate::Column;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information; nothing to do.
    Info,
    /// The row was accepted, possibly after a repair; check the source.
    Warning,
    /// The row (or, at file level, the submission) was rejected.
    Error,
}

/// What was found. Parameters are never values from the file.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum IssueKind {
    // Row errors.
    RequiredMissing,
    IdentityMissing,
    IdentityBoth,
    BsnNotDigits,
    BsnLength,
    BsnElfproef,
    TokenMalformed,
    TokenOtherTtp,
    TokenVersion(u32),
    DateInvalid,
    BirthAfterStart,
    AgeOutOfRange,
    CodeInvalid,
    GemeenteFormat,
    GemeenteUnknown,
    GemeenteMerged {
        successor: GemeenteCode,
        since: NaiveDate,
    },
    GemeenteSplit {
        since: NaiveDate,
    },
    StartAfterPeriod,
    EndBeforeStart,
    EndBeforePeriod,
    EndAfterPeriod,
    ReasonMissing,
    ReasonWithoutEnd,
    ReasonInvalid(RedenCodelijst),
    SatisfactionRange,
    OutcomeWithoutEnd,
    InformantMissing,
    RegistrationAfterStart,
    AmountFormat,
    FieldTooLong {
        max: usize,
    },
    UnknownColumn(String),
    RowShape {
        expected: usize,
        found: usize,
    },
    JsonSyntax,
    JsonType,
    Encoding,
    // Row warnings and notes.
    BsnLeadingZeroRestored,
    GemeenteLeadingZeroRestored,
    GemeenteMapped {
        from: GemeenteCode,
        to: GemeenteCode,
    },
    ReasonJz588Mapped,
    RecordMerged {
        with_line: u64,
    },
    // File level.
    FileTooLarge {
        max: u64,
    },
    TooManyRows {
        max: u64,
    },
    RecordTooLong {
        max: usize,
    },
    HeaderMissing,
    /// Every problem of the column names at once, so one correction fixes them all.
    HeaderInvalid(Vec<HeaderProblem>),
    ParquetInvalid,
    ParquetColumnType(Column),
    TooManyRejectedRows {
        rejected: u64,
        rows: u64,
        max_share: f64,
    },
    EmptySubmission,
    /// A file offered as a submission whose name does not say whose it is, for which period
    /// or in which encoding; it was not read.
    FileNameInvalid(FileNameProblem),
}

/// What is wrong with the name of a file offered as a submission
/// (`<AGB>_<PERIOD>.<csv|jsonl|parquet>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileNameProblem {
    /// No extension, or one that names no encoding.
    Extension,
    /// No `_` between the AGB code and the period.
    Separator,
    /// The part before the `_` is not an AGB code.
    Provider,
    /// The part after the `_` is not a period.
    Period,
}

impl FileNameProblem {
    /// What to change, in Dutch and English.
    pub fn messages(self) -> (&'static str, &'static str) {
        match self {
            Self::Extension => (
                "de extensie moet .csv, .jsonl of .parquet zijn",
                "the extension must be .csv, .jsonl or .parquet",
            ),
            Self::Separator => (
                "tussen de AGB-code en de periode hoort een '_'",
                "an '_' belongs between the AGB code and the period",
            ),
            Self::Provider => (
                "het deel voor de '_' moet de AGB-code van de aanbieder zijn: 8 cijfers",
                "the part before the '_' must be the provider's AGB code: 8 digits",
            ),
            Self::Period => (
                "het deel na de '_' moet een periode zijn: JJJJ-H1 of JJJJ-H2 (halfjaar), JJJJ-Q1 tot en met JJJJ-Q4 (kwartaal)",
                "the part after the '_' must be a period: YYYY-H1 or YYYY-H2 (half-year), YYYY-Q1 to YYYY-Q4 (quarter)",
            ),
        }
    }
}

fn expected_codes(column: Option<Column>) -> String {
    match column {
        Some(Column::Geslacht) => Geslacht::codes_joined(),
        Some(Column::Verwijzer) => Verwijzer::codes_joined(),
        Some(Column::Hulpvorm) => Hulpvorm::codes_joined(),
        Some(Column::GestartMetCrisis) => GestartMetCrisis::codes_joined(),
        Some(Column::ZonderHulpVerderJeugdige | Column::ZonderHulpVerderOuder) => {
            ZonderHulpVerder::codes_joined()
        }
        Some(Column::DoelenBehaald) => DoelenBehaald::codes_joined(),
        Some(Column::ProblematiekAfgenomen) => ProblematiekAfgenomen::codes_joined(),
        Some(Column::DoelrealisatieInformant) => DoelrealisatieInformant::codes_joined(),
        _ => String::new(),
    }
}

impl IssueKind {
    /// The stable code, for machines and for support.
    pub fn code(&self) -> &'static str {
        use IssueKind::*;
        match self {
            RequiredMissing => "REQUIRED_MISSING",
            IdentityMissing => "IDENTITY_MISSING",
            IdentityBoth => "IDENTITY_BOTH",
            BsnNotDigits => "BSN_NOT_DIGITS",
            BsnLength => "BSN_LENGTH",
            BsnElfproef => "BSN_ELFPROEF",
            TokenMalformed => "TOKEN_MALFORMED",
            TokenOtherTtp => "TOKEN_OTHER_TTP",
            TokenVersion(_) => "TOKEN_VERSION",
            DateInvalid => "DATE_INVALID",
            BirthAfterStart => "BIRTH_AFTER_START",
            AgeOutOfRange => "AGE_OUT_OF_RANGE",
            CodeInvalid => "CODE_INVALID",
            GemeenteFormat => "GEMEENTE_FORMAT",
            GemeenteUnknown => "GEMEENTE_UNKNOWN",
            GemeenteMerged { .. } => "GEMEENTE_MERGED",
            GemeenteSplit { .. } => "GEMEENTE_SPLIT",
            StartAfterPeriod => "START_AFTER_PERIOD",
            EndBeforeStart => "END_BEFORE_START",
            EndBeforePeriod => "END_BEFORE_PERIOD",
            EndAfterPeriod => "END_AFTER_PERIOD",
            ReasonMissing => "REASON_MISSING",
            ReasonWithoutEnd => "REASON_WITHOUT_END",
            ReasonInvalid(_) => "REASON_INVALID",
            SatisfactionRange => "SATISFACTION_RANGE",
            OutcomeWithoutEnd => "OUTCOME_WITHOUT_END",
            InformantMissing => "INFORMANT_MISSING",
            RegistrationAfterStart => "REGISTRATION_AFTER_START",
            AmountFormat => "AMOUNT_FORMAT",
            FieldTooLong { .. } => "FIELD_TOO_LONG",
            UnknownColumn(_) => "UNKNOWN_COLUMN",
            RowShape { .. } => "ROW_SHAPE",
            JsonSyntax => "JSON_SYNTAX",
            JsonType => "JSON_TYPE",
            Encoding => "ENCODING",
            BsnLeadingZeroRestored => "BSN_LEADING_ZERO_RESTORED",
            GemeenteLeadingZeroRestored => "GEMEENTE_LEADING_ZERO_RESTORED",
            GemeenteMapped { .. } => "GEMEENTE_MAPPED",
            ReasonJz588Mapped => "REASON_JZ588_MAPPED",
            RecordMerged { .. } => "RECORD_MERGED",
            FileTooLarge { .. } => "FILE_TOO_LARGE",
            TooManyRows { .. } => "TOO_MANY_ROWS",
            RecordTooLong { .. } => "RECORD_TOO_LONG",
            HeaderMissing => "HEADER_MISSING",
            HeaderInvalid(_) => "HEADER_INVALID",
            ParquetInvalid => "PARQUET_INVALID",
            ParquetColumnType(_) => "PARQUET_COLUMN_TYPE",
            TooManyRejectedRows { .. } => "TOO_MANY_REJECTED_ROWS",
            EmptySubmission => "EMPTY_SUBMISSION",
            FileNameInvalid(_) => "FILE_NAME_INVALID",
        }
    }

    /// How serious it is.
    pub fn severity(&self) -> Severity {
        use IssueKind::*;
        match self {
            BsnLeadingZeroRestored | GemeenteLeadingZeroRestored | EmptySubmission => {
                Severity::Warning
            }
            GemeenteMapped { .. } | ReasonJz588Mapped | RecordMerged { .. } => Severity::Info,
            _ => Severity::Error,
        }
    }

    /// Dutch and English message; `column` is the column the finding is about.
    pub fn messages(&self, column: Option<Column>) -> (String, String) {
        use IssueKind::*;
        let col = column.map(Column::name).unwrap_or("-");
        match self {
            RequiredMissing => (
                format!("verplicht veld '{col}' is leeg"),
                format!("required field '{col}' is empty"),
            ),
            IdentityMissing => (
                "vul 'bsn' of 'client_token' in (onbekend BSN: 999999999, ongeboren: 000000000)".into(),
                "fill in 'bsn' or 'client_token' (unknown BSN: 999999999, unborn: 000000000)".into(),
            ),
            IdentityBoth => (
                "vul 'bsn' of 'client_token' in, niet allebei".into(),
                "fill in 'bsn' or 'client_token', not both".into(),
            ),
            BsnNotDigits => (
                "BSN mag alleen de cijfers 0-9 bevatten".into(),
                "BSN may contain only the digits 0-9".into(),
            ),
            BsnLength => (
                "BSN moet 9 cijfers hebben".into(),
                "BSN must have 9 digits".into(),
            ),
            BsnElfproef => (
                "BSN voldoet niet aan de elfproef; controleer het nummer in de bronadministratie".into(),
                "BSN fails the 11-proef check; verify the number in the source records".into(),
            ),
            TokenMalformed => (
                "client_token is geen geldig token van 'spiegel prepare'".into(),
                "client_token is not a valid token made by 'spiegel prepare'".into(),
            ),
            TokenOtherTtp => (
                "client_token is gemaakt met een sleutel van een andere TTP".into(),
                "client_token was made with another TTP's key".into(),
            ),
            TokenVersion(v) => (
                format!("client_token is gemaakt met sleutelversie {v}, die niet (meer) geldig is; maak het bestand opnieuw met de actuele sleutel"),
                format!("client_token was made with key version {v}, which is not (or no longer) valid; prepare the file again with the current key"),
            ),
            DateInvalid => (
                format!("'{col}' is geen geldige datum in de vorm JJJJMMDD"),
                format!("'{col}' is not a valid date of the form JJJJMMDD (YYYYMMDD)"),
            ),
            BirthAfterStart => (
                "geboortedatum ligt na datum_aanvang".into(),
                "geboortedatum (birth date) lies after datum_aanvang (start)".into(),
            ),
            AgeOutOfRange => (
                "de jeugdige is bij datum_aanvang 23 jaar of ouder; dat valt buiten de Jeugdwet".into(),
                "the youth is 23 or older at datum_aanvang, outside the Youth Act".into(),
            ),
            CodeInvalid => (
                format!("'{col}' is geen geldige code; geldig: {}", expected_codes(column)),
                format!("'{col}' is not a valid code; valid: {}", expected_codes(column)),
            ),
            GemeenteFormat => (
                "gemeentecode moet GM gevolgd door 4 cijfers zijn (bijv. GM0363)".into(),
                "gemeentecode must be GM followed by 4 digits (e.g. GM0363)".into(),
            ),
            GemeenteUnknown => (
                "gemeentecode komt niet voor in de CBS-gemeentelijst".into(),
                "gemeentecode is not in the CBS list of municipalities".into(),
            ),
            GemeenteMerged { successor, since } => (
                format!("deze gemeente is per {since} opgegaan in {successor}; gebruik {successor} voor trajecten die daarna begonnen"),
                format!("this municipality merged into {successor} on {since}; use {successor} for trajectories that began later"),
            ),
            GemeenteSplit { since } => (
                format!("deze gemeente is per {since} opgeheven en verdeeld; gebruik de code van de huidige woongemeente"),
                format!("this municipality was divided on {since}; use the code of the current municipality of residence"),
            ),
            StartAfterPeriod => (
                "datum_aanvang ligt na het einde van de periode".into(),
                "datum_aanvang (start) lies after the end of the period".into(),
            ),
            EndBeforeStart => (
                "datum_einde ligt voor datum_aanvang".into(),
                "datum_einde (end) lies before datum_aanvang (start)".into(),
            ),
            EndBeforePeriod => (
                "datum_einde ligt voor het begin van de periode; dit traject hoort niet in deze levering".into(),
                "datum_einde (end) lies before the start of the period; this trajectory does not belong in this delivery".into(),
            ),
            EndAfterPeriod => (
                "datum_einde ligt na het einde van de periode; laat het veld leeg als het traject toen nog liep".into(),
                "datum_einde (end) lies after the end of the period; leave it empty if the trajectory was still running then".into(),
            ),
            ReasonMissing => (
                "reden_beeindiging is verplicht als datum_einde is ingevuld".into(),
                "reden_beeindiging is required when datum_einde is filled in".into(),
            ),
            ReasonWithoutEnd => (
                "reden_beeindiging is ingevuld maar datum_einde niet".into(),
                "reden_beeindiging is filled in but datum_einde is not".into(),
            ),
            ReasonInvalid(list) => (
                format!("reden_beeindiging is geen geldige code; geldig: {}", list.accepted_codes()),
                format!("reden_beeindiging is not a valid code; valid: {}", list.accepted_codes()),
            ),
            SatisfactionRange => (
                format!("'{col}' moet een geheel getal van 1 tot en met 10 zijn"),
                format!("'{col}' must be a whole number from 1 to 10"),
            ),
            OutcomeWithoutEnd => (
                format!("'{col}' wordt gemeten bij het einde van het traject, maar datum_einde is leeg"),
                format!("'{col}' is measured when the trajectory ends, but datum_einde is empty"),
            ),
            InformantMissing => (
                "doelrealisatie_informant is verplicht als doelen_behaald of problematiek_afgenomen is ingevuld (01 jeugdige, 02 ouder/verzorger, 03 jeugdige en ouder samen, 04 jeugdprofessional samen met jeugdige/ouder)".into(),
                "doelrealisatie_informant is required when doelen_behaald or problematiek_afgenomen is filled in (01 youth, 02 parent/carer, 03 youth and parent together, 04 youth-care professional together with youth/parent)".into(),
            ),
            RegistrationAfterStart => (
                "datum_aanmelding ligt na datum_aanvang".into(),
                "datum_aanmelding (registration) lies after datum_aanvang (start)".into(),
            ),
            AmountFormat => (
                "gedeclareerd_bedrag moet een positief bedrag in euro's zijn met hoogstens 2 decimalen (bijv. 1234,50)".into(),
                "gedeclareerd_bedrag must be a non-negative amount in euros with at most 2 decimals (e.g. 1234.50)".into(),
            ),
            FieldTooLong { max } => (
                format!("'{col}' is langer dan {max} tekens; vrije tekst wordt niet geaccepteerd"),
                format!("'{col}' is longer than {max} characters; free text is not accepted"),
            ),
            UnknownColumn(name) => (
                format!("onbekend veld '{name}'; alleen de velden van formaat v1 zijn toegestaan"),
                format!("unknown field '{name}'; only the fields of format v1 are allowed"),
            ),
            RowShape { expected, found } => (
                format!("de regel heeft {found} velden, de kopregel {expected}"),
                format!("the line has {found} fields, the header {expected}"),
            ),
            JsonSyntax => (
                "de regel is geen geldig JSON-object".into(),
                "the line is not a valid JSON object".into(),
            ),
            JsonType => (
                format!("'{col}' moet tekst zijn (tussen aanhalingstekens), zodat voorloopnullen behouden blijven"),
                format!("'{col}' must be text (quoted), so that leading zeros are kept"),
            ),
            Encoding => (
                format!("'{col}' is geen geldige UTF-8-tekst; sla het bestand op als UTF-8"),
                format!("'{col}' is not valid UTF-8; save the file as UTF-8"),
            ),
            BsnLeadingZeroRestored => (
                "BSN had 8 cijfers; de voorloopnul is hersteld. Sla het BSN als tekst op in het rekenblad".into(),
                "BSN had 8 digits; the leading zero was restored. Store the BSN as text in the spreadsheet".into(),
            ),
            GemeenteLeadingZeroRestored => (
                "gemeentecode had minder dan 4 cijfers; voorloopnullen zijn hersteld".into(),
                "gemeentecode had fewer than 4 digits; leading zeros were restored".into(),
            ),
            GemeenteMapped { from, to } => (
                format!("{from} is door herindeling {to} geworden; als {to} verwerkt"),
                format!("{from} became {to} by municipal reorganisation; processed as {to}"),
            ),
            ReasonJz588Mapped => (
                "reden_beeindiging was een iJw JZ588-code en is omgezet naar de BIJ-code".into(),
                "reden_beeindiging was an iJw JZ588 code and was mapped to the BIJ code".into(),
            ),
            RecordMerged { with_line } => (
                format!("zelfde jeugdige, datum_aanvang en hulpvorm als regel {with_line}; samengevoegd (vroegste aanvang, laatste einde)"),
                format!("same youth, datum_aanvang and hulpvorm as line {with_line}; merged (earliest start, latest end)"),
            ),
            FileTooLarge { max } => (
                format!("het bestand is groter dan {max} bytes en is niet verwerkt"),
                format!("the file is larger than {max} bytes and was not processed"),
            ),
            TooManyRows { max } => (
                format!("het bestand heeft meer dan {max} regels en is niet verwerkt"),
                format!("the file has more than {max} rows and was not processed"),
            ),
            RecordTooLong { max } => (
                format!("een regel is langer dan {max} bytes; het bestand is niet verwerkt (staat er een ongesloten aanhalingsteken in?)"),
                format!("a record is longer than {max} bytes; the file was not processed (is there an unclosed quote?)"),
            ),
            HeaderMissing => (
                "de eerste regel moet de kolomnamen bevatten (bsn, geboortedatum, ...)".into(),
                "the first line must hold the column names (bsn, geboortedatum, ...)".into(),
            ),
            HeaderInvalid(problems) => (
                format!(
                    "de kolomnamen kloppen niet ({} {}, hieronder); herstel ze alle in één keer en lever het bestand opnieuw aan",
                    problems.len(),
                    if problems.len() == 1 { "probleem" } else { "problemen" }
                ),
                format!(
                    "the column names are wrong ({} {}, listed below); correct them all at once and submit the file again",
                    problems.len(),
                    if problems.len() == 1 { "problem" } else { "problems" }
                ),
            ),
            ParquetInvalid => (
                "het bestand is geen leesbaar Parquet-bestand".into(),
                "the file is not a readable Parquet file".into(),
            ),
            ParquetColumnType(c) => (
                format!("kolom '{c}' heeft een type dat niet past; codes en nummers moeten tekst (string) zijn"),
                format!("column '{c}' has an unsuitable type; codes and numbers must be text (string)"),
            ),
            TooManyRejectedRows { rejected, rows, max_share } => (
                format!("{rejected} van {rows} regels zijn afgekeurd; dat is niet minder dan {}%. De hele levering is afgewezen; herstel de regels en lever opnieuw", max_share * 100.0),
                format!("{rejected} of {rows} rows were rejected, not less than {}%. The whole submission was rejected; correct the rows and submit again", max_share * 100.0),
            ),
            EmptySubmission => (
                "de levering bevat geen trajecten; alle eerder geleverde trajecten voor deze periode vervallen".into(),
                "the submission holds no trajectories; everything delivered earlier for this period is withdrawn".into(),
            ),
            FileNameInvalid(problem) => {
                let (nl, en) = problem.messages();
                (
                    format!("het bestand is niet gelezen: de naam moet de vorm <AGB>_<PERIODE>.<csv|jsonl|parquet> hebben, bijv. 12345678_2026-H1.csv, en {nl}. Hernoem het bestand en lever het opnieuw aan"),
                    format!("the file was not read: its name must look like <AGB>_<PERIOD>.<csv|jsonl|parquet>, e.g. 12345678_2026-H1.csv, and {en}. Rename the file and submit it again"),
                )
            }
        }
    }
}

/// One problem with the column names of a submission (a CSV header, a Parquet schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A column that format v1 does not have. `name` is absent when the name looks like data
    /// (a file without a header row), so a BSN is never repeated.
    Unknown {
        /// 1-based position of the column.
        position: usize,
        /// The name as delivered, when it is safe to repeat.
        name: Option<String>,
    },
    /// A column named more than once.
    Duplicate(Column),
    /// A column every row must fill is absent.
    RequiredMissing(Column),
    /// Neither `bsn` nor `client_token` is present.
    IdentityMissing,
}

impl HeaderProblem {
    /// The stable code of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "HEADER_UNKNOWN_COLUMN",
            Self::Duplicate(_) => "HEADER_DUPLICATE_COLUMN",
            Self::RequiredMissing(_) => "HEADER_REQUIRED_MISSING",
            Self::IdentityMissing => "HEADER_IDENTITY_MISSING",
        }
    }

    /// The column concerned, by its name in format v1 or as delivered.
    pub fn column(&self) -> Option<String> {
        match self {
            Self::Unknown { name, .. } => name.clone(),
            Self::Duplicate(column) | Self::RequiredMissing(column) => {
                Some(column.name().to_owned())
            }
            Self::IdentityMissing => None,
        }
    }

    /// What is wrong and what to do about it, in Dutch and English.
    pub fn messages(&self) -> (String, String) {
        match self {
            Self::Unknown {
                position,
                name: Some(name),
            } => (
                format!("kolom {position} '{name}' hoort niet bij formaat v1: hernoem hem naar de bedoelde kolom of verwijder hem"),
                format!("column {position} '{name}' is not part of format v1: rename it to the column you mean, or remove it"),
            ),
            Self::Unknown { position, name: None } => (
                format!("kolom {position} heeft geen naam van formaat v1 (staat de kopregel bovenaan?): geef hem de bedoelde naam of verwijder hem"),
                format!("column {position} has no name of format v1 (is the header the first line?): give it the name you mean, or remove it"),
            ),
            Self::Duplicate(column) => (
                format!("kolom '{column}' komt meer dan één keer voor: houd er één over"),
                format!("column '{column}' appears more than once: keep one of them"),
            ),
            Self::RequiredMissing(column) => (
                format!("verplichte kolom '{column}' ontbreekt: voeg hem toe en vul hem op elke regel"),
                format!("required column '{column}' is missing: add it and fill it on every row"),
            ),
            Self::IdentityMissing => (
                "kolom 'bsn' of 'client_token' ontbreekt: voeg er één toe (client_token na 'spiegel prepare')".into(),
                "column 'bsn' or 'client_token' is missing: add one of them (client_token after 'spiegel prepare')".into(),
            ),
        }
    }
}

impl serde::Serialize for HeaderProblem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (nl, en) = self.messages();
        let mut s = serializer.serialize_struct("HeaderProblem", 4)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("column", &self.column())?;
        s.serialize_field("message_nl", &nl)?;
        s.serialize_field("message_en", &en)?;
        s.end()
    }
}

/// A finding about one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// 1-based line in the file (CSV, JSON Lines) or row number (Parquet).
    pub line: u64,
    /// The column concerned, if one.
    pub column: Option<Column>,
    /// What was found.
    pub kind: IssueKind,
}

impl serde::Serialize for Issue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (nl, en) = self.kind.messages(self.column);
        let mut s = serializer.serialize_struct("Issue", 6)?;
        s.serialize_field("line", &self.line)?;
        s.serialize_field("column", &self.column.map(Column::name))?;
        s.serialize_field("code", self.kind.code())?;
        s.serialize_field("severity", &self.kind.severity())?;
        s.serialize_field("message_nl", &nl)?;
        s.serialize_field("message_en", &en)?;
        s.end()
    }
}

/// A finding about the submission as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct FileIssue {
    /// What was found.
    pub kind: IssueKind,
}

impl serde::Serialize for FileIssue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (nl, en) = self.kind.messages(None);
        let mut s = serializer.serialize_struct("FileIssue", 5)?;
        s.serialize_field("code", self.kind.code())?;
        s.serialize_field("severity", &self.kind.severity())?;
        s.serialize_field("message_nl", &nl)?;
        s.serialize_field("message_en", &en)?;
        match &self.kind {
            IssueKind::HeaderInvalid(problems) => s.serialize_field("problems", problems)?,
            _ => s.skip_field("problems")?,
        }
        s.end()
    }
}
