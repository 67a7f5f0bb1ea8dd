//! Pseudonymised submissions decoded into compact trajectories.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int16Type, UInt8Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use spiegel_core::wire::{self, submission_column};
use spiegel_core::{Agb, AgeBand, CodeList, GemeenteCode, Geslacht, Hulpvorm, Period, Reference};
use spiegel_core::{DoelenBehaald, ProblematiekAfgenomen, RedenBeeindiging, Verwijzer};
use spiegel_core::{DoelrealisatieInformant, ZonderHulpVerder};
use spiegel_pseudonymise::{LinkKey, TtpId};

use crate::AggregateError;

/// Whom a trajectory is about. Unlinkable children (BSN unknown or unborn) get an identity of
/// their own per trajectory, so they count as one child each and are never linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Child {
    Linked(LinkKey),
    Unlinkable(u64),
}

impl Child {
    /// 64 uniform bits for the cell key of SDC-4.
    pub(crate) fn key_bits(self) -> u64 {
        match self {
            Self::Linked(k) => k.cell_key_bits(),
            Self::Unlinkable(k) => k,
        }
    }
}

/// One trajectory as delivered for one period, codes as indexes into their code lists.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traj {
    pub(crate) child: Child,
    /// The provider's number among the providers of the data set, in AGB order: it changes
    /// when a provider joins, so it indexes the data set's tables and nothing published.
    pub(crate) provider: u16,
    /// The provider's AGB code as a number (8 digits fit in 32 bits): what a cell key mixes
    /// in, so that a provider joining leaves the perturbation of everyone else's cells alone.
    pub(crate) provider_code: u32,
    pub(crate) gemeente: u16,
    pub(crate) region: u16,
    pub(crate) hulpvorm: u8,
    pub(crate) verwijzer: u8,
    pub(crate) age_band: u8,
    pub(crate) geslacht: u8,
    pub(crate) crisis: bool,
    /// Days since 1970-01-01.
    pub(crate) start: i32,
    pub(crate) end: Option<i32>,
    /// 0..=4 for reasons 01..05.
    pub(crate) reden: Option<u8>,
    /// Youth, parent.
    pub(crate) tevredenheid: [Option<u8>; 2],
    /// Youth, parent; 0..=3 for answers 01..04.
    pub(crate) zonder_hulp_verder: [Option<u8>; 2],
    pub(crate) doelrealisatie: Doelrealisatie,
    pub(crate) aanmelding: Option<i32>,
    pub(crate) amount_cent: Option<i64>,
}

impl Traj {
    /// The BIJ record key across periods: the same trajectory delivered again.
    pub(crate) fn identity(&self) -> (Child, u16, i32, u8) {
        (self.child, self.provider, self.start, self.hulpvorm)
    }

    /// 64 uniform bits for the cell key of a count of trajectories: the same trajectory keys
    /// the same cell in every data set it is part of (an AGB code is below 2^27).
    pub(crate) fn key_bits(&self) -> u64 {
        mix(self.child.key_bits()
            ^ mix(u64::from(self.provider_code) << 36
                | u64::from(self.hulpvorm) << 32
                | self.start as u32 as u64))
    }
}

pub(crate) use spiegel_core::mix64 as mix;

/// `doelen_behaald`, `problematiek_afgenomen` and their informant in one byte: the stage
/// holds millions of trajectories, and three `Option<u8>` would grow each by eight bytes.
/// Bits 0-1: goals answer + 1 (0 none); bits 2-3: problems answer + 1; bits 4-6: informant
/// + 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Doelrealisatie(u8);

impl Doelrealisatie {
    /// From the code-list positions (0 for code 01).
    pub(crate) fn new(doelen: Option<u8>, problematiek: Option<u8>, informant: Option<u8>) -> Self {
        let field = |v: Option<u8>, mask: u8| v.map_or(0, |v| (v + 1) & mask);
        Self(field(doelen, 0b11) | field(problematiek, 0b11) << 2 | field(informant, 0b111) << 4)
    }

    fn field(self, shift: u8, mask: u8) -> Option<u8> {
        (self.0 >> shift & mask).checked_sub(1)
    }

    /// 0..=2 for goals answers 01..03.
    pub(crate) fn doelen(self) -> Option<u8> {
        self.field(0, 0b11)
    }

    /// 0..=1 for 01 ja, 02 nee.
    pub(crate) fn problematiek(self) -> Option<u8> {
        self.field(2, 0b11)
    }

    /// 0..=3 for informants 01..04.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn informant(self) -> Option<u8> {
        self.field(4, 0b111)
    }
}

/// One stored submission: whose, which period, and its trajectories.
#[derive(Debug)]
pub(crate) struct Submission {
    /// What identifies the submission's content: its name, submission id and record keys.
    pub(crate) identity: String,
    pub(crate) provider: Agb,
    /// The provider's number among all providers of the data set, in AGB order (also in
    /// every trajectory).
    pub(crate) provider_index: u16,
    pub(crate) period: Period,
    pub(crate) trajectories: Vec<Traj>,
}

/// Reads the provider, period and submission id from a pseudonymised batch's metadata.
pub(crate) fn batch_identity(batch: &RecordBatch) -> Result<(Agb, Period, String), AggregateError> {
    let metadata = batch.schema_ref().metadata();
    let get = |key: &str| {
        metadata
            .get(key)
            .cloned()
            .ok_or_else(|| AggregateError::Malformed(format!("no {key} in the batch metadata")))
    };
    let provider = get(wire::META_PROVIDER)?
        .parse()
        .map_err(|e: spiegel_core::CoreError| AggregateError::Malformed(e.to_string()))?;
    let period = get(wire::META_PERIOD)?
        .parse()
        .map_err(|e: spiegel_core::CoreError| AggregateError::Malformed(e.to_string()))?;
    Ok((provider, period, get(wire::META_SUBMISSION)?))
}

/// Reads what the pseudonymise stage stamped on a batch: the K2 version of its pseudonyms,
/// where it read the submission, and the digest of its record keys.
pub(crate) fn pseudonymisation(batch: &RecordBatch) -> Result<crate::store::Entry, AggregateError> {
    use spiegel_core::wire::{META_KEY_VERSION, META_RECORD_KEYS, META_SOURCE};
    let metadata = batch.schema_ref().metadata();
    let get = |key: &str| {
        metadata.get(key).ok_or_else(|| {
            AggregateError::Malformed(format!(
                "no {key} in the batch metadata (pseudonymised before record keys existed?)"
            ))
        })
    };
    let bad = |key: &str| AggregateError::Malformed(format!("{key} is not valid"));
    let key_version = get(META_KEY_VERSION)?
        .parse()
        .map_err(|_| bad(META_KEY_VERSION))?;
    let (partition, offset) = get(META_SOURCE)?
        .split_once(':')
        .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)))
        .ok_or_else(|| bad(META_SOURCE))?;
    let (_, _, submission) = batch_identity(batch)?;
    Ok(crate::store::Entry {
        submission,
        payload: String::new(),
        record_keys: get(META_RECORD_KEYS)?.clone(),
        key_version,
        source: crate::store::Source { partition, offset },
    })
}

/// Code-list lookups for a dictionary column: each dictionary value once, then per row an
/// index.
fn dictionary_codes(
    batch: &RecordBatch,
    name: &str,
    code: impl Fn(&str) -> Option<u16>,
) -> Result<Vec<Option<u16>>, AggregateError> {
    let malformed = |what: &str| AggregateError::Malformed(format!("column {name}: {what}"));
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| malformed("missing"))?;
    let dictionary = column
        .as_dictionary_opt::<Int16Type>()
        .ok_or_else(|| malformed("not a dictionary"))?;
    let values = dictionary
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| malformed("not text"))?;
    let lookup: Vec<Option<u16>> = (0..values.len())
        .map(|i| {
            code(values.value(i))
                .ok_or_else(|| malformed("unknown code"))
                .map(Some)
        })
        .collect::<Result<_, _>>()?;
    Ok(dictionary
        .keys()
        .iter()
        .map(|k| k.and_then(|k| lookup.get(k as usize).copied().flatten()))
        .collect())
}

fn position<C: CodeList + PartialEq>(code: &str) -> Option<u16> {
    let c = C::from_code(code)?;
    C::ALL.iter().position(|x| *x == c).map(|p| p as u16)
}

/// Where each provider of the data set is in the provider list, so trajectories can carry a
/// small index.
pub(crate) fn decode(
    batch: &RecordBatch,
    agb: Agb,
    provider: u16,
    ttp: &TtpId,
    pseudonym_version: u32,
    reference: &Reference,
    regions: &[String],
) -> Result<Vec<Traj>, AggregateError> {
    let rows = batch.num_rows();
    let malformed = |what: String| AggregateError::Malformed(what);
    let required = |codes: Vec<Option<u16>>, name: &str| -> Result<Vec<u16>, AggregateError> {
        codes
            .into_iter()
            .map(|c| c.ok_or_else(|| malformed(format!("column {name}: missing value"))))
            .collect()
    };
    let gemeente_index = |code: &str| -> Option<u16> {
        let code: GemeenteCode = code.parse().ok()?;
        reference
            .gemeenten()
            .iter()
            .position(|g| g.code == code)
            .map(|p| p as u16)
    };
    let subject_kind = dictionary_codes(batch, submission_column::SUBJECT_KIND, |k| match k {
        "token" => Some(0),
        "unknown" => Some(1),
        "unborn" => Some(2),
        _ => None,
    })?;
    let age_band = required(
        dictionary_codes(batch, submission_column::AGE_BAND, |l| {
            let band = AgeBand::from_label(l)?;
            AgeBand::ALL
                .iter()
                .position(|b| *b == band)
                .map(|p| p as u16)
        })?,
        submission_column::AGE_BAND,
    )?;
    let geslacht = required(
        dictionary_codes(batch, submission_column::GESLACHT, position::<Geslacht>)?,
        submission_column::GESLACHT,
    )?;
    let gemeente = required(
        dictionary_codes(batch, submission_column::GEMEENTECODE, gemeente_index)?,
        submission_column::GEMEENTECODE,
    )?;
    let verwijzer = required(
        dictionary_codes(batch, submission_column::VERWIJZER, position::<Verwijzer>)?,
        submission_column::VERWIJZER,
    )?;
    let hulpvorm = required(
        dictionary_codes(batch, submission_column::HULPVORM, position::<Hulpvorm>)?,
        submission_column::HULPVORM,
    )?;
    let crisis = required(
        dictionary_codes(batch, submission_column::GESTART_MET_CRISIS, |c| match c {
            "01" => Some(1),
            "02" => Some(0),
            _ => None,
        })?,
        submission_column::GESTART_MET_CRISIS,
    )?;
    let reden = dictionary_codes(
        batch,
        submission_column::REDEN_BEEINDIGING,
        position::<RedenBeeindiging>,
    )?;
    let zhv_j = dictionary_codes(
        batch,
        submission_column::ZONDER_HULP_VERDER_JEUGDIGE,
        position::<ZonderHulpVerder>,
    )?;
    let zhv_o = dictionary_codes(
        batch,
        submission_column::ZONDER_HULP_VERDER_OUDER,
        position::<ZonderHulpVerder>,
    )?;
    // Submissions stored before format v1 carried goal attainment lack these columns: they
    // did not measure it, exactly as a submission without them does now.
    let optional_codes = |name: &str, code: fn(&str) -> Option<u16>| {
        if batch.column_by_name(name).is_some() {
            dictionary_codes(batch, name, code)
        } else {
            Ok(vec![None; rows])
        }
    };
    let doelen = optional_codes(submission_column::DOELEN_BEHAALD, position::<DoelenBehaald>)?;
    let problematiek = optional_codes(
        submission_column::PROBLEMATIEK_AFGENOMEN,
        position::<ProblematiekAfgenomen>,
    )?;
    let informant = optional_codes(
        submission_column::DOELREALISATIE_INFORMANT,
        position::<DoelrealisatieInformant>,
    )?;
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| malformed(format!("column {name} missing")))
    };
    let date = |name: &str| -> Result<_, AggregateError> {
        column(name)?
            .as_primitive_opt::<Date32Type>()
            .cloned()
            .ok_or_else(|| malformed(format!("column {name} is not a date")))
    };
    let score = |name: &str| -> Result<_, AggregateError> {
        column(name)?
            .as_primitive_opt::<UInt8Type>()
            .cloned()
            .ok_or_else(|| malformed(format!("column {name} is not a score")))
    };
    let aanvang = date(submission_column::DATUM_AANVANG)?;
    let einde = date(submission_column::DATUM_EINDE)?;
    let aanmelding = date(submission_column::DATUM_AANMELDING)?;
    let tev_j = score(submission_column::TEVREDENHEID_JEUGDIGE)?;
    let tev_o = score(submission_column::TEVREDENHEID_OUDER)?;
    let amount = column(submission_column::GEDECLAREERD_BEDRAG)?
        .as_primitive_opt::<Decimal128Type>()
        .cloned()
        .ok_or_else(|| malformed("gedeclareerd_bedrag is not a decimal".into()))?;
    let pseudonyms = column(submission_column::PSEUDONYM)?
        .as_string_opt::<i32>()
        .cloned()
        .ok_or_else(|| malformed("pseudonym is not text".into()))?;
    let record_keys = column(submission_column::RECORD_KEY)?
        .as_primitive_opt::<UInt32Type>()
        .cloned()
        .ok_or_else(|| malformed("record_key is not a 32-bit number".into()))?;
    let region_of: Vec<u16> = reference
        .gemeenten()
        .iter()
        .map(|g| regions.iter().position(|r| *r == g.regio).unwrap_or(0) as u16)
        .collect();
    let option = |a: &dyn Array, row: usize| a.is_valid(row);
    // AGB codes are 8 digits, so they parse and fit in 32 bits.
    let agb_number: u32 = agb.as_str().parse().unwrap_or_default();
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let hulpvorm_index = hulpvorm[row] as u8;
        let start = aanvang.value(row);
        let child = if subject_kind[row] == Some(0) {
            if !pseudonyms.is_valid(row) || !record_keys.is_valid(row) {
                return Err(malformed(format!(
                    "row {row}: token subject without pseudonym or record key"
                )));
            }
            Child::Linked(
                LinkKey::from_pseudonym_wire(
                    pseudonyms.value(row),
                    record_keys.value(row),
                    ttp,
                    pseudonym_version,
                )
                .map_err(|source| AggregateError::Pseudonym { row, source })?,
            )
        } else {
            // The BIJ record key of an unknown child, minus the birth date that minimisation
            // dropped: the same trajectory delivered in two periods is the same child.
            Child::Unlinkable(mix(mix(mix(u64::from(agb_number))
                ^ (u64::from(gemeente[row]) << 32
                    | u64::from(geslacht[row]) << 24
                    | u64::from(hulpvorm_index) << 16
                    | u64::from(subject_kind[row].unwrap_or(1))))
                ^ start as u32 as u64))
        };
        out.push(Traj {
            child,
            provider,
            provider_code: agb_number,
            gemeente: gemeente[row],
            region: region_of[usize::from(gemeente[row])],
            hulpvorm: hulpvorm_index,
            verwijzer: verwijzer[row] as u8,
            age_band: age_band[row] as u8,
            geslacht: geslacht[row] as u8,
            crisis: crisis[row] == 1,
            start,
            end: option(&einde, row).then(|| einde.value(row)),
            reden: reden[row].map(|r| r as u8),
            tevredenheid: [
                option(&tev_j, row).then(|| tev_j.value(row)),
                option(&tev_o, row).then(|| tev_o.value(row)),
            ],
            zonder_hulp_verder: [zhv_j[row].map(|z| z as u8), zhv_o[row].map(|z| z as u8)],
            doelrealisatie: Doelrealisatie::new(
                doelen[row].map(|d| d as u8),
                problematiek[row].map(|p| p as u8),
                informant[row].map(|i| i as u8),
            ),
            aanmelding: option(&aanmelding, row).then(|| aanmelding.value(row)),
            amount_cent: option(&amount, row).then(|| amount.value(row) as i64),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_trajectory_stays_small() {
        // The stage holds one per delivered trajectory, millions: the record key must not
        // grow them (a u128 link key beside it made a child 48 bytes and a trajectory 112).
        assert_eq!(size_of::<super::Child>(), 32);
        assert_eq!(size_of::<super::Traj>(), 96);
    }

    #[test]
    fn goal_attainment_packs_into_one_byte_and_back() {
        use super::Doelrealisatie;
        for doelen in [None, Some(0), Some(1), Some(2)] {
            for problematiek in [None, Some(0), Some(1)] {
                for informant in [None, Some(0), Some(1), Some(2), Some(3)] {
                    let packed = Doelrealisatie::new(doelen, problematiek, informant);
                    assert_eq!(
                        (packed.doelen(), packed.problematiek(), packed.informant()),
                        (doelen, problematiek, informant)
                    );
                }
            }
        }
        assert_eq!(
            Doelrealisatie::default(),
            Doelrealisatie::new(None, None, None)
        );
    }
}
