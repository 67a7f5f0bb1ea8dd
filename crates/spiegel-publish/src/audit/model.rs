//! The attacker's model of one report: its counts as unknowns with the bounds the publication
//! gives them, and the relations of the count catalogue between them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use spiegel_aggregate::indicators::{self, Kind, Unit};

use super::{PERTURBATION, TOLERANCE, UNBOUNDED};
use crate::rules::{Cell, publish};
use crate::{PublishConfig, PublishError, Result};

/// One count of the report: one count of the catalogue in one breakdown category, wherever
/// indicators publish it.
#[derive(Debug)]
pub(super) struct Unknown {
    /// The exact count.
    pub(super) truth: u32,
    /// What the attacker knows of it: a published count's perturbation interval, an exact
    /// count, or for a hidden count at least 1 (nothing non-empty is published as hidden
    /// empty) and at most [`UNBOUNDED`].
    pub(super) lower: f64,
    pub(super) upper: f64,
    /// No published cell shows it.
    pub(super) hidden: bool,
    /// Published exactly (a provider's own volumes in its mirror report): cannot be hidden.
    pub(super) exact: bool,
    /// The cells and columns (0 numerator, 1 denominator) that hold it.
    pub(super) places: Vec<(usize, usize)>,
}

/// `Σ coefficient · unknown` compared with 0.
#[derive(Debug)]
pub(super) struct Relation {
    pub(super) terms: Vec<(usize, f64)>,
    pub(super) comparison: ComparisonOp,
}

/// The attacker's model of one report.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) unknowns: Vec<Unknown>,
    pub(super) relations: Vec<Relation>,
    /// Per unknown, the relations it takes part in.
    pub(super) uses: Vec<Vec<usize>>,
}

/// The catalogue count a column of a cell holds, if any.
pub(super) fn count_code(cell: &Cell, column: usize) -> &'static str {
    if column == 0 {
        cell.indicator.numerator_count
    } else {
        cell.indicator.denominator_count
    }
}

impl Model {
    /// The model of the report `cells` as published under `config`.
    pub(super) fn of(cells: &[Cell], config: &PublishConfig) -> Result<Self> {
        type Place = (&'static str, Arc<str>, Arc<str>);
        let mut index: HashMap<Place, usize> = HashMap::new();
        let mut unknowns: Vec<Unknown> = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let published = (!cell.suppressed).then(|| publish(cell, config));
            for column in 0..2 {
                let code = count_code(cell, column);
                let exact = if column == 0 {
                    cell.numerator
                } else {
                    cell.denominator
                };
                let Some(truth) = exact.filter(|_| !code.is_empty()) else {
                    continue;
                };
                let place = (code, cell.dimension.clone(), cell.category.clone());
                let at = *index.entry(place).or_insert_with(|| {
                    unknowns.push(Unknown {
                        truth,
                        lower: 0.0,
                        upper: f64::INFINITY,
                        hidden: true,
                        exact: false,
                        places: Vec::new(),
                    });
                    unknowns.len() - 1
                });
                let unknown = &mut unknowns[at];
                if unknown.truth != truth {
                    return Err(PublishError::Audit(format!(
                        "{} {} {}: count {code} differs between indicators",
                        cell.indicator.code, cell.dimension, cell.category
                    )));
                }
                unknown.places.push((i, column));
                let shown = published.as_ref().and_then(|p| {
                    if column == 0 {
                        p.numerator
                    } else {
                        p.denominator
                    }
                });
                if let Some(shown) = shown {
                    let shown = shown as f64;
                    let (lower, upper) = if cell.controlled {
                        ((shown - PERTURBATION).max(0.0), shown + PERTURBATION)
                    } else {
                        (shown, shown)
                    };
                    unknown.hidden = false;
                    unknown.exact |= !cell.controlled;
                    unknown.lower = unknown.lower.max(lower);
                    unknown.upper = unknown.upper.min(upper);
                }
            }
        }
        for unknown in unknowns.iter_mut().filter(|u| u.hidden) {
            unknown.lower = f64::from(unknown.truth.min(1));
            unknown.upper = UNBOUNDED;
        }
        let mut model = Model {
            unknowns,
            relations: Vec::new(),
            uses: Vec::new(),
        };
        model.relate(cells, &index);
        model.uses = vec![Vec::new(); model.unknowns.len()];
        for (r, relation) in model.relations.iter().enumerate() {
            for &(u, _) in &relation.terms {
                model.uses[u].push(r);
            }
        }
        model.check_truth(cells)?;
        Ok(model)
    }

    /// Writes down every relation of the count catalogue that the report's counts take part in.
    pub(super) fn relate(
        &mut self,
        cells: &[Cell],
        index: &HashMap<(&'static str, Arc<str>, Arc<str>), usize>,
    ) {
        let at = |code: &str, dimension: &str, category: &str| {
            index
                .get(&(code, Arc::from(dimension), Arc::from(category)))
                .copied()
        };
        // Per count: its total, and its categories per breakdown, in a fixed order.
        let mut breakdowns: BTreeMap<(&str, &str), Vec<(&str, usize)>> = BTreeMap::new();
        let mut points: BTreeMap<(&str, &str), ()> = BTreeMap::new();
        for ((code, dimension, category), &u) in index {
            points.insert((dimension, category), ());
            if &**dimension != "total" {
                breakdowns
                    .entry((code, dimension))
                    .or_default()
                    .push((category, u));
            }
        }
        for categories in breakdowns.values_mut() {
            categories.sort_unstable();
        }
        let additive =
            |code: &str| indicators::count(code).is_none_or(|c| c.unit == Unit::Trajectories);
        // Breakdowns: the categories and their total; nested: hulpvormen and their verblijf.
        for (&(code, dimension), categories) in &breakdowns {
            let parts: Vec<usize> = categories.iter().map(|&(_, u)| u).collect();
            if let Some(total) = at(code, "total", "total") {
                self.whole_of(total, &parts, additive(code));
            }
            if dimension == "verblijf" {
                for &(verblijf, whole) in categories {
                    let met_verblijf = verblijf == "met_verblijf";
                    let parts: Vec<usize> = breakdowns
                        .get(&(code, "hulpvorm"))
                        .into_iter()
                        .flatten()
                        .filter(|(hulpvorm, _)| hulpvorm.starts_with('1') == met_verblijf)
                        .map(|&(_, u)| u)
                        .collect();
                    if !parts.is_empty() {
                        self.whole_of(whole, &parts, additive(code));
                    }
                }
            }
        }
        // In every category: the catalogue's sums and parts, and each share's numerator
        // within its denominator.
        for &(dimension, category) in points.keys() {
            for count in indicators::COUNTS {
                let Some(whole) = at(count.code, dimension, category) else {
                    continue;
                };
                let parts: Option<Vec<usize>> = count
                    .sum_of
                    .iter()
                    .map(|part| at(part, dimension, category))
                    .collect();
                if let Some(parts) = parts.filter(|p| !p.is_empty()) {
                    self.whole_of(whole, &parts, true);
                }
                for within in count.within {
                    if let Some(outer) = at(within, dimension, category) {
                        self.at_most(whole, outer);
                    }
                }
            }
        }
        for cell in cells.iter().filter(|c| c.indicator.kind == Kind::Share) {
            let numerator = at(
                cell.indicator.numerator_count,
                &cell.dimension,
                &cell.category,
            );
            let denominator = at(
                cell.indicator.denominator_count,
                &cell.dimension,
                &cell.category,
            );
            if let (Some(numerator), Some(denominator)) = (numerator, denominator) {
                self.at_most(numerator, denominator);
            }
        }
    }

    /// `whole` is made of `parts`: their sum when each unit lies in one part, else each part
    /// is at most the whole and together at least it.
    pub(super) fn whole_of(&mut self, whole: usize, parts: &[usize], additive: bool) {
        let mut terms = vec![(whole, 1.0)];
        terms.extend(parts.iter().map(|&p| (p, -1.0)));
        if additive {
            self.relations.push(Relation {
                terms,
                comparison: ComparisonOp::Eq,
            });
        } else {
            self.relations.push(Relation {
                terms,
                comparison: ComparisonOp::Le,
            });
            for &part in parts {
                self.at_most(part, whole);
            }
        }
    }

    pub(super) fn at_most(&mut self, part: usize, whole: usize) {
        self.relations.push(Relation {
            terms: vec![(part, 1.0), (whole, -1.0)],
            comparison: ComparisonOp::Le,
        });
    }

    /// A relation the exact counts break means the catalogue declares something the data
    /// do not hold; the audit would then prove nothing, so the release stops.
    pub(super) fn check_truth(&self, cells: &[Cell]) -> Result<()> {
        for relation in &self.relations {
            let value: f64 = relation
                .terms
                .iter()
                .map(|&(u, c)| c * f64::from(self.unknowns[u].truth))
                .sum();
            let holds = match relation.comparison {
                ComparisonOp::Eq => value.abs() < TOLERANCE,
                ComparisonOp::Le => value < TOLERANCE,
                ComparisonOp::Ge => value > -TOLERANCE,
            };
            if !holds {
                let names: Vec<String> = relation
                    .terms
                    .iter()
                    .map(|&(u, _)| self.name(cells, u))
                    .collect();
                return Err(PublishError::Audit(format!(
                    "the count catalogue declares a relation the data break: {}",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Bounds on the unknowns of `relations` that follow from theirs, each relation bounding
    /// each of its terms by what the others allow, until nothing tightens (or a fixed number
    /// of sweeps, enough for the depth of the catalogue's relations). Every point the LP
    /// admits lies within them.
    pub(super) fn propagate(&self, relations: &[usize]) -> Vec<(f64, f64)> {
        let mut bounds: Vec<(f64, f64)> =
            self.unknowns.iter().map(|u| (u.lower, u.upper)).collect();
        for _ in 0..PROPAGATION_SWEEPS {
            let mut tightened = false;
            for &r in relations {
                let relation = &self.relations[r];
                // The least and greatest value of each term, and their sums.
                let span = |u: usize, c: f64, bounds: &[(f64, f64)]| {
                    let (lower, upper) = bounds[u];
                    if c > 0.0 {
                        (c * lower, c * upper)
                    } else {
                        (c * upper, c * lower)
                    }
                };
                let (least, greatest) =
                    relation.terms.iter().fold((0.0, 0.0), |(l, g), &(u, c)| {
                        let (tl, tg) = span(u, c, &bounds);
                        (l + tl, g + tg)
                    });
                for &(u, c) in &relation.terms {
                    let (tl, tg) = span(u, c, &bounds);
                    // The term lies within minus what the others can sum to.
                    let (others_least, others_greatest) = (least - tl, greatest - tg);
                    let term_upper = match relation.comparison {
                        ComparisonOp::Eq | ComparisonOp::Le => -others_least,
                        ComparisonOp::Ge => f64::INFINITY,
                    };
                    let term_lower = match relation.comparison {
                        ComparisonOp::Eq | ComparisonOp::Ge => -others_greatest,
                        ComparisonOp::Le => f64::NEG_INFINITY,
                    };
                    let (lower, upper) = if c > 0.0 {
                        (term_lower / c, term_upper / c)
                    } else {
                        (term_upper / c, term_lower / c)
                    };
                    let entry = &mut bounds[u];
                    if lower > entry.0 + TOLERANCE {
                        entry.0 = lower;
                        tightened = true;
                    }
                    if upper < entry.1 - TOLERANCE {
                        entry.1 = upper;
                        tightened = true;
                    }
                }
            }
            if !tightened {
                break;
            }
        }
        bounds
    }

    /// The LP of a group (`unknowns`, `relations`): a variable per unknown within its bounds,
    /// weighted by `weight` in an objective to maximise, and a row per relation.
    pub(super) fn problem(
        &self,
        (unknowns, relations): &(Vec<usize>, Vec<usize>),
        weight: impl Fn(usize) -> f64,
    ) -> (Problem, HashMap<usize, Variable>) {
        let mut problem = Problem::new(OptimizationDirection::Maximize);
        let values: HashMap<usize, Variable> = unknowns
            .iter()
            .map(|&u| {
                let unknown = &self.unknowns[u];
                (
                    u,
                    problem.add_var(weight(u), (unknown.lower, unknown.upper)),
                )
            })
            .collect();
        for &r in relations {
            let relation = &self.relations[r];
            let terms: Vec<(Variable, f64)> = relation
                .terms
                .iter()
                .map(|&(u, c)| (values[&u], c))
                .collect();
            problem.add_constraint(terms.as_slice(), relation.comparison, 0.0);
        }
        (problem, values)
    }

    /// Groups of unknowns tied by relations, each with its relations; only groups with a
    /// count that must be protected.
    pub(super) fn components(&self, protect: &[bool]) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut parent: Vec<usize> = (0..self.unknowns.len()).collect();
        fn root(parent: &mut [usize], mut u: usize) -> usize {
            while parent[u] != u {
                parent[u] = parent[parent[u]];
                u = parent[u];
            }
            u
        }
        for relation in &self.relations {
            let first = root(&mut parent, relation.terms[0].0);
            for &(u, _) in &relation.terms[1..] {
                let other = root(&mut parent, u);
                parent[other] = first;
            }
        }
        let mut groups: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for u in 0..self.unknowns.len() {
            let r = root(&mut parent, u);
            groups.entry(r).or_default().0.push(u);
        }
        for (i, relation) in self.relations.iter().enumerate() {
            let r = root(&mut parent, relation.terms[0].0);
            groups.entry(r).or_default().1.push(i);
        }
        groups
            .into_values()
            .filter(|(unknowns, _)| unknowns.iter().any(|&u| protect[u]))
            .collect()
    }
}

/// Sweeps of [`Model::propagate`]: bounds still tightening after these are left wider than
/// the attacker could make them, which only leaves more to the LP.
pub(super) const PROPAGATION_SWEEPS: usize = 20;

impl Model {
    /// The count `u` as an administrator reads it: catalogue count, breakdown, category.
    pub(super) fn name(&self, cells: &[Cell], u: usize) -> String {
        let (cell, column) = self.unknowns[u].places[0];
        let cell = &cells[cell];
        format!(
            "{} {} {}",
            count_code(cell, column),
            cell.dimension,
            cell.category
        )
    }

    /// A published count to hide so that `narrow` widens: the smallest non-empty count the
    /// attacker reads, among those in a relation with it, else in a relation with a hidden
    /// count related to it, and so on outwards. Exact counts cannot be hidden.
    pub(super) fn complement_for(&self, cells: &[Cell], narrow: usize) -> Result<usize> {
        let mut reached = vec![false; self.unknowns.len()];
        reached[narrow] = true;
        let mut frontier = vec![narrow];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            let mut candidates = Vec::new();
            let mut relations: Vec<usize> = frontier
                .iter()
                .flat_map(|&u| self.uses[u].clone())
                .collect();
            relations.sort_unstable();
            relations.dedup();
            for relation in relations.into_iter().map(|r| &self.relations[r]) {
                for &(u, _) in &relation.terms {
                    let unknown = &self.unknowns[u];
                    if !unknown.hidden && !unknown.exact && unknown.truth > 0 {
                        candidates.push((unknown.truth, u));
                    } else if unknown.hidden && !reached[u] {
                        reached[u] = true;
                        next.push(u);
                    }
                }
            }
            if let Some(&(_, u)) = candidates.iter().min() {
                return Ok(u);
            }
            frontier = next;
        }
        Err(PublishError::Audit(format!(
            "{}: hidden, pinned, and no published count can widen it",
            self.name(cells, narrow)
        )))
    }
}
