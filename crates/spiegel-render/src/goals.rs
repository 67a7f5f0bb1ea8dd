//! Goal attainment (doelrealisatie, NJi outcomes 3.3 and 3.4) on every page: the share of
//! judged trajectories whose goals were fully achieved, with its response share, or "niet
//! gemeten" where no delivery carried the optional columns. The distributions of the answers
//! are drawn with the other distributions of the page.

use maud::{Markup, html};
use spiegel_aggregate::indicators::indicator;
use spiegel_core::ReportKind;

use crate::load::{Report, Status};
use crate::page::Page;
use crate::text::{Escaped, Language};

const RESPONSE: &str = "goals_response_share";
const HEADLINE: &str = "goals_achieved_01";

/// What a report says about the goals.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Judged {
    /// No ended trajectory of the report was judged: no delivery carried the column.
    NotMeasured,
    /// The distribution is suppressed: whether any were judged is not published.
    Secret,
    /// Some were: the share fully achieved, where published.
    Measured(Option<f64>),
}

/// Read from the distribution's denominator, the trajectories judged: a count of 0 is always
/// published as 0, where the response share over a few ended trajectories may be suppressed.
fn judged(report: &Report) -> Judged {
    match report.total(HEADLINE) {
        Some(c) if c.status == Status::Suppressed => Judged::Secret,
        Some(c) if c.denominator != Some(0) => Judged::Measured(c.value),
        _ => Judged::NotMeasured,
    }
}

/// The headline figure of a report as text, with its CSS class.
fn headline(language: Language, report: &Report) -> (&'static str, String) {
    match (judged(report), indicator(HEADLINE)) {
        (Judged::NotMeasured, _) => ("", language.t("niet gemeten", "not measured").to_owned()),
        (Judged::Secret, _) => ("s", language.t("geheim", "suppressed").to_owned()),
        (Judged::Measured(Some(v)), Some(i)) => ("", language.value(i, v)),
        (Judged::Measured(_), _) => ("", "–".to_owned()),
    }
}

/// The "Doelen behaald" card.
pub(crate) fn section(page: &Page<'_>) -> Markup {
    let language = page.language;
    let t = |nl, en| language.t(nl, en);
    let report = page.report;
    let (class, value) = headline(language, report);
    let goals = judged(report);
    // The region's and the country's figures beside a municipality's or a region's own.
    let mut refs = Vec::new();
    if report.file.kind != ReportKind::Mirror {
        for (reports, nl, en) in [
            (page.region, "regio", "region"),
            (page.national, "Nederland", "the Netherlands"),
        ] {
            if let Some(other) = reports.last().copied().flatten()
                && !std::ptr::eq(other, report)
            {
                refs.push((t(nl, en), headline(language, other).1));
            }
        }
    }
    let response = match (goals, report.total(RESPONSE)) {
        (Judged::NotMeasured, _) => t(
            "Geen van de leveringen voor deze rapportage bevatte een oordeel over de doelen \
             (de kolommen doelen_behaald en problematiek_afgenomen zijn optioneel).",
            "None of the deliveries for this report held a judgement of the goals (the \
             columns doelen_behaald and problematiek_afgenomen are optional).",
        )
        .to_owned(),
        (_, Some(c)) if c.status == Status::Suppressed => {
            t("Respons: geheim.", "Response: suppressed.").to_owned()
        }
        (_, cell) => format!(
            "{} {} {}",
            t("Respons:", "Response:"),
            match (cell.and_then(|c| c.value), indicator(RESPONSE)) {
                (Some(v), Some(i)) => language.value(i, v),
                _ => "–".to_owned(),
            },
            t(
                "van de beëindigde trajecten heeft een oordeel over de doelen.",
                "of the ended trajectories have a judgement of the goals."
            )
        ),
    };
    html! {
        div class="cards" id="doelrealisatie" {
            figure {
                h3 { (t("Doelen behaald", "Goals achieved")) }
                p class="now" {
                    span class=[Some(class).filter(|c| !c.is_empty())] { (Escaped(&value)) }
                    @if goals != Judged::NotMeasured {
                        " " span class="unit" { (t("volledig behaald", "fully achieved")) }
                    }
                    @if !refs.is_empty() {
                        span class="refs" {
                            @for (n, (name, figure)) in refs.iter().enumerate() {
                                @if n > 0 { " · " }
                                (name) " " (Escaped(figure))
                            }
                        }
                    }
                }
                p class="respons" { (Escaped(&response)) }
                p class="note" {
                    (t(
                        "Deel van de beëindigde trajecten met een oordeel waarvan de afgesproken \
                         doelen volledig zijn behaald (uitkomst 3.4), volgens de jeugdige, de \
                         ouder of de jeugdprofessional samen met hen. Dit is Spiegels uitwerking \
                         zolang er geen landelijke definitie is; lees het altijd samen met de \
                         respons.",
                        "Share of the ended trajectories with a judgement whose agreed goals were \
                         fully achieved (outcome 3.4), according to the youth, the parent, or the \
                         youth-care professional together with them. This is Spiegel's \
                         operationalisation until a national definition exists; always read it \
                         together with the response."
                    ))
                }
            }
        }
    }
}
