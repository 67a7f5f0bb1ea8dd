//! The attacker audit of SPEC §9 SDC-3 by linear programming, as τ-ARGUS and sdcTable audit a
//! table: every count of a report is an unknown, the published counts bound theirs to within
//! the perturbation (±4, SDC-4), and the relations of the count catalogue
//! (`spiegel_aggregate::indicators::COUNTS`) tie them together: breakdowns add up to their
//! total, hulpvormen to their verblijf, end reasons to the trajectories ended, answers to the
//! responses, and every part is at most its whole. For each count the report hides, the
//! smallest and largest value the attacker can reach over all of these at once is computed by
//! linear programming; where that interval is narrower than the protection level, a published
//! count it leans on is hidden too, and the audit runs again.
//!
//! Shares are published as the quotient of their published counts (SDC-2), so their values
//! tell the attacker nothing the counts do not; means and medians give no linear relation
//! between counts. Neither enters the model.
//!
//! The solver is `microlp`: pure Rust (no native library to build or ship), a sparse simplex
//! that gives vertex solutions, which the audit uses to prove many intervals wide with one
//! solve: every solution is a point the attacker cannot rule out, so a count seen at two
//! values at least the protection level apart is proven wide without an LP of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use spiegel_aggregate::indicators::{self, Kind, Unit};

use crate::rules::{AuditInterval, Cell, publish};
use crate::{PublishConfig, PublishError, Result};

/// An upper bound no count of a report reaches, for counts nothing else bounds from above: it
/// keeps every LP bounded and reads as "unbounded" in the audit.
const UNBOUNDED: f64 = 1e7;

/// The slack of the solver's arithmetic.
const TOLERANCE: f64 = 1e-6;

/// The perturbation of SDC-4: a published count lies within this of the exact one.
const PERTURBATION: f64 = 4.0;

/// One count of the report: one count of the catalogue in one breakdown category, wherever
/// indicators publish it.
#[derive(Debug)]
struct Unknown {
    /// The exact count.
    truth: u32,
    /// What the attacker knows of it: a published count's perturbation interval, an exact
    /// count, or for a hidden count at least 1 (nothing non-empty is published as hidden
    /// empty) and at most [`UNBOUNDED`].
    lower: f64,
    upper: f64,
    /// No published cell shows it.
    hidden: bool,
    /// Published exactly (a provider's own volumes in its mirror report): cannot be hidden.
    exact: bool,
    /// The cells and columns (0 numerator, 1 denominator) that hold it.
    places: Vec<(usize, usize)>,
}

/// `Σ coefficient · unknown` compared with 0.
#[derive(Debug)]
struct Relation {
    terms: Vec<(usize, f64)>,
    comparison: ComparisonOp,
}

/// The attacker's model of one report.
#[derive(Debug)]
struct Model {
    unknowns: Vec<Unknown>,
    relations: Vec<Relation>,
    /// Per unknown, the relations it takes part in.
    uses: Vec<Vec<usize>>,
}

/// The catalogue count a column of a cell holds, if any.
fn count_code(cell: &Cell, column: usize) -> &'static str {
    if column == 0 {
        cell.indicator.numerator_count
    } else {
        cell.indicator.denominator_count
    }
}

impl Model {
    /// The model of the report `cells` as published under `config`.
    fn of(cells: &[Cell], config: &PublishConfig) -> Result<Self> {
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
    fn relate(
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
    fn whole_of(&mut self, whole: usize, parts: &[usize], additive: bool) {
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

    fn at_most(&mut self, part: usize, whole: usize) {
        self.relations.push(Relation {
            terms: vec![(part, 1.0), (whole, -1.0)],
            comparison: ComparisonOp::Le,
        });
    }

    /// A relation the exact counts break means the catalogue declares something the data
    /// do not hold; the audit would then prove nothing, so the release stops.
    fn check_truth(&self, cells: &[Cell]) -> Result<()> {
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

    /// Groups of unknowns tied by relations, each with its relations; only groups with a
    /// count that must be protected.
    fn components(&self, protect: &[bool]) -> Vec<(Vec<usize>, Vec<usize>)> {
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

    /// The values of a component's unknowns at an optimum of `objective`.
    fn solve(
        &self,
        (free, relations): &(Vec<usize>, Vec<usize>),
        objective: &[(usize, f64)],
        direction: OptimizationDirection,
    ) -> Result<Vec<(usize, f64)>> {
        let mut problem = Problem::new(direction);
        let mut local: HashMap<usize, Variable> = HashMap::with_capacity(free.len());
        let weights: HashMap<usize, f64> = objective.iter().copied().collect();
        for &u in free {
            let unknown = &self.unknowns[u];
            let weight = weights.get(&u).copied().unwrap_or(0.0);
            local.insert(u, problem.add_var(weight, (unknown.lower, unknown.upper)));
        }
        for &r in relations {
            let relation = &self.relations[r];
            let terms: Vec<(Variable, f64)> = relation
                .terms
                .iter()
                .map(|&(u, c)| (local[&u], c))
                .collect();
            problem.add_constraint(terms.as_slice(), relation.comparison, 0.0);
        }
        let solution = problem
            .solve()
            .map_err(|e| PublishError::Audit(format!("attacker audit LP: {e}")))?
            .into_solution()
            .map_err(|_| PublishError::Audit("attacker audit LP did not finish".to_owned()))?;
        Ok(free
            .iter()
            .map(|&u| (u, solution.var_value(local[&u])))
            .collect())
    }
}

/// The outcome of one audit of a report.
pub(crate) struct Audit {
    /// The interval proven for every hidden non-empty count.
    pub(crate) intervals: Vec<AuditInterval>,
    /// Per count whose interval is too narrow, a published count to hide with it, as
    /// (cell, column) places; empty when the audit passes.
    pub(crate) complements: Vec<Vec<(usize, usize)>>,
}

/// Audits the report `cells` as the rules left it: every hidden non-empty count must have an
/// interval at least `protection` wide.
pub(crate) fn audit(cells: &[Cell], config: &PublishConfig, protection: u64) -> Result<Audit> {
    let model = Model::of(cells, config)?;
    let protect: Vec<bool> = model
        .unknowns
        .iter()
        .map(|u| u.hidden && u.truth > 0)
        .collect();
    let protection = protection as f64;
    let mut intervals = Vec::new();
    let mut narrow = Vec::new();
    for component in model.components(&protect) {
        let (unknowns, _) = &component;
        let place: HashMap<usize, usize> =
            unknowns.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let truth: Vec<f64> = unknowns
            .iter()
            .map(|&u| f64::from(model.unknowns[u].truth))
            .collect();
        // The range of values seen for each unknown over the points found so far: the exact
        // counts are one, every LP solution another.
        let (mut low, mut high) = (truth.clone(), truth);
        let see = |values: Vec<(usize, f64)>, low: &mut [f64], high: &mut [f64]| {
            for (u, v) in values {
                let i = place[&u];
                low[i] = low[i].min(v);
                high[i] = high[i].max(v);
            }
        };
        let wide = |u: usize, low: &[f64], high: &[f64]| {
            high[place[&u]] - low[place[&u]] >= protection - TOLERANCE
        };
        let protected: Vec<usize> = unknowns.iter().copied().filter(|&u| protect[u]).collect();
        // Rounds that push every open count at once, up or down by a weight drawn anew each
        // round: in each relation a different count reaches an extreme, so a round proves
        // about one count per relation where an LP per count proves one. Two rounds that
        // prove nothing end them; the counts left get an LP of their own.
        let (mut round, mut idle) = (0u64, 0);
        while idle < 2 {
            let open: Vec<usize> = protected
                .iter()
                .copied()
                .filter(|&u| !wide(u, &low, &high))
                .collect();
            if open.is_empty() {
                break;
            }
            let weights: Vec<(usize, f64)> = open
                .iter()
                .map(|&u| {
                    let draw = spiegel_core::mix64((u as u64) << 16 ^ round);
                    let sign = if draw & 1 == 0 { 1.0 } else { -1.0 };
                    (u, sign * (1.0 + (draw >> 11) as f64 / (1u64 << 53) as f64))
                })
                .collect();
            let direction = OptimizationDirection::Maximize;
            see(
                model.solve(&component, &weights, direction)?,
                &mut low,
                &mut high,
            );
            let proved = open.iter().any(|&u| wide(u, &low, &high));
            idle = if proved { 0 } else { idle + 1 };
            round += 1;
        }
        for &u in &protected {
            for direction in [
                OptimizationDirection::Maximize,
                OptimizationDirection::Minimize,
            ] {
                if wide(u, &low, &high) {
                    break;
                }
                see(
                    model.solve(&component, &[(u, 1.0)], direction)?,
                    &mut low,
                    &mut high,
                );
            }
            let i = place[&u];
            let (cell, column) = model.unknowns[u].places[0];
            intervals.push(AuditInterval {
                cell,
                column: ["numerator", "denominator"][column],
                lower: (low[i] - TOLERANCE).ceil().max(0.0) as u64,
                upper: (high[i] < UNBOUNDED - 1.0).then(|| (high[i] + TOLERANCE).floor() as u64),
                protection: protection as u64,
            });
            if !wide(u, &low, &high) {
                narrow.push(u);
            }
        }
    }
    // One complement can widen several narrow counts: a narrow count in a relation with a
    // complement already chosen waits for the next audit.
    let mut chosen: Vec<usize> = Vec::new();
    let mut complements = Vec::new();
    for u in narrow {
        let near = |c: usize| {
            model.uses[u]
                .iter()
                .any(|&r| model.relations[r].terms.iter().any(|&(t, _)| t == c))
        };
        if chosen.iter().any(|&c| near(c)) {
            continue;
        }
        let complement = model.complement_for(cells, u)?;
        if !chosen.contains(&complement) {
            chosen.push(complement);
            complements.push(model.unknowns[complement].places.clone());
        }
    }
    Ok(Audit {
        intervals,
        complements,
    })
}

impl Model {
    /// The count `u` as an administrator reads it: catalogue count, breakdown, category.
    fn name(&self, cells: &[Cell], u: usize) -> String {
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
    fn complement_for(&self, cells: &[Cell], narrow: usize) -> Result<usize> {
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

#[cfg(test)]
mod tests {
    use spiegel_aggregate::indicators::{INDICATORS, indicator};

    use super::*;
    use crate::rules::secondary;

    /// A cell of the total row: a count, or a share with its two counts.
    fn cell(code: &str, numerator: Option<u32>, denominator: Option<u32>, exact: bool) -> Cell {
        let definition = indicator(code).unwrap();
        Cell {
            indicator: definition,
            indicator_order: INDICATORS.iter().position(|i| i.code == code).unwrap(),
            dimension: "total".into(),
            category: "total".into(),
            numerator,
            numerator_key: u64::from(numerator.unwrap_or(0)) * 0x9E37_79B9,
            denominator,
            denominator_key: u64::from(denominator.unwrap_or(0)) * 0x7F4A_7C15,
            value: None,
            provisional: false,
            contributors: Vec::new(),
            controlled: !exact,
            suppressed: false,
            protected: [false; 2],
        }
    }

    /// 25 trajectories ended, published exactly (as a provider's own volume is); of the end
    /// reasons, 20 as planned, 5 early by agreement (hidden: fewer than T), none otherwise.
    fn end_reasons(reason_02: u32) -> Vec<Cell> {
        let mut cells = vec![cell("trajectories_ended", Some(25), None, true)];
        for (code, n) in [
            ("end_reason_01", 20),
            ("end_reason_02", reason_02),
            ("end_reason_03", 0),
            ("end_reason_04", 0),
            ("end_reason_05", 0),
        ] {
            cells.push(cell(code, Some(n), Some(25), false));
        }
        cells[2].suppressed = true;
        cells[2].protected = [true, false];
        cells
    }

    #[test]
    fn a_count_pinned_only_across_indicators_is_found_and_given_a_complement() {
        let config = PublishConfig::default();
        // Each breakdown alone leaves end reason 02 wide; the five reasons together add up
        // to the trajectories ended, and the others are published within 4: 25 − [16, 24] −
        // [0, 12] leaves it in [1, 9].
        let mut cells = end_reasons(5);
        let found = audit(&cells, &config, 10).unwrap();
        let reason_02 = found.intervals.iter().find(|i| i.cell == 2).unwrap();
        assert_eq!((reason_02.lower, reason_02.upper), (1, Some(9)));
        assert!(!reason_02.protects());
        assert_eq!(
            found.complements,
            vec![vec![(1, 0)]],
            "end reason 01, the one it leans on"
        );

        let intervals = secondary(&mut cells, &config, 10, true).unwrap();
        assert!(cells[1].suppressed && cells[2].suppressed);
        assert!(
            !cells[0].suppressed,
            "an exact volume is never a complement"
        );
        assert!(!intervals.is_empty() && intervals.iter().all(|i| i.protects()));
        // Without the relations the old audit would have let it pass.
        let mut alone = end_reasons(5);
        secondary(&mut alone, &config, 10, false).unwrap();
        assert!(!alone[1].suppressed);
    }

    #[test]
    fn a_declared_relation_the_data_break_stops_the_release() {
        // End reasons adding up to 24 of 25 ended trajectories: the catalogue would be wrong
        // about the data, and an audit on a wrong model proves nothing.
        let cells = end_reasons(4);
        let err = audit(&cells, &PublishConfig::default(), 10).err().unwrap();
        assert!(err.to_string().contains("relation the data break"), "{err}");
    }
}
