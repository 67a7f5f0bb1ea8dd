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
                if let Some(failing) =
                    audit_indicator(cells, groups, column, protection, &mut audit)
                {
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

/// Whether the cells of `indicator` in a report of `report_kind` fall under statistical
/// disclosure control, their counts perturbed to base 5 (SDC-4): every cell of an aggregate
/// report, and in a mirror report the figures that use linkage to other providers' data. The
/// provider's own volumes in its mirror report stay exact (SPEC §9).
pub fn counts_rounded(report_kind: &str, indicator: &Indicator) -> bool {
    report_kind != "mirror" || indicator.linked
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
        primary(&mut cells, &config, &|_| false);
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
            &|_| false,
        );
        assert!(cells[0].suppressed);
    }

    #[test]
    fn nb3_protects_the_one_provider_that_did_not_share() {
        let config = PublishConfig::default();
        let shared = |p: &str| p == "shared";
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
        primary(&mut cells, &config, &|_| false);
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
        primary(&mut cells, &config, &|_| true);
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
        primary(&mut cells, &config, &|_| false);
        assert!(cells[0].suppressed);
        let mut cells = vec![cell(
            "youths_in_care",
            "total",
            "total",
            100,
            &[("a", 85), ("b", 8), ("c", 7)],
        )];
        primary(&mut cells, &config, &|_| false);
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
        primary(&mut cells, &PublishConfig::default(), &|_| false);
        assert!(cells[3].suppressed && !cells[2].suppressed);
        let audit = secondary(&mut cells, 10).unwrap();
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
        let audit = secondary(&mut cells, 10).unwrap();
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
        primary(&mut cells, &PublishConfig::default(), &|_| false);
        assert!(cells[2].suppressed);
        let audit = secondary(&mut cells, 10).unwrap();
        assert!(cells[3].suppressed, "13 = 200 - 120 - 11 otherwise");
        assert!(audit.iter().all(AuditInterval::protects));
    }

    #[test]
    fn complements_never_use_empty_cells() {
        let mut cells = vec![
            cell("youths_in_care", "total", "total", 50, &spread(50)),
            cell("youths_in_care", "geslacht", "M", 0, &[]),
            cell("youths_in_care", "geslacht", "V", 47, &spread(47)),
            cell("youths_in_care", "geslacht", "O", 3, &spread(3)),
        ];
        primary(&mut cells, &PublishConfig::default(), &|_| false);
        let audit = secondary(&mut cells, 10).unwrap();
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
        let p = publish(
            &Cell {
                numerator: Some(3),
                ..share.clone()
            },
            &config,
        );
        assert_eq!(p.numerator, None, "3 of 40 is not shown as a count");
        assert_eq!(p.value, Some(40.0));
        assert_eq!(p.denominator.map(|d| d % 5), Some(0));
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
}
