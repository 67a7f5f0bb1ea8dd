//! The municipality reference: the 342 gemeenten of 2026 with province and jeugdzorgregio,
//! and the herindelingen that retired older codes.
//!
//! Both tables are embedded from `schemas/reference/` so that every stage, on any machine,
//! validates against the same boundaries (SDC-5: one set of municipality boundaries).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::NaiveDate;

use crate::CoreError;

const GEMEENTEN_CSV: &str = include_str!("../../../schemas/reference/gemeenten-2026.csv");
const HERINDELINGEN_CSV: &str = include_str!("../../../schemas/reference/herindelingen.csv");

/// A CBS municipality code, `GM` followed by four digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GemeenteCode(u16);

impl GemeenteCode {
    /// The four-digit number of the code.
    pub fn number(self) -> u16 {
        self.0
    }

    /// Parses `GM0014`, `gm0014` or the bare `0014`. Also returns whether leading zeros had to
    /// be restored, as spreadsheet software drops them from a bare number (`14`).
    pub fn parse_lenient(s: &str) -> Result<(Self, bool), CoreError> {
        let invalid = || CoreError::InvalidGemeenteCode(s.chars().take(8).collect());
        let digits = match s.as_bytes() {
            [b'G' | b'g', b'M' | b'm', rest @ ..] if rest.len() == 4 => rest,
            [b'G' | b'g', b'M' | b'm', ..] => return Err(invalid()),
            bare => bare,
        };
        if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let number = digits
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        if number == 0 {
            return Err(invalid());
        }
        Ok((Self(number), digits.len() < 4))
    }
}

impl FromStr for GemeenteCode {
    type Err = CoreError;

    /// Strict form: `GM` and four digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [b'G', b'M', rest @ ..] if rest.len() == 4 => Self::parse_lenient(s).map(|(c, _)| c),
            _ => Err(CoreError::InvalidGemeenteCode(s.chars().take(8).collect())),
        }
    }
}

impl fmt::Display for GemeenteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GM{:04}", self.0)
    }
}

impl fmt::Debug for GemeenteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

serde_as_text!(GemeenteCode);

/// A current municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gemeente {
    /// CBS code.
    pub code: GemeenteCode,
    /// Official name.
    pub naam: String,
    /// Province.
    pub provincie: String,
    /// The jeugdzorgregio the municipality buys youth care in.
    pub regio: String,
}

/// What happened to a retired municipality code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HerindelingKind {
    /// Merged whole into the successor.
    Samenvoeging,
    /// Divided over several municipalities; no single successor.
    Splitsing,
}

/// A retired municipality code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Herindeling {
    /// The retired code.
    pub oude_code: GemeenteCode,
    /// The retired name.
    pub oude_naam: String,
    /// The successor, for a merger.
    pub nieuwe_code: Option<GemeenteCode>,
    /// First day on which the old code no longer existed.
    pub datum_ingang: NaiveDate,
    /// Merger or split.
    pub soort: HerindelingKind,
}

/// A municipality code resolved to the 2026 boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The current code.
    pub code: GemeenteCode,
    /// The retired code that was delivered, when it was mapped.
    pub mapped_from: Option<GemeenteCode>,
}

/// Why a municipality code does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GemeenteError {
    /// Neither a current nor a known retired code.
    #[error("unknown municipality code")]
    Unknown,
    /// A retired code used for a trajectory that started after the code was retired.
    #[error("municipality was merged into {successor} on {since}")]
    Opgeheven {
        /// The code to use instead.
        successor: GemeenteCode,
        /// When the old code was retired.
        since: NaiveDate,
    },
    /// A municipality that was divided over several others.
    #[error("municipality {naam} was divided on {since}")]
    Gesplitst {
        /// The retired name.
        naam: String,
        /// When it was divided.
        since: NaiveDate,
    },
}

/// The embedded municipality reference.
#[derive(Debug)]
pub struct Reference {
    gemeenten: Vec<Gemeente>,
    /// Position in `gemeenten` plus one, by code number; 0 where there is none. A table of
    /// 10,000 slots answers the per-row lookup without hashing.
    by_number: Vec<u16>,
    herindelingen: HashMap<u16, Herindeling>,
    regions: Vec<String>,
}

impl Reference {
    /// The reference embedded in this build.
    pub fn embedded() -> &'static Reference {
        static REFERENCE: OnceLock<Reference> = OnceLock::new();
        REFERENCE.get_or_init(|| {
            // The embedded tables are checked by this crate's tests; a failure here is a
            // defect of the build itself, not of anything a user supplied.
            #[allow(clippy::expect_used)]
            Reference::parse(GEMEENTEN_CSV, HERINDELINGEN_CSV)
                .expect("embedded municipality reference is valid")
        })
    }

    fn parse(gemeenten_csv: &str, herindelingen_csv: &str) -> Result<Self, CoreError> {
        let bad = |what: String| CoreError::Reference(what);
        let mut gemeenten = Vec::new();
        let mut reader = csv::Reader::from_reader(gemeenten_csv.as_bytes());
        for row in reader.records() {
            let row = row.map_err(|e| bad(e.to_string()))?;
            let field = |i: usize| row.get(i).unwrap_or_default().to_owned();
            gemeenten.push(Gemeente {
                code: field(0).parse()?,
                naam: field(1),
                provincie: field(2),
                regio: field(3),
            });
        }
        gemeenten.sort_by_key(|g| g.code);
        let mut by_number = vec![0u16; 10_000];
        for (i, g) in gemeenten.iter().enumerate() {
            let slot = &mut by_number[usize::from(g.code.number())];
            if *slot != 0 {
                return Err(bad("duplicate municipality code".into()));
            }
            *slot = i as u16 + 1;
        }
        let mut regions: Vec<String> = gemeenten.iter().map(|g| g.regio.clone()).collect();
        regions.sort();
        regions.dedup();

        let mut herindelingen = HashMap::new();
        let mut reader = csv::Reader::from_reader(herindelingen_csv.as_bytes());
        for row in reader.records() {
            let row = row.map_err(|e| bad(e.to_string()))?;
            let field = |i: usize| row.get(i).unwrap_or_default();
            let oude_code: GemeenteCode = field(0).parse()?;
            let nieuwe_code = match field(2) {
                "" => None,
                code => Some(code.parse::<GemeenteCode>()?),
            };
            let soort = match field(4) {
                "samenvoeging" => HerindelingKind::Samenvoeging,
                "splitsing" => HerindelingKind::Splitsing,
                other => return Err(bad(format!("unknown herindeling kind {other}"))),
            };
            if (soort == HerindelingKind::Samenvoeging) != nieuwe_code.is_some() {
                return Err(bad(format!(
                    "{oude_code}: a merger needs exactly one successor"
                )));
            }
            let current = |code: GemeenteCode| by_number[usize::from(code.number())] != 0;
            if let Some(successor) = nieuwe_code
                && !current(successor)
            {
                return Err(bad(format!(
                    "{oude_code}: successor {successor} is not current"
                )));
            }
            if current(oude_code) {
                return Err(bad(format!("{oude_code} is retired and current at once")));
            }
            let datum_ingang = NaiveDate::parse_from_str(field(3), "%Y-%m-%d")
                .map_err(|e| bad(format!("{oude_code}: {e}")))?;
            let previous = herindelingen.insert(
                oude_code.number(),
                Herindeling {
                    oude_code,
                    oude_naam: field(1).to_owned(),
                    nieuwe_code,
                    datum_ingang,
                    soort,
                },
            );
            if previous.is_some() {
                return Err(bad(format!("{oude_code} listed twice")));
            }
        }
        Ok(Self {
            gemeenten,
            by_number,
            herindelingen,
            regions,
        })
    }

    /// Every current municipality, by code.
    pub fn gemeenten(&self) -> &[Gemeente] {
        &self.gemeenten
    }

    /// A current municipality.
    pub fn gemeente(&self, code: GemeenteCode) -> Option<&Gemeente> {
        match self.by_number[usize::from(code.number())] {
            0 => None,
            i => self.gemeenten.get(usize::from(i) - 1),
        }
    }

    /// The jeugdzorgregio's, sorted by name.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// A retired code, if it is one.
    pub fn herindeling(&self, code: GemeenteCode) -> Option<&Herindeling> {
        self.herindelingen.get(&code.number())
    }

    /// Resolves a delivered code for a trajectory that started on `start` to the current
    /// boundaries.
    ///
    /// A current code is accepted for any start date: a municipality formed by a merger is
    /// the legal successor responsible for trajectories that began in its predecessors. A
    /// retired code is accepted for trajectories that began before it was retired and mapped to
    /// its successor; for later ones it is an error that names the code to use.
    pub fn resolve(&self, code: GemeenteCode, start: NaiveDate) -> Result<Resolved, GemeenteError> {
        if self.gemeente(code).is_some() {
            return Ok(Resolved {
                code,
                mapped_from: None,
            });
        }
        let retired = self.herindeling(code).ok_or(GemeenteError::Unknown)?;
        match retired.nieuwe_code {
            None => Err(GemeenteError::Gesplitst {
                naam: retired.oude_naam.clone(),
                since: retired.datum_ingang,
            }),
            Some(successor) if start >= retired.datum_ingang => Err(GemeenteError::Opgeheven {
                successor,
                since: retired.datum_ingang,
            }),
            Some(successor) => Ok(Resolved {
                code: successor,
                mapped_from: Some(code),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn code(s: &str) -> GemeenteCode {
        s.parse().unwrap()
    }

    #[test]
    fn embedded_reference_has_342_gemeenten_in_42_regions() {
        let r = Reference::embedded();
        assert_eq!(r.gemeenten().len(), 342);
        assert_eq!(r.regions().len(), 42);
        assert_eq!(r.gemeente(code("GM0014")).unwrap().naam, "Groningen");
    }

    #[test]
    fn reference_file_is_the_pinned_2026_list() {
        // The repository's copy is the source of truth (schemas/README.md says where it comes
        // from). A change to it must be deliberate: it moves municipalities between regions and
        // so every report, hence the pinned digest, to be updated together with this test.
        let digest = ring::digest::digest(&ring::digest::SHA256, GEMEENTEN_CSV.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex, "db59eb2e03e0708d75d92b8c4c4850261dafd9360896837028066b45825f1fbb",
            "schemas/reference/gemeenten-2026.csv changed"
        );

        let mut reader = csv::Reader::from_reader(GEMEENTEN_CSV.as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec![
                "gemeentecode",
                "gemeentenaam",
                "provincie",
                "jeugdzorgregio"
            ]
        );
        let mut codes = std::collections::BTreeSet::new();
        let mut regions = std::collections::BTreeSet::new();
        for row in reader.records() {
            let row = row.unwrap();
            assert_eq!(row.len(), 4, "{row:?}");
            assert_eq!(code(&row[0]).to_string(), &row[0], "{row:?}");
            assert!(
                codes.insert(row[0].to_string()),
                "duplicate code {}",
                &row[0]
            );
            assert!(!row[1].is_empty() && !row[3].is_empty(), "{row:?}");
            regions.insert(row[3].to_string());
        }
        assert_eq!(codes.len(), 342);
        assert_eq!(regions.len(), 42);
    }

    #[test]
    fn named_mergers_map_to_their_successor() {
        let r = Reference::embedded();
        let before = d(2021, 6, 1);
        for (old, new) in [
            ("GM0457", "GM0363"), // Weesp -> Amsterdam
            ("GM0756", "GM1982"), // Boxmeer -> Land van Cuijk
            ("GM1684", "GM1982"), // Cuijk
            ("GM0786", "GM1982"), // Grave
            ("GM0815", "GM1982"), // Mill en Sint Hubert
            ("GM1702", "GM1982"), // Sint Anthonis
            ("GM1685", "GM1991"), // Landerd -> Maashorst
            ("GM0856", "GM1991"), // Uden
            ("GM0398", "GM1980"), // Heerhugowaard -> Dijk en Waard
            ("GM0416", "GM1980"), // Langedijk
            ("GM0501", "GM1992"), // Brielle -> Voorne aan Zee
            ("GM0530", "GM1992"), // Hellevoetsluis
            ("GM0614", "GM1992"), // Westvoorne
        ] {
            assert_eq!(
                r.resolve(code(old), before),
                Ok(Resolved {
                    code: code(new),
                    mapped_from: Some(code(old))
                }),
                "{old}"
            );
        }
    }

    #[test]
    fn retired_code_after_retirement_names_the_successor() {
        let r = Reference::embedded();
        // Weesp joined Amsterdam on 24 March 2022, not on 1 January.
        assert!(r.resolve(code("GM0457"), d(2022, 3, 23)).is_ok());
        assert_eq!(
            r.resolve(code("GM0457"), d(2022, 3, 24)),
            Err(GemeenteError::Opgeheven {
                successor: code("GM0363"),
                since: d(2022, 3, 24)
            })
        );
        assert!(matches!(
            r.resolve(code("GM0788"), d(2020, 1, 1)),
            Err(GemeenteError::Gesplitst { .. })
        ));
        assert_eq!(
            r.resolve(code("GM9999"), d(2020, 1, 1)),
            Err(GemeenteError::Unknown)
        );
        // A merged municipality's own code is valid for trajectories begun in a predecessor.
        assert!(r.resolve(code("GM1982"), d(2020, 1, 1)).is_ok());
    }

    #[test]
    fn lenient_parsing() {
        assert_eq!(
            GemeenteCode::parse_lenient("GM0014"),
            Ok((code("GM0014"), false))
        );
        assert_eq!(
            GemeenteCode::parse_lenient("gm0014"),
            Ok((code("GM0014"), false))
        );
        assert_eq!(
            GemeenteCode::parse_lenient("0014"),
            Ok((code("GM0014"), false))
        );
        assert_eq!(
            GemeenteCode::parse_lenient("14"),
            Ok((code("GM0014"), true))
        );
        for bad in ["GM14", "GM00140", "G0014", "00140", "", "0000", "GM-014"] {
            assert!(GemeenteCode::parse_lenient(bad).is_err(), "{bad}");
        }
    }
}
