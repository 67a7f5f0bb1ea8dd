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
mod tests {
    use spiegel_aggregate::indicators::{INDICATORS, indicator};

    use super::*;

    fn cell(
        code: &str,
        dimension: &str,
        category: &str,
        n: u32,
        contributors: &[(&str, u32)],
    ) -> Cell {
        let definition = indicator(code).unwrap();
        let (numerator, denominator) = match definition.kind {
            Kind::Count => (Some(n), None),
            Kind::Share => (Some(n / 2), Some(n)),
            Kind::Statistic => (None, Some(n)),
        };
        Cell {
            indicator: definition,
            indicator_order: INDICATORS.iter().position(|i| i.code == code).unwrap(),
            dimension: dimension.into(),
            category: category.into(),
            numerator,
            numerator_key: u64::from(n) * 0x9E37_79B9,
            denominator,
            denominator_key: u64::from(n) * 0x7F4A_7C15,
            value: Some(f64::from(n)),
            provisional: false,
            contributors: contributors
                .iter()
                .map(|(p, u)| (Arc::from(*p), *u))
                .collect(),
            controlled: true,
            suppressed: false,
            protected: [false; 2],
        }
    }

    fn spread(n: u32) -> Vec<(&'static str, u32)> {
        vec![("a", n / 3), ("b", n / 3), ("c", n - 2 * (n / 3))]
    }

    #[test]
    fn small_counts_and_small_denominators_are_suppressed() {
        let config = PublishConfig::default();
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 9, &spread(9)),
            cell("youths_in_care", "total", "total", 10, &spread(10)),
            cell("youths_in_care", "total", "total", 0, &[]),
            cell("dropout_share", "total", "total", 19, &spread(19)),
            cell("dropout_share", "total", "total", 20, &spread(20)),
            cell("duration_days_mean", "total", "total", 19, &spread(19)),
        ];
        primary(&mut cells, &config, &[]);
        let suppressed: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
        assert_eq!(suppressed, [true, false, false, true, false, true]);
        // A threshold of 12 moves the line.
        let mut cells = vec![cell("youths_in_care", "total", "total", 11, &spread(11))];
        primary(
            &mut cells,
            &PublishConfig {
                threshold: 12,
                ..config
            },
            &[],
        );
        assert!(cells[0].suppressed);
    }

    #[test]
    fn nb3_protects_the_one_provider_that_did_not_share() {
        let config = PublishConfig::default();
        let shared = [SharingView::from([Arc::from("shared")])];
        // One sharing provider and one other: the other could be derived by subtraction.
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            40,
            &[("shared", 20), ("b", 20)],
        )];
        primary(&mut cells, &config, &shared);
        assert!(cells[0].suppressed);
        // Without the share, two providers are still too few.
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            40,
            &[("shared", 20), ("b", 20)],
        )];
        primary(&mut cells, &config, &[]);
        assert!(cells[0].suppressed);
        // A second non-sharing provider: still two non-sharing contributors.
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            60,
            &[("shared", 20), ("b", 20), ("c", 20)],
        )];
        primary(&mut cells, &config, &shared);
        assert!(cells[0].suppressed);
        // A third non-sharing provider: published.
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            80,
            &[("shared", 20), ("b", 20), ("c", 20), ("d", 20)],
        )];
        primary(&mut cells, &config, &shared);
        assert!(!cells[0].suppressed);
        // Everybody shared: nobody to protect.
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            40,
            &[("shared", 20), ("b", 20)],
        )];
        let everybody = [SharingView::from([Arc::from("shared"), Arc::from("b")])];
        primary(&mut cells, &config, &everybody);
        assert!(!cells[0].suppressed);
    }

    #[test]
    fn nb3_suppresses_a_dominant_non_sharing_provider() {
        let config = PublishConfig::default();
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            100,
            &[("a", 86), ("b", 7), ("c", 7)],
        )];
        primary(&mut cells, &config, &[]);
        assert!(cells[0].suppressed);
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            100,
            &[("a", 85), ("b", 8), ("c", 7)],
        )];
        primary(&mut cells, &config, &[]);
        assert!(!cells[0].suppressed);
    }

    #[test]
    fn a_lone_suppressed_category_gets_a_complement_and_the_audit_proves_it() {
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 100, &spread(100)),
            cell("youths_in_care", "geslacht", "M", 55, &spread(55)),
            cell("youths_in_care", "geslacht", "V", 41, &spread(41)),
            cell("youths_in_care", "geslacht", "O", 4, &spread(4)),
        ];
        primary(&mut cells, &PublishConfig::default(), &[]);
        assert!(cells[3].suppressed && !cells[2].suppressed);
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        // Without a complement O = 100 - 55 - 41: the smallest published category joins it.
        assert!(cells[2].suppressed, "V must be suppressed as a complement");
        assert!(!cells[1].suppressed && !cells[0].suppressed);
        assert!(!audit.is_empty() && audit.iter().all(AuditInterval::protects));
        let o = audit.iter().find(|i| i.cell == 3).unwrap();
        assert_eq!((o.lower, o.upper), (1, Some(44)));
    }

    #[test]
    fn a_suppressed_total_is_not_left_recoverable_from_a_complete_breakdown() {
        // The total is primary-suppressed (NB-3 style); geslacht fully published would give it.
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 30, &spread(30)),
            cell("youths_in_care", "geslacht", "M", 15, &spread(15)),
            cell("youths_in_care", "geslacht", "V", 15, &spread(15)),
            cell("youths_in_care", "hulpvorm", "02", 30, &spread(30)),
        ];
        cells[0].suppressed = true;
        cells[0].protected = [true; 2];
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(audit.iter().all(AuditInterval::protects));
        assert!(cells[1].suppressed || cells[2].suppressed);
        assert!(cells[3].suppressed);
    }

    #[test]
    fn a_large_cell_suppressed_by_nb3_is_not_left_alone_in_its_breakdown() {
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 200, &spread(200)),
            cell("youths_in_care", "hulpvorm", "02", 120, &spread(120)),
            cell(
                "youths_in_care",
                "hulpvorm",
                "11",
                50,
                &[("a", 25), ("b", 25)],
            ),
            cell("youths_in_care", "hulpvorm", "13", 30, &spread(30)),
        ];
        primary(&mut cells, &PublishConfig::default(), &[]);
        assert!(cells[2].suppressed);
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(cells[3].suppressed, "13 = 200 - 120 - 11 otherwise");
        assert!(audit.iter().all(AuditInterval::protects));
    }

    #[test]
    fn one_hidden_hulpvorm_is_not_left_derivable_from_its_verblijf_cell() {
        let mut cells = vec![
            cell("trajectories_active", "total", "total", 100, &spread(100)),
            cell("trajectories_active", "hulpvorm", "01", 5, &spread(5)),
            cell("trajectories_active", "hulpvorm", "02", 45, &spread(45)),
            cell("trajectories_active", "hulpvorm", "11", 30, &spread(30)),
            cell("trajectories_active", "hulpvorm", "12", 20, &spread(20)),
            cell(
                "trajectories_active",
                "verblijf",
                "zonder_verblijf",
                50,
                &spread(50),
            ),
            cell(
                "trajectories_active",
                "verblijf",
                "met_verblijf",
                50,
                &spread(50),
            ),
        ];
        primary(&mut cells, &PublishConfig::default(), &[]);
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(cells[1].suppressed);
        // Without nesting, 12 as complement would do for the hulpvorm breakdown, but
        // 01 = zonder verblijf − 02: one of those goes too.
        assert!(cells[2].suppressed || cells[5].suppressed, "01 = 50 − 45");
        assert!(audit.iter().all(AuditInterval::protects));
        let audited: Vec<(usize, &str)> = audit.iter().map(|i| (i.cell, i.column)).collect();
        let mut unique = audited.clone();
        unique.dedup();
        assert_eq!(audited, unique, "each count audited once");
    }

    #[test]
    fn a_count_hidden_in_one_cell_is_hidden_wherever_else_it_is_published() {
        let ended = |category: &str, n: u32| {
            cell("trajectories_ended", "hulpvorm", category, n, &spread(n))
        };
        let mut reason = cell("end_reason_01", "hulpvorm", "13", 40, &spread(40));
        // The same 40 trajectories ended in hulpvorm 13: the same count and cell key.
        let mut ended_13 = ended("13", 40);
        reason.denominator_key = ended_13.numerator_key;
        ended_13.suppressed = true;
        ended_13.protected = [true; 2];
        let mut cells = vec![ended_13, reason];
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(
            cells[1].suppressed,
            "its denominator would give the hidden count away"
        );
        assert!(audit.iter().all(AuditInterval::protects));
        // A different group of 40 trajectories is another count.
        let mut cells = vec![
            ended("13", 40),
            cell("end_reason_01", "hulpvorm", "13", 40, &spread(40)),
        ];
        cells[0].suppressed = true;
        cells[0].protected = [true; 2];
        cells[1].denominator_key ^= 1;
        secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(!cells[1].suppressed);
    }

    #[test]
    fn complements_never_use_empty_cells() {
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 50, &spread(50)),
            cell("youths_in_care", "geslacht", "M", 0, &[]),
            cell("youths_in_care", "geslacht", "V", 47, &spread(47)),
            cell("youths_in_care", "geslacht", "O", 3, &spread(3)),
        ];
        primary(&mut cells, &PublishConfig::default(), &[]);
        let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
        assert!(!cells[1].suppressed);
        assert!(cells[2].suppressed && cells[3].suppressed);
        // V + O = 50 is known, but each lies anywhere in 1..=49: protected without the total.
        assert!(!cells[0].suppressed);
        let o = audit.iter().find(|i| i.cell == 3).unwrap();
        assert_eq!((o.lower, o.upper), (1, Some(49)));
        assert!(audit.iter().all(AuditInterval::protects));
    }

    #[test]
    fn perturbation_is_base_5_deterministic_unbiased_and_within_4() {
        let mut up = 0;
        for n in 10..2000u32 {
            for key in [1u64, 77, 12_345_678_901] {
                let p = perturb(n, key.wrapping_mul(u64::from(n)));
                assert_eq!(p % 5, 0);
                assert!((p - i64::from(n)).abs() <= 4);
                assert_eq!(p, perturb(n, key.wrapping_mul(u64::from(n))));
            }
        }
        // Residue 3 rounds up about 60% of the time over many cell keys.
        for key in 0..10_000u64 {
            if perturb(13, spiegel_core::mix64(key)) == 15 {
                up += 1;
            }
        }
        assert!((5_500..6_500).contains(&up), "{up}");
        assert_eq!(perturb(0, 99), 0);
        assert_eq!(perturb(20, 99), 20);
    }

    #[test]
    fn published_counts_are_never_below_the_threshold_and_mirror_volumes_are_exact() {
        let config = PublishConfig::default();
        let share = cell("dropout_share", "total", "total", 40, &spread(40));
        // SDC-2: 3 of 40 would be a count below T beside its share: the share goes with it.
        let mut cells = vec![Cell {
            numerator: Some(3),
            ..share.clone()
        }];
        primary(&mut cells, &config, &[]);
        assert!(cells[0].suppressed, "a share whose numerator SDC-1 hides");
        let mut own = cell("trajectories_active", "total", "total", 7, &[]);
        own.controlled = false;
        assert_eq!(publish(&own, &config).numerator, Some(7));
        let mut hidden = cell("youths_in_care", "total", "total", 7, &[]);
        hidden.suppressed = true;
        assert_eq!(
            publish(&hidden, &config),
            Published {
                numerator: None,
                denominator: None,
                value: None,
                status: "suppressed"
            }
        );
    }

    #[test]
    fn a_share_is_its_published_numerator_over_its_published_denominator() {
        let config = PublishConfig::default();
        for denominator in 20..400u32 {
            for numerator in (0..=denominator).filter(|&n| n == 0 || n >= config.threshold) {
                let cell = Cell {
                    numerator: Some(numerator),
                    numerator_key: u64::from(numerator) * 0x9E37_79B9,
                    denominator: Some(denominator),
                    denominator_key: u64::from(denominator) * 0x7F4A_7C15 + 1,
                    // The exact share, which must not be what is published.
                    value: Some(f64::from(numerator) * 100.0 / f64::from(denominator)),
                    ..cell(
                        "dropout_share",
                        "total",
                        "total",
                        denominator,
                        &spread(denominator),
                    )
                };
                let p = publish(&cell, &config);
                let (n, d) = (p.numerator.unwrap(), p.denominator.unwrap());
                assert!(n <= d, "{n} of {d}");
                assert!((n - i64::from(numerator)).abs() <= 4);
                assert_eq!(p.value, Some((n as f64 * 100.0 / d as f64).round()));
            }
        }
    }

    #[test]
    fn shares_and_means_on_fewer_than_t_rate_are_suppressed_in_mirror_reports_too() {
        let config = PublishConfig::default();
        let dropout = indicator("dropout_share").unwrap();
        let mean = indicator("satisfaction_mean_youth").unwrap();
        let volume = indicator("trajectories_ended").unwrap();
        assert!(
            counts_rounded(ReportKind::Mirror, dropout) && counts_rounded(ReportKind::Mirror, mean)
        );
        assert!(
            !counts_rounded(ReportKind::Mirror, volume),
            "own volumes stay exact"
        );
        let mirror = |code: &str, n: u32| Cell {
            contributors: Vec::new(),
            controlled: counts_rounded(ReportKind::Mirror, indicator(code).unwrap()),
            ..cell(code, "total", "total", n, &[])
        };
        let mut cells = vec![
            mirror("dropout_share", 3),
            mirror("satisfaction_mean_youth", 1),
            mirror("trajectories_ended", 3),
            mirror("dropout_share", 40),
        ];
        primary(&mut cells, &config, &[]);
        let suppressed: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
        assert_eq!(suppressed, [true, true, false, false]);
        assert_eq!(publish(&cells[2], &config).numerator, Some(3));
    }

    #[test]
    fn nb3_holds_for_every_reader_of_a_region_report() {
        let config = PublishConfig::default();
        let contributors = [("a", 20), ("b", 20), ("c", 20), ("d", 20)];
        // a shares with one municipality of the region: to that reader only b, c and d are
        // non-sharing, still three.
        let mut cells = vec![cell("youths_in_care", "total", "total", 80, &contributors)];
        let views = [SharingView::new(), SharingView::from([Arc::from("a")])];
        primary(&mut cells, &config, &views);
        assert!(!cells[0].suppressed);
        // b shares with another one: each reader sees three non-sharing, still published ...
        let views = [
            SharingView::new(),
            SharingView::from([Arc::from("a")]),
            SharingView::from([Arc::from("b")]),
        ];
        primary(&mut cells, &config, &views);
        assert!(!cells[0].suppressed);
        // ... but a reader both shared with sees two.
        let views = [SharingView::from([Arc::from("a"), Arc::from("b")])];
        primary(&mut cells, &config, &views);
        assert!(cells[0].suppressed);
    }
}
