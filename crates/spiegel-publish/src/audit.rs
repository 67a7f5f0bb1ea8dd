//! The attacker audit of SDC-3 (docs/release-rules.md) by linear programming, as τ-ARGUS and
//! sdcTable audit a table: every count of a report is an unknown, the published counts bound theirs
//! to within the perturbation (±4, SDC-4), and the relations of the count catalogue
//! (`spiegel_aggregate::indicators::COUNTS`) tie them together: breakdowns add up to their total,
//! hulpvormen to their verblijf, end reasons to the trajectories ended, answers to the responses,
//! and every part is at most its whole. For each count the report hides, the smallest and largest
//! value the attacker can reach over all of these at once is computed by linear programming; where
//! that interval is narrower than the protection level, a published count it leans on is hidden
//! too, and the audit runs again.
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

use microlp::{ComparisonOp, OptimizationDirection, Problem, Solution, SolveOutcome, Variable};
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

    /// Bounds on the unknowns of `relations` that follow from theirs, each relation bounding
    /// each of its terms by what the others allow, until nothing tightens (or a fixed number
    /// of sweeps, enough for the depth of the catalogue's relations). Every point the LP
    /// admits lies within them.
    fn propagate(&self, relations: &[usize]) -> Vec<(f64, f64)> {
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
    fn problem(
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
}

/// Sweeps of [`Model::propagate`]: bounds still tightening after these are left wider than
/// the attacker could make them, which only leaves more to the LP.
const PROPAGATION_SWEEPS: usize = 20;

/// The largest value the objective can take: above every count, so that the switch rows of
/// [`Attack`] cannot bind unless set.
const REACH: f64 = UNBOUNDED + 1.0;

/// The attacker's LP over one group of related counts, solved once and then re-aimed at each
/// count in turn. Its objective is a variable `z` bounded by a row per count and direction,
/// `z ≤ x` and `z ≤ −x`, each loosened by a switch variable that the objective keeps at its
/// upper bound, where the row cannot bind. Fixing one switch at 0 tightens its row, and the
/// optimum becomes that count's largest (or negated smallest) value; releasing it loosens the
/// row again. Each change is a bound change the solver re-optimises from its last basis, at
/// about a fifth of the cost of a solve from scratch (0.8 against 4 ms on a municipality
/// report of the 1M benchmark).
struct Attack {
    /// `None` only while the solver holds it between two changes.
    solution: Option<Solution>,
    /// The LP variable of each unknown of the group.
    values: HashMap<usize, Variable>,
    /// Per count to bound: the switches of its rows `z ≤ x` and `z ≤ −x`.
    switches: HashMap<usize, [Variable; 2]>,
}

impl Attack {
    /// The LP of the group (`unknowns`, `relations`) of `model`, with switches for `targets`,
    /// solved with `weights` on the counts: a round. The weights stay, too small to outweigh
    /// the switched rows, and break the ties among the optima of each bound, so that these
    /// too land on varied vertices. `None` when there is nothing to bound.
    fn new(
        model: &Model,
        group: &(Vec<usize>, Vec<usize>),
        targets: &[usize],
        weights: &HashMap<usize, f64>,
    ) -> Result<Option<Self>> {
        if targets.is_empty() {
            return Ok(None);
        }
        let (mut problem, values) =
            model.problem(group, |u| weights.get(&u).copied().unwrap_or(0.0));
        let z = problem.add_var(1.0, (-REACH, REACH));
        let mut switches = HashMap::with_capacity(targets.len());
        for &u in targets {
            let pair = [1.0, -1.0].map(|sign| {
                // Loose, `z − sign·x` is at most REACH + UNBOUNDED: never binding.
                let switch = problem.add_var(1.0, (0.0, 2.0 * REACH));
                problem.add_constraint(
                    [(z, 1.0), (values[&u], -sign), (switch, -1.0)].as_slice(),
                    ComparisonOp::Le,
                    0.0,
                );
                switch
            });
            switches.insert(u, pair);
        }
        let solution = finished(problem.solve())?;
        Ok(Some(Attack {
            solution: Some(solution),
            values,
            switches,
        }))
    }

    /// The values of the group's unknowns at the current optimum.
    fn point(&self) -> HashMap<usize, f64> {
        let solution = self.solution.as_ref();
        self.values
            .iter()
            .filter_map(|(&u, &v)| Some((u, solution?.var_value(v))))
            .collect()
    }

    /// The values of the group's unknowns where `target` is largest (`direction` 0) or
    /// smallest (1).
    fn extreme(&mut self, target: usize, direction: usize) -> Result<HashMap<usize, f64>> {
        let switch = self.switches[&target][direction];
        let solution = self.take()?;
        let aimed = finished(solution.fix_var(switch, 0.0))?;
        let values = self
            .values
            .iter()
            .map(|(&u, &v)| (u, aimed.var_value(v)))
            .collect();
        let (released, _) = aimed
            .unfix_var(switch)
            .map_err(|e| PublishError::Audit(format!("attacker audit LP: {e}")))?;
        self.solution = Some(finished(Ok(released))?);
        Ok(values)
    }

    fn take(&mut self) -> Result<Solution> {
        self.solution
            .take()
            .ok_or_else(|| PublishError::Audit("attacker audit LP lost after an error".to_owned()))
    }
}

/// A weight for each of `targets` in round `round`: a sign and a size drawn from the count and
/// the round, so that the audit is the same in every run.
fn round_weights(targets: &[usize], round: u64) -> HashMap<usize, f64> {
    targets
        .iter()
        .map(|&u| {
            let draw = spiegel_core::mix64((u as u64) << 16 ^ round);
            let sign = if draw & 1 == 0 { 1.0 } else { -1.0 };
            (
                u,
                sign * ROUND_WEIGHT * (1.0 + (draw >> 11) as f64 / (1u64 << 53) as f64),
            )
        })
        .collect()
}

/// The size of a round's weights: small beside the objective's 1 on `z`, so that they only
/// break the ties among the optima of an extreme. Were they ever to pull an extreme short,
/// a count would be found narrower than it is and get a complement it did not need; no count
/// is ever found wider, as every point is checked ([`Seen::see`]).
const ROUND_WEIGHT: f64 = 1e-5;

/// The solution of a solve that must finish: the truth is a feasible point and every count is
/// bounded, so anything else is an error of the solver.
fn finished(outcome: std::result::Result<SolveOutcome, microlp::Error>) -> Result<Solution> {
    outcome
        .map_err(|e| PublishError::Audit(format!("attacker audit LP: {e}")))?
        .into_solution()
        .map_err(|_| PublishError::Audit("attacker audit LP did not finish".to_owned()))
}

/// The outcome of one audit of a report.
pub(crate) struct Audit {
    /// The interval proven for every hidden non-empty count.
    pub(crate) intervals: Vec<AuditInterval>,
    /// Per count whose interval is too narrow, a published count to hide with it, as
    /// (cell, column) places; empty when the audit passes.
    pub(crate) complements: Vec<Vec<(usize, usize)>>,
}

/// What earlier audits of a report found: the range of values seen for each count over
/// points the attacker cannot rule out, and the bounds those points were found under. Hiding
/// another count only loosens its bounds, so every point stays possible and a count once seen
/// wide stays wide: a later pass bounds only what is new or still narrow.
#[derive(Default)]
pub(crate) struct Seen {
    low: Vec<f64>,
    high: Vec<f64>,
    bounds: Vec<(f64, f64)>,
}

impl Seen {
    /// The ranges still valid for `model`: all of them when no bound was tightened since,
    /// else only the truth.
    fn carry_over(&mut self, model: &Model) {
        let loosened = self.bounds.len() == model.unknowns.len()
            && self
                .bounds
                .iter()
                .zip(&model.unknowns)
                .all(|(&(lower, upper), u)| u.lower <= lower && u.upper >= upper);
        if !loosened {
            self.low = model.unknowns.iter().map(|u| f64::from(u.truth)).collect();
            self.high = self.low.clone();
        }
        self.bounds = model.unknowns.iter().map(|u| (u.lower, u.upper)).collect();
    }

    /// Takes in a point the solver found, if it is one: each relation and bound holds. The
    /// check makes the audit's proofs of width independent of the solver's correctness.
    fn see(&mut self, model: &Model, relations: &[usize], point: &HashMap<usize, f64>) {
        let slack = |v: f64| TOLERANCE * (1.0 + v.abs());
        let within = point.iter().all(|(&u, &v)| {
            let unknown = &model.unknowns[u];
            v >= unknown.lower - slack(unknown.lower) && v <= unknown.upper + slack(unknown.upper)
        });
        let holds = relations.iter().all(|&r| {
            let relation = &model.relations[r];
            let (mut sum, mut size) = (0.0, 0.0);
            for &(u, c) in &relation.terms {
                let v = point.get(&u).copied().unwrap_or(f64::NAN);
                sum += c * v;
                size += v.abs();
            }
            match relation.comparison {
                ComparisonOp::Eq => sum.abs() <= slack(size),
                ComparisonOp::Le => sum <= slack(size),
                ComparisonOp::Ge => sum >= -slack(size),
            }
        });
        if within && holds {
            for (&u, &v) in point {
                self.low[u] = self.low[u].min(v);
                self.high[u] = self.high[u].max(v);
            }
        }
    }

    fn wide(&self, u: usize, protection: f64) -> bool {
        self.high[u] - self.low[u] >= protection - TOLERANCE
    }
}

/// A round that proves fewer counts wide than this costs more than bounding them one by one
/// on the warm LP of [`Attack`].
const ROUND_WORTH: usize = 6;

/// Audits the report `cells` as the rules left it: every hidden non-empty count must have an
/// interval at least `protection` wide. `seen` carries what earlier passes over the same
/// report proved.
pub(crate) fn audit(
    cells: &[Cell],
    config: &PublishConfig,
    protection: u64,
    seen: &mut Seen,
) -> Result<Audit> {
    let model = Model::of(cells, config)?;
    seen.carry_over(&model);
    let protect: Vec<bool> = model
        .unknowns
        .iter()
        .map(|u| u.hidden && u.truth > 0)
        .collect();
    let protection = protection as f64;
    let mut intervals = Vec::new();
    let mut narrow = Vec::new();
    for component in model.components(&protect) {
        let (unknowns, relations) = &component;
        let protected: Vec<usize> = unknowns.iter().copied().filter(|&u| protect[u]).collect();
        // What the attacker derives by applying the relations one at a time, over and over:
        // bounds the LP can only tighten, so a count they pin is narrow without an LP.
        let derived = model.propagate(relations);
        let pinned = |u: usize| {
            let (lower, upper) = derived[u];
            upper - lower < protection - TOLERANCE
        };
        let open = |seen: &Seen| -> Vec<usize> {
            protected
                .iter()
                .copied()
                .filter(|&u| !pinned(u) && !seen.wide(u, protection))
                .collect()
        };
        // Rounds that push every open count at once, up or down by a weight drawn anew each
        // round: in each relation a different count reaches an extreme, so a round can prove
        // many counts wide with one solve. Once a round proves few, the counts left are
        // bounded one by one.
        let mut round = 0u64;
        loop {
            let targets = open(seen);
            let weights = round_weights(&targets, round);
            round += 1;
            let mut attack = Attack::new(&model, &component, &targets, &weights)?;
            let Some(attack) = attack.as_mut() else {
                break;
            };
            seen.see(&model, relations, &attack.point());
            let proved = targets
                .iter()
                .filter(|&&u| seen.wide(u, protection))
                .count();
            if proved >= ROUND_WORTH {
                continue;
            }
            for &u in &targets {
                for direction in 0..2 {
                    if seen.wide(u, protection) {
                        break;
                    }
                    let point = attack.extreme(u, direction)?;
                    seen.see(&model, relations, &point);
                }
            }
            break;
        }
        for &u in &protected {
            let (cell, column) = model.unknowns[u].places[0];
            let (low, high) = if pinned(u) {
                derived[u]
            } else {
                (seen.low[u], seen.high[u])
            };
            intervals.push(AuditInterval {
                cell,
                column: ["numerator", "denominator"][column],
                lower: (low - TOLERANCE).ceil().max(0.0) as u64,
                upper: (high < UNBOUNDED - 1.0).then(|| (high + TOLERANCE).floor() as u64),
                protection: protection as u64,
            });
            if pinned(u) || !seen.wide(u, protection) {
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
        let found = audit(&cells, &config, 10, &mut Seen::default()).unwrap();
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
        let err = audit(&cells, &PublishConfig::default(), 10, &mut Seen::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("relation the data break"), "{err}");
    }

    /// 80 trajectories ended, published exactly; end reasons 40, 12, 9, 15 and 4, of which 02,
    /// 03 and 05 are hidden: they can trade values among themselves, within the room the
    /// perturbation of the other two leaves.
    fn three_hidden_reasons() -> Vec<Cell> {
        let mut cells = vec![cell("trajectories_ended", Some(80), None, true)];
        for (code, n) in [
            ("end_reason_01", 40),
            ("end_reason_02", 12),
            ("end_reason_03", 9),
            ("end_reason_04", 15),
            ("end_reason_05", 4),
        ] {
            cells.push(cell(code, Some(n), Some(80), false));
        }
        for hidden in [2, 3, 5] {
            cells[hidden].suppressed = true;
            cells[hidden].protected = [true, false];
        }
        cells
    }

    /// The value of `target` where `sign · target` is largest over the model's group,
    /// by a solve from scratch.
    fn solved(model: &Model, group: &(Vec<usize>, Vec<usize>), target: usize, sign: f64) -> f64 {
        let (problem, values) = model.problem(group, |u| if u == target { sign } else { 0.0 });
        problem.solve().unwrap().into_solution().unwrap()[values[&target]]
    }

    #[test]
    fn the_warm_lp_finds_the_extremes_a_solve_from_scratch_finds() {
        let cells = three_hidden_reasons();
        let model = Model::of(&cells, &PublishConfig::default()).unwrap();
        let hidden: Vec<bool> = model.unknowns.iter().map(|u| u.hidden).collect();
        let groups = model.components(&hidden);
        assert_eq!(groups.len(), 1);
        let targets: Vec<usize> = (0..model.unknowns.len()).filter(|&u| hidden[u]).collect();
        assert_eq!(targets.len(), 3);
        let weights = round_weights(&targets, 0);
        let mut attack = Attack::new(&model, &groups[0], &targets, &weights)
            .unwrap()
            .unwrap();
        // Each target up and down, twice over, so that every extreme starts from the basis
        // another left.
        for _ in 0..2 {
            for &u in &targets {
                for (direction, sign) in [(0, 1.0), (1, -1.0)] {
                    let warm = attack.extreme(u, direction).unwrap()[&u];
                    let cold = solved(&model, &groups[0], u, sign);
                    assert!((warm - cold).abs() < 1e-6, "{u} {direction}: {warm} {cold}");
                }
            }
        }
        // The three hidden reasons share 60 − 30 ± 4 − 6 ± 4 = [16, 32] (truth 24), each at
        // least 1: each reaches from 1 to 30.
        let reason_02 = targets[0];
        assert_eq!(
            attack.extreme(reason_02, 0).unwrap()[&reason_02].round(),
            31.0
        );
        assert_eq!(
            attack.extreme(reason_02, 1).unwrap()[&reason_02].round(),
            1.0
        );
    }

    /// The model of [`three_hidden_reasons`], end reason 02 (the first hidden count), every
    /// count at its truth, and the point where 02 takes 23 and 03 and 05 take 1 (80 = 40 + 23
    /// + 1 + 15 + 1): 11 from its truth of 12.
    fn traded_reasons() -> (Model, usize, HashMap<usize, f64>, HashMap<usize, f64>) {
        let model = Model::of(&three_hidden_reasons(), &PublishConfig::default()).unwrap();
        let truth: HashMap<usize, f64> = model
            .unknowns
            .iter()
            .enumerate()
            .map(|(u, unknown)| (u, f64::from(unknown.truth)))
            .collect();
        let mut hidden = (0..model.unknowns.len()).filter(|&u| model.unknowns[u].hidden);
        let reason_02 = hidden.next().unwrap();
        let mut traded = truth.clone();
        traded.insert(reason_02, 23.0);
        for other in hidden {
            traded.insert(other, 1.0);
        }
        (model, reason_02, truth, traded)
    }

    #[test]
    fn a_point_that_breaks_a_relation_proves_nothing() {
        let (model, reason_02, truth, traded) = traded_reasons();
        let mut seen = Seen::default();
        seen.carry_over(&model);
        let all: Vec<usize> = (0..model.relations.len()).collect();
        // End reason 02 at 40 would make the reasons add up to 108 of 80.
        let mut broken = truth;
        broken.insert(reason_02, 40.0);
        seen.see(&model, &all, &broken);
        assert!(!seen.wide(reason_02, 10.0));
        seen.see(&model, &all, &traded);
        assert!(seen.wide(reason_02, 10.0));
    }

    #[test]
    fn what_one_pass_proved_holds_in_the_next_only_while_bounds_loosen() {
        let (model, reason_02, _, traded) = traded_reasons();
        let all: Vec<usize> = (0..model.relations.len()).collect();
        let mut seen = Seen::default();
        seen.carry_over(&model);
        seen.see(&model, &all, &traded);
        assert!(seen.wide(reason_02, 10.0));

        // The next pass hides end reason 04 as well: every point stays possible.
        let mut more = three_hidden_reasons();
        more[4].suppressed = true;
        more[4].protected = [true, false];
        seen.carry_over(&Model::of(&more, &PublishConfig::default()).unwrap());
        assert!(seen.wide(reason_02, 10.0), "carried into the next pass");

        // A model where end reason 05 is published (4 ± 4) bounds it tighter than hidden
        // ([1, 10^7]): the point with 05 at 1 may be gone, so nothing is carried.
        let mut fewer = three_hidden_reasons();
        fewer[5].suppressed = false;
        fewer[5].protected = [false, false];
        seen.carry_over(&Model::of(&fewer, &PublishConfig::default()).unwrap());
        assert!(
            !seen.wide(reason_02, 10.0),
            "a tightened bound drops what earlier passes proved"
        );
    }

    #[test]
    fn what_the_relations_pin_one_at_a_time_is_narrow_without_an_lp() {
        // End reason 02 of `end_reasons`: 25 − [16, 24] − 3 · [0, 4] leaves [1, 9].
        let cells = end_reasons(5);
        let model = Model::of(&cells, &PublishConfig::default()).unwrap();
        let all: Vec<usize> = (0..model.relations.len()).collect();
        let derived = model.propagate(&all);
        let reason_02 = (0..model.unknowns.len())
            .find(|&u| model.unknowns[u].hidden)
            .unwrap();
        assert_eq!(derived[reason_02], (1.0, 9.0));
        // Three hidden reasons are not pinned: each may lie anywhere in [1, 31].
        let cells = three_hidden_reasons();
        let model = Model::of(&cells, &PublishConfig::default()).unwrap();
        let all: Vec<usize> = (0..model.relations.len()).collect();
        let derived = model.propagate(&all);
        for u in (0..model.unknowns.len()).filter(|&u| model.unknowns[u].hidden) {
            assert_eq!(derived[u], (1.0, 31.0));
        }
    }
}
