//! Domain types shared by every Spiegel stage.
//!
//! The code lists of the CBS "Beleidsinformatie Jeugd" protocol (BIJ v7) and the iJw mappings,
//! delivery periods, BIJ dates (`JJJJMMDD`), provider AGB codes, age bands and the embedded
//! municipality reference (342 gemeenten of 2026 with their jeugdzorgregio, plus the table of
//! herindelingen that maps retired codes to their successors).
//!
//! Nothing in this crate handles identifiers of children: those live in `spiegel-pseudonymise`.

mod age;
mod codes;
mod date;
mod error;
mod gemeente;
mod period;
mod provider;

pub use age::{AgeBand, age_in_years};
pub use codes::{
    CodeList, Geslacht, GestartMetCrisis, Hulpvorm, RedenBeeindiging, RedenCodelijst, Verwijzer,
    ZonderHulpVerder,
};
pub use date::{BirthDate, DateError, format_bij, parse_birth_date, parse_date};
pub use error::{CoreError, Result};
pub use gemeente::{
    Gemeente, GemeenteCode, GemeenteError, Herindeling, HerindelingKind, Reference, Resolved,
};
pub use period::Period;
pub use provider::Agb;
