//! Indicator cells (docs/indicators.md) for every scope and breakdown, with what the publish stage
//! needs to apply the release rules: exact counts, a cell key per count (SDC-4) and the
//! contribution of each provider (NB-3).
//!
//! A period is computed in two passes over its trajectories. Grouped by child, they fill the
//! aggregate scopes (gemeente, region, national), so a child counts once per cell. Grouped by
//! provider and then child, they fill the mirror scopes of that provider and, from the same
//! pass, each provider's contribution to every aggregate cell.

use std::collections::HashMap;

use spiegel_core::{AgeBand, CodeList, Geslacht, Hulpvorm, ReportKind, Verwijzer};

use crate::indicators::tally as count;
use crate::indicators::{Breakdowns, INDICATORS, Kind, Linkage, Value, count as count_named};
use crate::link::Flags;
use crate::model::{Child, Submission, Traj};
use crate::table::{CellRow, Count, TableBuilder};

/// Slots of the breakdowns: total, 8 hulpvormen, 2 verblijf, 7 verwijzers, 4 age bands,
/// 3 geslachten. The first [`CARE_SLOTS`] are the breakdowns of [`Breakdowns::Care`].
const SLOTS: usize = 25;
const CARE_SLOTS: usize = 11;

/// The dimension and category of a slot.
fn slot_label(slot: usize) -> (&'static str, &'static str) {
    match slot {
        0 => ("total", "total"),
        1..=8 => ("hulpvorm", Hulpvorm::ALL[slot - 1].code()),
        9 => ("verblijf", "zonder_verblijf"),
        10 => ("verblijf", "met_verblijf"),
        11..=17 => ("verwijzer", Verwijzer::ALL[slot - 11].code()),
        18..=21 => ("age_band", AgeBand::ALL[slot - 18].label()),
        _ => ("geslacht", Geslacht::ALL[slot - 22].code()),
    }
}

/// The slots a trajectory falls in, care breakdowns first.
fn slots_of(t: &Traj) -> [usize; 6] {
    let verblijf = usize::from(Hulpvorm::ALL[usize::from(t.hulpvorm)].met_verblijf());
    [
        0,
        1 + usize::from(t.hulpvorm),
        9 + verblijf,
        11 + usize::from(t.verwijzer),
        18 + usize::from(t.age_band),
        22 + usize::from(t.geslacht),
    ]
}

/// Where each indicator's numerator and denominator accumulate in a cell, in catalogue
/// order: resolved once from the counts its catalogue entry names, since every cell of
/// every period walks the catalogue.
fn tallies() -> &'static [(Option<usize>, Option<usize>)] {
    static TALLIES: std::sync::OnceLock<Vec<(Option<usize>, Option<usize>)>> =
        std::sync::OnceLock::new();
    TALLIES.get_or_init(|| {
        let tally = |code: &str| count_named(code).map(|c| c.tally);
        INDICATORS
            .iter()
            .map(|i| (tally(i.numerator_count), tally(i.denominator_count)))
            .collect()
    })
}

/// Everything one cell (scope × slot) accumulates.
#[derive(Debug)]
struct Acc {
    counts: [Count; count::ALL],
    nns_provisional: bool,
    /// A new start in the cell whose lookback reaches before the delivered history.
    repeat_provisional: bool,
    durations: Vec<i32>,
    waiting: Vec<i32>,
    amount_cent: i128,
    satisfaction_sum: [u64; 2],
    /// Per count, the units of each provider (aggregate scopes only).
    contributors: Contributors,
}

/// Per count of a cell, the units of each provider, in provider order.
type Contributors = Vec<Vec<(u16, u32)>>;

impl Default for Acc {
    fn default() -> Self {
        Self {
            counts: [Count::default(); count::ALL],
            nns_provisional: false,
            repeat_provisional: false,
            durations: Vec::new(),
            waiting: Vec::new(),
            amount_cent: 0,
            satisfaction_sum: [0; 2],
            contributors: Vec::new(),
        }
    }
}

/// Parameters of the indicators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) waiting_norm_days: i32,
}

/// The scopes of a period. Provider-region and provider-national scopes are never published:
/// they measure a provider's contribution to the region and national cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    National,
    Region(u16),
    Gemeente(u16),
    Mirror(u16),
    ProviderRegion(u16),
    ProviderNational,
}

/// Adds one delivered trajectory to a cell; `care` cells also keep the indicators published
/// for the care breakdowns only.
fn add_trajectory(
    acc: &mut Acc,
    t: &Traj,
    f: &Flags,
    period_start: i32,
    params: Params,
    care: bool,
) {
    use count::*;
    let key = t.key_bits();
    let c = &mut acc.counts;
    c[ACTIVE].add(key);
    if t.start >= period_start {
        c[STARTED].add(key);
        if care {
            if t.crisis {
                c[CRISIS].add(key);
            }
            if let Some(aanmelding) = t.aanmelding {
                let days = (t.start - aanmelding).max(0);
                acc.waiting.push(days);
                c[WAITING_N].add(key);
                if days <= params.waiting_norm_days {
                    c[WITHIN_NORM].add(key);
                }
            }
        }
    }
    if let (Some(amount), true) = (t.amount_cent, care) {
        acc.amount_cent += i128::from(amount);
        c[AMOUNT_N].add(key);
    }
    let Some(end) = t.end else { return };
    c[ENDED].add(key);
    acc.durations.push(end - t.start);
    if let Some(reden) = t.reden {
        c[REDEN + usize::from(reden)].add(key);
        if reden <= 3 {
            c[ENDED_0104].add(key);
        }
        if reden == 2 || reden == 3 {
            c[DROPOUT].add(key);
        }
    }
    if let Some(no_new_start) = f.no_new_start {
        c[NNS_DEN].add(key);
        if no_new_start {
            c[NNS_NUM].add(key);
        }
        acc.nns_provisional |= f.provisional;
    }
    if !care {
        return;
    }
    for informant in 0..2 {
        if let Some(score) = t.tevredenheid[informant] {
            c[SAT_N + informant].add(key);
            acc.satisfaction_sum[informant] += u64::from(score);
            if score >= 7 {
                c[SAT_7PLUS + informant].add(key);
            }
        }
        if let Some(answer) = t.zonder_hulp_verder[informant] {
            c[ZHV_N + informant].add(key);
            c[ZHV + 4 * informant + usize::from(answer)].add(key);
        }
    }
    if let Some(answer) = t.doelrealisatie.doelen() {
        c[GOALS_N].add(key);
        c[GOALS + usize::from(answer)].add(key);
    }
    if let Some(answer) = t.doelrealisatie.problematiek() {
        c[PROBLEMS_N].add(key);
        c[PROBLEMS + usize::from(answer)].add(key);
    }
}

/// The cells of a set of scopes.
struct Cells {
    accs: Vec<Option<Box<Acc>>>,
    scopes: Vec<Scope>,
    /// Per child: its cells, and for each new start there whether it is a repeat and whether
    /// its lookback is not covered.
    scratch_youth: Vec<usize>,
    scratch_repeat: Vec<(usize, bool, bool)>,
    scratch_scopes: Vec<usize>,
}

impl Cells {
    fn new(scopes: Vec<Scope>) -> Self {
        Self {
            accs: (0..scopes.len() * SLOTS).map(|_| None).collect(),
            scopes,
            scratch_youth: Vec::new(),
            scratch_repeat: Vec::new(),
            scratch_scopes: Vec::with_capacity(4),
        }
    }

    fn acc(&mut self, cell: usize) -> &mut Acc {
        self.accs[cell].get_or_insert_with(Box::default)
    }

    /// Adds one child's delivered trajectories of the period, each to the cells of the
    /// scopes `scope_of` names: trajectories are counted per trajectory, the child once.
    fn add_child(
        &mut self,
        trajectories: &[(&Traj, &Flags)],
        scope_of: &dyn Fn(&Traj, &mut Vec<usize>),
        period_start: i32,
        params: Params,
    ) {
        let mut youth = std::mem::take(&mut self.scratch_youth);
        let mut repeat = std::mem::take(&mut self.scratch_repeat);
        let mut scopes = std::mem::take(&mut self.scratch_scopes);
        youth.clear();
        repeat.clear();
        for &(t, f) in trajectories {
            scopes.clear();
            scope_of(t, &mut scopes);
            let new_start =
                t.start >= period_start && !f.continuation && matches!(t.child, Child::Linked(_));
            for &scope in &scopes {
                for (i, slot) in slots_of(t).into_iter().enumerate() {
                    let cell = scope * SLOTS + slot;
                    add_trajectory(self.acc(cell), t, f, period_start, params, i < 3);
                    youth.push(cell);
                    if new_start {
                        repeat.push((cell, f.repeat, f.repeat_provisional));
                    }
                }
            }
        }
        let child_key = trajectories.first().map_or(0, |(t, _)| t.child.key_bits());
        youth.sort_unstable();
        youth.dedup();
        for &cell in &youth {
            self.acc(cell).counts[count::YOUTHS].add(child_key);
        }
        // A child is in the numerator when any of its new starts in the cell is a repeat.
        repeat.sort_unstable();
        for same_cell in repeat.chunk_by(|a, b| a.0 == b.0) {
            let acc = self.acc(same_cell[0].0);
            acc.counts[count::REPEAT_DEN].add(child_key);
            if same_cell.iter().any(|r| r.1) {
                acc.counts[count::REPEAT_NUM].add(child_key);
            }
            acc.repeat_provisional |= same_cell.iter().any(|r| r.2);
        }
        self.scratch_youth = youth;
        self.scratch_repeat = repeat;
        self.scratch_scopes = scopes;
    }

    /// Every touched cell with its scope and slot.
    fn touched(&mut self) -> impl Iterator<Item = (Scope, usize, &mut Acc)> {
        let scopes = &self.scopes;
        self.accs
            .iter_mut()
            .enumerate()
            .filter_map(move |(cell, acc)| {
                Some((scopes[cell / SLOTS], cell % SLOTS, acc.as_deref_mut()?))
            })
    }
}

/// Names of providers, regions and gemeenten for the rows.
struct Names<'a> {
    period: &'a str,
    providers: &'a [String],
    regions: &'a [String],
    gemeenten: &'a [(String, u16)],
}

fn median(values: &mut [i32]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        f64::from(values[mid])
    } else {
        (f64::from(values[mid - 1]) + f64::from(values[mid])) / 2.0
    })
}

fn ratio(sum: f64, n: u32) -> Option<f64> {
    (n > 0).then(|| sum / f64::from(n))
}

/// Writes the rows of one cell, one per indicator published for its slot.
fn emit_cell(
    names: &Names<'_>,
    scope: Scope,
    provider: Option<u16>,
    slot: usize,
    acc: &mut Acc,
    out: &mut TableBuilder,
) {
    let (dimension, category) = slot_label(slot);
    let region_of = |g: u16| names.regions[usize::from(names.gemeenten[usize::from(g)].1)].as_str();
    let (kind, gemeente, region) = match scope {
        Scope::National => (ReportKind::National, None, None),
        Scope::Region(r) => (
            ReportKind::Region,
            None,
            Some(names.regions[usize::from(r)].as_str()),
        ),
        Scope::Gemeente(g) => (
            ReportKind::Municipality,
            Some(names.gemeenten[usize::from(g)].0.as_str()),
            Some(region_of(g)),
        ),
        Scope::Mirror(g) => (
            ReportKind::Mirror,
            Some(names.gemeenten[usize::from(g)].0.as_str()),
            Some(region_of(g)),
        ),
        Scope::ProviderRegion(_) | Scope::ProviderNational => return,
    };
    let duration_mean = ratio(
        acc.durations.iter().map(|&d| f64::from(d)).sum(),
        acc.counts[count::ENDED].n,
    );
    let duration_median = median(&mut acc.durations);
    let waiting_median = median(&mut acc.waiting);
    for (indicator, &(numerator, denominator)) in INDICATORS.iter().zip(tallies()) {
        if indicator.breakdowns == Breakdowns::Care && slot >= CARE_SLOTS {
            continue;
        }
        let n = |i: Option<usize>| i.map(|i| acc.counts[i]);
        let value = match indicator.value {
            Value::Count => n(numerator).map(|c| f64::from(c.n)),
            Value::Share | Value::LinkedShare(_) => {
                let (num, den) = (
                    n(numerator).unwrap_or_default(),
                    n(denominator).unwrap_or_default(),
                );
                ratio(100.0 * f64::from(num.n), den.n)
            }
            Value::DurationMean => duration_mean,
            Value::DurationMedian => duration_median,
            Value::WaitingMedian => waiting_median,
            Value::AmountMean => ratio(
                acc.amount_cent as f64 / 100.0,
                acc.counts[count::AMOUNT_N].n,
            ),
            Value::SatisfactionMean(i) => ratio(
                acc.satisfaction_sum[i] as f64,
                acc.counts[count::SAT_N + i].n,
            ),
        };
        debug_assert!(indicator.kind != Kind::Count || denominator.is_none());
        // NB-3 weighs the cell's population: the denominator, or the count itself.
        let population = denominator.or(numerator).unwrap_or(count::ACTIVE);
        out.push(&CellRow {
            period: names.period,
            kind,
            gemeente,
            region,
            provider: provider.map(|p| names.providers[usize::from(p)].as_str()),
            indicator: indicator.code,
            dimension,
            category,
            numerator: n(numerator),
            denominator: n(denominator),
            value,
            provisional: match indicator.value {
                Value::LinkedShare(Linkage::NoNewStart) => acc.nns_provisional,
                Value::LinkedShare(Linkage::Repeat) => acc.repeat_provisional,
                Value::Count
                | Value::Share
                | Value::DurationMean
                | Value::DurationMedian
                | Value::WaitingMedian
                | Value::AmountMean
                | Value::SatisfactionMean(_) => false,
            },
            contributors: provider.is_none().then(|| {
                acc.contributors
                    .get(population)
                    .map_or(&[][..], Vec::as_slice)
            }),
            providers: names.providers,
        });
    }
}

/// Every cell of one period, from the submissions for it.
pub(crate) fn compute_period(
    period: spiegel_core::Period,
    submissions: &[&Submission],
    flags: &[&Vec<Flags>],
    names: (&[String], &[String], &[(String, u16)]),
    params: Params,
    out: &mut TableBuilder,
) {
    let (providers, regions, gemeenten) = names;
    let label = period.to_string();
    let names = Names {
        period: &label,
        providers,
        regions,
        gemeenten,
    };
    let period_start = spiegel_core::ipc::date32(period.start());
    let mut records: Vec<(&Traj, &Flags)> = submissions
        .iter()
        .zip(flags)
        .flat_map(|(s, f)| s.trajectories.iter().zip(f.iter()))
        .collect();

    let mut by_provider = records.clone();
    let mut scopes = vec![Scope::National];
    scopes.extend((0..regions.len()).map(|r| Scope::Region(r as u16)));
    scopes.extend((0..gemeenten.len()).map(|g| Scope::Gemeente(g as u16)));
    let aggregate_cells = scopes.len() * SLOTS;
    let first_gemeente = 1 + regions.len();
    // The two passes share nothing until the providers' contributions join the aggregate
    // cells, so they run on two cores: a correction recomputes a single period, and would
    // otherwise leave one core idle.
    let (mut aggregate, contributions) = std::thread::scope(|s| {
        let aggregate =
            s.spawn(|| aggregate_pass(&mut records, scopes, first_gemeente, period_start, params));
        let contributions = provider_pass(
            &mut by_provider,
            aggregate_cells,
            first_gemeente,
            period_start,
            params,
            &names,
            out,
        );
        let aggregate = aggregate
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (aggregate, contributions)
    });
    for (cell, contributors) in contributions.into_iter().enumerate() {
        if let Some(contributors) = contributors {
            aggregate.acc(cell).contributors = contributors;
        }
    }
    for (scope, slot, acc) in aggregate.touched() {
        emit_cell(&names, scope, None, slot, acc, out);
    }
}

/// The aggregate scopes (national, region, gemeente), children grouped across providers.
fn aggregate_pass(
    records: &mut [(&Traj, &Flags)],
    scopes: Vec<Scope>,
    first_gemeente: usize,
    period_start: i32,
    params: Params,
) -> Cells {
    records.sort_unstable_by_key(|(t, _)| (t.child, t.provider, t.start, t.hulpvorm));
    let mut aggregate = Cells::new(scopes);
    let aggregate_scopes = |t: &Traj, out: &mut Vec<usize>| {
        out.extend([
            0,
            1 + usize::from(t.region),
            first_gemeente + usize::from(t.gemeente),
        ]);
    };
    for child in records.chunk_by(|a, b| a.0.child == b.0.child) {
        aggregate.add_child(child, &aggregate_scopes, period_start, params);
    }
    aggregate
}

/// Per provider, in provider order: its mirror cells, written to `out`, and what it
/// contributes to each aggregate cell, returned by aggregate cell: per count, the units of
/// each provider.
fn provider_pass(
    records: &mut [(&Traj, &Flags)],
    aggregate_cells: usize,
    first_gemeente: usize,
    period_start: i32,
    params: Params,
    names: &Names<'_>,
    out: &mut TableBuilder,
) -> Vec<Option<Contributors>> {
    let mut contributions: Vec<Option<Contributors>> = (0..aggregate_cells).map(|_| None).collect();
    records.sort_unstable_by_key(|(t, _)| (t.provider, t.child, t.start, t.hulpvorm));
    for of_provider in records.chunk_by(|a, b| a.0.provider == b.0.provider) {
        let provider = of_provider[0].0.provider;
        let mut local: HashMap<Scope, usize> = HashMap::new();
        let mut own_scopes = Vec::new();
        let mut index = |scope: Scope| {
            *local.entry(scope).or_insert_with(|| {
                own_scopes.push(scope);
                own_scopes.len() - 1
            })
        };
        for (t, _) in of_provider {
            index(Scope::Mirror(t.gemeente));
            index(Scope::ProviderRegion(t.region));
            index(Scope::ProviderNational);
        }
        let mut own = Cells::new(own_scopes);
        let scope_of = |t: &Traj, out: &mut Vec<usize>| {
            out.extend([
                local[&Scope::Mirror(t.gemeente)],
                local[&Scope::ProviderRegion(t.region)],
                local[&Scope::ProviderNational],
            ]);
        };
        for child in of_provider.chunk_by(|a, b| a.0.child == b.0.child) {
            own.add_child(child, &scope_of, period_start, params);
        }
        for (scope, slot, acc) in own.touched() {
            let target = match scope {
                Scope::Mirror(g) => first_gemeente + usize::from(g),
                Scope::ProviderRegion(r) => 1 + usize::from(r),
                _ => 0,
            };
            let contributors = contributions[target * SLOTS + slot]
                .get_or_insert_with(|| vec![Vec::new(); count::ALL]);
            for (k, c) in acc.counts.iter().enumerate() {
                if c.n > 0 {
                    contributors[k].push((provider, c.n));
                }
            }
            if matches!(scope, Scope::Mirror(_)) {
                emit_cell(names, scope, Some(provider), slot, acc, out);
            }
        }
    }
    contributions
}
