//! One report as one self-contained HTML page, following the agenda of the quality
//! conversation: how to read it, the provider's own story, use of care, outcomes, and every
//! published figure by breakdown.

use std::str::FromStr;

use spiegel_aggregate::indicators::{INDICATORS, Indicator, Kind};
use spiegel_core::{GemeenteCode, Period, Reference};
use spiegel_publish::{Manifest, counts_rounded};

use crate::chart::{self, Point, Series};
use crate::load::{Cell, Report, Status};
use crate::text::{Escaped, Language, push};

/// Output indicators drawn as a trend (the contract conversation).
const OUTPUT_CHARTS: &[&str] = &[
    "youths_in_care",
    "trajectories_started",
    "trajectories_ended",
    "duration_days_median",
    "waiting_days_median",
    "repeat_request_share",
];

/// Outcome indicators drawn as a trend (the harmonised outcome set).
const OUTCOME_CHARTS: &[&str] = &[
    "ended_as_planned_share",
    "dropout_share",
    "satisfaction_response_share_youth",
    "satisfaction_mean_youth",
    "satisfaction_response_share_parent",
    "satisfaction_mean_parent",
    "continue_without_help_youth_04",
    "no_new_start_share",
];

/// The first outcome indicator of the catalogue; those before it are output indicators.
const FIRST_OUTCOME: &str = "ended_as_planned_share";

/// Breakdowns in the order the tables show them.
const DIMENSIONS: &[&str] = &[
    "total",
    "hulpvorm",
    "verblijf",
    "verwijzer",
    "age_band",
    "geslacht",
];

const STYLE: &str = include_str!("page.css");

/// What one page shows.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub(crate) language: Language,
    pub(crate) manifest: &'a Manifest,
    /// The report this page renders (its period is the last of `periods`).
    pub(crate) report: &'a Report,
    /// The periods of the trend, oldest first, ending with the report's own.
    pub(crate) periods: &'a [String],
    /// The same recipient's report for each of `periods`, where one was published.
    pub(crate) history: &'a [Option<&'a Report>],
    /// Municipality pages: the jeugdzorgregio's report for each of `periods`.
    pub(crate) region: &'a [Option<&'a Report>],
    /// Municipality pages: the national report for each of `periods`.
    pub(crate) national: &'a [Option<&'a Report>],
    /// Mirror pages: the provider's explanation, shown as text.
    pub(crate) annotation: Option<&'a str>,
    /// Mirror pages: the provider asked to share it, and the request waits (NB-4).
    pub(crate) share_pending: bool,
    /// The file name of this page in the other language, when that variant exists.
    pub(crate) other_language: Option<&'a str>,
}

impl Page<'_> {
    fn mirror(&self) -> bool {
        self.report.file.kind == "mirror"
    }

    fn municipality_code(&self) -> &str {
        self.report
            .file
            .municipality
            .as_deref()
            .unwrap_or(&self.report.file.recipient)
    }

    fn municipality_name(&self) -> String {
        let code = self.municipality_code();
        GemeenteCode::from_str(code)
            .ok()
            .and_then(|c| Reference::embedded().gemeente(c))
            .map_or_else(|| code.to_owned(), |g| g.naam.clone())
    }

    fn region_name(&self) -> Option<&str> {
        self.report.region.as_deref()
    }

    fn t(&self, nl: &'static str, en: &'static str) -> &'static str {
        self.language.t(nl, en)
    }
}

/// The page as HTML.
pub(crate) fn render(page: &Page<'_>) -> String {
    let mut out = String::with_capacity(96 * 1024);
    let language = page.language;
    let period = &page.report.file.period;
    let gemeente = page.municipality_name();
    let code = page.municipality_code();
    let title = if page.mirror() {
        format!(
            "{} {period} — {} {}, {gemeente}",
            page.t("Spiegelrapportage", "Mirror report"),
            page.t("aanbieder", "provider"),
            page.report.file.recipient
        )
    } else {
        format!(
            "{} {gemeente} {period}",
            page.t("Gemeenterapportage", "Municipality report")
        )
    };
    push(
        &mut out,
        format_args!(
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'\"><title>{}</title><style>{STYLE}</style></head><body>\n",
            language.code(),
            Escaped(&title)
        ),
    );
    header(&mut out, page, &gemeente, code);
    out.push_str("<main>\n");
    how_to_read(&mut out, page, &gemeente);
    if let Some(story) = page.annotation.filter(|_| page.mirror()) {
        push(
            &mut out,
            format_args!(
                "<section id=\"verhaal\"><h2>{}</h2><p class=\"note\">{}</p>\
                 <div class=\"verhaal\">{}</div></section>\n",
                page.t(
                    "Het verhaal achter de cijfers",
                    "The story behind the figures"
                ),
                page.t(
                    "Toelichting van de aanbieder, door Spiegel ongewijzigd weergegeven.",
                    "The provider's explanation, shown by Spiegel as written."
                ),
                Escaped(story)
            ),
        );
    }
    cards(
        &mut out,
        page,
        "inzet",
        page.t("Inzet van jeugdhulp", "Use of youth care"),
        OUTPUT_CHARTS,
    );
    out.push_str("</section>\n");
    cards(
        &mut out,
        page,
        "uitkomsten",
        page.t("Uitkomsten", "Outcomes"),
        OUTCOME_CHARTS,
    );
    distributions(&mut out, page);
    out.push_str("</section>\n");
    details(&mut out, page);
    out.push_str("</main>\n");
    footer(&mut out, page);
    out.push_str("</body></html>\n");
    out
}

fn header(out: &mut String, page: &Page<'_>, gemeente: &str, code: &str) {
    let file = &page.report.file;
    let other = match page.language {
        Language::Nl => ("en", "English"),
        Language::En => ("nl", "Nederlands"),
    };
    push(
        out,
        format_args!(
            "<header><p class=\"kicker\">Spiegel · {}</p>",
            page.t(
                "rapportage voor het kwaliteitsgesprek",
                "report for the quality conversation"
            )
        ),
    );
    if page.mirror() {
        push(
            out,
            format_args!(
                "<h1>{} {} {}</h1><p class=\"sub\">{} {} ({code}) · {} {}</p>",
                page.t("Spiegelrapportage", "Mirror report"),
                page.t("aanbieder", "provider"),
                Escaped(&file.recipient),
                page.t("Jeugdigen uit gemeente", "Youths from the municipality of"),
                Escaped(gemeente),
                page.t("periode", "period"),
                Escaped(&file.period),
            ),
        );
    } else {
        push(
            out,
            format_args!(
                "<h1>{} {}</h1><p class=\"sub\">{code} · {} {} · {} {}</p>",
                page.t("Gemeenterapportage", "Municipality report"),
                Escaped(gemeente),
                page.t("jeugdzorgregio", "youth-care region"),
                Escaped(page.region_name().unwrap_or("–")),
                page.t("periode", "period"),
                Escaped(&file.period),
            ),
        );
    }
    push(
        out,
        format_args!(
            "<p class=\"meta\">Release {} · {} {}",
            Escaped(&page.manifest.release),
            page.t("methode", "method"),
            Escaped(&page.manifest.method_version),
        ),
    );
    if let Some(href) = page.other_language {
        push(
            out,
            format_args!(
                " · <a class=\"lang\" href=\"{}\" hreflang=\"{}\" lang=\"{}\">{}</a>",
                Escaped(href),
                other.0,
                other.0,
                other.1,
            ),
        );
    }
    out.push_str("</p></header>\n");
}

fn how_to_read(out: &mut String, page: &Page<'_>, gemeente: &str) {
    let config = &page.manifest.config;
    push(
        out,
        format_args!(
            "<section id=\"lezen\"><h2>{}</h2>",
            page.t("Zo leest u deze rapportage", "How to read this report")
        ),
    );
    let (nl, en): (String, String) = if page.mirror() {
        let shared = page.report.file.shared == Some(true);
        (
            format!(
                "<p>Deze spiegelrapportage laat de resultaten zien van aanbieder {0} voor \
                 jeugdigen uit gemeente {1}, met het verloop over de perioden. Ze toont alleen de \
                 eigen cijfers van deze aanbieder: er staat niets in over andere aanbieders, en \
                 Spiegel vergelijkt of rangschikt aanbieders nooit. De aanbieder leest haar; {2}</p>\
                 <p>De eigen aantallen trajecten en jeugdigen zijn exact, zodat u kunt nagaan of \
                 de levering volledig was. Cijfers die gegevens van andere aanbieders gebruiken \
                 (herhaald beroep, geen nieuwe start) zijn beschermd zoals alle gepubliceerde \
                 cijfers.</p>",
                Escaped(&page.report.file.recipient),
                Escaped(gemeente),
                if shared {
                    "zij is gedeeld met de gemeente, die haar ook leest."
                } else if page.share_pending {
                    "de aanbieder heeft gevraagd haar met de gemeente te delen. Dat verzoek \
                     wacht: het gaat pas in als ook andere aanbieders van de gemeente hun \
                     spiegelrapportage delen, omdat de gemeente anders uit haar eigen cijfers \
                     die van de overige aanbieders zou kunnen afleiden."
                } else {
                    "zij is (nog) niet gedeeld met de gemeente."
                }
            ),
            format!(
                "<p>This mirror report shows the results of provider {0} for youths from the \
                 municipality of {1}, with the trend over the periods. It shows this provider's \
                 own figures only: nothing about other providers, and Spiegel never compares or \
                 ranks providers. The provider reads it; {2}</p><p>The provider's own numbers \
                 of trajectories and youths are exact, so the delivery can be checked for \
                 completeness. Figures that use other providers' data (repeat request, no new \
                 start) are protected like every published figure.</p>",
                Escaped(&page.report.file.recipient),
                Escaped(gemeente),
                if shared {
                    "it has been shared with the municipality, which reads it too."
                } else if page.share_pending {
                    "the provider asked to share it with the municipality. The request is \
                     pending: it takes effect once other providers of the municipality share \
                     theirs too, since the municipality could otherwise derive the other \
                     providers' figures from its own."
                } else {
                    "it has not (yet) been shared with the municipality."
                }
            ),
        )
    } else {
        (
            format!(
                "<p>Deze rapportage toont de jeugdhulp aan jeugdigen uit gemeente {0} \
                 (woonplaatsbeginsel), voor alle aanbieders samen, met de jeugdzorgregio en heel \
                 Nederland ernaast als referentie. Ze noemt geen aanbieders en bevat geen cijfers \
                 per aanbieder: het gesprek over kwaliteit voert u met elke aanbieder aan de hand \
                 van diens eigen spiegelrapportage, als die met u gedeeld is.</p>",
                Escaped(gemeente)
            ),
            format!(
                "<p>This report shows the youth care given to youths from the municipality of \
                 {0} (by residence), for all providers together, with the youth-care region and \
                 the whole of the Netherlands beside it for reference. It names no provider and \
                 holds no figures per provider: the quality conversation with each provider uses \
                 that provider's own mirror report, when it has been shared with you.</p>",
                Escaped(gemeente)
            ),
        )
    };
    out.push_str(match page.language {
        Language::Nl => &nl,
        Language::En => &en,
    });
    let legend_nl = format!(
        "<dl class=\"legend-list\"><dt>geheim</dt><dd>niet gepubliceerd, om een van deze \
         redenen (welke, zegt de rapportage niet: ook dat zou iets verraden): het cijfer betreft \
         minder dan {t} jeugdigen of trajecten; een percentage of gemiddelde rust op minder dan \
         {rate}; het cijfer zou de cijfers verraden van aanbieders die hun spiegelrapportage niet \
         met de gemeente delen; of het zou een ander geheim cijfer herleidbaar maken.</dd><dt>°</dt><dd>afgerond op een veelvoud van 5. De afronding is vast \
         en herhaalbaar, zodat dezelfde groep jeugdigen overal hetzelfde getal krijgt en geen \
         individuele jeugdige te herleiden is.</dd><dt>†</dt><dd>voorlopig: nog niet alle \
         leveringen waar het cijfer van afhangt zijn binnen (geen nieuwe start binnen de termijn \
         na het einde).</dd><dt>–</dt><dd>geen cijfer: niet van toepassing, niet geleverd, of een \
         teller kleiner dan {t}.</dd></dl><p>Percentages en gemiddelden staan er alleen bij een \
         noemer van ten minste {rate}. Een jeugdige telt per cel één keer mee, ook met meerdere \
         trajecten.</p>",
        t = config.threshold,
        rate = config.rate_threshold
    );
    let legend_en = format!(
        "<dl class=\"legend-list\"><dt>suppressed</dt><dd>not published, for one of these \
         reasons (the report does not say which: that too would give something away): the \
         figure concerns fewer than {t} youths or trajectories; a percentage or mean rests on \
         fewer than {rate}; the figure would give away the figures of providers that do not \
         share their mirror report with the municipality; or it would make another suppressed \
         figure derivable.</dd><dt>°</dt><dd>rounded to a multiple of 5. The rounding is \
         fixed and repeatable, so the same group of youths gets the same number everywhere and no \
         single youth can be singled out.</dd><dt>†</dt><dd>provisional: not every delivery the \
         figure depends on is in yet (no new start within the period after the end).</dd>\
         <dt>–</dt><dd>no figure: not applicable, not delivered, or a numerator below {t}.</dd>\
         </dl><p>Percentages and means are shown only for a denominator of at least {rate}. A \
         youth counts once per cell, even with several trajectories.</p>",
        t = config.threshold,
        rate = config.rate_threshold
    );
    out.push_str(match page.language {
        Language::Nl => &legend_nl,
        Language::En => &legend_en,
    });
    if !page.mirror() && mostly_suppressed(page) {
        out.push_str(page.t(
            "<p class=\"few-providers\">De meeste kerncijfers van deze gemeente zijn geheim. Dat \
             gebeurt waar weinig aanbieders de jeugdigen van een gemeente helpen: uit het totaal \
             zou dan af te leiden zijn wat één aanbieder deed. Delen alle aanbieders hun \
             spiegelrapportage met de gemeente, dan is er niemand meer te beschermen en worden de \
             cijfers gepubliceerd.</p>",
            "<p class=\"few-providers\">Most key figures of this municipality are suppressed. \
             That happens where few providers serve a municipality's youths: the total would \
             then reveal what one provider did. Once all of them share their mirror reports with \
             the municipality, nobody is left to protect and the figures are published.</p>",
        ));
    }
    push(
        out,
        format_args!(
            "<h3>{}</h3><dl class=\"terms\">",
            page.t("Wat de kerncijfers betekenen", "What the key figures mean")
        ),
    );
    for (code, nl, en) in DEFINITIONS {
        if let Some(i) = spiegel_aggregate::indicators::indicator(code) {
            push(
                out,
                format_args!(
                    "<dt>{}</dt><dd>{}</dd>",
                    Escaped(page.language.indicator(i)),
                    page.t(nl, en)
                ),
            );
        }
    }
    out.push_str("</dl></section>\n");
}

/// Short definitions of the charted indicators, in the users' words.
const DEFINITIONS: &[(&str, &str, &str)] = &[
    (
        "youths_in_care",
        "jeugdigen met een traject dat in de periode liep, elk één keer geteld.",
        "youths with a trajectory running in the period, each counted once.",
    ),
    (
        "duration_days_median",
        "mediane duur van de trajecten die in de periode eindigden.",
        "median duration of the trajectories that ended in the period.",
    ),
    (
        "waiting_days_median",
        "mediane tijd van aanmelding tot start, voor trajecten met een aanmelddatum.",
        "median time from request to start, for trajectories with a request date.",
    ),
    (
        "repeat_request_share",
        "deel van de jeugdigen met een nieuwe start die in de vijf jaar ervoor al een \
         traject bij een aanbieder beëindigden.",
        "share of youths with a new start who ended a trajectory at any provider in the five \
         years before.",
    ),
    (
        "ended_as_planned_share",
        "deel van de beëindigde trajecten (redenen 01–04) dat volgens plan eindigde.",
        "share of ended trajectories (reasons 01–04) that ended as planned.",
    ),
    (
        "dropout_share",
        "deel van dezelfde trajecten dat voortijdig en eenzijdig eindigde (redenen 03 en 04).",
        "share of the same trajectories that ended early and unilaterally (reasons 03 and 04).",
    ),
    (
        "satisfaction_response_share_youth",
        "deel van de beëindigde trajecten met een tevredenheidsscore van de jeugdige; lees een \
         gemiddelde altijd samen met deze respons.",
        "share of ended trajectories with a satisfaction score from the youth; read a mean \
         together with this response.",
    ),
    (
        "continue_without_help_youth_04",
        "deel van de antwoorden van de jeugdige dat geen verdere hulp nodig is.",
        "share of the youth's answers saying no further help is needed.",
    ),
    (
        "no_new_start_share",
        "deel van de trajecten die volgens plan of voortijdig eindigden, waarna de jeugdige \
         binnen de termijn bij geen enkele aanbieder opnieuw startte (uitkomst 3.2).",
        "share of trajectories ended as planned or early after which the youth did not start \
         again at any provider within the period (outcome 3.2).",
    ),
];

/// Whether most of a report's headline figures (youths in care, started, ended) are suppressed.
fn mostly_suppressed(page: &Page<'_>) -> bool {
    let headline = [
        "youths_in_care",
        "trajectories_started",
        "trajectories_ended",
    ];
    let suppressed = headline
        .iter()
        .filter(|code| {
            page.report
                .total(code)
                .is_some_and(|c| c.status == Status::Suppressed)
        })
        .count();
    suppressed * 2 > headline.len()
}

/// The headline figures of a section, each with its trend.
fn cards(out: &mut String, page: &Page<'_>, id: &str, heading: &str, codes: &[&'static str]) {
    push(
        out,
        format_args!("<section id=\"{id}\"><h2>{heading}</h2><div class=\"cards\">"),
    );
    let gemeente = page.municipality_name();
    for (n, code) in codes.iter().enumerate() {
        let Some(indicator) = spiegel_aggregate::indicators::indicator(code) else {
            continue;
        };
        let own = points(page.history, code);
        if own.iter().all(|p| *p == Point::Missing) {
            continue;
        }
        let mut series = vec![Series {
            class: "own",
            name: if page.mirror() {
                format!(
                    "{} {}",
                    page.t("aanbieder", "provider"),
                    page.report.file.recipient
                )
            } else {
                gemeente.clone()
            },
            points: own,
        }];
        // Counts of a region or the country are on another scale than a gemeente's; shares
        // and statistics are the reference worth drawing beside it.
        if !page.mirror() && indicator.kind != Kind::Count {
            series.push(Series {
                class: "region",
                name: format!(
                    "{} {}",
                    page.t("regio", "region"),
                    page.region_name().unwrap_or_default()
                ),
                points: points(page.region, code),
            });
            series.push(Series {
                class: "national",
                name: page.t("Nederland", "the Netherlands").to_owned(),
                points: points(page.national, code),
            });
        }
        push(
            out,
            format_args!(
                "<figure><h3>{}</h3><p class=\"now\">",
                Escaped(page.language.indicator(indicator))
            ),
        );
        let current = page.report.total(code);
        now(out, page, indicator, current);
        out.push_str("</p>");
        chart::trend(
            out,
            &format!("{id}{n}"),
            page.language,
            indicator,
            page.periods,
            &series,
        );
        if series.len() > 1 {
            out.push_str("<p class=\"legend\">");
            for s in &series {
                push(
                    out,
                    format_args!(
                        "<span class=\"key {}\"></span>{}",
                        s.class,
                        Escaped(&s.name)
                    ),
                );
            }
            out.push_str("</p>");
        }
        out.push_str("</figure>");
    }
    out.push_str("</div>");
}

/// Distributions shown as bars for the report's own period: why trajectories ended, and
/// whether the youth can continue without help, by informant.
const DISTRIBUTIONS: &[(&str, &str, &[&str])] = &[
    (
        "Reden van beëindiging",
        "Reason the trajectory ended",
        &[
            "end_reason_01",
            "end_reason_02",
            "end_reason_03",
            "end_reason_04",
            "end_reason_05",
        ],
    ),
    (
        "Zonder hulp verder, volgens de jeugdige",
        "Continuing without help, according to the youth",
        &[
            "continue_without_help_youth_01",
            "continue_without_help_youth_02",
            "continue_without_help_youth_03",
            "continue_without_help_youth_04",
        ],
    ),
    (
        "Zonder hulp verder, volgens de ouder",
        "Continuing without help, according to the parent",
        &[
            "continue_without_help_parent_01",
            "continue_without_help_parent_02",
            "continue_without_help_parent_03",
            "continue_without_help_parent_04",
        ],
    ),
];

fn distributions(out: &mut String, page: &Page<'_>) {
    out.push_str("<div class=\"cards\">");
    for (n, (nl, en, codes)) in DISTRIBUTIONS.iter().enumerate() {
        let items: Vec<(&str, Point, &'static Indicator)> = codes
            .iter()
            .filter_map(|code| {
                let indicator = spiegel_aggregate::indicators::indicator(code)?;
                let label = page.language.indicator(indicator);
                // "reden beëindiging: volgens plan" becomes "volgens plan" under its heading.
                let short = label.split_once(": ").map_or(label, |(_, s)| s);
                Some((short, point(page.report.total(code)), indicator))
            })
            .collect();
        let Some(&(_, _, first)) = items.first() else {
            continue;
        };
        if items.iter().all(|(_, p, _)| *p == Point::Missing) {
            continue;
        }
        let title = page.t(nl, en);
        push(out, format_args!("<figure><h3>{}</h3>", Escaped(title)));
        let bars: Vec<(&str, Point)> = items.iter().map(|(l, p, _)| (*l, *p)).collect();
        chart::distribution(
            out,
            &format!("verdeling{n}"),
            page.language,
            first,
            &format!("{title}, {}", page.report.file.period),
            &bars,
        );
        push(
            out,
            format_args!(
                "<p class=\"legend\">{} {}</p></figure>",
                page.t("Aandelen in periode", "Shares in period"),
                Escaped(&page.report.file.period)
            ),
        );
    }
    out.push_str("</div>");
}

/// The figure of the report's own period, with its reference values on a municipality page.
fn now(out: &mut String, page: &Page<'_>, indicator: &'static Indicator, cell: Option<&Cell>) {
    let kind = &page.report.file.kind;
    let shown = |cell: Option<&Cell>| -> String {
        match cell {
            Some(c) if c.status == Status::Suppressed => page.t("geheim", "suppressed").to_owned(),
            Some(Cell { value: Some(v), .. }) => page.language.value(indicator, *v),
            _ => "–".to_owned(),
        }
    };
    push(
        out,
        format_args!(
            "<span class=\"{}\">{}</span>",
            classes(kind, indicator, cell, Field::Value),
            shown(cell)
        ),
    );
    if let Some(unit) = Some(page.language.unit(indicator.unit)).filter(|u| *u != "%") {
        push(out, format_args!(" <span class=\"unit\">{unit}</span>"));
    }
    if !page.mirror() {
        fn last<'r>(reports: &[Option<&'r Report>], code: &'static str) -> Option<&'r Cell> {
            reports
                .last()
                .copied()
                .flatten()
                .and_then(|r| r.total(code))
        }
        push(
            out,
            format_args!(
                "<span class=\"refs\">{} {} · {} {}</span>",
                page.t("regio", "region"),
                shown(last(page.region, indicator.code)),
                page.t("Nederland", "the Netherlands"),
                shown(last(page.national, indicator.code))
            ),
        );
    }
}

fn points(reports: &[Option<&Report>], code: &'static str) -> Vec<Point> {
    reports
        .iter()
        .map(|r| point(r.and_then(|r| r.total(code))))
        .collect()
}

fn point(cell: Option<&Cell>) -> Point {
    match cell {
        None => Point::Missing,
        Some(c) if c.status == Status::Suppressed => Point::Secret,
        Some(c) => c.value.map_or(Point::Missing, |v| {
            Point::Value(v, c.status == Status::Provisional)
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Value,
    /// The value of the region's or the country's same cell, beside a municipality's.
    Reference,
    Numerator,
    Denominator,
}

/// CSS classes of a figure: `s` suppressed, `r` rounded to base 5, `p` provisional.
fn classes(kind: &str, indicator: &Indicator, cell: Option<&Cell>, field: Field) -> &'static str {
    let Some(cell) = cell else { return "" };
    let value = matches!(field, Field::Value | Field::Reference);
    if cell.status == Status::Suppressed {
        return if value { "s" } else { "" };
    }
    let count = match field {
        Field::Value | Field::Reference => cell.value.filter(|_| indicator.kind == Kind::Count),
        Field::Numerator => cell.numerator.map(|n| n as f64),
        Field::Denominator => cell.denominator.map(|n| n as f64),
    };
    // A reference figure comes from a region or national report: always controlled.
    let controlled = field == Field::Reference || counts_rounded(kind, indicator);
    let rounded = count.is_some_and(|n| n != 0.0) && controlled;
    let provisional = value && cell.status == Status::Provisional;
    match (rounded, provisional) {
        (true, true) => "r p",
        (true, false) => "r",
        (false, true) => "p",
        (false, false) => "",
    }
}

/// Every published cell of the report, one table per indicator, rows by breakdown.
fn details(out: &mut String, page: &Page<'_>) {
    push(
        out,
        format_args!(
            "<section id=\"cijfers\"><h2>{}</h2><p class=\"note\">{}</p>",
            page.t("Alle cijfers per uitsplitsing", "All figures by breakdown"),
            if page.mirror() {
                page.t(
                    "Elk gepubliceerd cijfer van deze rapportage, per hulpvorm, verblijf, \
                     verwijzer, leeftijd en geslacht.",
                    "Every published figure of this report, by form of care, residential care, \
                     referrer, age and sex.",
                )
            } else {
                page.t(
                    "Elk gepubliceerd cijfer van deze rapportage, per hulpvorm, verblijf, \
                     verwijzer, leeftijd en geslacht, met de regio en Nederland als referentie.",
                    "Every published figure of this report, by form of care, residential care, \
                     referrer, age and sex, with the region and the Netherlands for reference.",
                )
            }
        ),
    );
    let region = page.region.last().copied().flatten();
    let national = page.national.last().copied().flatten();
    let mut group = None;
    for indicator in INDICATORS {
        let cells: Vec<&Cell> = page
            .report
            .cells
            .iter()
            .filter(|c| c.indicator.code == indicator.code)
            .collect();
        if cells.is_empty() {
            continue;
        }
        let outcome = INDICATORS
            .iter()
            .position(|i| i.code == FIRST_OUTCOME)
            .is_some_and(|first| {
                INDICATORS
                    .iter()
                    .position(|i| i.code == indicator.code)
                    .is_some_and(|at| at >= first)
            });
        if group != Some(outcome) {
            group = Some(outcome);
            push(
                out,
                format_args!(
                    "<h3>{}</h3>",
                    if outcome {
                        page.t("Uitkomsten", "Outcomes")
                    } else {
                        page.t("Inzet van jeugdhulp", "Use of youth care")
                    }
                ),
            );
        }
        table(out, page, indicator, &cells, region, national);
    }
    out.push_str("</section>\n");
}

fn table(
    out: &mut String,
    page: &Page<'_>,
    indicator: &'static Indicator,
    cells: &[&Cell],
    region: Option<&Report>,
    national: Option<&Report>,
) {
    let language = page.language;
    let unit = language.unit(indicator.unit);
    let (value_head, numerator, denominator) = match indicator.kind {
        Kind::Count => (language.t("Aantal", "Number"), false, false),
        Kind::Share => ("%", true, true),
        Kind::Statistic => (unit, false, true),
    };
    let references = !page.mirror();
    let columns =
        2 + usize::from(numerator) + usize::from(denominator) + 2 * usize::from(references);
    // End tags of cells and rows are left out (HTML allows it): a page holds hundreds of
    // rows, and thousands of pages are written per release.
    push(
        out,
        format_args!(
            "<table{} data-indicator=\"{}\"><caption>{}{}</caption><thead><tr><th>{}\
             <th class=\"v\">{value_head}",
            if references { " class=\"refs\"" } else { "" },
            indicator.code,
            Escaped(language.indicator(indicator)),
            if indicator.kind == Kind::Count {
                format!(" ({unit})")
            } else {
                String::new()
            },
            language.t("Categorie", "Category"),
        ),
    );
    if numerator {
        push(
            out,
            format_args!("<th class=\"n\">{}", language.t("Teller", "Numerator")),
        );
    }
    if denominator {
        push(
            out,
            format_args!(
                "<th class=\"d\">{}",
                if indicator.kind == Kind::Statistic {
                    "n"
                } else {
                    language.t("Noemer", "Denominator")
                }
            ),
        );
    }
    if references {
        push(
            out,
            format_args!(
                "<th class=\"ref\">{}<th class=\"ref\">Nederland",
                language.t("Regio", "Region")
            ),
        );
    }
    out.push_str("</thead>");
    let kind = page.report.file.kind.as_str();
    let rank = |d: &str| {
        DIMENSIONS
            .iter()
            .position(|x| *x == d)
            .unwrap_or(DIMENSIONS.len())
    };
    let mut ordered: Vec<&Cell> = cells.to_vec();
    // Stable: categories keep the order of the file within their breakdown.
    ordered.sort_by_key(|c| rank(&c.dimension));
    let mut dimension: Option<&str> = None;
    for cell in ordered {
        if dimension != Some(&*cell.dimension) {
            if dimension.is_some() {
                out.push_str("</tbody>");
            }
            push(
                out,
                format_args!("<tbody data-d=\"{}\">", Escaped(&cell.dimension)),
            );
            if &*cell.dimension != "total" {
                push(
                    out,
                    format_args!(
                        "<tr class=\"dim\"><th colspan=\"{columns}\">{}",
                        language.dimension(&cell.dimension)
                    ),
                );
            }
        }
        dimension = Some(&*cell.dimension);
        push(
            out,
            format_args!(
                "<tr data-c=\"{}\"><th>{}",
                Escaped(&cell.category),
                Escaped(&language.category(&cell.dimension, &cell.category)),
            ),
        );
        let suppressed = cell.status == Status::Suppressed;
        let value = match cell.value {
            _ if suppressed => Shown::Secret,
            Some(v) => Shown::Value(v),
            None => Shown::Missing,
        };
        figure(
            out,
            language,
            indicator,
            classes(kind, indicator, Some(cell), Field::Value),
            value,
        );
        let count = |n: Option<i64>| n.map_or(Shown::Missing, Shown::Count);
        if numerator {
            figure(
                out,
                language,
                indicator,
                classes(kind, indicator, Some(cell), Field::Numerator),
                count(cell.numerator),
            );
        }
        if denominator {
            figure(
                out,
                language,
                indicator,
                classes(kind, indicator, Some(cell), Field::Denominator),
                count(cell.denominator),
            );
        }
        if references {
            for reference in [region, national] {
                let other =
                    reference.and_then(|r| r.cell(indicator.code, &cell.dimension, &cell.category));
                let shown = match other {
                    Some(c) if c.status == Status::Suppressed => Shown::Secret,
                    Some(Cell { value: Some(v), .. }) => Shown::Value(*v),
                    _ => Shown::Missing,
                };
                figure(
                    out,
                    language,
                    indicator,
                    classes(kind, indicator, other, Field::Reference),
                    shown,
                );
            }
        }
    }
    if dimension.is_some() {
        out.push_str("</tbody>");
    }
    out.push_str("</table>\n");
}

/// What a table cell shows.
#[derive(Debug, Clone, Copy)]
enum Shown {
    /// "geheim": suppressed by the release rules.
    Secret,
    /// "–": no figure.
    Missing,
    /// The indicator's value.
    Value(f64),
    /// A numerator or denominator.
    Count(i64),
}

/// One figure of a table, written straight into the page.
fn figure(
    out: &mut String,
    language: Language,
    indicator: &Indicator,
    classes: &str,
    shown: Shown,
) {
    if classes.is_empty() {
        out.push_str("<td>");
    } else {
        push(out, format_args!("<td class=\"{classes}\">"));
    }
    match shown {
        Shown::Secret => out.push_str(language.t("geheim", "suppressed")),
        Shown::Missing => out.push('–'),
        Shown::Value(v) => language.value_into(out, indicator, v),
        Shown::Count(n) => language.number_into(out, n as f64, 0),
    }
}

fn footer(out: &mut String, page: &Page<'_>) {
    push(
        out,
        format_args!(
            "<footer><p>{} {} · {}</p></footer>\n",
            page.t("Publicatie", "Release"),
            Escaped(&page.manifest.release),
            page.t(
                "Spiegel publiceert alleen geaggregeerde cijfers en vergelijkt geen aanbieders.",
                "Spiegel publishes aggregated figures only and compares no providers."
            ),
        ),
    );
}

/// Periods in time order (a period that does not parse sorts after those that do).
pub(crate) fn sort_periods(periods: &mut [String]) {
    periods.sort_by_key(|p| (Period::from_str(p).map_err(|_| ()), p.clone()));
}
