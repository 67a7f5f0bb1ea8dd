/// Result alias for this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Errors of the domain types: malformed identifiers that a person typed or a file named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// A period that is not `JJJJ-H1`, `JJJJ-H2` or `JJJJ-Q1`..`JJJJ-Q4`.
    #[error(
        "periode '{0}' is ongeldig; gebruik bijvoorbeeld 2026-H1 of 2026-Q3 / period '{0}' is invalid; use for example 2026-H1 or 2026-Q3"
    )]
    InvalidPeriod(String),
    /// An AGB code that is not 8 digits.
    #[error(
        "AGB-code '{0}' is ongeldig; een AGB-code heeft 8 cijfers / AGB code '{0}' is invalid; an AGB code has 8 digits"
    )]
    InvalidAgb(String),
    /// A municipality code that is not `GM` and four digits.
    #[error(
        "gemeentecode '{0}' is ongeldig; gebruik GM gevolgd door 4 cijfers / municipality code '{0}' is invalid; use GM followed by 4 digits"
    )]
    InvalidGemeenteCode(String),
    /// A report kind that is not `national`, `region`, `municipality` or `mirror`.
    #[error(
        "rapportsoort '{0}' is ongeldig; gebruik national, region, municipality of mirror / report kind '{0}' is invalid; use national, region, municipality or mirror"
    )]
    InvalidReportKind(String),
    /// The embedded reference data could not be read; a build defect, never user input.
    #[error("embedded reference data is corrupt: {0}")]
    Reference(String),
    /// A population table (the embedded one or an operator's) that does not fit the
    /// municipality reference.
    #[error("bevolkingstabel ongeldig: {0} / population table invalid: {0}")]
    Population(String),
}
