//! Indicator cells (SPEC §7) for every scope and breakdown, with what the publish stage needs
//! to apply the release rules: exact counts, a cell key per count (SDC-4) and the contribution
//! of each provider (NB-3).

use std::collections::HashMap;

use spiegel_core::{AgeBand, CodeList, Geslacht, Hulpvorm, Verwijzer};

use crate::indicators::{Breakdowns, INDICATORS, Kind};
use crate::link::Flags;
use crate::model::{Submission, Traj};
use crate::table::{CellRow, TableBuilder};

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

/// A count of distinct units with its cell key and, in aggregate scopes, the units per
/// provider.
#[derive(Debug, Clone, Default)]
pub(crate) struct Count {
    pub(crate) n: u32,
    pub(crate) key: u64,
    pub(crate) providers: Vec<(u16, u32)>,
}

impl Count {
    fn add(&mut self, key: u64, provider: Option<u16>) {
        self.n += 1;
        self.key = self.key.wrapping_add(key);
        if let Some(provider) = provider {
            self.add_provider(provider, 1);
        }
    }

    fn add_provider(&mut self, provider: u16, units: u32) {
        match self.providers.iter_mut().find(|(p, _)| *p == provider) {
            Some((_, u)) => *u += units,
            None => self.providers.push((provider, units)),
        }
    }

    fn plus(&self, other: &Count) -> Count {
        let mut sum = self.clone();
        sum.n += other.n;
        sum.key = sum.key.wrapping_add(other.key);
        for &(p, u) in &other.providers {
            sum.add_provider(p, u);
        }
        sum
    }
}

/// Everything one cell (scope × slot) accumulates.
#[derive(Debug, Default)]
struct Acc {
    youths: Count,
    repeat_num: Count,
    repeat_den: Count,
    active: Count,
    started: Count,
    crisis: Count,
    ended: Count,
    reden: [Count; 5],
    ended_0104: Count,
    nns_num: Count,
    nns_den: Count,
    nns_provisional: bool,
    durations: Vec<i32>,
    waiting: Vec<i32>,
    waiting_n: Count,
    within_norm: Count,
    amount_cent: i128,
    amount_n: Count,
    sat_n: [Count; 2],
    sat_sum: [u64; 2],
    sat_7plus: [Count; 2],
    zhv_n: [Count; 2],
    zhv: [[Count; 4]; 2],
}

/// Parameters of the indicators.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) waiting_norm_days: i32,
}

/// Which report a scope belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    National,
    Region(u16),
    Gemeente(u16),
    Mirror(u16),
}

/// Adds one delivered trajectory to a cell.
fn add_trajectory(
    acc: &mut Acc,
    t: &Traj,
    f: &Flags,
    p: Option<u16>,
    period: (i32, i32),
    params: Params,
    care: bool,
) {
    let key = t.key_bits();
    acc.active.add(key, p);
    let started = t.start >= period.0;
    if started && t.crisis && care {
        acc.crisis.add(key, p);
    }
    if started {
        acc.started.add(key, p);
        if let (Some(aanmelding), true) = (t.aanmelding, care) {
            let days = (t.start - aanmelding).max(0);
            acc.waiting.push(days);
            acc.waiting_n.add(key, p);
            if days <= params.waiting_norm_days {
                acc.within_norm.add(key, p);
            }
        }
    }
    if let (Some(amount), true) = (t.amount_cent, care) {
        acc.amount_cent += i128::from(amount);
        acc.amount_n.add(key, p);
    }
    let Some(end) = t.end else { return };
    acc.ended.add(key, p);
    acc.durations.push(end - t.start);
    if let Some(reden) = t.reden {
        if care || reden == 0 || reden == 2 || reden == 3 {
            acc.reden[usize::from(reden)].add(key, p);
        }
        if reden <= 3 {
            acc.ended_0104.add(key, p);
        }
    }
    if let Some(nns) = f.no_new_start {
        acc.nns_den.add(key, p);
        if nns {
            acc.nns_num.add(key, p);
        }
        acc.nns_provisional |= f.provisional;
    }
    if !care {
        return;
    }
    for informant in 0..2 {
        if let Some(score) = t.tevredenheid[informant] {
            acc.sat_n[informant].add(key, p);
            acc.sat_sum[informant] += u64::from(score);
            if score >= 7 {
                acc.sat_7plus[informant].add(key, p);
            }
        }
        if let Some(answer) = t.zonder_hulp_verder[informant] {
            acc.zhv_n[informant].add(key, p);
            acc.zhv[informant][usize::from(answer)].add(key, p);
        }
    }
}

/// The cells of one group of scopes (all aggregate scopes of a period, or one provider's
/// mirror scopes), with children counted once per cell.
struct Cells {
    accs: Vec<Option<Box<Acc>>>,
    scopes: Vec<Scope>,
    /// Whether provider contributions are tracked (aggregate scopes only).
    track_providers: bool,
}

impl Cells {
    fn new(scopes: Vec<Scope>, track_providers: bool) -> Self {
        Self {
            accs: (0..scopes.len() * SLOTS).map(|_| None).collect(),
            scopes,
            track_providers,
        }
    }

    fn acc(&mut self, cell: usize) -> &mut Acc {
        self.accs[cell].get_or_insert_with(Box::default)
    }

    /// Adds one child's delivered trajectories of the period; `scope_of` gives the scopes
    /// of a trajectory.
    fn add_child(
        &mut self,
        trajectories: &[(&Traj, &Flags)],
        scope_of: &dyn Fn(&Traj, &mut Vec<usize>),
        period: (i32, i32),
        params: Params,
    ) {
        let mut youth_cells: Vec<(usize, u16)> = Vec::new();
        let mut repeat_cells: Vec<(usize, u16, bool)> = Vec::new();
        let mut scopes = Vec::with_capacity(4);
        for &(t, f) in trajectories {
            scopes.clear();
            scope_of(t, &mut scopes);
            let p = self.track_providers.then_some(t.provider);
            let new_start = t.start >= period.0
                && !f.continuation
                && matches!(t.child, crate::model::Child::Linked(_));
            for &scope in &scopes {
                for (i, slot) in slots_of(t).into_iter().enumerate() {
                    let cell = scope * SLOTS + slot;
                    add_trajectory(self.acc(cell), t, f, p, period, params, i < 3);
                    youth_cells.push((cell, t.provider));
                    if new_start {
                        repeat_cells.push((cell, t.provider, f.repeat));
                    }
                }
            }
        }
        let child_key = trajectories.first().map_or(0, |(t, _)| t.child.key_bits());
        youth_cells.sort_unstable();
        youth_cells.dedup();
        let track = self.track_providers;
        let mut previous = usize::MAX;
        for &(cell, provider) in &youth_cells {
            let youths = &mut self.acc(cell).youths;
            if cell != previous {
                youths.n += 1;
                youths.key = youths.key.wrapping_add(child_key);
                previous = cell;
            }
            if track {
                youths.add_provider(provider, 1);
            }
        }
        // A child counts in the numerator when any of its new starts in the cell is a repeat.
        repeat_cells.sort_unstable();
        let mut i = 0;
        while i < repeat_cells.len() {
            let cell = repeat_cells[i].0;
            let j = repeat_cells[i..]
                .iter()
                .position(|r| r.0 != cell)
                .map_or(repeat_cells.len(), |p| i + p);
            let repeat = repeat_cells[i..j].iter().any(|r| r.2);
            let acc = self.acc(cell);
            acc.repeat_den.n += 1;
            acc.repeat_den.key = acc.repeat_den.key.wrapping_add(child_key);
            if repeat {
                acc.repeat_num.n += 1;
                acc.repeat_num.key = acc.repeat_num.key.wrapping_add(child_key);
            }
            if track {
                let mut providers: Vec<(u16, bool)> =
                    repeat_cells[i..j].iter().map(|r| (r.1, r.2)).collect();
                providers.sort_unstable();
                providers.dedup_by_key(|p| p.0);
                for (provider, _) in providers {
                    acc.repeat_den.add_provider(provider, 1);
                }
                if repeat {
                    for &(_, provider, r) in &repeat_cells[i..j] {
                        if r && !acc.repeat_num.providers.iter().any(|p| p.0 == provider) {
                            acc.repeat_num.add_provider(provider, 1);
                        }
                    }
                }
            }
            i = j;
        }
    }

    /// Writes every touched cell as rows.
    fn emit(&mut self, context: &EmitContext<'_>, out: &mut TableBuilder) {
        for (cell, acc) in self.accs.iter_mut().enumerate() {
            let Some(acc) = acc.as_mut() else { continue };
            let scope = self.scopes[cell / SLOTS];
            let slot = cell % SLOTS;
            emit_cell(context, scope, slot, acc, out);
        }
    }
}

/// Names of providers, regions and gemeenten for the rows.
pub(crate) struct EmitContext<'a> {
    pub(crate) period: &'a str,
    pub(crate) providers: &'a [String],
    pub(crate) regions: &'a [String],
    pub(crate) gemeenten: &'a [(String, u16)],
    pub(crate) mirror_provider: Option<u16>,
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

fn emit_cell(
    context: &EmitContext<'_>,
    scope: Scope,
    slot: usize,
    acc: &mut Acc,
    out: &mut TableBuilder,
) {
    let (dimension, category) = slot_label(slot);
    let (kind, gemeente, region, provider) = match scope {
        Scope::National => ("national", None, None, None),
        Scope::Region(r) => (
            "region",
            None,
            Some(context.regions[usize::from(r)].as_str()),
            None,
        ),
        Scope::Gemeente(g) => {
            let (code, region) = &context.gemeenten[usize::from(g)];
            (
                "municipality",
                Some(code.as_str()),
                Some(context.regions[usize::from(*region)].as_str()),
                None,
            )
        }
        Scope::Mirror(g) => {
            let (code, region) = &context.gemeenten[usize::from(g)];
            (
                "mirror",
                Some(code.as_str()),
                Some(context.regions[usize::from(*region)].as_str()),
                context
                    .mirror_provider
                    .map(|p| context.providers[usize::from(p)].as_str()),
            )
        }
    };
    let duration_mean = ratio(
        acc.durations.iter().map(|&d| f64::from(d)).sum(),
        acc.ended.n,
    );
    let duration_median = median(&mut acc.durations);
    let waiting_median = median(&mut acc.waiting);
    let dropout = acc.reden[2].plus(&acc.reden[3]);
    for indicator in INDICATORS {
        if indicator.breakdowns == Breakdowns::Care && slot >= CARE_SLOTS {
            continue;
        }
        let share = |num: &Count, den: &Count| {
            (
                Some(num.clone()),
                Some(den.clone()),
                ratio(100.0 * f64::from(num.n), den.n),
            )
        };
        let count = |c: &Count| (Some(c.clone()), None, Some(f64::from(c.n)));
        let stat = |den: &Count, value: Option<f64>| (None, Some(den.clone()), value);
        let informant = usize::from(indicator.code.contains("parent"));
        let answer = indicator
            .code
            .bytes()
            .last()
            .map_or(0, |b| usize::from(b.saturating_sub(b'1')).min(4));
        let (numerator, denominator, value) = match indicator.code {
            "youths_in_care" => count(&acc.youths),
            "trajectories_active" => count(&acc.active),
            "trajectories_started" => count(&acc.started),
            "trajectories_started_in_crisis" => count(&acc.crisis),
            "trajectories_ended" => count(&acc.ended),
            "duration_days_mean" => stat(&acc.ended, duration_mean),
            "duration_days_median" => stat(&acc.ended, duration_median),
            "repeat_request_share" => share(&acc.repeat_num, &acc.repeat_den),
            "waiting_days_median" => stat(&acc.waiting_n, waiting_median),
            "started_within_norm_share" => share(&acc.within_norm, &acc.waiting_n),
            "declared_amount_mean" => stat(
                &acc.amount_n,
                ratio(acc.amount_cent as f64 / 100.0, acc.amount_n.n),
            ),
            "ended_as_planned_share" => share(&acc.reden[0], &acc.ended_0104),
            "dropout_share" => share(&dropout, &acc.ended_0104),
            "no_new_start_share" => share(&acc.nns_num, &acc.nns_den),
            code if code.starts_with("end_reason_") => share(&acc.reden[answer], &acc.ended),
            code if code.starts_with("satisfaction_response_share") => {
                share(&acc.sat_n[informant], &acc.ended)
            }
            code if code.starts_with("satisfaction_mean") => stat(
                &acc.sat_n[informant],
                ratio(acc.sat_sum[informant] as f64, acc.sat_n[informant].n),
            ),
            code if code.starts_with("satisfaction_7plus") => {
                share(&acc.sat_7plus[informant], &acc.sat_n[informant])
            }
            code if code.starts_with("continue_without_help_response_share") => {
                share(&acc.zhv_n[informant], &acc.ended)
            }
            _ => share(&acc.zhv[informant][answer.min(3)], &acc.zhv_n[informant]),
        };
        debug_assert!(matches!(
            indicator.kind,
            Kind::Count | Kind::Share | Kind::Statistic
        ));
        out.push(&CellRow {
            period: context.period,
            kind,
            gemeente,
            region,
            provider,
            indicator: indicator.code,
            dimension,
            category,
            numerator: numerator.as_ref(),
            denominator: denominator.as_ref(),
            value,
            provisional: indicator.code == "no_new_start_share" && acc.nns_provisional,
            providers: context.providers,
        });
    }
}

/// Every cell of one period, from the submissions for it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compute_period(
    period: spiegel_core::Period,
    submissions: &[&Submission],
    flags: &[&Vec<Flags>],
    providers: &[String],
    regions: &[String],
    gemeenten: &[(String, u16)],
    params: Params,
    out: &mut TableBuilder,
) {
    let label = period.to_string();
    let bounds = (
        spiegel_core::ipc::date32(period.start()),
        spiegel_core::ipc::date32(period.end()),
    );
    let mut records: Vec<(&Traj, &Flags)> = submissions
        .iter()
        .zip(flags)
        .flat_map(|(s, f)| s.trajectories.iter().zip(f.iter()))
        .collect();
    // Aggregate scopes: children grouped across providers.
    records.sort_unstable_by_key(|(t, _)| (t.child, t.provider, t.start, t.hulpvorm));
    let mut scopes = vec![Scope::National];
    scopes.extend((0..regions.len()).map(|r| Scope::Region(r as u16)));
    scopes.extend((0..gemeenten.len()).map(|g| Scope::Gemeente(g as u16)));
    let mut cells = Cells::new(scopes, true);
    let first_gemeente = 1 + regions.len();
    let aggregate_scopes = |t: &Traj, out: &mut Vec<usize>| {
        out.extend([
            0,
            1 + usize::from(t.region),
            first_gemeente + usize::from(t.gemeente),
        ]);
    };
    for child in records.chunk_by(|a, b| a.0.child == b.0.child) {
        cells.add_child(child, &aggregate_scopes, bounds, params);
    }
    let context = EmitContext {
        period: &label,
        providers,
        regions,
        gemeenten,
        mirror_provider: None,
    };
    cells.emit(&context, out);
    drop(cells);
    // Mirror scopes: one provider at a time, children grouped within it.
    records.sort_unstable_by_key(|(t, _)| (t.provider, t.child, t.start, t.hulpvorm));
    for provider_records in records.chunk_by(|a, b| a.0.provider == b.0.provider) {
        let provider = provider_records[0].0.provider;
        let mut local: HashMap<u16, usize> = HashMap::new();
        let mut mirror_scopes = Vec::new();
        for (t, _) in provider_records {
            local.entry(t.gemeente).or_insert_with(|| {
                mirror_scopes.push(Scope::Mirror(t.gemeente));
                mirror_scopes.len() - 1
            });
        }
        let mut cells = Cells::new(mirror_scopes, false);
        let mirror_scope = |t: &Traj, out: &mut Vec<usize>| out.push(local[&t.gemeente]);
        for child in provider_records.chunk_by(|a, b| a.0.child == b.0.child) {
            cells.add_child(child, &mirror_scope, bounds, params);
        }
        let context = EmitContext {
            mirror_provider: Some(provider),
            ..context
        };
        cells.emit(&context, out);
    }
}
