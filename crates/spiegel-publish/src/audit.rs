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
//! Most hidden counts are proven wide before any LP, by walking the exact counts along
//! directions the relations allow ([`moves`]). For the rest the solver is `microlp`: pure Rust
//! (no native library to build or ship), a sparse simplex that gives vertex solutions, which
//! the audit uses to prove many intervals wide with one solve: every solution is a point the
//! attacker cannot rule out, so a count seen at two values at least the protection level apart
//! is proven wide without an LP of its own.

mod attack;
mod model;
mod moves;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use attack::{Attack, round_weights};
use microlp::ComparisonOp;
use model::Model;

use crate::rules::{AuditInterval, Cell};
use crate::{PublishConfig, Result};

/// An upper bound no count of a report reaches, for counts nothing else bounds from above: it
/// keeps every LP bounded and reads as "unbounded" in the audit.
const UNBOUNDED: f64 = 1e7;

/// The slack of the solver's arithmetic.
const TOLERANCE: f64 = 1e-6;

/// The perturbation of SDC-4: a published count lies within this of the exact one.
const PERTURBATION: f64 = 4.0;

/// The outcome of one audit of a report.
pub(crate) struct Audit {
    /// The interval proven for every hidden non-empty count.
    pub(crate) intervals: Vec<AuditInterval>,
    /// Per count whose interval is too narrow, a published count to hide with it, as
    /// (cell, column) places; empty when the audit passes.
    pub(crate) complements: Vec<Vec<(usize, usize)>>,
    /// Linear programs solved (each round and each warm extreme): what the audit cost.
    pub(crate) solves: usize,
}

/// What one audit did, for its debug line.
#[derive(Default)]
struct Work {
    protected: usize,
    by_moves: usize,
    solves: usize,
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
        let value = |u: usize| point.get(&u).copied().unwrap_or(f64::NAN);
        let within = point.keys().all(|&u| within_bounds(model, u, value(u)));
        let kept = relations.iter().all(|&r| holds(model, r, value));
        if within && kept {
            for (&u, &v) in point {
                self.low[u] = self.low[u].min(v);
                self.high[u] = self.high[u].max(v);
            }
        }
    }

    /// Takes in `from` moved `steps` along `direction`, if that is a point the attacker
    /// cannot rule out: `from` is one (the truth, [`Model::check_truth`], or a point taken in
    /// before), and each bound of a moved count and each relation it takes part in holds
    /// (the others do not change). Says whether it was.
    fn see_move(
        &mut self,
        model: &Model,
        from: &[f64],
        direction: &[(usize, f64)],
        steps: f64,
    ) -> bool {
        let at = |u: usize| {
            from[u]
                + steps
                    * direction
                        .iter()
                        .filter(|&&(d, _)| d == u)
                        .map(|&(_, c)| c)
                        .sum::<f64>()
        };
        let within = direction
            .iter()
            .all(|&(u, _)| within_bounds(model, u, at(u)));
        let kept = direction
            .iter()
            .flat_map(|&(u, _)| &model.uses[u])
            .all(|&r| holds(model, r, at));
        if within && kept {
            for &(u, _) in direction {
                let v = at(u);
                self.low[u] = self.low[u].min(v);
                self.high[u] = self.high[u].max(v);
            }
        }
        within && kept
    }

    fn wide(&self, u: usize, protection: f64) -> bool {
        self.high[u] - self.low[u] >= protection - TOLERANCE
    }
}

/// The slack of the solver's arithmetic at a value of size `v`.
fn slack(v: f64) -> f64 {
    TOLERANCE * (1.0 + v.abs())
}

/// Whether `v` lies within the bounds of unknown `u`, up to the solver's slack.
fn within_bounds(model: &Model, u: usize, v: f64) -> bool {
    let unknown = &model.unknowns[u];
    v >= unknown.lower - slack(unknown.lower) && v <= unknown.upper + slack(unknown.upper)
}

/// Whether relation `r` holds with each unknown at `value(u)`, up to the solver's slack.
fn holds(model: &Model, r: usize, value: impl Fn(usize) -> f64) -> bool {
    let relation = &model.relations[r];
    let (mut sum, mut size) = (0.0, 0.0);
    for &(u, c) in &relation.terms {
        let v = value(u);
        sum += c * v;
        size += v.abs();
    }
    match relation.comparison {
        ComparisonOp::Eq => sum.abs() <= slack(size),
        ComparisonOp::Le => sum <= slack(size),
        ComparisonOp::Ge => sum >= -slack(size),
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
    let mut work = Work::default();
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
        // Walks from the truth first: they prove most counts of a sparse report wide without
        // a solver (71% on the 50k release, 25% on the denser 1M one), and leave the LP the
        // counts that lean on published ones.
        work.protected += protected.len();
        let before_moves = open(seen).len();
        moves::prove(&model, &open(seen), seen, protection);
        work.by_moves += before_moves - open(seen).len();
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
            if attack.is_some() {
                work.solves += 1;
            }
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
                    work.solves += 1;
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
    let audit = Audit {
        intervals,
        complements,
        solves: work.solves,
    };
    tracing::debug!(
        unknowns = model.unknowns.len(),
        protected = work.protected,
        proven_by_walks = work.by_moves,
        lp_solves = audit.solves,
        complements = audit.complements.len(),
        "attacker audit of a report"
    );
    Ok(audit)
}
