use chrono::{Datelike, NaiveDate};

/// CBS age bands for youth care: 0 tot 4, 4 tot 12, 12 tot 18, 18 tot 23 years.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum AgeBand {
    /// 0 to 3 years.
    #[serde(rename = "0-3")]
    Age0To3,
    /// 4 to 11 years.
    #[serde(rename = "4-11")]
    Age4To11,
    /// 12 to 17 years.
    #[serde(rename = "12-17")]
    Age12To17,
    /// 18 to 22 years (youth care extended past majority).
    #[serde(rename = "18-22")]
    Age18To22,
}

impl AgeBand {
    /// Every band, youngest first.
    pub const ALL: [Self; 4] = [
        Self::Age0To3,
        Self::Age4To11,
        Self::Age12To17,
        Self::Age18To22,
    ];

    /// The band of an age in whole years; `None` from 23 on (outside youth care).
    pub fn of_age(years: u32) -> Option<Self> {
        match years {
            0..=3 => Some(Self::Age0To3),
            4..=11 => Some(Self::Age4To11),
            12..=17 => Some(Self::Age12To17),
            18..=22 => Some(Self::Age18To22),
            _ => None,
        }
    }

    /// The label used in reports, such as `"4-11"`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Age0To3 => "0-3",
            Self::Age4To11 => "4-11",
            Self::Age12To17 => "12-17",
            Self::Age18To22 => "18-22",
        }
    }

    /// Parses a label such as `"4-11"`.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.label() == label)
    }
}

/// Age in whole years on `on` of someone born on `birth`; `None` if born after `on`.
pub fn age_in_years(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    if birth > on {
        return None;
    }
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn whole_years_at_start() {
        assert_eq!(age_in_years(d(2010, 5, 20), d(2026, 5, 19)), Some(15));
        assert_eq!(age_in_years(d(2010, 5, 20), d(2026, 5, 20)), Some(16));
        assert_eq!(age_in_years(d(2008, 2, 29), d(2026, 2, 28)), Some(17));
        assert_eq!(age_in_years(d(2026, 5, 20), d(2026, 5, 19)), None);
    }

    #[test]
    fn cbs_band_edges() {
        assert_eq!(AgeBand::of_age(3), Some(AgeBand::Age0To3));
        assert_eq!(AgeBand::of_age(4), Some(AgeBand::Age4To11));
        assert_eq!(AgeBand::of_age(11), Some(AgeBand::Age4To11));
        assert_eq!(AgeBand::of_age(12), Some(AgeBand::Age12To17));
        assert_eq!(AgeBand::of_age(18), Some(AgeBand::Age18To22));
        assert_eq!(AgeBand::of_age(22), Some(AgeBand::Age18To22));
        assert_eq!(AgeBand::of_age(23), None);
    }
}
