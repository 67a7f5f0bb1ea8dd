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
            // The label says youths (jeugdigen): the unit follows it.
            "children" => self.t("jeugdigen", "youths"),
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
    pub(crate) fn number(self, value: f64, decimals: u32) -> String {
        let mut out = String::new();
        self.number_into(&mut out, value, decimals);
        out
    }

    /// [`Self::number`] appended to `out`. Integer arithmetic throughout: a release writes
    /// millions of figures, and float formatting is the slow part of that.
    pub(crate) fn number_into(self, out: &mut String, value: f64, decimals: u32) {
        let (thousands, point) = match self {
            Self::Nl => ('.', ','),
            Self::En => (',', '.'),
        };
        let scale = 10u64.pow(decimals.min(6));
        let scaled = (value.abs() * scale as f64).round();
        if !scaled.is_finite() || scaled >= 1e18 {
            push(out, format_args!("{value}"));
            return;
        }
        let scaled = scaled as u64;
        if value < 0.0 && scaled != 0 {
            out.push('-');
        }
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut whole = scaled / scale;
        loop {
            start -= 1;
            digits[start] = b'0' + (whole % 10) as u8;
            whole /= 10;
            if whole == 0 {
                break;
            }
        }
        let digits = &digits[start..];
        for (i, digit) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(thousands);
            }
            out.push(char::from(*digit));
        }
        if decimals > 0 {
            out.push(point);
            let fraction = scaled % scale;
            let mut divisor = scale / 10;
            while divisor > 0 {
                out.push(char::from(b'0' + ((fraction / divisor) % 10) as u8));
                divisor /= 10;
            }
        }
    }

    /// A cell value as the indicator publishes it: whole counts and percentages, statistics
    /// with one decimal.
    pub(crate) fn value(self, indicator: &Indicator, value: f64) -> String {
        let mut out = String::new();
        self.value_into(&mut out, indicator, value);
        out
    }

    /// [`Self::value`] appended to `out`.
    pub(crate) fn value_into(self, out: &mut String, indicator: &Indicator, value: f64) {
        match indicator.kind {
            Kind::Count => self.number_into(out, value, 0),
            Kind::Share => {
                self.number_into(out, value, 0);
                out.push('%');
            }
            Kind::Statistic => self.number_into(out, value, 1),
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
        assert_eq!(Language::Nl.number(-12.26, 1), "-12,3");
        assert_eq!(Language::En.number(7.05, 1), "7.1");
        assert_eq!(Language::Nl.number(1000.0, 1), "1.000,0");
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
