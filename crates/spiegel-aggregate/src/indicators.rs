//! The indicator catalogue (SPEC §7). `schemas/indicators.csv` is this table, kept in step by
//! a test.

/// How an indicator's cell is filled (SPEC §8).
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
    /// those follow statistical disclosure control (SPEC §9).
    pub linked: bool,
}

macro_rules! indicators {
    ($( $code:literal, $nl:literal, $en:literal, $unit:literal, $kind:ident, $num:literal, $den:literal, $bd:ident, $linked:literal; )+) => {
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
            },
        )+];
    };
}

indicators! {
    "youths_in_care", "jeugdigen in zorg", "youths in care", "children", Count,
        "distinct children with a trajectory active in the period", "", All, false;
    "trajectories_active", "lopende trajecten", "active trajectories", "trajectories", Count,
        "trajectories active in the period", "", All, false;
    "trajectories_started", "gestarte trajecten", "trajectories started", "trajectories", Count,
        "trajectories with datum_aanvang in the period", "", All, false;
    "trajectories_started_in_crisis", "in crisis gestarte trajecten", "trajectories started in crisis", "trajectories", Count,
        "trajectories started in the period with gestart_met_crisis 01", "", Care, false;
    "trajectories_ended", "beëindigde trajecten", "trajectories ended", "trajectories", Count,
        "trajectories with datum_einde in the period", "", All, false;
    "duration_days_mean", "gemiddelde duur (dagen)", "mean duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false;
    "duration_days_median", "mediane duur (dagen)", "median duration (days)", "days", Statistic,
        "", "trajectories ended in the period", All, false;
    "repeat_request_share", "herhaald beroep", "repeat request", "percent", Share,
        "children of the denominator with a trajectory at any provider that ended at most the lookback (5 years) before that start",
        "distinct children with a new start in the period (not a continuation)", All, true;
    "waiting_days_median", "mediane wachttijd (dagen)", "median waiting time (days)", "days", Statistic,
        "", "trajectories started in the period with datum_aanmelding", Care, false;
    "started_within_norm_share", "gestart binnen de norm", "started within the norm", "percent", Share,
        "trajectories of the denominator started at most the norm (42 days) after datum_aanmelding",
        "trajectories started in the period with datum_aanmelding", Care, false;
    "declared_amount_mean", "gemiddeld gedeclareerd bedrag", "mean declared amount", "euro", Statistic,
        "", "trajectories active in the period with gedeclareerd_bedrag", Care, false;
    "ended_as_planned_share", "beëindigd volgens plan", "ended as planned", "percent", Share,
        "trajectories of the denominator with reason 01",
        "trajectories ended in the period with reason 01 to 04", All, false;
    "dropout_share", "voortijdig eenzijdig beëindigd (uitval)", "dropout", "percent", Share,
        "trajectories of the denominator with reason 03 or 04",
        "trajectories ended in the period with reason 01 to 04", All, false;
    "end_reason_01", "reden beëindiging: volgens plan", "end reason: as planned", "percent", Share,
        "trajectories of the denominator with reason 01", "trajectories ended in the period", Care, false;
    "end_reason_02", "reden beëindiging: voortijdig, in overeenstemming", "end reason: early, by agreement", "percent", Share,
        "trajectories of the denominator with reason 02", "trajectories ended in the period", Care, false;
    "end_reason_03", "reden beëindiging: voortijdig, eenzijdig door cliënt", "end reason: early, by the client", "percent", Share,
        "trajectories of the denominator with reason 03", "trajectories ended in the period", Care, false;
    "end_reason_04", "reden beëindiging: voortijdig, eenzijdig door aanbieder", "end reason: early, by the provider", "percent", Share,
        "trajectories of the denominator with reason 04", "trajectories ended in the period", Care, false;
    "end_reason_05", "reden beëindiging: externe omstandigheden", "end reason: external circumstances", "percent", Share,
        "trajectories of the denominator with reason 05", "trajectories ended in the period", Care, false;
    "satisfaction_response_share_youth", "respons tevredenheid jeugdige", "satisfaction response, youth", "percent", Share,
        "trajectories of the denominator with tevredenheid_jeugdige", "trajectories ended in the period", Care, false;
    "satisfaction_mean_youth", "gemiddelde tevredenheid jeugdige", "mean satisfaction, youth", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_jeugdige", Care, false;
    "satisfaction_7plus_share_youth", "tevredenheid jeugdige 7 of hoger", "satisfaction 7 or more, youth", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_jeugdige", Care, false;
    "satisfaction_response_share_parent", "respons tevredenheid ouder", "satisfaction response, parent", "percent", Share,
        "trajectories of the denominator with tevredenheid_ouder", "trajectories ended in the period", Care, false;
    "satisfaction_mean_parent", "gemiddelde tevredenheid ouder", "mean satisfaction, parent", "score", Statistic,
        "", "trajectories ended in the period with tevredenheid_ouder", Care, false;
    "satisfaction_7plus_share_parent", "tevredenheid ouder 7 of hoger", "satisfaction 7 or more, parent", "percent", Share,
        "trajectories of the denominator scoring 7 or more", "trajectories ended in the period with tevredenheid_ouder", Care, false;
    "continue_without_help_response_share_youth", "respons zonder hulp verder jeugdige", "continue-without-help response, youth", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_jeugdige", "trajectories ended in the period", Care, false;
    "continue_without_help_youth_01", "jeugdige: zelfde of zwaardere hulp nodig", "youth: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false;
    "continue_without_help_youth_02", "jeugdige: lichtere hulp volstaat", "youth: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false;
    "continue_without_help_youth_03", "jeugdige: nu geen hulp, verwacht terug te komen", "youth: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false;
    "continue_without_help_youth_04", "jeugdige: geen verdere hulp nodig", "youth: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_jeugdige", Care, false;
    "continue_without_help_response_share_parent", "respons zonder hulp verder ouder", "continue-without-help response, parent", "percent", Share,
        "trajectories of the denominator with zonder_hulp_verder_ouder", "trajectories ended in the period", Care, false;
    "continue_without_help_parent_01", "ouder: zelfde of zwaardere hulp nodig", "parent: same or heavier help needed", "percent", Share,
        "trajectories of the denominator answering 01", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false;
    "continue_without_help_parent_02", "ouder: lichtere hulp volstaat", "parent: lighter help suffices", "percent", Share,
        "trajectories of the denominator answering 02", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false;
    "continue_without_help_parent_03", "ouder: nu geen hulp, verwacht terug te komen", "parent: no help now, expects to return", "percent", Share,
        "trajectories of the denominator answering 03", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false;
    "continue_without_help_parent_04", "ouder: geen verdere hulp nodig", "parent: no further help needed", "percent", Share,
        "trajectories of the denominator answering 04", "trajectories ended in the period with zonder_hulp_verder_ouder", Care, false;
    "no_new_start_share", "geen nieuwe start binnen W dagen (3.2)", "no new start within W days (3.2)", "percent", Share,
        "trajectories of the denominator whose child had no new start at any provider within W (182) days of the end",
        "trajectories ended in the period with reason 01 to 04 (of linkable children)", All, true;
}

/// The indicator named `code`.
pub fn indicator(code: &str) -> Option<&'static Indicator> {
    INDICATORS.iter().find(|i| i.code == code)
}

/// The catalogue as `schemas/indicators.csv`.
pub fn indicators_csv() -> String {
    let mut out = String::from(
        "code,label_nl,label_en,unit,kind,numerator,denominator,scopes,breakdowns,linked\n",
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
            "{},{},{},{},{},{},{},{},{},{}\n",
            i.code,
            quote(i.label_nl),
            quote(i.label_en),
            i.unit,
            kind,
            quote(i.numerator),
            quote(i.denominator),
            "mirror|municipality|region|national",
            breakdowns,
            i.linked
        ));
    }
    out
}
