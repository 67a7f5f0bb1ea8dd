//! "Het verhaal achter de cijfers" on a mirror page: the provider's explanation as it wrote
//! it, or, where it has none yet, the place of one: the reader sees that the provider can
//! still tell the story behind the figures, and the provider and the operator see how.

use maud::{Markup, html};

use crate::text::{Escaped, Language};

use super::Page;

fn heading(page: &Page<'_>) -> &'static str {
    page.t(
        "Het verhaal achter de cijfers",
        "The story behind the figures",
    )
}

/// The provider's explanation, as text: whatever it typed is shown, never run as markup.
pub(super) fn told(page: &Page<'_>, story: &str) -> Markup {
    html! {
        section id="verhaal" {
            h2 { (heading(page)) }
            p class="note" {
                (page.t(
                    "Toelichting van de aanbieder, door Spiegel ongewijzigd weergegeven.",
                    "The provider's explanation, shown by Spiegel as written."
                ))
            }
            div class="verhaal" { (Escaped(story)) }
        }
        "\n"
    }
}

/// The empty section, naming both ways to fill it for this report: the API route and
/// `spiegel annotate`. The period stands as a placeholder, so no period code (`2026-H1`)
/// appears in the page's text; the page names the period in words.
pub(super) fn empty(page: &Page<'_>) -> Markup {
    let provider = &page.report.file.recipient;
    let gemeente = page.municipality_code();
    let placeholder = page.t("PERIODE", "PERIOD");
    let route = crate::ANNOTATION_ROUTE
        .replace("{period}", placeholder)
        .replace("{gemeente}", gemeente);
    let command = format!(
        "spiegel annotate --provider {provider} --period {placeholder} --gemeente {gemeente} \
         --file {} --reports … --data-dir …",
        page.t("toelichting.txt", "explanation.txt")
    );
    let max = crate::MAX_ANNOTATION_CHARS;
    let how = match page.language {
        Language::Nl => html! {
            "Een toelichting is platte tekst van ten hoogste " (max) " tekens die geen jeugdige \
             herkenbaar maakt. De aanbieder stuurt haar via de API, "
            code { "POST " (Escaped(&route)) }
            ", of de beheerder voegt haar namens de aanbieder toe met "
            code { (Escaped(&command)) }
            "; " (placeholder) " is de periode van deze rapportage zoals in de bestandsnaam van \
             de levering. Zij verschijnt hier zodra de pagina's opnieuw zijn gemaakt."
        },
        Language::En => html! {
            "An explanation is plain text of at most " (max) " characters that identifies no \
             youth. The provider sends it through the API, "
            code { "POST " (Escaped(&route)) }
            ", or the operator adds it on the provider's behalf with "
            code { (Escaped(&command)) }
            "; " (placeholder) " is this report's period as in the file name of the delivery. \
             It appears here once the pages are made again."
        },
    };
    html! {
        section id="verhaal" class="verhaal-leeg" {
            h2 { (heading(page)) }
            p {
                (page.t(
                    "De aanbieder heeft bij deze cijfers (nog) geen toelichting gegeven.",
                    "The provider has not (yet) added an explanation to these figures."
                ))
            }
            p class="note" { (how) }
        }
        "\n"
    }
}
