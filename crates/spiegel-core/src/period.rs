use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::CoreError;

/// A delivery period: a BIJ half-year (`2026-H1`, the default) or a quarter (`2026-Q3`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    year: i32,
    /// First and last month, inclusive.
    months: (u32, u32),
}

impl Period {
    /// The half-year `half` (1 or 2) of `year`.
    pub fn half_year(year: i32, half: u32) -> Option<Self> {
        matches!(half, 1 | 2)
            .then(|| Self::new(year, (half - 1) * 6 + 1, half * 6))
            .flatten()
    }

    /// The quarter `quarter` (1..=4) of `year`.
    pub fn quarter(year: i32, quarter: u32) -> Option<Self> {
        (1..=4)
            .contains(&quarter)
            .then(|| Self::new(year, (quarter - 1) * 3 + 1, quarter * 3))
            .flatten()
    }

    fn new(year: i32, first: u32, last: u32) -> Option<Self> {
        (2000..=2099).contains(&year).then_some(Self {
            year,
            months: (first, last),
        })
    }

    /// First day of the period.
    pub fn start(&self) -> NaiveDate {
        // Month 1..=12 and day 1 always exist; the constructor guarantees the month.
        NaiveDate::from_ymd_opt(self.year, self.months.0, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Last day of the period (inclusive).
    pub fn end(&self) -> NaiveDate {
        let (year, month) = if self.months.1 == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.months.1 + 1)
        };
        NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|d| d.pred_opt())
            .unwrap_or(NaiveDate::MAX)
    }

    /// Whether `date` lies within the period.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start() <= date && date <= self.end()
    }

    /// The year the period lies in.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// Whether this is a half-year (as opposed to a quarter).
    pub fn is_half_year(&self) -> bool {
        self.months.1 - self.months.0 == 5
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start(), self.end()).cmp(&(other.start(), other.end()))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Period {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || CoreError::InvalidPeriod(s.chars().take(16).collect());
        let (year, part) = s.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let mut chars = part.chars();
        let (kind, n) = (chars.next(), chars.as_str());
        let n: u32 = match n {
            "1" | "2" | "3" | "4" => n.parse().map_err(|_| invalid())?,
            _ => return Err(invalid()),
        };
        match kind {
            Some('H' | 'h') => Self::half_year(year, n),
            Some('Q' | 'q') => Self::quarter(year, n),
            _ => None,
        }
        .ok_or_else(invalid)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_half_year() {
            write!(f, "{}-H{}", self.year, self.months.1 / 6)
        } else {
            write!(f, "{}-Q{}", self.year, self.months.1 / 3)
        }
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({self})")
    }
}

serde_as_text!(Period);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn half_years_and_quarters() {
        let h1: Period = "2026-H1".parse().unwrap();
        assert_eq!((h1.start(), h1.end()), (d(2026, 1, 1), d(2026, 6, 30)));
        let h2: Period = "2026-H2".parse().unwrap();
        assert_eq!((h2.start(), h2.end()), (d(2026, 7, 1), d(2026, 12, 31)));
        let q3: Period = "2026-Q3".parse().unwrap();
        assert_eq!((q3.start(), q3.end()), (d(2026, 7, 1), d(2026, 9, 30)));
        assert_eq!(q3.to_string(), "2026-Q3");
        assert_eq!(h2.to_string(), "2026-H2");
        assert!(h1 < q3 && q3 < h2);
        for bad in [
            "2026-H3", "2026-Q0", "26-H1", "2026H1", "2026-H", "2026-H12", "2026-X1",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
