//! Domain types shared by every Spiegel stage.
//!
//! The code lists of the CBS "Beleidsinformatie Jeugd" protocol (BIJ v7) and the iJw mappings,
//! delivery periods, BIJ dates (`JJJJMMDD`), provider AGB codes, age bands and the embedded
//! municipality reference (342 gemeenten of 2026 with their jeugdzorgregio, plus the table of
//! herindelingen that maps retired codes to their successors).
//!
//! Nothing in this crate handles identifiers of children: those live in `spiegel-pseudonymise`.

/// Serialises a type as its `Display` text and deserialises it through `FromStr`, so identifiers
/// travel in JSON exactly as people write them (`GM0363`, `2026-H1`, `01234567`).
macro_rules! serde_as_text {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

mod age;
mod codes;
mod date;
pub mod durable;
mod error;
mod gemeente;
pub mod ipc;
pub mod parallel;
mod period;
mod population;
mod provider;
mod report_kind;
pub mod wire;

pub use age::{AgeBand, age_in_years};
pub use codes::{
    CodeList, DoelenBehaald, DoelrealisatieInformant, Geslacht, GestartMetCrisis, Hulpvorm,
    ProblematiekAfgenomen, RedenBeeindiging, RedenCodelijst, Verwijzer, ZonderHulpVerder,
};
pub use date::{BirthDate, DateError, format_bij, parse_birth_date, parse_date};
pub use error::{CoreError, Result};
pub use gemeente::{
    Gemeente, GemeenteCode, GemeenteError, Herindeling, HerindelingKind, Reference, Resolved,
};
pub use period::Period;
pub use population::{Population, PopulationKind};
pub use provider::Agb;
pub use report_kind::ReportKind;

/// SplitMix64's finaliser: a bijection of 64-bit words that spreads every input bit over the
/// output. Cell keys (SDC-4, docs/release-rules.md) are built and drawn from with it.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_travel_as_their_text() {
        let value = (
            "GM0014".parse::<GemeenteCode>().unwrap(),
            "2026-Q3".parse::<Period>().unwrap(),
            "01234567".parse::<Agb>().unwrap(),
        );
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"["GM0014","2026-Q3","01234567"]"#);
        assert_eq!(
            serde_json::from_str::<(GemeenteCode, Period, Agb)>(&json).unwrap(),
            value
        );
        assert!(serde_json::from_str::<Period>(r#""2026-H3""#).is_err());
    }
}
