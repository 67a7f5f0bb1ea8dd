//! Row validation (docs/submission.md), the BIJ merge of rows with the same record key, and the
//! receipt.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use spiegel_core::{
    AgeBand, BirthDate, CodeList, GemeenteCode, GemeenteError, Geslacht, GestartMetCrisis,
    Hulpvorm, Reference, Verwijzer, ZonderHulpVerder, age_in_years, parse_birth_date, parse_date,
};
use spiegel_pseudonymise::{
    Bsn, BsnError, ClientToken, ParsedBsn, Sentinel, SourceKey, TokenError, TtpId,
};

use crate::source::RawRow;
use crate::{
    Column, Counts, FileIssue, IngestConfig, Issue, IssueKind, Receipt, Severity, Status, Subject,
    SubmissionMeta, Trajectory, ValidRecord,
};

/// Who a row is about, as delivered.
enum RowIdentity {
    Bsn(Bsn),
    Token(ClientToken),
    Sentinel(Sentinel),
}

/// The BIJ record key (§7.5): the child, the start and the form of care. Children without a
/// BSN are keyed by what is known of them.
#[derive(PartialEq, Eq, Hash)]
enum SubjectKey {
    Bsn(Bsn),
    Token(ClientToken),
    Unlinkable {
        sentinel: Sentinel,
        geslacht: Geslacht,
        geboortedatum: BirthDate,
        gemeente: GemeenteCode,
    },
}

#[derive(PartialEq, Eq, Hash)]
struct MergeKey {
    subject: SubjectKey,
    datum_aanvang: NaiveDate,
    hulpvorm: Hulpvorm,
}

/// How client tokens and BSNs are treated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokenPolicy<'a> {
    /// Stage 1 applied to raw BSNs; records are kept only when this is set.
    pub(crate) source_key: Option<&'a SourceKey>,
    /// Delivered client tokens must carry this TTP and one of these K1 versions.
    pub(crate) accepted: Option<(&'a TtpId, &'a [u32])>,
}

pub(crate) struct Validator<'a> {
    config: &'a IngestConfig,
    meta: &'a SubmissionMeta,
    reference: &'static Reference,
    policy: TokenPolicy<'a>,
    counts: Counts,
    issues: Vec<Issue>,
    listed: HashMap<&'static str, usize>,
    unlisted: BTreeMap<&'static str, u64>,
    totals: BTreeMap<&'static str, u64>,
    /// Record key fingerprint to its position in `first_lines`. A 128-bit keyed fingerprint in
    /// place of the key keeps a 1M-row submission's map near 40 MB instead of 150; the chance
    /// of two different keys colliding among five million rows is below 1e-25.
    keys: HashMap<[u32; 4], u32, foldhash::fast::RandomState>,
    fingerprint: [foldhash::quality::RandomState; 2],
    first_lines: Vec<u64>,
    records: Vec<ValidRecord>,
    row_issues: Vec<(Option<Column>, IssueKind)>,
}

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
fn parse_amount(text: &str) -> Option<i64> {
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

impl<'a> Validator<'a> {
    pub(crate) fn new(
        config: &'a IngestConfig,
        meta: &'a SubmissionMeta,
        policy: TokenPolicy<'a>,
    ) -> Self {
        Self {
            config,
            meta,
            reference: Reference::embedded(),
            policy,
            counts: Counts::default(),
            issues: Vec::new(),
            listed: HashMap::new(),
            unlisted: BTreeMap::new(),
            totals: BTreeMap::new(),
            keys: HashMap::default(),
            fingerprint: Default::default(),
            first_lines: Vec::new(),
            records: Vec::new(),
            row_issues: Vec::new(),
        }
    }

    fn keeps_records(&self) -> bool {
        self.policy.source_key.is_some()
    }

    /// Counts a finding and lists it while its code and the receipt as a whole are within
    /// their listing bounds, so the receipt's size is bounded whatever the file holds.
    fn note(&mut self, line: u64, column: Option<Column>, kind: IssueKind) {
        let code = kind.code();
        *self.totals.entry(code).or_default() += 1;
        let listed = self.listed.entry(code).or_default();
        if *listed < self.config.max_listed_per_code && self.issues.len() < self.config.max_listed {
            *listed += 1;
            self.issues.push(Issue { line, column, kind });
        } else {
            *self.unlisted.entry(code).or_default() += 1;
        }
    }

    /// Validates one row; `Break` stops the whole submission (row limit).
    pub(crate) fn row(&mut self, row: RawRow<'_>) -> ControlFlow<IssueKind> {
        self.counts.rows += 1;
        if self.counts.rows > self.config.limits.max_rows {
            return ControlFlow::Break(IssueKind::TooManyRows {
                max: self.config.limits.max_rows,
            });
        }
        if row.counted_only {
            return ControlFlow::Continue(());
        }
        let mut issues = std::mem::take(&mut self.row_issues);
        issues.clear();
        issues.extend(row.problems);
        let parsed = if row.unreadable {
            None
        } else {
            self.parse(&row.fields, &mut issues)
        };
        let has_error = issues.iter().any(|(_, k)| k.severity() == Severity::Error);
        let line = row.line;
        match parsed {
            Some((identity, geboortedatum, trajectory)) if !has_error => {
                if issues
                    .iter()
                    .any(|(_, k)| k.severity() == Severity::Warning)
                {
                    self.counts.with_warnings += 1;
                }
                for (column, kind) in issues.drain(..) {
                    self.note(line, column, kind);
                }
                self.accept(line, identity, geboortedatum, trajectory);
            }
            _ => {
                self.counts.rejected += 1;
                for (column, kind) in issues.drain(..) {
                    if kind.severity() == Severity::Error {
                        self.note(line, column, kind);
                    }
                }
            }
        }
        self.row_issues = issues;
        ControlFlow::Continue(())
    }

    fn accept(
        &mut self,
        line: u64,
        identity: RowIdentity,
        geboortedatum: BirthDate,
        trajectory: Trajectory,
    ) {
        let (subject_key, subject) = match identity {
            RowIdentity::Bsn(bsn) => match self.policy.source_key {
                Some(key) => {
                    let token = key.tokenise(&bsn);
                    (
                        SubjectKey::Token(token.clone()),
                        Some(Subject::Token(token)),
                    )
                }
                None => (SubjectKey::Bsn(bsn), None),
            },
            RowIdentity::Token(token) => (
                SubjectKey::Token(token.clone()),
                Some(Subject::Token(token)),
            ),
            RowIdentity::Sentinel(sentinel) => (
                SubjectKey::Unlinkable {
                    sentinel,
                    geslacht: trajectory.geslacht,
                    geboortedatum,
                    gemeente: trajectory.gemeente,
                },
                Some(Subject::Unlinkable(sentinel)),
            ),
        };
        let key = MergeKey {
            subject: subject_key,
            datum_aanvang: trajectory.datum_aanvang,
            hulpvorm: trajectory.hulpvorm,
        };
        // Four 32-bit words rather than a u128: entries stay 4-byte aligned, 20 bytes not 32.
        let (a, b) = (
            self.fingerprint[0].hash_one(&key),
            self.fingerprint[1].hash_one(&key),
        );
        let fingerprint = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
        let next = self.first_lines.len() as u32;
        match self.keys.entry(fingerprint) {
            std::collections::hash_map::Entry::Occupied(existing) => {
                let index = *existing.get() as usize;
                self.counts.merged += 1;
                if let Some(record) = self.records.get_mut(index) {
                    record.trajectory.merge(trajectory);
                }
                let with_line = self.first_lines[index];
                self.note(line, None, IssueKind::RecordMerged { with_line });
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(next);
                self.first_lines.push(line);
                if let (true, Some(subject)) = (self.keeps_records(), subject) {
                    self.records.push(ValidRecord {
                        subject,
                        geboortedatum,
                        trajectory,
                    });
                }
            }
        }
    }

    fn identity(
        &self,
        fields: &crate::source::Fields<'_>,
        issues: &mut Vec<(Option<Column>, IssueKind)>,
    ) -> Option<RowIdentity> {
        match (
            fields[Column::Bsn.index()],
            fields[Column::ClientToken.index()],
        ) {
            (Some(_), Some(_)) => {
                issues.push((None, IssueKind::IdentityBoth));
                None
            }
            (None, None) => {
                issues.push((None, IssueKind::IdentityMissing));
                None
            }
            (Some(text), None) => {
                let column = Some(Column::Bsn);
                match Bsn::parse(text) {
                    Ok(ParsedBsn::Known {
                        bsn,
                        restored_leading_zero,
                    }) => {
                        if restored_leading_zero {
                            issues.push((column, IssueKind::BsnLeadingZeroRestored));
                        }
                        Some(RowIdentity::Bsn(bsn))
                    }
                    Ok(ParsedBsn::Sentinel(sentinel)) => Some(RowIdentity::Sentinel(sentinel)),
                    Err(error) => {
                        let kind = match error {
                            BsnError::NotDigits => IssueKind::BsnNotDigits,
                            BsnError::Length => IssueKind::BsnLength,
                            BsnError::ElfProef => IssueKind::BsnElfproef,
                        };
                        issues.push((column, kind));
                        None
                    }
                }
            }
            (None, Some(text)) => {
                let column = Some(Column::ClientToken);
                let checked =
                    ClientToken::from_wire(text).and_then(|token| match self.policy.accepted {
                        Some((ttp, versions)) => token.check_label(ttp, versions).map(|()| token),
                        None => Ok(token),
                    });
                match checked {
                    Ok(token) => Some(RowIdentity::Token(token)),
                    Err(error) => {
                        let kind = match error {
                            TokenError::Malformed => IssueKind::TokenMalformed,
                            TokenError::OtherTtp => IssueKind::TokenOtherTtp,
                            TokenError::UnknownVersion(v) => IssueKind::TokenVersion(v),
                        };
                        issues.push((column, kind));
                        None
                    }
                }
            }
        }
    }

    fn gemeente(
        &self,
        text: &str,
        start: Option<NaiveDate>,
        issues: &mut Vec<(Option<Column>, IssueKind)>,
    ) -> Option<GemeenteCode> {
        let column = Some(Column::Gemeentecode);
        let Ok((code, restored)) = GemeenteCode::parse_lenient(text) else {
            issues.push((column, IssueKind::GemeenteFormat));
            return None;
        };
        if restored {
            issues.push((column, IssueKind::GemeenteLeadingZeroRestored));
        }
        // Without a valid start date, judge the code as of the period's start.
        let on = start.unwrap_or_else(|| self.meta.period.start());
        match self.reference.resolve(code, on) {
            Ok(resolved) => {
                if let Some(from) = resolved.mapped_from {
                    issues.push((
                        column,
                        IssueKind::GemeenteMapped {
                            from,
                            to: resolved.code,
                        },
                    ));
                }
                Some(resolved.code)
            }
            Err(GemeenteError::Unknown) => {
                issues.push((column, IssueKind::GemeenteUnknown));
                None
            }
            Err(GemeenteError::Opgeheven { successor, since }) => {
                issues.push((column, IssueKind::GemeenteMerged { successor, since }));
                None
            }
            Err(GemeenteError::Gesplitst { since, .. }) => {
                issues.push((column, IssueKind::GemeenteSplit { since }));
                None
            }
        }
    }

    /// Checks every field and every rule between fields; collects all problems of the row.
    fn parse(
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
            ] {
                if fields[column.index()].is_some() {
                    issues.push((Some(column), IssueKind::OutcomeWithoutEnd));
                }
            }
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
        };
        Some((identity?, geboortedatum?, trajectory))
    }

    /// Closes the submission: applies the rejection threshold and writes the receipt.
    pub(crate) fn finish(self, stopped: Option<IssueKind>) -> (Receipt, Vec<ValidRecord>) {
        let mut counts = self.counts;
        counts.accepted = self.first_lines.len() as u64;
        let share = self.config.max_rejected_share;
        let rejection = stopped.or_else(|| {
            (counts.rows > 0 && counts.rejected as f64 >= share * counts.rows as f64).then_some(
                IssueKind::TooManyRejectedRows {
                    rejected: counts.rejected,
                    rows: counts.rows,
                    max_share: share,
                },
            )
        });
        let mut notices = Vec::new();
        if rejection.is_none() && counts.rows == 0 {
            notices.push(FileIssue {
                kind: IssueKind::EmptySubmission,
            });
        }
        let status = if rejection.is_some() {
            counts.accepted = 0;
            Status::Rejected
        } else {
            Status::Accepted
        };
        let receipt = Receipt {
            receipt_version: 1,
            provider: self.meta.provider,
            period: self.meta.period,
            format: self.meta.format,
            status,
            rejection: rejection.map(|kind| FileIssue { kind }),
            notices,
            counts,
            max_rejected_share: share,
            issues: self.issues,
            unlisted: self.unlisted,
            issue_counts: self.totals,
        };
        let records = if status == Status::Accepted {
            self.records
        } else {
            Vec::new()
        };
        (receipt, records)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts_in_euros() {
        assert_eq!(parse_amount("1234,50"), Some(123_450));
        assert_eq!(parse_amount("1234.5"), Some(123_450));
        assert_eq!(parse_amount("0"), Some(0));
        assert_eq!(parse_amount("17"), Some(1700));
        for bad in ["-5", "1.234,56", "12,345", "€ 12", "1e3", ",5", "12."] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }
}
