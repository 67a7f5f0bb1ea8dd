//! BIJ dates: `JJJJMMDD`, with `00` for an unknown day or month in a birth date only.

use chrono::{Datelike, NaiveDate};

/// Why a date field was not accepted. Carries no copy of the value on purpose: a misplaced
/// identifier in a date column must not be echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not exactly eight ASCII digits.
    #[error("not in the form JJJJMMDD")]
    Format,
    /// Eight digits that name no day of the calendar.
    #[error("not an existing calendar date")]
    Calendar,
    /// A year outside 1900..=2100, almost always a typing error.
    #[error("year out of range")]
    Year,
}

fn digits8(s: &str) -> Result<(i32, u32, u32), DateError> {
    let b = s.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(DateError::Format);
    }
    let n = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let year = n(0..4) as i32;
    if !(1900..=2100).contains(&year) {
        return Err(DateError::Year);
    }
    Ok((year, n(4..6), n(6..8)))
}

/// Parses a complete `JJJJMMDD` date.
pub fn parse_date(s: &str) -> Result<NaiveDate, DateError> {
    let (y, m, d) = digits8(s)?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or(DateError::Calendar)
}

/// A birth date whose day or month may be unknown (`JJJJMM00`, `JJJJ0000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    year: i32,
    month: Option<u32>,
    day: Option<u32>,
}

/// Parses a BIJ birth date.
pub fn parse_birth_date(s: &str) -> Result<BirthDate, DateError> {
    let (year, m, d) = digits8(s)?;
    match (m, d) {
        (0, 0) => Ok(BirthDate {
            year,
            month: None,
            day: None,
        }),
        (0, _) => Err(DateError::Calendar),
        (m, 0) if (1..=12).contains(&m) => Ok(BirthDate {
            year,
            month: Some(m),
            day: None,
        }),
        (m, d) => NaiveDate::from_ymd_opt(year, m, d)
            .map(|_| BirthDate {
                year,
                month: Some(m),
                day: Some(d),
            })
            .ok_or(DateError::Calendar),
    }
}

impl BirthDate {
    /// The earliest day the child can have been born on, for "born after the start" checks.
    pub fn earliest(&self) -> NaiveDate {
        let month = self.month.unwrap_or(1);
        let day = self.day.unwrap_or(1);
        // Month and day were validated on parsing (day 1 always exists).
        NaiveDate::from_ymd_opt(self.year, month, day).unwrap_or(NaiveDate::MIN)
    }

    /// The date used to compute an age: the 15th for an unknown day and 1 July for an unknown
    /// month (midpoint imputation), never later than `not_after` so a child born in the month a
    /// trajectory started is not given a negative age.
    pub fn imputed(&self, not_after: NaiveDate) -> NaiveDate {
        let date = match (self.month, self.day) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(self.year, m, d),
            (Some(m), None) => NaiveDate::from_ymd_opt(self.year, m, 15),
            _ => NaiveDate::from_ymd_opt(self.year, 7, 1),
        }
        .unwrap_or(NaiveDate::MIN);
        date.min(not_after.max(self.earliest()))
    }

    /// The original `JJJJMMDD` text, with zeros for unknown parts.
    pub fn to_bij(&self) -> String {
        format!(
            "{:04}{:02}{:02}",
            self.year,
            self.month.unwrap_or(0),
            self.day.unwrap_or(0)
        )
    }

    /// The year of birth.
    pub fn year(&self) -> i32 {
        self.year
    }
}

/// Formats a date as `JJJJMMDD`.
pub fn format_bij(date: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bij_dates() {
        assert_eq!(
            parse_date("20260131"),
            Ok(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap())
        );
        assert_eq!(parse_date("20260230"), Err(DateError::Calendar));
        assert_eq!(parse_date("2026-01-31"), Err(DateError::Format));
        assert_eq!(parse_date("20260100"), Err(DateError::Calendar));
        assert_eq!(parse_date("18000101"), Err(DateError::Year));
        assert_eq!(parse_date("２０２６０１３１"), Err(DateError::Format));
    }

    #[test]
    fn birth_dates_may_lack_day_or_month() {
        let start = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        let b = parse_birth_date("20100400").unwrap();
        assert_eq!(
            b.imputed(start),
            NaiveDate::from_ymd_opt(2010, 4, 15).unwrap()
        );
        assert_eq!(b.to_bij(), "20100400");
        let b = parse_birth_date("20100000").unwrap();
        assert_eq!(
            b.imputed(start),
            NaiveDate::from_ymd_opt(2010, 7, 1).unwrap()
        );
        // Born in the month care started: the imputed 15th would lie after the start.
        let b = parse_birth_date("20260300").unwrap();
        assert_eq!(b.imputed(start), start);
        assert_eq!(parse_birth_date("20100015"), Err(DateError::Calendar));
        assert_eq!(parse_birth_date("20101300"), Err(DateError::Calendar));
    }
}
