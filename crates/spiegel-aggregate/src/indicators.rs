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
}

macro_rules! indicators {
    ($( $code:literal, $nl:literal, $en:literal, $unit:literal, $kind:ident, $num:literal, $den:literal, $bd:ident, $linked:literal, $numc:literal, $denc:literal; )+) => {
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
            },
        )+];
    };
}

indicators! {
    "youths_in_care", "jeugdigen in zorg", "youths in care", "children", Count,
        "distinct children with a trajectory active in the period", "", All, false, "youths", "";
    "trajectories_active", "lopende trajecten", "active trajectories", "trajectories", Count,
        "trajectories active in the period", "", All, false, "active", "";
    "trajectories_started", "gestarte trajecten", "trajectories started", "trajectories", Count,
        "trajectories with datum_aanvang in the period", "", All, false, "started", "";
    "trajectories_started_in_crisis", "in crisis gestarte trajecten", "trajectories started in crisis", "trajectories", Count,
        "trajectories started in the period with gestart_met_crisis 01", "", Care, false, "crisis", "";
    "trajectories_ended", "beëindigde trajecten", "trajectories ended", "trajectories", Count,
        "trajectories with datum_einde in the period", "", All, false, "ended", "";
    "duration_days_mean", "gemiddelde duur (dagen)", "mean duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false, "", "ended";
    "duration_days_median", "mediane duur (dagen)", "median duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false, "", "ended";
    "repeat_request_share", "herhaald beroep", "repeat request", "percent", Share,
        "children of the denominator with a trajectory at any provider that ended at most the lookback (5 years) before that start",
        "distinct children with a new start in the period (not a continuation)", All, true, "repeat_num", "repeat_den";
    "waiting_days_median", "mediane wachttijd (dagen)", "median waiting time (days)", "days", Statistic,
        "", "trajectories started in the period with datum_aanmelding", Care, false, "", "started_registered";
    "started_within_norm_share", "gestart binnen de norm", "started within the norm", "percent", Share,
        "trajectories of the denominator started at most the norm (42 days) after datum_aanmelding",
        "trajectories started in the period with datum_aanmelding", Care, false, "within_norm", "started_registered";
    "declared_amount_mean", "gemiddeld gedeclareerd bedrag", "mean declared amount", "euro", Statistic,
        "", "trajectories active in the period with gedeclareerd_bedrag", Care, false, "", "declared";
    "ended_as_planned_share", "beëindigd volgens plan", "ended as planned", "percent", Share,
        "trajectories of the denominator with reason 01",
        "trajectories ended in the period with reason 01 to 04", All, false, "reason_01", "ended_01_04";
    "dropout_share", "voortijdig eenzijdig beëindigd (uitval)", "dropout", "percent", Share,
        "trajectories of the denominator with reason 03 or 04",
        "trajectories ended in the period with reason 01 to 04", All, false, "dropout", "ended_01_04";
    "end_reason_01", "reden beëindiging: volgens plan", "end reason: as planned", "percent", Share,
        "trajectories of the denominator with reason 01", "trajectories ended in the period", Care, false, "reason_01", "ended";
    "end_reason_02", "reden beëindiging: voortijdig, in overeenstemming", "end reason: early, by agreement", "percent", Share,
        "trajectories of the denominator with reason 02", "trajectories ended in the period", Care, false, "reason_02", "ended";
    "end_reason_03", "reden beëindiging: voortijdig, eenzijdig door cliënt", "end reason: early, by the client", "percent", Share,
        "trajectories of the denominator with reason 03", "trajectories ended in the period", Care, false, "reason_03", "ended";
    "end_reason_04", "reden beëindiging: voortijdig, eenzijdig door aanbieder", "end reason: early, by the provider", "percent", Share,
        "trajectories of the denominator with reason 04", "trajectories ended in the period", Care, false, "reason_04", "ended";
    "end_reason_05", "reden beëindiging: externe omstandigheden", "end reason: external circumstances", "percent", Share,
        "trajectories of the denominator with reason 05", "trajectories ended in the period", Care, false, "reason_05", "ended";
    "satisfaction_response_share_youth", "respons tevredenheid jeugdige", "satisfaction response, youth", "percent", Share,
        "trajectories of the denominator with tevredenheid_jeugdige", "trajectories ended in the period", Care, false, "satisfaction_responses_youth", "ended";
    "satisfaction_mean_youth", "gemiddelde tevredenheid jeugdige", "mean satisfaction, youth", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_jeugdige", Care, false, "", "satisfaction_responses_youth";
    "satisfaction_7plus_share_youth", "tevredenheid jeugdige 7 of hoger", "satisfaction 7 or more, youth", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_jeugdige", Care, false, "satisfaction_7plus_youth", "satisfaction_responses_youth";
    "satisfaction_response_share_parent", "respons tevredenheid ouder", "satisfaction response, parent", "percent", Share,
        "trajectories of the denominator with tevredenheid_ouder", "trajectories ended in the period", Care, false, "satisfaction_responses_parent", "ended";
    "satisfaction_mean_parent", "gemiddelde tevredenheid ouder", "mean satisfaction, parent", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_ouder", Care, false, "", "satisfaction_responses_parent";
    "satisfaction_7plus_share_parent", "tevredenheid ouder 7 of hoger", "satisfaction 7 or more, parent", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_ouder", Care, false, "satisfaction_7plus_parent", "satisfaction_responses_parent";
    "continue_without_help_response_share_youth", "respons zonder hulp verder jeugdige", "continue-without-help response, youth", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_jeugdige", "trajectories ended in the period", Care, false, "cwh_responses_youth", "ended";
    "continue_without_help_youth_01", "jeugdige: zelfde of zwaardere hulp nodig", "youth: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_01", "cwh_responses_youth";
    "continue_without_help_youth_02", "jeugdige: lichtere hulp volstaat", "youth: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_02", "cwh_responses_youth";
    "continue_without_help_youth_03", "jeugdige: nu geen hulp, verwacht terug te komen", "youth: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_03", "cwh_responses_youth";
    "continue_without_help_youth_04", "jeugdige: geen verdere hulp nodig", "youth: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false, "cwh_youth_04", "cwh_responses_youth";
    "continue_without_help_response_share_parent", "respons zonder hulp verder ouder", "continue-without-help response, parent", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_ouder", "trajectories ended in the period", Care, false, "cwh_responses_parent", "ended";
    "continue_without_help_parent_01", "ouder: zelfde of zwaardere hulp nodig", "parent: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_01", "cwh_responses_parent";
    "continue_without_help_parent_02", "ouder: lichtere hulp volstaat", "parent: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_02", "cwh_responses_parent";
    "continue_without_help_parent_03", "ouder: nu geen hulp, verwacht terug te komen", "parent: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_03", "cwh_responses_parent";
    "continue_without_help_parent_04", "ouder: geen verdere hulp nodig", "parent: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false, "cwh_parent_04", "cwh_responses_parent";
    "no_new_start_share", "geen nieuwe start binnen W dagen (3.2)", "no new start within W days (3.2)", "percent", Share,
        "trajectories of the denominator whose child had no new start at any provider within W (182) days of the end",
        "trajectories ended in the period with reason 01 to 04 (of linkable children)", All, true, "no_new_start", "no_new_start_base";
}

macro_rules! counts {
    ($( $code:literal, $unit:ident, [$($sum:literal),*], [$($within:literal),*]; )+) => {
        /// Every count the indicators publish, with its relations.
        pub const COUNTS: &[Count] = &[$(
            Count { code: $code, unit: Unit::$unit, sum_of: &[$($sum),*], within: &[$($within),*] },
        )+];
    };
}

counts! {
    "youths", Children, [], ["active"];
    "active", Trajectories, [], [];
    "started", Trajectories, [], ["active"];
    "crisis", Trajectories, [], ["started"];
    "ended", Trajectories, ["reason_01", "reason_02", "reason_03", "reason_04", "reason_05"], ["active"];
    "repeat_den", Children, [], ["started", "youths"];
    "repeat_num", Children, [], ["repeat_den"];
    "started_registered", Trajectories, [], ["started"];
    "within_norm", Trajectories, [], ["started_registered"];
    "declared", Trajectories, [], ["active"];
    "reason_01", Trajectories, [], [];
    "reason_02", Trajectories, [], [];
    "reason_03", Trajectories, [], [];
    "reason_04", Trajectories, [], [];
    "reason_05", Trajectories, [], [];
    "ended_01_04", Trajectories, ["reason_01", "reason_02", "reason_03", "reason_04"], [];
    "dropout", Trajectories, ["reason_03", "reason_04"], [];
    "no_new_start_base", Trajectories, [], ["ended_01_04"];
    "no_new_start", Trajectories, [], ["no_new_start_base"];
    "satisfaction_responses_youth", Trajectories, [], ["ended"];
    "satisfaction_7plus_youth", Trajectories, [], ["satisfaction_responses_youth"];
    "satisfaction_responses_parent", Trajectories, [], ["ended"];
    "satisfaction_7plus_parent", Trajectories, [], ["satisfaction_responses_parent"];
    "cwh_responses_youth", Trajectories, ["cwh_youth_01", "cwh_youth_02", "cwh_youth_03", "cwh_youth_04"], ["ended"];
    "cwh_youth_01", Trajectories, [], [];
    "cwh_youth_02", Trajectories, [], [];
    "cwh_youth_03", Trajectories, [], [];
    "cwh_youth_04", Trajectories, [], [];
    "cwh_responses_parent", Trajectories, ["cwh_parent_01", "cwh_parent_02", "cwh_parent_03", "cwh_parent_04"], ["ended"];
    "cwh_parent_01", Trajectories, [], [];
    "cwh_parent_02", Trajectories, [], [];
    "cwh_parent_03", Trajectories, [], [];
    "cwh_parent_04", Trajectories, [], [];
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
        "code,label_nl,label_en,unit,kind,numerator,denominator,scopes,breakdowns,linked,numerator_count,denominator_count\n",
    );
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
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
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            i.code,
            quote(i.label_nl),
            quote(i.label_en),
            i.unit,
            kind,
            quote(i.numerator),
            quote(i.denominator),
            "mirror|municipality|region|national",
            breakdowns,
            i.linked,
            i.numerator_count,
            i.denominator_count
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
}
