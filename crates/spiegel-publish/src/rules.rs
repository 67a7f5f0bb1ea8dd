//! The release rules of docs/release-rules.md applied to the cells of one report: SDC-1 and SDC-2
//! primary suppression, NB-3 contributor protection, SDC-3 secondary suppression driven by an
//! attacker audit, and SDC-4 cell-key perturbation to base 5.

use std::collections::HashSet;
use std::sync::Arc;

use spiegel_aggregate::indicators::{Indicator, Kind};
use spiegel_core::ReportKind;

use crate::{PublishConfig, PublishError, Result};

/// One cell of a report, exact, as the master table holds it.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) indicator: &'static Indicator,
    pub(crate) indicator_order: usize,
    pub(crate) dimension: Arc<str>,
    pub(crate) category: Arc<str>,
    pub(crate) numerator: Option<u32>,
    pub(crate) numerator_key: u64,
    pub(crate) denominator: Option<u32>,
    pub(crate) denominator_key: u64,
    pub(crate) value: Option<f64>,
    pub(crate) provisional: bool,
    pub(crate) contributors: Vec<(Arc<str>, u32)>,
    /// Whether disclosure control applies (every aggregate cell; linked mirror cells).
    pub(crate) controlled: bool,
    pub(crate) suppressed: bool,
    /// Which of its counts (numerator, denominator) the rules hide for their own sake: a
    /// small count, the counts of an unprotected contributor, a complement. A suppressed
    /// cell's other count is merely not shown here, and may be published in another cell.
    pub(crate) protected: [bool; 2],
}

/// A published cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Published {
    pub(crate) numerator: Option<i64>,
    pub(crate) denominator: Option<i64>,
    pub(crate) value: Option<f64>,
    pub(crate) status: &'static str,
}

/// What the attacker audit found for one suppressed count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditInterval {
    /// The cell.
    pub(crate) cell: usize,
    /// `numerator` or `denominator`.
    pub(crate) column: &'static str,
    /// Lowest value an attacker can derive.
    pub(crate) lower: u64,
    /// Highest value an attacker can derive; `None` when unbounded.
    pub(crate) upper: Option<u64>,
    /// The protection level the width must reach.
    pub(crate) protection: u64,
}

impl AuditInterval {
    /// Whether the interval is at least the protection level wide.
    pub(crate) fn protects(&self) -> bool {
        self.upper
            .is_none_or(|u| u.saturating_sub(self.lower) >= self.protection)
    }
}

/// Primary suppression: SDC-1 (small counts), SDC-2 (a share's counts and a statistic's n),
/// NB-3 (too few or too dominant non-sharing contributors).
///
/// `views` holds, for each reader of the report, the providers that count as sharing with that
/// reader (NB-3: every share that ever took effect); a cell must protect the non-sharing
/// contributors as every reader sees them. An empty slice means nobody shares.
pub(crate) fn primary(cells: &mut [Cell], config: &PublishConfig, views: &[SharingView]) {
    let nobody = [SharingView::default()];
    let views = if views.is_empty() { &nobody[..] } else { views };
    let small_count = |n: Option<u32>| n.is_some_and(|n| n > 0 && n < config.threshold);
    let small_base = |n: Option<u32>| n.is_some_and(|n| n > 0 && n < config.rate_threshold);
    for cell in cells.iter_mut().filter(|c| c.controlled) {
        let small = match cell.indicator.kind {
            Kind::Count => small_count(cell.numerator),
            // SDC-2: a share is published as its published counts' quotient, so a count that
            // SDC-1 hides hides the share as well.
            Kind::Share => small_base(cell.denominator) || small_count(cell.numerator),
            Kind::Statistic => small_base(cell.denominator),
        };
        let unprotected = || {
            views
                .iter()
                .any(|view| !contributors_protected(&cell.contributors, view, config))
        };
        let unprotected = unprotected();
        if small || unprotected {
            cell.suppressed = true;
            for (column, n) in [cell.numerator, cell.denominator].into_iter().enumerate() {
                // NB-3 hides what the non-sharing contributors gave; SDC-1 a small count. A
                // share or mean on a small base hides neither of its counts, which may be
                // published as counts of their own.
                cell.protected[column] |= n.is_some_and(|n| n > 0) && unprotected || small_count(n);
            }
        }
    }
}

/// The providers that count as sharing with one reader of a report (NB-3).
pub(crate) type SharingView = std::collections::BTreeSet<Arc<str>>;

/// NB-3 for one cell as one reader sees it: the contributors that do not share with the reader
/// number 0 or at least the minimum, and the largest of them holds at most the dominance share
/// of their units.
pub(crate) fn contributors_protected(
    contributors: &[(Arc<str>, u32)],
    sharing: &SharingView,
    config: &PublishConfig,
) -> bool {
    let non_sharing = contributors.iter().filter(|(p, _)| !sharing.contains(p));
    let (mut count, mut total, mut largest) = (0usize, 0u64, 0u64);
    for (_, units) in non_sharing {
        count += 1;
        total += u64::from(*units);
        largest = largest.max(u64::from(*units));
    }
    count == 0
        || (count >= config.min_contributors as usize
            && largest * 100 <= total * u64::from(config.dominance_percent))
}

/// The counts of a column of a cell.
fn count(cell: &Cell, column: &str) -> Option<u32> {
    if column == "numerator" {
        cell.numerator
    } else {
        cell.denominator
    }
}

/// The place of a column in [`Cell::protected`].
fn column_index(column: &str) -> usize {
    usize::from(column != "numerator")
}

/// A count with its cell key: the same units give the same pair wherever they are counted.
type CountKey = (u32, u64);

/// The non-empty counts of a cell with their keys, numerator first.
fn count_keys(cell: &Cell) -> [Option<CountKey>; 2] {
    [
        cell.numerator.map(|n| (n, cell.numerator_key)),
        cell.denominator.map(|n| (n, cell.denominator_key)),
    ]
    .map(|c| c.filter(|(n, _)| *n > 0))
}

/// Every count a published cell of the report shows (under disclosure control).
fn shown_counts(cells: &[Cell]) -> HashSet<CountKey> {
    cells
        .iter()
        .filter(|c| c.controlled && !c.suppressed)
        .flat_map(|c| count_keys(c).into_iter().flatten())
        .collect()
}

/// One additive group: a breakdown's categories and the total, of one indicator.
struct Group {
    total: usize,
    categories: Vec<usize>,
}

/// The additive families of a report: per indicator, its total with each breakdown's
/// categories, and each verblijf cell with the hulpvormen it is made of (01–04 without stay,
/// 11–14 with stay: publishing the verblijf cell and all but one of its hulpvormen would give
/// that one away).
fn groups(cells: &[Cell]) -> Vec<(usize, Vec<Group>)> {
    let mut out: Vec<(usize, Vec<Group>)> = Vec::new();
    let mut indicators: Vec<usize> = cells.iter().map(|c| c.indicator_order).collect();
    indicators.sort_unstable();
    indicators.dedup();
    for indicator in indicators {
        let of: Vec<usize> = (0..cells.len())
            .filter(|&i| cells[i].indicator_order == indicator && cells[i].controlled)
            .collect();
        let Some(&total) = of.iter().find(|&&i| &*cells[i].dimension == "total") else {
            continue;
        };
        let mut dimensions: Vec<&str> = of
            .iter()
            .map(|&i| &*cells[i].dimension)
            .filter(|d| *d != "total")
            .collect();
        dimensions.dedup();
        let groups = dimensions
            .into_iter()
            .map(|d| Group {
                total,
                categories: of
                    .iter()
                    .copied()
                    .filter(|&i| &*cells[i].dimension == d)
                    .collect(),
            })
            .collect();
        out.push((indicator, groups));
        for (verblijf, met_verblijf) in [("zonder_verblijf", false), ("met_verblijf", true)] {
            let Some(&whole) = of
                .iter()
                .find(|&&i| &*cells[i].dimension == "verblijf" && &*cells[i].category == verblijf)
            else {
                continue;
            };
            let categories: Vec<usize> = of
                .iter()
                .copied()
                .filter(|&i| {
                    &*cells[i].dimension == "hulpvorm"
                        && cells[i].category.starts_with('1') == met_verblijf
                })
                .collect();
            if !categories.is_empty() {
                out.push((
                    indicator,
                    vec![Group {
                        total: whole,
                        categories,
                    }],
                ));
            }
        }
    }
    out
}

/// The same count published in several cells: the same units, so the same exact count and the
/// same cell key (the sum of the units' keys, SDC-4), and so the same published value. A count
/// hidden in one cell and shown in another is not hidden: trajectories ended in a category is
/// also the denominator of every end reason and of the mean duration there, the verblijf cell
/// equals its one hulpvorm where only one is given. Suppresses every cell that shows a count
/// the rules protect in another; returns whether it suppressed any.
fn hide_everywhere(cells: &mut [Cell]) -> bool {
    let protected: HashSet<CountKey> = cells
        .iter()
        .filter(|c| c.controlled && c.suppressed)
        .flat_map(|c| {
            count_keys(c)
                .into_iter()
                .zip(c.protected)
                .filter_map(|(count, protected)| count.filter(|_| protected))
        })
        .collect();
    let mut changed = false;
    for cell in cells.iter_mut().filter(|c| c.controlled) {
        for (column, count) in count_keys(cell).into_iter().enumerate() {
            if count.is_some_and(|count| protected.contains(&count)) && !cell.protected[column] {
                cell.protected[column] = true;
                changed |= !cell.suppressed;
                cell.suppressed = true;
            }
        }
    }
    changed
}

/// The attacker's intervals for every suppressed count of one indicator, from the equations
/// total = Σ categories of each breakdown, published cells known exactly and every suppressed
/// non-empty cell at least 1. Returns, for a failing interval, the group to strengthen.
fn audit_indicator(
    cells: &[Cell],
    groups: &[Group],
    shown: &HashSet<CountKey>,
    column: &'static str,
    protection: u64,
    out: &mut Vec<AuditInterval>,
) -> Option<usize> {
    let total = groups.first()?.total;
    let at = column_index(column);
    let value = |i: usize| u64::from(count(&cells[i], column).unwrap_or(0));
    // Hidden: suppressed here and shown in no other cell.
    let hidden = |i: usize| {
        cells[i].suppressed && count_keys(&cells[i])[at].is_some_and(|c| !shown.contains(&c))
    };
    // Only what the rules protect must reach the protection level; a count that is merely
    // not shown still widens the others' intervals.
    let protected = |i: usize| cells[i].protected[at];
    let interval = |i: usize, lower: u64, upper: Option<u64>| AuditInterval {
        cell: i,
        column,
        lower,
        upper,
        protection,
    };
    // The total is known when published or when some breakdown has nothing hidden.
    let pinned_by = groups
        .iter()
        .position(|g| g.categories.iter().all(|&c| !hidden(c)));
    let known_total = if !hidden(total) {
        Some(value(total))
    } else {
        pinned_by.map(|g| groups[g].categories.iter().map(|&c| value(c)).sum())
    };
    let mut failing = None;
    if hidden(total) {
        let lower = groups
            .iter()
            .map(|g| {
                g.categories
                    .iter()
                    .map(|&c| if hidden(c) { 1 } else { value(c) })
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(1)
            .max(1);
        let found = interval(total, known_total.unwrap_or(lower), known_total);
        if protected(total) {
            if !found.protects() {
                failing = failing.or(pinned_by);
            }
            out.push(found);
        }
    }
    for (g, group) in groups.iter().enumerate() {
        let hidden_cells: Vec<usize> = group
            .categories
            .iter()
            .copied()
            .filter(|&c| hidden(c))
            .collect();
        if hidden_cells.is_empty() {
            continue;
        }
        let published: u64 = group
            .categories
            .iter()
            .filter(|&&c| !hidden(c))
            .map(|&c| value(c))
            .sum();
        for &c in &hidden_cells {
            let found = match known_total {
                Some(t) => {
                    // Σ hidden = rest, each at least 1: one hidden cell is rest exactly; of
                    // several, each lies anywhere in 1..=rest − (k − 1).
                    let rest = t.saturating_sub(published);
                    let k = hidden_cells.len() as u64;
                    let upper = rest.saturating_sub(k - 1).max(1);
                    interval(c, if k == 1 { upper } else { 1 }, Some(upper))
                }
                None => interval(c, 1, None),
            };
            if !protected(c) {
                continue;
            }
            if !found.protects() {
                failing = failing.or(Some(g));
            }
            out.push(found);
        }
    }
    failing
}

/// SDC-3: adds complementary suppressions until the attacker audit passes, and returns the
/// audit that passed. Complements are chosen deterministically, never among empty cells.
///
/// First each breakdown on its own (fast, and it picks the natural complement: the smallest
/// published category of the failing breakdown, else the total); then, with `model_relations`,
/// the linear-programming audit over every relation of the report at once ([`crate::audit`]),
/// whose complements send the loop round again. Mirror reports keep to the first: the exact
/// volumes docs/release-rules.md publishes there bound their parts whatever else is hidden.
pub(crate) fn secondary(
    cells: &mut [Cell],
    config: &PublishConfig,
    protection: u64,
    model_relations: bool,
) -> Result<Vec<AuditInterval>> {
    let all_groups = groups(cells);
    // What the LP proved in one pass holds in the next, which only hides more.
    let mut seen = crate::audit::Seen::default();
    loop {
        let by_group = audit_groups(cells, &all_groups, protection)?;
        if !model_relations {
            return Ok(by_group);
        }
        let audit = crate::audit::audit(cells, config, protection, &mut seen)?;
        if audit.complements.is_empty() {
            return Ok(audit.intervals);
        }
        for (cell, column) in audit.complements.into_iter().flatten() {
            cells[cell].suppressed = true;
            cells[cell].protected[column] = true;
        }
    }
}

/// The audit one breakdown at a time, with its complements, until it passes.
fn audit_groups(
    cells: &mut [Cell],
    all_groups: &[(usize, Vec<Group>)],
    protection: u64,
) -> Result<Vec<AuditInterval>> {
    loop {
        let mut audit = Vec::new();
        let mut strengthened = hide_everywhere(cells);
        let shown = shown_counts(cells);
        for (_, groups) in all_groups {
            for column in ["numerator", "denominator"] {
                if let Some(failing) =
                    audit_indicator(cells, groups, &shown, column, protection, &mut audit)
                {
                    add_complement(cells, &groups[failing], &shown, column)?;
                    strengthened = true;
                }
            }
        }
        if !strengthened {
            // A count in a nested family is audited twice: its narrowest interval stands.
            audit.sort_by_key(|i| {
                (
                    i.cell,
                    i.column,
                    i.upper.map_or(u64::MAX, |u| u.saturating_sub(i.lower)),
                )
            });
            audit.dedup_by_key(|i| (i.cell, i.column));
            return Ok(audit);
        }
    }
}

/// Hides one more count of `group` in `column`: the smallest the attacker knows, published
/// here or (a suppressed cell's count) in another cell, which [`hide_everywhere`] then
/// suppresses there; else the group's total.
fn add_complement(
    cells: &mut [Cell],
    group: &Group,
    shown: &HashSet<CountKey>,
    column: &str,
) -> Result<()> {
    let at = column_index(column);
    let known = |c: usize| {
        count_keys(&cells[c])[at]
            .is_some_and(|count| !cells[c].suppressed || shown.contains(&count))
    };
    let candidate = group
        .categories
        .iter()
        .copied()
        .filter(|&c| known(c))
        .min_by_key(|&c| (count(&cells[c], column), c));
    let chosen = match candidate {
        Some(c) => c,
        None if known(group.total) => group.total,
        None => {
            return Err(PublishError::Audit(format!(
                "{} {column}: no complement left",
                cells[group.total].indicator.code
            )));
        }
    };
    cells[chosen].suppressed = true;
    cells[chosen].protected[at] = true;
    Ok(())
}

/// Whether the cells of `indicator` in a report of `report_kind` fall under statistical disclosure
/// control, their counts perturbed to base 5 (SDC-4): every cell of an aggregate report, and in a
/// mirror report every figure but the provider's own volumes (the count indicators that use no
/// other provider's data), which stay exact so the provider can check its delivery was complete
/// (docs/release-rules.md). A mirror may be shown to a municipality, so its shares and means follow
/// SDC-1..4 like any other report's.
pub fn counts_rounded(report_kind: ReportKind, indicator: &Indicator) -> bool {
    report_kind != ReportKind::Mirror || indicator.linked || indicator.kind != Kind::Count
}

/// SDC-4: a count rounded to base 5, up with probability (n mod 5)/5, the draw fixed by the
/// cell key of the contributing units, so the same group of children gives the same value in
/// every table and every run.
pub(crate) fn perturb(n: u32, key: u64) -> i64 {
    let residue = n % 5;
    let base = i64::from(n - residue);
    if residue == 0 {
        return base;
    }
    let draw = spiegel_core::mix64(key) >> 11;
    let up = draw < (u64::from(residue) << 53) / 5;
    base + if up { 5 } else { 0 }
}

/// The published form of a cell.
pub(crate) fn publish(cell: &Cell, config: &PublishConfig) -> Published {
    if cell.suppressed {
        return Published {
            numerator: None,
            denominator: None,
            value: None,
            status: "suppressed",
        };
    }
    let status = if cell.provisional {
        "provisional"
    } else {
        "ok"
    };
    let shown = |n: Option<u32>, key: u64| -> Option<i64> {
        let n = n?;
        if !cell.controlled {
            return Some(i64::from(n));
        }
        // Primary suppression hides a controlled cell with a count in 1..T−1; should one
        // reach here all the same, its count is not shown.
        (n == 0 || n >= config.threshold).then(|| perturb(n, key))
    };
    let mut numerator = shown(cell.numerator, cell.numerator_key);
    let denominator = shown(cell.denominator, cell.denominator_key);
    let value = match cell.indicator.kind {
        Kind::Count => numerator.map(|n| n as f64),
        // SDC-2: the share of the published counts, so that it agrees with them and gives
        // nothing of the exact counts back. The numerator counts part of the denominator's
        // units: perturbed apart, it may come out above the denominator, where it is shown
        // as the denominator (still within 4 of the exact count, which is at most the
        // denominator's).
        Kind::Share => match (&mut numerator, denominator) {
            (Some(n), Some(d)) if d > 0 => {
                *n = (*n).min(d);
                Some((*n as f64 * 100.0 / d as f64).round())
            }
            _ => None,
        },
        Kind::Statistic => cell.value.map(|v| (v * 10.0).round() / 10.0),
    };
    Published {
        numerator,
        denominator,
        value,
        status,
    }
}

#[cfg(test)]
mod tests;
