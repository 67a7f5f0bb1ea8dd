//! Words on the page, in Dutch (the users' language) and English, and how numbers are written
//! in each.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use spiegel_aggregate::AggregateConfig;
use spiegel_aggregate::indicators::{Indicator, Kind};
use spiegel_core::{AgeBand, CodeList, Geslacht, Hulpvorm, Period, Verwijzer};

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

    /// An indicator's label as a page shows it: the catalogue's words with the configured
    /// window or norm written in, so no reader meets a placeholder.
    pub(crate) fn label(
        self,
        indicator: &Indicator,
        config: &AggregateConfig,
    ) -> Cow<'static, str> {
        let label = self.indicator(indicator);
        match indicator.code {
            "no_new_start_share" => Cow::Owned(with_days(label, config.no_new_start_days)),
            "started_within_norm_share" => Cow::Owned(format!(
                "{label} {} {}",
                self.t("van", "of"),
                self.days(config.waiting_norm_days)
            )),
            _ => Cow::Borrowed(label),
        }
    }

    /// An indicator's definition in this language, with the configured window or norm.
    pub(crate) fn definition(self, indicator: &Indicator, config: &AggregateConfig) -> String {
        let text = self.t(indicator.definition_nl, indicator.definition_en);
        with_days(text, config.no_new_start_days)
    }

    fn days(self, days: u32) -> String {
        format!(
            "{} {}",
            self.number(f64::from(days), 0),
            self.t("dagen", "days")
        )
    }

    /// A period as a reader says it: "1e halfjaar 2026", "third quarter of 2026". A code
    /// that is no period is shown as it is.
    pub(crate) fn period(self, code: &str) -> String {
        let (part, year) = self.period_parts(code);
        match (self, year) {
            (_, None) => part,
            (Self::Nl, Some(year)) => format!("{part} {year}"),
            (Self::En, Some(year)) => format!("{part} of {year}"),
        }
    }

    /// [`Self::period`] in two lines for a chart's axis: the part of the year, and the year.
    pub(crate) fn period_parts(self, code: &str) -> (String, Option<i32>) {
        let Ok(period) = Period::from_str(code) else {
            return (code.to_owned(), None);
        };
        // The month the period ends in numbers it within its year.
        let last_month = period.end().format("%m").to_string();
        let last_month: u32 = last_month.parse().unwrap_or(12);
        let (n, nl, en) = if period.is_half_year() {
            (last_month / 6, "halfjaar", "half")
        } else {
            (last_month / 3, "kwartaal", "quarter")
        };
        const ORDINALS: [&str; 4] = ["first", "second", "third", "fourth"];
        let part = match self {
            Self::Nl => format!("{n}e {nl}"),
            Self::En => format!(
                "{} {en}",
                ORDINALS[(n as usize).clamp(1, ORDINALS.len()) - 1]
            ),
        };
        (part, Some(period.year()))
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
            Kind::Statistic => self.number_into(out, value, decimals(indicator.unit)),
        }
    }
}

/// Decimals a statistic is written with: days and euros as whole numbers (a tenth of a day or
/// of a euro tells a reader nothing), a score with one.
pub(crate) fn decimals(unit: &str) -> u32 {
    match unit {
        "score" => 1,
        _ => 0,
    }
}

/// `text` with its window placeholder ` W ` replaced by the number of days.
fn with_days(text: &str, days: u32) -> String {
    text.replace(" W ", &format!(" {days} "))
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

/// Text in a template is escaped as it always was on the pages, `'` included, which maud's
/// own escaping leaves as it is: the pages keep their bytes.
impl maud::Render for Escaped<'_> {
    fn render_to(&self, buffer: &mut String) {
        push(buffer, format_args!("{self}"));
    }
}

/// A published value as a template writes it, straight into the page: digits, separators
/// and `%` only, so nothing to escape.
pub(crate) struct Value<'a>(
    pub(crate) Language,
    pub(crate) &'a Indicator,
    pub(crate) f64,
);

impl maud::Render for Value<'_> {
    fn render_to(&self, buffer: &mut String) {
        self.0.value_into(buffer, self.1, self.2);
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
    fn statistics_have_the_precision_of_their_unit() {
        let days = spiegel_aggregate::indicators::indicator("duration_days_median").unwrap();
        let euro = spiegel_aggregate::indicators::indicator("declared_amount_mean").unwrap();
        let score = spiegel_aggregate::indicators::indicator("satisfaction_mean_youth").unwrap();
        let share = spiegel_aggregate::indicators::indicator("dropout_share").unwrap();
        assert_eq!(Language::Nl.value(days, 106.0), "106");
        assert_eq!(Language::Nl.value(days, 106.5), "107");
        assert_eq!(Language::Nl.value(euro, 9665.6), "9.666");
        assert_eq!(Language::En.value(euro, 9665.4), "9,665");
        assert_eq!(Language::Nl.value(score, 7.25), "7,3");
        assert_eq!(Language::En.value(score, 7.0), "7.0");
        assert_eq!(Language::Nl.value(share, 12.0), "12%");
    }

    #[test]
    fn periods_read_as_words() {
        assert_eq!(Language::Nl.period("2026-H1"), "1e halfjaar 2026");
        assert_eq!(Language::Nl.period("2025-Q3"), "3e kwartaal 2025");
        assert_eq!(Language::En.period("2026-H2"), "second half of 2026");
        assert_eq!(Language::En.period("2025-Q3"), "third quarter of 2025");
        assert_eq!(Language::Nl.period("later"), "later");
    }

    #[test]
    fn labels_carry_the_configured_window_and_norm() {
        let config = AggregateConfig {
            no_new_start_days: 91,
            ..AggregateConfig::default()
        };
        let nns = spiegel_aggregate::indicators::indicator("no_new_start_share").unwrap();
        let norm = spiegel_aggregate::indicators::indicator("started_within_norm_share").unwrap();
        assert_eq!(
            Language::Nl.label(nns, &config),
            "geen nieuwe start binnen 91 dagen (3.2)"
        );
        assert_eq!(
            Language::Nl.label(norm, &config),
            "gestart binnen de norm van 42 dagen"
        );
        assert_eq!(
            Language::En.label(norm, &config),
            "started within the norm of 42 days"
        );
        for i in spiegel_aggregate::indicators::INDICATORS {
            for language in Language::ALL {
                let text = format!(
                    "{} {}",
                    language.label(i, &config),
                    language.definition(i, &config)
                );
                assert!(!text.contains(" W "), "{text}");
                assert!(!language.definition(i, &config).is_empty(), "{}", i.code);
            }
        }
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
