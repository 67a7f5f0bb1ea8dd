//! Row validation (docs/submission.md), the BIJ merge of rows with the same record key, and the
//! receipt.

mod fields;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use spiegel_core::{BirthDate, GemeenteCode, GemeenteError, Geslacht, Hulpvorm, Reference};
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
            file: None,
            provider: Some(self.meta.provider),
            period: Some(self.meta.period),
            format: Some(self.meta.format),
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
