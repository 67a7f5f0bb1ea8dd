//! Words on the page, in Dutch (the users' language) and English, and how numbers are written
//! in each.

use std::fmt::{self, Write as _};

use spiegel_aggregate::indicators::{Indicator, Kind};
use spiegel_core::{AgeBand, CodeList, Geslacht, Hulpvorm, Verwijzer};

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Dutch, the default: the language of the quality conversation.
    Nl,
    /// English.
    En,
}

impl Language {
    /// Both, Dutch first.
    pub const ALL: [Self; 2] = [Self::Nl, Self::En];

    /// The `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Self::Nl => "nl",
            Self::En => "en",
        }
    }

    /// The text in this language.
    pub(crate) fn t(self, nl: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Nl => nl,
            Self::En => en,
        }
    }

    pub(crate) fn indicator(self, indicator: &Indicator) -> &'static str {
        self.t(indicator.label_nl, indicator.label_en)
    }

    pub(crate) fn unit(self, unit: &str) -> &'static str {
        match unit {
            "children" => self.t("jeugdigen", "children"),
            "trajectories" => self.t("trajecten", "trajectories"),
            "days" => self.t("dagen", "days"),
            "percent" => "%",
            "euro" => "euro",
            "score" => self.t("rapportcijfer", "score"),
            _ => "",
        }
    }

    pub(crate) fn dimension(self, dimension: &str) -> &'static str {
        match dimension {
            "total" => self.t("Totaal", "Total"),
            "hulpvorm" => self.t("Hulpvorm", "Form of care"),
            "verblijf" => self.t("Verblijf", "Residential care"),
            "verwijzer" => self.t("Verwijzer", "Referrer"),
            "age_band" => self.t("Leeftijd", "Age"),
            "geslacht" => self.t("Geslacht", "Sex"),
            _ => self.t("Overig", "Other"),
        }
    }

    /// A category's label; a code the catalogue does not know is shown as it is.
    pub(crate) fn category(self, dimension: &str, category: &str) -> String {
        let label = |nl: &str, en: &str| match self {
            Self::Nl => nl.to_owned(),
            Self::En => en.to_owned(),
        };
        fn coded<C: CodeList>(language: Language, code: &str) -> Option<String> {
            let c = C::from_code(code)?;
            Some(format!(
                "{} ({code})",
                language.t(c.label_nl(), c.label_en())
            ))
        }
        let found = match dimension {
            "total" => Some(label("totaal", "total")),
            "hulpvorm" => coded::<Hulpvorm>(self, category),
            "verwijzer" => coded::<Verwijzer>(self, category),
            "geslacht" => Geslacht::from_code(category).map(|g| label(g.label_nl(), g.label_en())),
            "verblijf" => match category {
                "zonder_verblijf" => Some(label("zonder verblijf", "without residential care")),
                "met_verblijf" => Some(label("met verblijf", "with residential care")),
                _ => None,
            },
            "age_band" => AgeBand::from_label(category).map(|b| match self {
                Self::Nl => format!("{} jaar", b.label()),
                Self::En => format!("{} years", b.label()),
            }),
            _ => None,
        };
        found.unwrap_or_else(|| category.to_owned())
    }

    /// A number as this language writes it: `1.234,5` in Dutch, `1,234.5` in English.
    pub(crate) fn number(self, value: f64, decimals: usize) -> String {
        let (thousands, point) = match self {
            Self::Nl => ('.', ','),
            Self::En => (',', '.'),
        };
        let fixed = if decimals == 0 && value.abs() < 1e15 {
            // Counts and whole percentages: integer formatting, much cheaper than a float's.
            (value.abs().round() as u64).to_string()
        } else {
            format!("{:.*}", decimals, value.abs())
        };
        let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
        let mut out = String::with_capacity(fixed.len() + 4);
        if value < 0.0 && fixed.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            out.push('-');
        }
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(thousands);
            }
            out.push(digit);
        }
        if !fraction.is_empty() {
            out.push(point);
            out.push_str(fraction);
        }
        out
    }

    /// A cell value as the indicator publishes it: whole counts and percentages, statistics
    /// with one decimal.
    pub(crate) fn value(self, indicator: &Indicator, value: f64) -> String {
        match indicator.kind {
            Kind::Count => self.number(value, 0),
            Kind::Share => format!("{}%", self.number(value, 0)),
            Kind::Statistic => self.number(value, 1),
        }
    }
}

/// Text made safe for HTML element content and quoted attribute values: whatever a provider
/// writes is shown as the characters it typed, never as markup.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Appends formatted text to a page; writing to a `String` cannot fail.
pub(crate) fn push(out: &mut String, args: fmt::Arguments<'_>) {
    let _ = out.write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_each_language_does() {
        assert_eq!(Language::Nl.number(1234.5, 1), "1.234,5");
        assert_eq!(Language::En.number(1234.5, 1), "1,234.5");
        assert_eq!(Language::Nl.number(1_234_567.0, 0), "1.234.567");
        assert_eq!(Language::Nl.number(999.0, 0), "999");
        assert_eq!(Language::Nl.number(0.04, 1), "0,0");
        assert_eq!(Language::Nl.number(-12.25, 1), "-12,2");
        assert_eq!(Language::Nl.number(-0.01, 1), "0,0");
    }

    #[test]
    fn escaping_leaves_no_markup() {
        let text = r#"<script>alert("x")</script> & 'a' &amp; =SUM(A1)"#;
        assert_eq!(
            Escaped(text).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;a&#39; &amp;amp; =SUM(A1)"
        );
    }

    #[test]
    fn categories_have_labels_in_both_languages() {
        assert_eq!(Language::Nl.category("hulpvorm", "11"), "pleegzorg (11)");
        assert_eq!(
            Language::En.category("verblijf", "met_verblijf"),
            "with residential care"
        );
        assert_eq!(Language::Nl.category("age_band", "4-11"), "4-11 jaar");
        assert_eq!(Language::Nl.category("hulpvorm", "99"), "99");
    }
}
