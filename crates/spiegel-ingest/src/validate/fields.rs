//! The fields of a row: code lists, dates, satisfaction scores, amounts, and every rule between
//! fields of one row.

use chrono::NaiveDate;
use spiegel_core::{
    AgeBand, BirthDate, CodeList, DoelenBehaald, DoelrealisatieInformant, Geslacht,
    GestartMetCrisis, Hulpvorm, ProblematiekAfgenomen, Verwijzer, ZonderHulpVerder, age_in_years,
    parse_birth_date, parse_date,
};
use spiegel_pseudonymise::Sentinel;

use crate::{Column, IssueKind, Trajectory};

use super::{RowIdentity, Validator};

fn code<T: CodeList>(
    fields: &crate::source::Fields<'_>,
    column: Column,
    issues: &mut Vec<(Option<Column>, IssueKind)>,
) -> Option<T> {
    let text = fields[column.index()]?;
    let parsed = T::from_code(text);
    if parsed.is_none() {
        issues.push((Some(column), IssueKind::CodeInvalid));
    }
    parsed
}

fn date(
    fields: &crate::source::Fields<'_>,
    column: Column,
    issues: &mut Vec<(Option<Column>, IssueKind)>,
) -> Option<NaiveDate> {
    let text = fields[column.index()]?;
    parse_date(text)
        .map_err(|_| issues.push((Some(column), IssueKind::DateInvalid)))
        .ok()
}

fn satisfaction(
    fields: &crate::source::Fields<'_>,
    column: Column,
    issues: &mut Vec<(Option<Column>, IssueKind)>,
) -> Option<u8> {
    let text = fields[column.index()]?;
    match text.parse::<u8>() {
        Ok(score @ 1..=10) if text.bytes().all(|b| b.is_ascii_digit()) => Some(score),
        _ => {
            issues.push((Some(column), IssueKind::SatisfactionRange));
            None
        }
    }
}

/// Euros with at most two decimals, `.` or `,` as decimal separator; returns cents.
pub(super) fn parse_amount(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.find(['.', ',']) {
        Some(i) if i + 1 < text.len() => (&text[..i], &text[i + 1..]),
        Some(_) => return None,
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 10
        || fraction.len() > 2
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let euros: i64 = whole.parse().ok()?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    euros.checked_mul(100)?.checked_add(cents)
}

impl Validator<'_> {
    /// Checks every field and every rule between fields; collects all problems of the row.
    pub(super) fn parse(
        &self,
        fields: &crate::source::Fields<'_>,
        issues: &mut Vec<(Option<Column>, IssueKind)>,
    ) -> Option<(RowIdentity, BirthDate, Trajectory)> {
        let max = self.config.limits.max_field_bytes;
        let mut fields = *fields;
        for column in Column::ALL {
            if fields[column.index()].is_some_and(|text| text.len() > max) {
                issues.push((Some(column), IssueKind::FieldTooLong { max }));
                fields[column.index()] = None;
            }
        }
        for column in Column::ALL {
            if column.required()
                && fields[column.index()].is_none()
                && !issues.iter().any(|(c, _)| *c == Some(column))
            {
                issues.push((Some(column), IssueKind::RequiredMissing));
            }
        }
        // Postcode is accepted and dropped here, unread (data minimisation).
        fields[Column::Postcode.index()] = None;

        let identity = self.identity(&fields, issues);
        let aanvang = date(&fields, Column::DatumAanvang, issues);
        let einde = date(&fields, Column::DatumEinde, issues);
        let aanmelding = date(&fields, Column::DatumAanmelding, issues);
        let geboortedatum = fields[Column::Geboortedatum.index()].and_then(|text| {
            parse_birth_date(text)
                .map_err(|_| issues.push((Some(Column::Geboortedatum), IssueKind::DateInvalid)))
                .ok()
        });
        let geslacht = code::<Geslacht>(&fields, Column::Geslacht, issues);
        let verwijzer = code::<Verwijzer>(&fields, Column::Verwijzer, issues);
        let hulpvorm = code::<Hulpvorm>(&fields, Column::Hulpvorm, issues);
        let crisis = code::<GestartMetCrisis>(&fields, Column::GestartMetCrisis, issues);
        let zhv_jeugdige =
            code::<ZonderHulpVerder>(&fields, Column::ZonderHulpVerderJeugdige, issues);
        let zhv_ouder = code::<ZonderHulpVerder>(&fields, Column::ZonderHulpVerderOuder, issues);
        let doelen = code::<DoelenBehaald>(&fields, Column::DoelenBehaald, issues);
        let problematiek =
            code::<ProblematiekAfgenomen>(&fields, Column::ProblematiekAfgenomen, issues);
        let informant =
            code::<DoelrealisatieInformant>(&fields, Column::DoelrealisatieInformant, issues);
        let tevredenheid_jeugdige = satisfaction(&fields, Column::TevredenheidJeugdige, issues);
        let tevredenheid_ouder = satisfaction(&fields, Column::TevredenheidOuder, issues);
        let gemeente = fields[Column::Gemeentecode.index()]
            .and_then(|text| self.gemeente(text, aanvang, issues));
        let reden = fields[Column::RedenBeeindiging.index()].and_then(|text| {
            match self.config.reden_codelijst.resolve(text) {
                Some((reden, mapped)) => {
                    if mapped {
                        issues.push((Some(Column::RedenBeeindiging), IssueKind::ReasonJz588Mapped));
                    }
                    Some(reden)
                }
                None => {
                    issues.push((
                        Some(Column::RedenBeeindiging),
                        IssueKind::ReasonInvalid(self.config.reden_codelijst),
                    ));
                    None
                }
            }
        });
        let bedrag = fields[Column::GedeclareerdBedrag.index()].and_then(|text| {
            parse_amount(text).or_else(|| {
                issues.push((Some(Column::GedeclareerdBedrag), IssueKind::AmountFormat));
                None
            })
        });

        // Rules between fields.
        let period = self.meta.period;
        if let Some(aanvang) = aanvang
            && aanvang > period.end()
        {
            issues.push((Some(Column::DatumAanvang), IssueKind::StartAfterPeriod));
        }
        let einde_column = Some(Column::DatumEinde);
        if let Some(einde) = einde {
            if aanvang.is_some_and(|aanvang| einde < aanvang) {
                issues.push((einde_column, IssueKind::EndBeforeStart));
            }
            if einde < period.start() {
                issues.push((einde_column, IssueKind::EndBeforePeriod));
            }
            if einde > period.end() {
                issues.push((einde_column, IssueKind::EndAfterPeriod));
            }
        }
        let ended = fields[Column::DatumEinde.index()].is_some();
        let reden_given = fields[Column::RedenBeeindiging.index()].is_some();
        if ended && !reden_given {
            issues.push((Some(Column::RedenBeeindiging), IssueKind::ReasonMissing));
        }
        if !ended && reden_given {
            issues.push((Some(Column::RedenBeeindiging), IssueKind::ReasonWithoutEnd));
        }
        if !ended {
            for column in [
                Column::TevredenheidJeugdige,
                Column::TevredenheidOuder,
                Column::ZonderHulpVerderJeugdige,
                Column::ZonderHulpVerderOuder,
                Column::DoelenBehaald,
                Column::ProblematiekAfgenomen,
                Column::DoelrealisatieInformant,
            ] {
                if fields[column.index()].is_some() {
                    issues.push((Some(column), IssueKind::OutcomeWithoutEnd));
                }
            }
        }
        // A goal judgement is read by who made it (the professional's view differs from the
        // family's), so it is not accepted without its informant.
        let judged = fields[Column::DoelenBehaald.index()].is_some()
            || fields[Column::ProblematiekAfgenomen.index()].is_some();
        if judged && fields[Column::DoelrealisatieInformant.index()].is_none() {
            issues.push((
                Some(Column::DoelrealisatieInformant),
                IssueKind::InformantMissing,
            ));
        }
        if let (Some(aanmelding), Some(aanvang)) = (aanmelding, aanvang)
            && aanmelding > aanvang
        {
            issues.push((
                Some(Column::DatumAanmelding),
                IssueKind::RegistrationAfterStart,
            ));
        }
        let unborn = matches!(identity, Some(RowIdentity::Sentinel(Sentinel::Unborn)));
        let mut age = None;
        if let (Some(birth), Some(aanvang)) = (geboortedatum, aanvang) {
            // Care for an unborn child begins before its (expected) birth date.
            if birth.earliest() > aanvang && !unborn {
                issues.push((Some(Column::Geboortedatum), IssueKind::BirthAfterStart));
            } else {
                let years = age_in_years(birth.imputed(aanvang), aanvang).unwrap_or(0);
                match AgeBand::of_age(years) {
                    Some(band) => age = Some((years as u8, band)),
                    None => issues.push((Some(Column::Geboortedatum), IssueKind::AgeOutOfRange)),
                }
            }
        }

        let (age_years, age_band) = age?;
        let trajectory = Trajectory {
            age_years,
            age_band,
            geslacht: geslacht?,
            gemeente: gemeente?,
            verwijzer: verwijzer?,
            hulpvorm: hulpvorm?,
            gestart_met_crisis: crisis?,
            datum_aanvang: aanvang?,
            datum_einde: einde,
            reden_beeindiging: reden,
            tevredenheid_jeugdige,
            tevredenheid_ouder,
            zonder_hulp_verder_jeugdige: zhv_jeugdige,
            zonder_hulp_verder_ouder: zhv_ouder,
            datum_aanmelding: aanmelding,
            gedeclareerd_bedrag_cent: bedrag,
            doelen_behaald: doelen,
            problematiek_afgenomen: problematiek,
            doelrealisatie_informant: informant,
        };
        Some((identity?, geboortedatum?, trajectory))
    }
}
