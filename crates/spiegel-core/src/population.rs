//! Inhabitants per municipality: the denominator of the published rates (youths in care per
//! 1,000) and the weight with which `spiegel generate` places its synthetic children.
//!
//! The embedded table is `schemas/reference/bevolking-2026.csv` (total population, as a proxy
//! for the young inhabitants that CBS's rates use); an operator may supply a newer table, or one
//! that counts 0–22-year-olds, with the same shape. Which of the two a table counts is told by
//! the name of its third column, so a page never calls a rate per inhabitant a rate per youth.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{CoreError, GemeenteCode, Reference};

const BEVOLKING_CSV: &str = include_str!("../../../schemas/reference/bevolking-2026.csv");

/// What a population table counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopulationKind {
    /// Every inhabitant (column `inwoners`): the documented proxy.
    Inwoners,
    /// Inhabitants aged 0 up to and including 22 (column `jeugdigen_0_22`), the age range of
    /// youth care.
    Jeugdigen,
}

/// Inhabitants of every current municipality.
#[derive(Debug, Clone)]
pub struct Population {
    kind: PopulationKind,
    by_code: HashMap<GemeenteCode, u64>,
}

impl Population {
    /// The table embedded in this build.
    pub fn embedded() -> &'static Population {
        static POPULATION: OnceLock<Population> = OnceLock::new();
        POPULATION.get_or_init(|| {
            // The embedded table is checked by this crate's tests against the embedded
            // municipality reference; a failure here is a defect of the build.
            #[allow(clippy::expect_used)]
            Population::parse(BEVOLKING_CSV).expect("embedded population table is valid")
        })
    }

    /// Reads a table of the shape `gemeentecode,gemeentenaam,inwoners|jeugdigen_0_22`, lines
    /// starting with `#` being comments. Every current municipality must have exactly one
    /// positive count and no other code may appear: a rate with a missing or stale denominator
    /// would be wrong without anyone noticing.
    pub fn parse(csv_text: &str) -> Result<Self, CoreError> {
        let bad = |what: String| CoreError::Population(what);
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(csv_text.as_bytes());
        let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
        let kind = match (headers.get(0), headers.get(2)) {
            (Some("gemeentecode"), Some("inwoners")) => PopulationKind::Inwoners,
            (Some("gemeentecode"), Some("jeugdigen_0_22")) => PopulationKind::Jeugdigen,
            _ => {
                return Err(bad(
                    "the header must be gemeentecode,gemeentenaam,inwoners (or jeugdigen_0_22)"
                        .into(),
                ));
            }
        };
        let reference = Reference::embedded();
        let mut by_code = HashMap::new();
        for (line, row) in reader.records().enumerate() {
            let row = row.map_err(|e| bad(e.to_string()))?;
            let code: GemeenteCode = row.get(0).unwrap_or_default().trim().parse()?;
            if reference.gemeente(code).is_none() {
                return Err(bad(format!("{code} is not a current municipality")));
            }
            let count: u64 = row
                .get(2)
                .unwrap_or_default()
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    bad(format!(
                        "row {}: the count is not a positive number",
                        line + 1
                    ))
                })?;
            if by_code.insert(code, count).is_some() {
                return Err(bad(format!("{code} is listed twice")));
            }
        }
        if let Some(missing) = reference
            .gemeenten()
            .iter()
            .find(|g| !by_code.contains_key(&g.code))
        {
            return Err(bad(format!("{} has no count", missing.code)));
        }
        Ok(Self { kind, by_code })
    }

    /// What the table counts.
    pub fn kind(&self) -> PopulationKind {
        self.kind
    }

    /// The inhabitants of a current municipality.
    pub fn gemeente(&self, code: GemeenteCode) -> Option<u64> {
        self.by_code.get(&code).copied()
    }

    /// The inhabitants of a jeugdzorgregio, the sum over its municipalities.
    pub fn region(&self, regio: &str) -> Option<u64> {
        let members: Vec<u64> = Reference::embedded()
            .gemeenten()
            .iter()
            .filter(|g| g.regio == regio)
            .filter_map(|g| self.gemeente(g.code))
            .collect();
        (!members.is_empty()).then(|| members.iter().sum())
    }

    /// The inhabitants of the Netherlands.
    pub fn national(&self) -> u64 {
        self.by_code.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_covers_every_municipality_with_a_plausible_total() {
        let population = Population::embedded();
        assert_eq!(population.kind(), PopulationKind::Inwoners);
        // CBS counted 18.0 million inhabitants on 1 January 2025; a table far from it is not
        // the one documented in schemas/README.md.
        let total = population.national();
        assert!((17_900_000..18_300_000).contains(&total), "{total}");
        let amsterdam: GemeenteCode = "GM0363".parse().unwrap();
        let schiermonnikoog: GemeenteCode = "GM0088".parse().unwrap();
        assert!(population.gemeente(amsterdam).unwrap() > 900_000);
        assert!(population.gemeente(schiermonnikoog).unwrap() < 1_500);
        let regions = Reference::embedded().regions();
        let by_region: u64 = regions.iter().filter_map(|r| population.region(r)).sum();
        assert_eq!(by_region, total);
    }

    #[test]
    fn a_table_missing_a_municipality_or_naming_a_retired_one_is_refused() {
        let full = BEVOLKING_CSV;
        let without_first: String = full
            .lines()
            .filter(|l| !l.starts_with("GM0014,"))
            .map(|l| format!("{l}\n"))
            .collect();
        let error = Population::parse(&without_first).unwrap_err().to_string();
        assert!(error.contains("GM0014"), "{error}");
        let retired = format!("{full}GM0457,Weesp,17000\n");
        let error = Population::parse(&retired).unwrap_err().to_string();
        assert!(error.contains("GM0457"), "{error}");
        let youths = full.replace(
            "gemeentecode,gemeentenaam,inwoners",
            "gemeentecode,gemeentenaam,jeugdigen_0_22",
        );
        assert_eq!(
            Population::parse(&youths).unwrap().kind(),
            PopulationKind::Jeugdigen
        );
    }
}
