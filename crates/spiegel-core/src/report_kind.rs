//! The four kinds of report a release publishes (docs/reports.md).
//!
//! A kind travels as its lower-case name: in the master table's `report_kind` column, in the
//! manifest, in report paths and in URLs. This type is the one place that spells those names.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// The kind of a report: who it is for and what it covers.
///
/// The variants are declared in the order reports are listed in (national, region,
/// municipality, mirror): the derived `Ord` is that order, which the publish stage sorts its
/// files by, so changing it would change the manifest and the Parquet files written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// The figures of the whole country, readable by everyone.
    National,
    /// The figures of one jeugdzorgregio.
    Region,
    /// The figures of one municipality, for that municipality.
    Municipality,
    /// A provider's own figures in one municipality, compared with the other providers there
    /// (the spiegelrapportage), for that provider.
    Mirror,
}

impl ReportKind {
    /// Every kind, in order.
    pub const ALL: [ReportKind; 4] = [
        ReportKind::National,
        ReportKind::Region,
        ReportKind::Municipality,
        ReportKind::Mirror,
    ];

    /// The kind's name as it is written in files, paths and URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReportKind::National => "national",
            ReportKind::Region => "region",
            ReportKind::Municipality => "municipality",
            ReportKind::Mirror => "mirror",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        ReportKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| CoreError::InvalidReportKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_files_use() {
        let names: Vec<&str> = ReportKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["national", "region", "municipality", "mirror"]);
        for kind in ReportKind::ALL {
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(kind.as_str().parse::<ReportKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ReportKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn order_is_national_region_municipality_mirror() {
        let mut sorted = ReportKind::ALL;
        sorted.sort();
        assert_eq!(sorted, ReportKind::ALL);
        assert!(ReportKind::National < ReportKind::Region);
        assert!(ReportKind::Municipality < ReportKind::Mirror);
    }

    #[test]
    fn an_unknown_kind_is_named_in_the_error() {
        let error = "Mirror".parse::<ReportKind>().unwrap_err();
        assert_eq!(error, CoreError::InvalidReportKind("Mirror".into()));
        assert!(error.to_string().contains("'Mirror'"));
        assert!(serde_json::from_str::<ReportKind>(r#""provider""#).is_err());
    }
}
