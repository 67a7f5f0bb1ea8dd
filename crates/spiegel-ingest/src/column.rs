//! The columns of submission format v1 (docs/submission.md).

use std::fmt;

/// A column of submission format v1. Any other column is refused: no quasi-identifiers or free
/// text can be smuggled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Column {
    Bsn,
    ClientToken,
    Geboortedatum,
    Geslacht,
    Gemeentecode,
    Postcode,
    Verwijzer,
    Hulpvorm,
    GestartMetCrisis,
    DatumAanvang,
    DatumEinde,
    RedenBeeindiging,
    TevredenheidJeugdige,
    TevredenheidOuder,
    ZonderHulpVerderJeugdige,
    ZonderHulpVerderOuder,
    DatumAanmelding,
    GedeclareerdBedrag,
    DoelenBehaald,
    ProblematiekAfgenomen,
    DoelrealisatieInformant,
}

/// The number of columns of format v1.
pub(crate) const COLUMN_COUNT: usize = 21;

impl Column {
    /// Every column, in the order of docs/submission.md (and of files Spiegel writes).
    pub const ALL: [Column; COLUMN_COUNT] = [
        Self::Bsn,
        Self::ClientToken,
        Self::Geboortedatum,
        Self::Geslacht,
        Self::Gemeentecode,
        Self::Postcode,
        Self::Verwijzer,
        Self::Hulpvorm,
        Self::GestartMetCrisis,
        Self::DatumAanvang,
        Self::DatumEinde,
        Self::RedenBeeindiging,
        Self::TevredenheidJeugdige,
        Self::TevredenheidOuder,
        Self::ZonderHulpVerderJeugdige,
        Self::ZonderHulpVerderOuder,
        Self::DatumAanmelding,
        Self::GedeclareerdBedrag,
        Self::DoelenBehaald,
        Self::ProblematiekAfgenomen,
        Self::DoelrealisatieInformant,
    ];

    /// The column name as it appears in a header or JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bsn => "bsn",
            Self::ClientToken => "client_token",
            Self::Geboortedatum => "geboortedatum",
            Self::Geslacht => "geslacht",
            Self::Gemeentecode => "gemeentecode",
            Self::Postcode => "postcode",
            Self::Verwijzer => "verwijzer",
            Self::Hulpvorm => "hulpvorm",
            Self::GestartMetCrisis => "gestart_met_crisis",
            Self::DatumAanvang => "datum_aanvang",
            Self::DatumEinde => "datum_einde",
            Self::RedenBeeindiging => "reden_beeindiging",
            Self::TevredenheidJeugdige => "tevredenheid_jeugdige",
            Self::TevredenheidOuder => "tevredenheid_ouder",
            Self::ZonderHulpVerderJeugdige => "zonder_hulp_verder_jeugdige",
            Self::ZonderHulpVerderOuder => "zonder_hulp_verder_ouder",
            Self::DatumAanmelding => "datum_aanmelding",
            Self::GedeclareerdBedrag => "gedeclareerd_bedrag",
            Self::DoelenBehaald => "doelen_behaald",
            Self::ProblematiekAfgenomen => "problematiek_afgenomen",
            Self::DoelrealisatieInformant => "doelrealisatie_informant",
        }
    }

    /// Finds a column by header name; case and surrounding spaces do not matter.
    pub fn from_name(name: &str) -> Option<Self> {
        // Exact names are the rule (every JSON key of every line comes through here); the
        // lenient comparison serves spreadsheet headers such as " BSN".
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .or_else(|| {
                let name = name.trim();
                Self::ALL
                    .into_iter()
                    .find(|c| c.name().eq_ignore_ascii_case(name))
            })
    }

    /// Whether every row must fill this column (`bsn`/`client_token` are checked as a pair).
    pub fn required(self) -> bool {
        matches!(
            self,
            Self::Geboortedatum
                | Self::Geslacht
                | Self::Gemeentecode
                | Self::Verwijzer
                | Self::Hulpvorm
                | Self::GestartMetCrisis
                | Self::DatumAanvang
        )
    }

    /// Whether a JSON number or a numeric Parquet column is accepted here. Identifiers and codes
    /// must be text so that leading zeros survive.
    pub(crate) fn accepts_number(self) -> bool {
        matches!(
            self,
            Self::TevredenheidJeugdige
                | Self::TevredenheidOuder
                | Self::GedeclareerdBedrag
                | Self::Geboortedatum
                | Self::DatumAanvang
                | Self::DatumEinde
                | Self::DatumAanmelding
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Makes a column name from a file safe to repeat in a receipt: a file without a header row
/// would otherwise have its first data row, BSN included, echoed back as "unknown columns".
pub(crate) fn displayable_name(name: &str, position: usize) -> String {
    repeatable_name(name).unwrap_or_else(|| format!("(kolom/column {position})"))
}

/// A column name from a file as a receipt may repeat it, or `None` when it looks like data.
pub(crate) fn repeatable_name(name: &str) -> Option<String> {
    let mut digit_run = 0usize;
    let mut longest_run = 0usize;
    for c in name.chars() {
        digit_run = if c.is_ascii_digit() { digit_run + 1 } else { 0 };
        longest_run = longest_run.max(digit_run);
    }
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.'));
    (plain && longest_run < 5 && !name.is_empty() && name.len() <= 40)
        .then(|| name.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_order() {
        for (i, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(Column::from_name(c.name()), Some(c));
            assert_eq!(c.index(), i);
        }
        assert_eq!(Column::from_name(" BSN "), Some(Column::Bsn));
        assert_eq!(Column::from_name("naam"), None);
    }

    #[test]
    fn data_looking_names_are_not_echoed() {
        assert_eq!(displayable_name("opmerking", 3), "opmerking");
        assert_eq!(displayable_name("123456782", 1), "(kolom/column 1)");
        assert_eq!(displayable_name("Jan de Vries <x>", 2), "(kolom/column 2)");
    }
}
