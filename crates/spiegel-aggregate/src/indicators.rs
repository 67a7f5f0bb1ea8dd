//! The indicator catalogue (docs/indicators.md). `schemas/indicators.csv` is this table, kept in
//! step by a test.

/// How an indicator's cell is filled (docs/reports.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count: `numerator` and `value` hold the same count.
    Count,
    /// A share in percent of `denominator`.
    Share,
    /// A mean or median; `denominator` holds its n.
    Statistic,
}

/// Which breakdowns an indicator is published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdowns {
    /// Total, hulpvorm, verblijf, verwijzer, age band and geslacht.
    All,
    /// Total, hulpvorm and verblijf: for indicators whose finer cells would mostly be too
    /// small to publish.
    Care,
}

/// One indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicator {
    /// English snake_case name, the `indicator` column.
    pub code: &'static str,
    /// Dutch label.
    pub label_nl: &'static str,
    /// English label.
    pub label_en: &'static str,
    /// The `unit` column.
    pub unit: &'static str,
    /// How the cell is filled.
    pub kind: Kind,
    /// What `numerator` counts.
    pub numerator: &'static str,
    /// What `denominator` counts.
    pub denominator: &'static str,
    /// Breakdowns published.
    pub breakdowns: Breakdowns,
    /// Whether the figure uses other providers' data through linkage; in a mirror report only
    /// those follow statistical disclosure control (docs/release-rules.md).
    pub linked: bool,
    /// The [`Count`] `numerator` holds; empty for a statistic.
    pub numerator_count: &'static str,
    /// The [`Count`] `denominator` holds; empty for a count.
    pub denominator_count: &'static str,
    /// How the cell's value is worked out from its counts.
    pub(crate) value: Value,
    /// What the figure means, in Dutch words a policy officer reads without a glossary.
    pub definition_nl: &'static str,
    /// [`Self::definition_nl`] in English.
    pub definition_en: &'static str,
}

/// How an indicator's value is worked out from what its cell accumulated: the rule a new
/// indicator states in its catalogue entry, beside the counts it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// The numerator count.
    Count,
    /// 100 × numerator / denominator.
    Share,
    /// [`Self::Share`] of a figure that rests on linkage, provisional while the linkage may
    /// still change as periods are delivered.
    LinkedShare(Linkage),
    /// Mean duration in days of the trajectories ended.
    DurationMean,
    /// Median duration in days of the trajectories ended.
    DurationMedian,
    /// Median days from datum_aanmelding to the start.
    WaitingMedian,
    /// Mean declared amount in euro.
    AmountMean,
    /// Mean satisfaction score of one informant ([`YOUTH`] or [`PARENT`]).
    SatisfactionMean(usize),
}

/// What makes a linked share provisional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linkage {
    /// A "no new start" window reaching past the delivered periods.
    NoNewStart,
    /// A "repeat request" lookback reaching before the delivered history.
    Repeat,
}

/// The informant of a satisfaction or continue-without-help answer: the youth ...
pub(crate) const YOUTH: usize = 0;
/// ... or the parent.
pub(crate) const PARENT: usize = 1;

/// Where each [`Count`] accumulates in a cell: its index among the cell's counts.
pub(crate) mod tally {
    pub(crate) const YOUTHS: usize = 0;
    pub(crate) const REPEAT_NUM: usize = 1;
    pub(crate) const REPEAT_DEN: usize = 2;
    pub(crate) const ACTIVE: usize = 3;
    pub(crate) const STARTED: usize = 4;
    pub(crate) const CRISIS: usize = 5;
    pub(crate) const ENDED: usize = 6;
    /// Reasons 01..05 at `REDEN + reason`.
    pub(crate) const REDEN: usize = 7;
    pub(crate) const ENDED_0104: usize = 12;
    pub(crate) const DROPOUT: usize = 13;
    pub(crate) const NNS_NUM: usize = 14;
    pub(crate) const NNS_DEN: usize = 15;
    pub(crate) const WAITING_N: usize = 16;
    pub(crate) const WITHIN_NORM: usize = 17;
    pub(crate) const AMOUNT_N: usize = 18;
    /// Per informant (youth, parent).
    pub(crate) const SAT_N: usize = 19;
    pub(crate) const SAT_7PLUS: usize = 21;
    pub(crate) const ZHV_N: usize = 23;
    /// Answers 01..04 at `ZHV + 4 × informant + answer`.
    pub(crate) const ZHV: usize = 25;
    pub(crate) const GOALS_N: usize = 33;
    /// Goal answers 01..03 at `GOALS + answer`.
    pub(crate) const GOALS: usize = 34;
    pub(crate) const PROBLEMS_N: usize = 37;
    /// Problems-reduced answers 01, 02 at `PROBLEMS + answer`.
    pub(crate) const PROBLEMS: usize = 38;
    /// How many counts a cell keeps.
    pub(crate) const ALL: usize = 40;
}

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Trajectories: each lies in exactly one category of every breakdown, so the categories
    /// add up to the total.
    Trajectories,
    /// Distinct children: a child with several trajectories may lie in several categories, so
    /// each category is at most the total and together they are at least the total.
    Children,
}

/// A count that indicators publish as numerator or denominator, with how it relates to the other
/// counts in every cell. The same count under several indicators (trajectories ended, and the
/// denominator of every end reason) is one count here: an attacker who sees it in one row knows it
/// in every row. These relations are what the attacker audit (docs/release-rules.md SDC-3) models,
/// so a new indicator names its counts here and cannot be left out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// snake_case name, the `numerator_count` and `denominator_count` columns.
    pub code: &'static str,
    /// What it counts.
    pub unit: Unit,
    /// Counts that add up to this one in every cell (the end reasons to the trajectories
    /// ended, say); empty when none do.
    pub sum_of: &'static [&'static str],
    /// Counts whose units include all of this one's in every cell: it is at most each.
    pub within: &'static [&'static str],
    /// Where it accumulates in a cell ([`tally`]).
    pub(crate) tally: usize,
}

macro_rules! indicators {
    ($( $code:literal, $nl:literal, $en:literal, $unit:literal, $kind:ident, $num:literal, $den:literal, $bd:ident, $linked:literal, $numc:literal, $denc:literal, $value:expr, $defnl:literal, $defen:literal; )+) => {
        /// Every indicator, in report order.
        pub const INDICATORS: &[Indicator] = &[$(
            Indicator {
                code: $code,
                label_nl: $nl,
                label_en: $en,
                unit: $unit,
                kind: Kind::$kind,
                numerator: $num,
                denominator: $den,
                breakdowns: Breakdowns::$bd,
                linked: $linked,
                numerator_count: $numc,
                denominator_count: $denc,
                value: {
                    #[allow(unused_imports)]
                    use {Linkage::*, Value::*};
                    $value
                },
                definition_nl: $defnl,
                definition_en: $defen,
            },
        )+];
    };
}

indicators! {
    "youths_in_care", "jeugdigen in zorg", "youths in care", "children", Count,
        "distinct children with a trajectory active in the period", "", All, false, "youths", "", Count,
        "Aantal verschillende jeugdigen met een traject dat in de periode liep; een jeugdige met meerdere trajecten telt één keer.",
        "Number of distinct youths with a trajectory running in the period; a youth with several trajectories counts once.";
    "trajectories_active", "lopende trajecten", "active trajectories", "trajectories", Count,
        "trajectories active in the period", "", All, false, "active", "", Count,
        "Aantal trajecten jeugdhulp dat in de periode liep, ook als het eerder begon of later eindigt.",
        "Number of youth-care trajectories running in the period, also when they began earlier or end later.";
    "trajectories_started", "gestarte trajecten", "trajectories started", "trajectories", Count,
        "trajectories with datum_aanvang in the period", "", All, false, "started", "", Count,
        "Aantal trajecten met een startdatum in de periode.",
        "Number of trajectories with a start date in the period.";
    "trajectories_started_in_crisis", "in crisis gestarte trajecten", "trajectories started in crisis", "trajectories", Count,
        "trajectories started in the period with gestart_met_crisis 01", "", Care, false, "crisis", "", Count,
        "Aantal in de periode gestarte trajecten dat als crisishulp begon.",
        "Number of trajectories started in the period that began as crisis care.";
    "trajectories_ended", "beëindigde trajecten", "trajectories ended", "trajectories", Count,
        "trajectories with datum_einde in the period", "", All, false, "ended", "", Count,
        "Aantal trajecten met een einddatum in de periode.",
        "Number of trajectories with an end date in the period.";
    "duration_days_mean", "gemiddelde duur (dagen)", "mean duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false, "", "ended", DurationMean,
        "Gemiddelde duur in dagen, van start tot einde, van de trajecten die in de periode eindigden.",
        "Mean duration in days, from start to end, of the trajectories that ended in the period.";
    "duration_days_median", "mediane duur (dagen)", "median duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false, "", "ended", DurationMedian,
        "Mediane duur in dagen van de trajecten die in de periode eindigden: de helft duurde korter, de helft langer.",
        "Median duration in days of the trajectories that ended in the period: half were shorter, half longer.";
    "repeat_request_share", "herhaald beroep", "repeat request", "percent", Share,
        "children of the denominator with a trajectory at any provider that ended at most the lookback (5 years) before that start",
        "distinct children with a new start in the period (not a continuation)", All, true, "repeat_num", "repeat_den", LinkedShare(Repeat),
        "Deel van de jeugdigen die in de periode opnieuw met jeugdhulp startten (geen voortzetting bij dezelfde aanbieder) dat eerder al een traject bij een aanbieder had dat in de vijf jaar (de terugkijktermijn) voor die start eindigde.",
        "Share of the youths who started youth care anew in the period (not a continuation at the same provider) who had an earlier trajectory at any provider that ended in the five years (the lookback) before that start.";
    "waiting_days_median", "mediane wachttijd (dagen)", "median waiting time (days)", "days", Statistic,
        "", "trajectories started in the period with datum_aanmelding", Care, false, "", "started_registered", WaitingMedian,
        "Mediane tijd in dagen van aanmelding tot start, voor de in de periode gestarte trajecten waarvan de aanmelddatum bekend is.",
        "Median time in days from request to start, for the trajectories started in the period whose request date is known.";
    "started_within_norm_share", "gestart binnen de norm", "started within the norm", "percent", Share,
        "trajectories of the denominator started at most the norm (42 days) after datum_aanmelding",
        "trajectories started in the period with datum_aanmelding", Care, false, "within_norm", "started_registered", Share,
        "Deel van de in de periode gestarte trajecten met een bekende aanmelddatum dat binnen de wachttijdnorm na aanmelding begon.",
        "Share of the trajectories started in the period with a known request date that began within the waiting-time norm after the request.";
    "declared_amount_mean", "gemiddeld gedeclareerd bedrag", "mean declared amount", "euro", Statistic,
        "", "trajectories active in the period with gedeclareerd_bedrag", Care, false, "", "declared", AmountMean,
        "Gemiddeld bedrag in euro dat de aanbieder voor een traject declareerde, over de in de periode lopende trajecten met een gedeclareerd bedrag.",
        "Mean amount in euros the provider declared for a trajectory, over the trajectories running in the period with a declared amount.";
    "ended_as_planned_share", "beëindigd volgens plan", "ended as planned", "percent", Share,
        "trajectories of the denominator with reason 01",
        "trajectories ended in the period with reason 01 to 04", All, false, "reason_01", "ended_01_04", Share,
        "Deel van de in de periode beëindigde trajecten (volgens plan of voortijdig) dat volgens plan eindigde.",
        "Share of the trajectories ended in the period (as planned or early) that ended as planned.";
    "dropout_share", "voortijdig eenzijdig beëindigd (uitval)", "dropout", "percent", Share,
        "trajectories of the denominator with reason 03 or 04",
        "trajectories ended in the period with reason 01 to 04", All, false, "dropout", "ended_01_04", Share,
        "Deel van de in de periode beëindigde trajecten (volgens plan of voortijdig) dat voortijdig en eenzijdig eindigde, door de cliënt of door de aanbieder: de uitval.",
        "Share of the trajectories ended in the period (as planned or early) that ended early and unilaterally, by the client or by the provider: the dropout.";
    "end_reason_01", "reden beëindiging: volgens plan", "end reason: as planned", "percent", Share,
        "trajectories of the denominator with reason 01", "trajectories ended in the period", Care, false, "reason_01", "ended", Share,
        "Deel van de in de periode beëindigde trajecten dat volgens plan eindigde.",
        "Share of the trajectories ended in the period that ended as planned.";
    "end_reason_02", "reden beëindiging: voortijdig, in overeenstemming", "end reason: early, by agreement", "percent", Share,
        "trajectories of the denominator with reason 02", "trajectories ended in the period", Care, false, "reason_02", "ended", Share,
        "Deel van de in de periode beëindigde trajecten dat voortijdig eindigde in overeenstemming tussen cliënt en aanbieder.",
        "Share of the trajectories ended in the period that ended early by agreement between client and provider.";
    "end_reason_03", "reden beëindiging: voortijdig, eenzijdig door cliënt", "end reason: early, by the client", "percent", Share,
        "trajectories of the denominator with reason 03", "trajectories ended in the period", Care, false, "reason_03", "ended", Share,
        "Deel van de in de periode beëindigde trajecten dat voortijdig eindigde doordat de cliënt stopte.",
        "Share of the trajectories ended in the period that ended early because the client stopped.";
    "end_reason_04", "reden beëindiging: voortijdig, eenzijdig door aanbieder", "end reason: early, by the provider", "percent", Share,
        "trajectories of the denominator with reason 04", "trajectories ended in the period", Care, false, "reason_04", "ended", Share,
        "Deel van de in de periode beëindigde trajecten dat voortijdig eindigde doordat de aanbieder stopte.",
        "Share of the trajectories ended in the period that ended early because the provider stopped.";
    "end_reason_05", "reden beëindiging: externe omstandigheden", "end reason: external circumstances", "percent", Share,
        "trajectories of the denominator with reason 05", "trajectories ended in the period", Care, false, "reason_05", "ended", Share,
        "Deel van de in de periode beëindigde trajecten dat eindigde door omstandigheden buiten cliënt en aanbieder, zoals een verhuizing.",
        "Share of the trajectories ended in the period that ended through circumstances outside client and provider, such as a move.";
    "satisfaction_response_share_youth", "respons tevredenheid over het nut van de hulp, jeugdige", "response on satisfaction with the usefulness of the help, youth", "percent", Share,
        "trajectories of the denominator with tevredenheid_jeugdige", "trajectories ended in the period", Care, false, "satisfaction_responses_youth", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor de jeugdige een rapportcijfer gaf voor zijn tevredenheid over het nut van de hulp. Lees een gemiddelde altijd samen met deze respons.",
        "Share of the trajectories ended in the period for which the youth gave a score for satisfaction with the usefulness of the help. Always read a mean together with this response.";
    "satisfaction_mean_youth", "tevredenheid jeugdige over het nut van de hulp (gemiddeld cijfer)", "youth's satisfaction with the usefulness of the help (mean score)", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_jeugdige", Care, false, "", "satisfaction_responses_youth", SatisfactionMean(YOUTH),
        "Gemiddeld rapportcijfer (1 tot 10) van de jeugdige voor zijn tevredenheid over het nut van de hulp, over de beëindigde trajecten met een cijfer.",
        "Mean score (1 to 10) the youth gave for satisfaction with the usefulness of the help, over the ended trajectories with a score.";
    "satisfaction_7plus_share_youth", "tevredenheid jeugdige over het nut van de hulp: 7 of hoger", "youth's satisfaction with the usefulness of the help: 7 or more", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_jeugdige", Care, false, "satisfaction_7plus_youth", "satisfaction_responses_youth", Share,
        "Deel van de rapportcijfers van de jeugdige voor het nut van de hulp dat 7 of hoger is.",
        "Share of the youth's scores for the usefulness of the help that are 7 or more.";
    "satisfaction_response_share_parent", "respons tevredenheid over het nut van de hulp, ouder", "response on satisfaction with the usefulness of the help, parent", "percent", Share,
        "trajectories of the denominator with tevredenheid_ouder", "trajectories ended in the period", Care, false, "satisfaction_responses_parent", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor een ouder een rapportcijfer gaf voor de tevredenheid over het nut van de hulp. Lees een gemiddelde altijd samen met deze respons.",
        "Share of the trajectories ended in the period for which a parent gave a score for satisfaction with the usefulness of the help. Always read a mean together with this response.";
    "satisfaction_mean_parent", "tevredenheid ouder over het nut van de hulp (gemiddeld cijfer)", "parent's satisfaction with the usefulness of the help (mean score)", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_ouder", Care, false, "", "satisfaction_responses_parent", SatisfactionMean(PARENT),
        "Gemiddeld rapportcijfer (1 tot 10) van de ouder voor de tevredenheid over het nut van de hulp, over de beëindigde trajecten met een cijfer.",
        "Mean score (1 to 10) a parent gave for satisfaction with the usefulness of the help, over the ended trajectories with a score.";
    "satisfaction_7plus_share_parent", "tevredenheid ouder over het nut van de hulp: 7 of hoger", "parent's satisfaction with the usefulness of the help: 7 or more", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_ouder", Care, false, "satisfaction_7plus_parent", "satisfaction_responses_parent", Share,
        "Deel van de rapportcijfers van de ouder voor het nut van de hulp dat 7 of hoger is.",
        "Share of the parent's scores for the usefulness of the help that are 7 or more.";
    "continue_without_help_response_share_youth", "respons zonder hulp verder jeugdige", "continue-without-help response, youth", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_jeugdige", "trajectories ended in the period", Care, false, "cwh_responses_youth", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor de jeugdige zei of hij zonder hulp verder kan.",
        "Share of the trajectories ended in the period for which the youth said whether they can continue without help.";
    "continue_without_help_youth_01", "jeugdige: zelfde of zwaardere hulp nodig", "youth: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_01", "cwh_responses_youth", Share,
        "Deel van de antwoorden van de jeugdige dat dezelfde of zwaardere hulp nodig is.",
        "Share of the youth's answers that the same or heavier help is needed.";
    "continue_without_help_youth_02", "jeugdige: lichtere hulp volstaat", "youth: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_02", "cwh_responses_youth", Share,
        "Deel van de antwoorden van de jeugdige dat lichtere hulp volstaat.",
        "Share of the youth's answers that lighter help suffices.";
    "continue_without_help_youth_03", "jeugdige: nu geen hulp, verwacht terug te komen", "youth: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_03", "cwh_responses_youth", Share,
        "Deel van de antwoorden van de jeugdige dat nu geen hulp nodig is, maar wel verwacht wordt later terug te komen.",
        "Share of the youth's answers that no help is needed now, but a return is expected.";
    "continue_without_help_youth_04", "jeugdige: geen verdere hulp nodig", "youth: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_04", "cwh_responses_youth", Share,
        "Deel van de antwoorden van de jeugdige dat geen verdere hulp nodig is.",
        "Share of the youth's answers that no further help is needed.";
    "continue_without_help_response_share_parent", "respons zonder hulp verder ouder", "continue-without-help response, parent", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_ouder", "trajectories ended in the period", Care, false, "cwh_responses_parent", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor een ouder zei of de jeugdige zonder hulp verder kan.",
        "Share of the trajectories ended in the period for which a parent said whether the youth can continue without help.";
    "continue_without_help_parent_01", "ouder: zelfde of zwaardere hulp nodig", "parent: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_01", "cwh_responses_parent", Share,
        "Deel van de antwoorden van de ouder dat dezelfde of zwaardere hulp nodig is.",
        "Share of the parent's answers that the same or heavier help is needed.";
    "continue_without_help_parent_02", "ouder: lichtere hulp volstaat", "parent: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_02", "cwh_responses_parent", Share,
        "Deel van de antwoorden van de ouder dat lichtere hulp volstaat.",
        "Share of the parent's answers that lighter help suffices.";
    "continue_without_help_parent_03", "ouder: nu geen hulp, verwacht terug te komen", "parent: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_03", "cwh_responses_parent", Share,
        "Deel van de antwoorden van de ouder dat nu geen hulp nodig is, maar wel verwacht wordt later terug te komen.",
        "Share of the parent's answers that no help is needed now, but a return is expected.";
    "continue_without_help_parent_04", "ouder: geen verdere hulp nodig", "parent: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_04", "cwh_responses_parent", Share,
        "Deel van de antwoorden van de ouder dat geen verdere hulp nodig is.",
        "Share of the parent's answers that no further help is needed.";
    "no_new_start_share", "geen nieuwe start binnen W dagen (3.2)", "no new start within W days (3.2)", "percent", Share,
        "trajectories of the denominator whose child had no new start at any provider within W (182) days of the end",
        "trajectories ended in the period with reason 01 to 04 (of linkable children)", All, true, "no_new_start", "no_new_start_base", LinkedShare(NoNewStart),
        "Deel van de in de periode beëindigde trajecten (volgens plan of voortijdig) waarna de jeugdige binnen W dagen na het einde bij geen enkele aanbieder opnieuw met jeugdhulp startte (uitkomst 3.2 van de landelijke outcome-indicatoren).",
        "Share of the trajectories ended in the period (as planned or early) after which the youth did not start youth care again at any provider within W days of the end (outcome 3.2 of the national outcome indicators).";
    "goals_response_share", "respons doelen behaald", "goals achieved response", "percent", Share,
        "trajectories of the denominator with doelen_behaald", "trajectories ended in the period", Care, false, "goals_responses", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor de aanbieder vastlegde in hoeverre de afgesproken doelen zijn behaald. Lees de verdeling altijd samen met deze respons.",
        "Share of the trajectories ended in the period for which the provider recorded how far the agreed goals were achieved. Always read the distribution together with this response.";
    "goals_achieved_01", "doelen: volledig behaald", "goals: fully achieved", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with doelen_behaald", Care, false, "goals_01", "goals_responses", Share,
        "Deel van de beëindigde trajecten met een oordeel over de doelen waarin de afgesproken doelen volledig zijn behaald (uitkomst 3.4, werkwijze van Spiegel in afwachting van een landelijke definitie).",
        "Share of the ended trajectories with a judgement on the goals in which the agreed goals were fully achieved (outcome 3.4, Spiegel's operationalisation pending a national definition).";
    "goals_achieved_02", "doelen: gedeeltelijk behaald", "goals: partly achieved", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with doelen_behaald", Care, false, "goals_02", "goals_responses", Share,
        "Deel van de beëindigde trajecten met een oordeel over de doelen waarin de afgesproken doelen gedeeltelijk zijn behaald.",
        "Share of the ended trajectories with a judgement on the goals in which the agreed goals were partly achieved.";
    "goals_achieved_03", "doelen: niet behaald", "goals: not achieved", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with doelen_behaald", Care, false, "goals_03", "goals_responses", Share,
        "Deel van de beëindigde trajecten met een oordeel over de doelen waarin de afgesproken doelen niet zijn behaald.",
        "Share of the ended trajectories with a judgement on the goals in which the agreed goals were not achieved.";
    "problems_response_share", "respons problematiek afgenomen", "problems reduced response", "percent", Share,
        "trajectories of the denominator with problematiek_afgenomen", "trajectories ended in the period", Care, false, "problems_responses", "ended", Share,
        "Deel van de in de periode beëindigde trajecten waarvoor is vastgelegd of de problematiek is afgenomen.",
        "Share of the trajectories ended in the period for which it was recorded whether the problems were reduced.";
    "problems_reduced_01", "problematiek afgenomen: ja", "problems reduced: yes", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with problematiek_afgenomen", Care, false, "problems_01", "problems_responses", Share,
        "Deel van de beëindigde trajecten met een oordeel waarin de problematiek is afgenomen of de zelfredzaamheid is toegenomen (uitkomst 3.3, werkwijze van Spiegel in afwachting van een landelijke definitie).",
        "Share of the ended trajectories with a judgement in which the problems were reduced or self-reliance increased (outcome 3.3, Spiegel's operationalisation pending a national definition).";
    "problems_reduced_02", "problematiek afgenomen: nee", "problems reduced: no", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with problematiek_afgenomen", Care, false, "problems_02", "problems_responses", Share,
        "Deel van de beëindigde trajecten met een oordeel waarin de problematiek niet is afgenomen.",
        "Share of the ended trajectories with a judgement in which the problems were not reduced.";
}

macro_rules! counts {
    ($( $code:literal, $unit:ident, [$($sum:literal),*], [$($within:literal),*], $tally:expr; )+) => {
        /// Every count the indicators publish, with its relations.
        pub const COUNTS: &[Count] = &[$(
            Count {
                code: $code,
                unit: Unit::$unit,
                sum_of: &[$($sum),*],
                within: &[$($within),*],
                tally: {
                    use tally::*;
                    $tally
                },
            },
        )+];
    };
}

counts! {
    "youths", Children, [], ["active"], YOUTHS;
    "active", Trajectories, [], [], ACTIVE;
    "started", Trajectories, [], ["active"], STARTED;
    "crisis", Trajectories, [], ["started"], CRISIS;
    "ended", Trajectories, ["reason_01", "reason_02", "reason_03", "reason_04", "reason_05"], ["active"], ENDED;
    "repeat_den", Children, [], ["started", "youths"], REPEAT_DEN;
    "repeat_num", Children, [], ["repeat_den"], REPEAT_NUM;
    "started_registered", Trajectories, [], ["started"], WAITING_N;
    "within_norm", Trajectories, [], ["started_registered"], WITHIN_NORM;
    "declared", Trajectories, [], ["active"], AMOUNT_N;
    "reason_01", Trajectories, [], [], REDEN;
    "reason_02", Trajectories, [], [], REDEN + 1;
    "reason_03", Trajectories, [], [], REDEN + 2;
    "reason_04", Trajectories, [], [], REDEN + 3;
    "reason_05", Trajectories, [], [], REDEN + 4;
    "ended_01_04", Trajectories, ["reason_01", "reason_02", "reason_03", "reason_04"], [], ENDED_0104;
    "dropout", Trajectories, ["reason_03", "reason_04"], [], DROPOUT;
    "no_new_start_base", Trajectories, [], ["ended_01_04"], NNS_DEN;
    "no_new_start", Trajectories, [], ["no_new_start_base"], NNS_NUM;
    "satisfaction_responses_youth", Trajectories, [], ["ended"], SAT_N;
    "satisfaction_7plus_youth", Trajectories, [], ["satisfaction_responses_youth"], SAT_7PLUS;
    "satisfaction_responses_parent", Trajectories, [], ["ended"], SAT_N + 1;
    "satisfaction_7plus_parent", Trajectories, [], ["satisfaction_responses_parent"], SAT_7PLUS + 1;
    "cwh_responses_youth", Trajectories, ["cwh_youth_01", "cwh_youth_02", "cwh_youth_03", "cwh_youth_04"], ["ended"], ZHV_N;
    "cwh_youth_01", Trajectories, [], [], ZHV;
    "cwh_youth_02", Trajectories, [], [], ZHV + 1;
    "cwh_youth_03", Trajectories, [], [], ZHV + 2;
    "cwh_youth_04", Trajectories, [], [], ZHV + 3;
    "cwh_responses_parent", Trajectories, ["cwh_parent_01", "cwh_parent_02", "cwh_parent_03", "cwh_parent_04"], ["ended"], ZHV_N + 1;
    "cwh_parent_01", Trajectories, [], [], ZHV + 4;
    "cwh_parent_02", Trajectories, [], [], ZHV + 4 + 1;
    "cwh_parent_03", Trajectories, [], [], ZHV + 4 + 2;
    "cwh_parent_04", Trajectories, [], [], ZHV + 4 + 3;
    "goals_responses", Trajectories, ["goals_01", "goals_02", "goals_03"], ["ended"], GOALS_N;
    "goals_01", Trajectories, [], [], GOALS;
    "goals_02", Trajectories, [], [], GOALS + 1;
    "goals_03", Trajectories, [], [], GOALS + 2;
    "problems_responses", Trajectories, ["problems_01", "problems_02"], ["ended"], PROBLEMS_N;
    "problems_01", Trajectories, [], [], PROBLEMS;
    "problems_02", Trajectories, [], [], PROBLEMS + 1;
}

/// The count named `code`.
pub fn count(code: &str) -> Option<&'static Count> {
    COUNTS.iter().find(|c| c.code == code)
}

/// The indicator named `code`.
pub fn indicator(code: &str) -> Option<&'static Indicator> {
    INDICATORS.iter().find(|i| i.code == code)
}

/// The catalogue as `schemas/indicators.csv`.
pub fn indicators_csv() -> String {
    let mut out = String::from(
        "code,label_nl,label_en,unit,kind,numerator,denominator,scopes,breakdowns,linked,numerator_count,denominator_count,definition_nl,definition_en\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    // Every indicator is published in every kind of report, listed from the narrowest reader
    // to the widest as the catalogue has always done.
    let scopes = spiegel_core::ReportKind::ALL
        .iter()
        .rev()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join("|");
    for i in INDICATORS {
        let kind = match i.kind {
            Kind::Count => "count",
            Kind::Share => "share",
            Kind::Statistic => "statistic",
        };
        let breakdowns = match i.breakdowns {
            Breakdowns::All => "total|hulpvorm|verblijf|verwijzer|age_band|geslacht",
            Breakdowns::Care => "total|hulpvorm|verblijf",
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            i.code,
            quote(i.label_nl),
            quote(i.label_en),
            i.unit,
            kind,
            quote(i.numerator),
            quote(i.denominator),
            scopes,
            breakdowns,
            i.linked,
            i.numerator_count,
            i.denominator_count,
            quote(i.definition_nl),
            quote(i.definition_en)
        ));
    }
    out
}

/// The count catalogue as `schemas/counts.csv`: `sum_of` and `within` list counts separated
/// by `|`.
pub fn counts_csv() -> String {
    let mut out = String::from("code,unit,sum_of,within\n");
    for c in COUNTS {
        let unit = match c.unit {
            Unit::Trajectories => "trajectories",
            Unit::Children => "children",
        };
        out.push_str(&format!(
            "{},{unit},{},{}\n",
            c.code,
            c.sum_of.join("|"),
            c.within.join("|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_an_indicator_or_relation_names_is_declared() {
        for i in INDICATORS {
            let (numerator, denominator) = match i.kind {
                Kind::Count => (true, false),
                Kind::Share => (true, true),
                Kind::Statistic => (false, true),
            };
            for (needed, code) in [
                (numerator, i.numerator_count),
                (denominator, i.denominator_count),
            ] {
                assert_eq!(needed, !code.is_empty(), "{}: count {code:?}", i.code);
                assert!(
                    code.is_empty() || count(code).is_some(),
                    "{}: {code}",
                    i.code
                );
            }
        }
        for c in COUNTS {
            for part in c.sum_of.iter().chain(c.within) {
                assert!(count(part).is_some(), "{}: {part}", c.code);
            }
        }
    }

    #[test]
    fn indicators_that_describe_a_count_alike_name_the_same_count() {
        // The descriptions are the users' definition; the count names are the audit's. Two
        // indicators describing their numerator or denominator with the same words count the
        // same units, and one with different words counts others.
        let mut by_text = std::collections::HashMap::new();
        for i in INDICATORS {
            for (text, code) in [
                (i.numerator, i.numerator_count),
                (i.denominator, i.denominator_count),
            ] {
                if text.is_empty() || text.starts_with("trajectories of the denominator") {
                    continue;
                }
                let seen = by_text.entry(text).or_insert(code);
                assert_eq!(*seen, code, "{}: {text}", i.code);
            }
        }
    }

    #[test]
    fn each_value_rule_fits_its_kind_and_each_count_has_a_place_of_its_own() {
        for i in INDICATORS {
            let fits = match i.value {
                Value::Count => i.kind == Kind::Count,
                Value::Share | Value::LinkedShare(_) => i.kind == Kind::Share,
                Value::DurationMean
                | Value::DurationMedian
                | Value::WaitingMedian
                | Value::AmountMean
                | Value::SatisfactionMean(_) => i.kind == Kind::Statistic,
            };
            assert!(fits, "{}: {:?} is not a {:?}", i.code, i.value, i.kind);
            assert_eq!(
                matches!(i.value, Value::LinkedShare(_)),
                i.linked,
                "{}",
                i.code
            );
        }
        let mut tallies: Vec<usize> = COUNTS.iter().map(|c| c.tally).collect();
        tallies.sort_unstable();
        tallies.dedup();
        assert_eq!(tallies.len(), COUNTS.len(), "two counts share a place");
        assert!(tallies.iter().all(|&t| t < tally::ALL));
    }
}
