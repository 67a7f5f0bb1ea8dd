//! The release rules of SPEC §9 applied to the cells of one report: SDC-1 and SDC-2 primary
//! suppression, NB-3 contributor protection, SDC-3 secondary suppression driven by an attacker
//! audit, and SDC-4 cell-key perturbation to base 5.

use std::sync::Arc;

use spiegel_aggregate::indicators::{Indicator, Kind};

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

/// Primary suppression: SDC-1 (small counts), SDC-2 (small denominators), NB-3 (too few or
/// too dominant non-sharing contributors; `sharing` says whether a provider counts as sharing
/// with every reader of the report).
pub(crate) fn primary(cells: &mut [Cell], config: &PublishConfig, sharing: &dyn Fn(&str) -> bool) {
    for cell in cells.iter_mut().filter(|c| c.controlled) {
        let small = match cell.indicator.kind {
            Kind::Count => cell
                .numerator
                .is_some_and(|n| n > 0 && n < config.threshold),
            Kind::Share | Kind::Statistic => cell
                .denominator
                .is_some_and(|d| d > 0 && d < config.rate_threshold),
        };
        let unprotected = {
            let non_sharing: Vec<u32> = cell
                .contributors
                .iter()
                .filter(|(p, _)| !sharing(p))
                .map(|(_, u)| *u)
                .collect();
            let total: u64 = non_sharing.iter().map(|&u| u64::from(u)).sum();
            let largest = non_sharing.iter().copied().max().unwrap_or(0);
            !non_sharing.is_empty()
                && (non_sharing.len() < config.min_contributors as usize
                    || u64::from(largest) * 100 > total * u64::from(config.dominance_percent))
        };
        cell.suppressed |= small || unprotected;
    }
}

/// The counts of a column of a cell.
fn count(cell: &Cell, column: &str) -> Option<u32> {
    if column == "numerator" {
        cell.numerator
    } else {
        cell.denominator
    }
}

/// One additive group: a breakdown's categories and the total, of one indicator.
struct Group {
    total: usize,
    categories: Vec<usize>,
}

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
    }
    out
}

/// The attacker's intervals for every suppressed count of one indicator, from the equations
/// total = Σ categories of each breakdown, published cells known exactly and every suppressed
/// non-empty cell at least 1. Returns, for a failing interval, the group to strengthen.
fn audit_indicator(
    cells: &[Cell],
    groups: &[Group],
    column: &'static str,
    protection: u64,
    out: &mut Vec<AuditInterval>,
) -> Option<usize> {
    let total = groups.first()?.total;
    let value = |i: usize| u64::from(count(&cells[i], column).unwrap_or(0));
    let hidden = |i: usize| cells[i].suppressed && count(&cells[i], column).is_some_and(|n| n > 0);
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
        if !found.protects() {
            failing = failing.or(pinned_by);
        }
        out.push(found);
    }
    for (g, group) in groups.iter().enumerate() {
        let hidden_cells: Vec<usize> = group.categories.iter().copied().filter(|&c| hidden(c)).collect();
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
                    let rest = t.saturating_sub(published);
                    interval(c, 1, Some(rest.saturating_sub(hidden_cells.len() as u64 - 1).max(1)))
                }
                None => interval(c, 1, None),
            };
            if !found.protects() {
                failing = failing.or(Some(g));
            }
            out.push(found);
        }
    }
    failing
}

/// SDC-3: adds complementary suppressions until the attacker audit passes, and returns the
/// audit that passed. Complements are chosen deterministically: the smallest non-empty
/// published category of the failing breakdown, else the total; empty cells are never used.
pub(crate) fn secondary(cells: &mut [Cell], protection: u64) -> Result<Vec<AuditInterval>> {
    let all_groups = groups(cells);
    loop {
        let mut audit = Vec::new();
        let mut strengthened = false;
        for (_, groups) in &all_groups {
            for column in ["numerator", "denominator"] {
                if let Some(failing) = audit_indicator(cells, groups, column, protection, &mut audit) {
                    add_complement(cells, &groups[failing], column)?;
                    strengthened = true;
                }
            }
        }
        if !strengthened {
            return Ok(audit);
        }
    }
}

fn add_complement(cells: &mut [Cell], group: &Group, column: &str) -> Result<()> {
    let candidate = group
        .categories
        .iter()
        .copied()
        .filter(|&c| !cells[c].suppressed && count(&cells[c], column).is_some_and(|n| n > 0))
        .min_by_key(|&c| (count(&cells[c], column), c));
    let chosen = match candidate {
        Some(c) => c,
        None if !cells[group.total].suppressed => group.total,
        None => {
            return Err(PublishError::Audit(format!(
                "{} {column}: no complement left",
                cells[group.total].indicator.code
            )));
        }
    };
    cells[chosen].suppressed = true;
    Ok(())
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
    let status = if cell.provisional { "provisional" } else { "ok" };
    let shown = |n: Option<u32>, key: u64| -> Option<i64> {
        let n = n?;
        if !cell.controlled {
            return Some(i64::from(n));
        }
        // A share's numerator below the threshold is not shown; the share itself is, its
        // denominator having passed SDC-2.
        (n == 0 || n >= config.threshold).then(|| perturb(n, key))
    };
    let numerator = shown(cell.numerator, cell.numerator_key);
    let denominator = shown(cell.denominator, cell.denominator_key);
    let value = match cell.indicator.kind {
        Kind::Count => numerator.map(|n| n as f64),
        Kind::Share => cell.value.map(f64::round),
        Kind::Statistic => cell.value.map(|v| (v * 10.0).round() / 10.0),
    };
    Published {
        numerator,
        denominator,
        value,
        status,
    }
}
