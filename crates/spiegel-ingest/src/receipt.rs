use std::collections::BTreeMap;
use std::fmt::Write;

use spiegel_core::{Agb, Period};

use crate::{FileIssue, Format, Issue, IssueKind, Misnamed, Severity};

/// Whether a submission is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Applied: replaces every earlier submission for the same provider and period.
    Accepted,
    /// Not applied at all; the earlier submission (if any) stays in force.
    Rejected,
}

/// How many rows ended where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Data rows read.
    pub rows: u64,
    /// Records that will be applied (after merging).
    pub accepted: u64,
    /// Valid rows folded into an earlier row with the same record key.
    pub merged: u64,
    /// Rows with at least one error.
    pub rejected: u64,
    /// Rows accepted with at least one warning.
    pub with_warnings: u64,
}

/// The answer to a submission: what was accepted and, for every problem, where and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Receipt {
    /// Version of this receipt layout.
    pub receipt_version: u32,
    /// The name of the file, where the command that read it says (`spiegel validate`, and
    /// every receipt of a misnamed file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The provider's AGB code; null only when a misnamed file's name does not say.
    pub provider: Option<Agb>,
    /// The period delivered; null only when a misnamed file's name does not say.
    pub period: Option<Period>,
    /// The encoding read; null only when a misnamed file's name does not say.
    pub format: Option<Format>,
    /// Accepted or rejected.
    pub status: Status,
    /// Why the whole submission was rejected, if it was.
    pub rejection: Option<FileIssue>,
    /// Findings about the whole file that did not reject it.
    pub notices: Vec<FileIssue>,
    /// Row counts.
    pub counts: Counts,
    /// The rejected share of rows at which the whole submission is rejected.
    pub max_rejected_share: f64,
    /// Row findings, by line.
    pub issues: Vec<Issue>,
    /// Findings counted but not listed, by code, once a code (or the receipt) reached its
    /// listing limit.
    pub unlisted: BTreeMap<&'static str, u64>,
    /// Every row finding counted by code, listed or not.
    pub issue_counts: BTreeMap<&'static str, u64>,
}

impl Receipt {
    /// The receipt of a file offered as a submission whose name is not
    /// `<AGB>_<PERIOD>.<csv|jsonl|parquet>`: rejected unread, saying what to rename.
    /// A name whose digits could hold a BSN is repeated with its digits masked (`#`).
    pub fn misnamed(file: &str, misnamed: Misnamed, max_rejected_share: f64) -> Self {
        // Someone may have named the file after a child; the receipt never repeats a BSN.
        let shown = if spiegel_pseudonymise::mentions_bsn(file) {
            file.chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect()
        } else {
            file.to_owned()
        };
        Self {
            receipt_version: 1,
            file: Some(shown),
            provider: misnamed.provider,
            period: None,
            format: misnamed.format,
            status: Status::Rejected,
            rejection: Some(FileIssue {
                kind: IssueKind::FileNameInvalid(misnamed.problem),
            }),
            notices: Vec::new(),
            counts: Counts::default(),
            max_rejected_share,
            issues: Vec::new(),
            unlisted: BTreeMap::new(),
            issue_counts: BTreeMap::new(),
        }
    }

    /// Whether the submission is applied.
    pub fn accepted(&self) -> bool {
        self.status == Status::Accepted
    }

    /// A plain-text rendering for a terminal, in Dutch and English.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let status = match self.status {
            Status::Accepted => "GEACCEPTEERD / ACCEPTED",
            Status::Rejected => "AFGEWEZEN / REJECTED",
        };
        let c = &self.counts;
        // Writing to a String cannot fail.
        let unknown = || "onbekend/unknown".to_owned();
        if let Some(file) = &self.file {
            let _ = writeln!(out, "Bestand / file: {file}");
        }
        let _ = writeln!(
            out,
            "Ontvangstbewijs / receipt: aanbieder {} periode {} ({})",
            self.provider.map_or_else(unknown, |p| p.to_string()),
            self.period.map_or_else(unknown, |p| p.to_string()),
            self.format.map_or_else(unknown, |f| f.name().to_owned())
        );
        let _ = writeln!(out, "Status: {status}");
        let _ = writeln!(
            out,
            "Regels / rows: {}  geaccepteerd / accepted: {}  samengevoegd / merged: {}  afgekeurd / rejected: {}  met waarschuwing / with warnings: {}",
            c.rows, c.accepted, c.merged, c.rejected, c.with_warnings
        );
        for file_issue in self.rejection.iter().chain(&self.notices) {
            let (nl, en) = file_issue.kind.messages(None);
            let _ = writeln!(out, "{}: {nl}\n    {en}", file_issue.kind.code());
            if let IssueKind::HeaderInvalid(problems) = &file_issue.kind {
                for problem in problems {
                    let (nl, en) = problem.messages();
                    let _ = writeln!(out, "  - {}: {nl}\n      {en}", problem.code());
                }
            }
        }
        if !self.issues.is_empty() {
            let _ = writeln!(
                out,
                "\n{:>8}  {:<28}  {:<30}  melding / message",
                "regel", "kolom", "code"
            );
            for issue in &self.issues {
                let (nl, en) = issue.kind.messages(issue.column);
                let mark = match issue.kind.severity() {
                    Severity::Error => "",
                    Severity::Warning => " (waarschuwing/warning)",
                    Severity::Info => " (info)",
                };
                let _ = writeln!(
                    out,
                    "{:>8}  {:<28}  {:<30}  {nl}{mark}\n{:>72}{en}",
                    issue.line,
                    issue.column.map(|c| c.name()).unwrap_or("-"),
                    issue.kind.code(),
                    ""
                );
            }
        }
        for (code, n) in &self.unlisted {
            let _ = writeln!(out, "(+{n} meer / more {code})");
        }
        out
    }
}
