//! "Zo leest u deze rapportage": what the page is, for whom, the marks it uses and what the
//! key figures mean.

use maud::{Markup, html};
use spiegel_core::ReportKind;
use spiegel_publish::PublishConfig;

use crate::load::Status;
use crate::text::{Escaped, Language};

use super::{OUTCOME_CHARTS, OUTPUT_CHARTS, Page};

pub(super) fn how_to_read(page: &Page<'_>, gemeente: &str) -> Markup {
    let config = &page.manifest.config;
    html! {
        section id="lezen" {
            h2 { (page.t("Zo leest u deze rapportage", "How to read this report")) }
            @if let Some(intro) = crate::recipients::scope_intro(page) {
                (intro)
            } @else if page.mirror() {
                (mirror_intro(page, gemeente))
            } @else {
                (municipality_intro(page.language, gemeente))
            }
            (legend(page.language, config))
            @if page.report.file.kind == ReportKind::Municipality && mostly_suppressed(page) {
                p class="few-providers" {
                    (page.t(
                        "De meeste kerncijfers van deze gemeente zijn geheim. Dat \
                         gebeurt waar weinig aanbieders de jeugdigen van een gemeente helpen: uit \
                         het totaal zou dan af te leiden zijn wat één aanbieder deed. Delen alle \
                         aanbieders hun spiegelrapportage met de gemeente, dan is er niemand meer \
                         te beschermen en worden de cijfers gepubliceerd.",
                        "Most key figures of this municipality are suppressed. \
                         That happens where few providers serve a municipality's youths: the total \
                         would then reveal what one provider did. Once all of them share their \
                         mirror reports with the municipality, nobody is left to protect and the \
                         figures are published.",
                    ))
                }
            }
            h3 { (page.t("Wat de kerncijfers betekenen", "What the key figures mean")) }
            dl class="terms" {
                @for code in OUTPUT_CHARTS.iter().chain(OUTCOME_CHARTS) {
                    @if let Some(i) = spiegel_aggregate::indicators::indicator(code) {
                        dt { (Escaped(&page.label(i))) }
                        dd { (Escaped(&page.language.definition(i, page.indicators))) }
                    }
                }
            }
        }
        "\n"
    }
}

/// What a mirror report is and whom it is for, with whether the provider shared it.
fn mirror_intro(page: &Page<'_>, gemeente: &str) -> Markup {
    let provider = Escaped(&page.report.file.recipient);
    let gemeente = Escaped(gemeente);
    let shared = page.report.file.shared == Some(true);
    match page.language {
        Language::Nl => html! {
            p {
                "Deze spiegelrapportage laat de resultaten zien van aanbieder " (provider)
                " voor jeugdigen uit gemeente " (gemeente) ", met het verloop over de perioden. \
                 Ze toont alleen de eigen cijfers van deze aanbieder: er staat niets in over \
                 andere aanbieders, en Spiegel vergelijkt of rangschikt aanbieders nooit. Ze is \
                 bestemd voor de aanbieder; "
                @if shared {
                    "de aanbieder heeft haar gedeeld met de gemeente, die haar dus ook ontvangt."
                } @else if page.share_pending {
                    "de aanbieder heeft gevraagd haar met de gemeente te delen. Dat verzoek \
                     wacht: het gaat pas in als ook andere aanbieders van de gemeente hun \
                     spiegelrapportage delen, omdat de gemeente anders uit haar eigen cijfers \
                     die van de overige aanbieders zou kunnen afleiden."
                } @else {
                    "de aanbieder heeft haar (nog) niet met de gemeente gedeeld."
                }
            }
            p {
                "De eigen aantallen trajecten en jeugdigen zijn exact, zodat u kunt nagaan of \
                 de levering volledig was. Cijfers die gegevens van andere aanbieders gebruiken \
                 (herhaald beroep, geen nieuwe start) zijn beschermd zoals alle gepubliceerde \
                 cijfers."
            }
        },
        Language::En => html! {
            p {
                "This mirror report shows the results of provider " (provider)
                " for youths from the municipality of " (gemeente) ", with the trend over the \
                 periods. It shows this provider's own figures only: nothing about other \
                 providers, and Spiegel never compares or ranks providers. It is meant for the \
                 provider; "
                @if shared {
                    "the provider has shared it with the municipality, which therefore receives it too."
                } @else if page.share_pending {
                    "the provider asked to share it with the municipality. The request is \
                     pending: it takes effect once other providers of the municipality share \
                     theirs too, since the municipality could otherwise derive the other \
                     providers' figures from its own."
                } @else {
                    "the provider has not (yet) shared it with the municipality."
                }
            }
            p {
                "The provider's own numbers of trajectories and youths are exact, so the \
                 delivery can be checked for completeness. Figures that use other providers' \
                 data (repeat request, no new start) are protected like every published figure."
            }
        },
    }
}

/// What a municipality report is: all providers together, none named.
fn municipality_intro(language: Language, gemeente: &str) -> Markup {
    let gemeente = Escaped(gemeente);
    match language {
        Language::Nl => html! {
            p {
                "Deze rapportage toont de jeugdhulp aan jeugdigen uit gemeente " (gemeente)
                " (woonplaatsbeginsel), voor alle aanbieders samen, met de jeugdzorgregio en \
                 heel Nederland ernaast als referentie. Ze noemt geen aanbieders en bevat geen \
                 cijfers per aanbieder: het gesprek over kwaliteit voert u met elke aanbieder aan \
                 de hand van diens eigen spiegelrapportage, als die met u gedeeld is."
            }
        },
        Language::En => html! {
            p {
                "This report shows the youth care given to youths from the municipality of "
                (gemeente) " (by residence), for all providers together, with the youth-care \
                 region and the whole of the Netherlands beside it for reference. It names no \
                 provider and holds no figures per provider: the quality conversation with each \
                 provider uses that provider's own mirror report, when it has been shared with \
                 you."
            }
        },
    }
}

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

/// The legend of the marks a page uses (geheim¹, °, †, –) with the release's thresholds; every
/// page that shows published figures carries it.
pub(crate) fn legend(language: Language, config: &PublishConfig) -> Markup {
    let (t, rate) = (config.threshold, config.rate_threshold);
    match language {
        Language::Nl => html! {
            dl class="legend-list" {
                dt { "geheim\u{b9}" }
                dd {
                    "niet gepubliceerd, om een van deze redenen (welke, zegt de rapportage niet: \
                     ook dat zou iets verraden): het cijfer betreft minder dan " (t) " jeugdigen \
                     of trajecten; een percentage of gemiddelde rust op minder dan " (rate) "; het \
                     cijfer zou de cijfers verraden van aanbieders die hun spiegelrapportage niet \
                     met de gemeente delen; of het zou een ander geheim cijfer herleidbaar maken."
                }
                dt { "°" }
                dd {
                    "afgerond op een veelvoud van 5. De afronding is vast en herhaalbaar, zodat \
                     dezelfde groep jeugdigen overal hetzelfde getal krijgt en geen individuele \
                     jeugdige te herleiden is."
                }
                dt { "†" }
                dd {
                    "voorlopig: het cijfer rust op nog onvolledige gegevens. Bij het cijfer staat \
                     waarom, en of het werkelijke cijfer hoger of lager zal zijn. In de grafieken \
                     staat een voorlopig cijfer als open punt aan een stippellijn."
                }
                dt { "–" }
                dd {
                    "geen cijfer: niet van toepassing, niet geleverd, of een teller kleiner dan "
                    (t) "."
                }
            }
            p {
                "Percentages en gemiddelden staan er alleen bij een noemer van ten minste " (rate)
                ". Een jeugdige telt per cel één keer mee, ook met meerdere trajecten."
            }
        },
        Language::En => html! {
            dl class="legend-list" {
                dt { "suppressed\u{b9}" }
                dd {
                    "not published, for one of these reasons (the report does not say which: \
                     that too would give something away): the figure concerns fewer than " (t)
                    " youths or trajectories; a percentage or mean rests on fewer than " (rate)
                    "; the figure would give away the figures of providers that do not share \
                     their mirror report with the municipality; or it would make another \
                     suppressed figure derivable."
                }
                dt { "°" }
                dd {
                    "rounded to a multiple of 5. The rounding is fixed and repeatable, so the \
                     same group of youths gets the same number everywhere and no single youth can \
                     be singled out."
                }
                dt { "†" }
                dd {
                    "provisional: the figure rests on data that are not yet complete. The figure \
                     says why, and whether the true figure will be higher or lower. Charts draw a \
                     provisional figure as an open point on a dotted line."
                }
                dt { "–" }
                dd { "no figure: not applicable, not delivered, or a numerator below " (t) "." }
            }
            p {
                "Percentages and means are shown only for a denominator of at least " (rate)
                ". A youth counts once per cell, even with several trajectories."
            }
        },
    }
}
