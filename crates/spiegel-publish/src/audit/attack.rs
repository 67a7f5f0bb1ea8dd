//! The attacker's linear program over one group of related counts.

use std::collections::HashMap;

use microlp::{ComparisonOp, Solution, SolveOutcome, Variable};

use super::UNBOUNDED;
use super::model::Model;
use crate::{PublishError, Result};

/// The largest value the objective can take: above every count, so that the switch rows of
/// [`Attack`] cannot bind unless set.
pub(super) const REACH: f64 = UNBOUNDED + 1.0;

/// The attacker's LP over one group of related counts, solved once and then re-aimed at each
/// count in turn. Its objective is a variable `z` bounded by a row per count and direction,
/// `z ≤ x` and `z ≤ −x`, each loosened by a switch variable that the objective keeps at its
/// upper bound, where the row cannot bind. Fixing one switch at 0 tightens its row, and the
/// optimum becomes that count's largest (or negated smallest) value; releasing it loosens the
/// row again. Each change is a bound change the solver re-optimises from its last basis, at
/// about a fifth of the cost of a solve from scratch (0.8 against 4 ms on a municipality
/// report of the 1M benchmark).
pub(super) struct Attack {
    /// `None` only while the solver holds it between two changes.
    pub(super) solution: Option<Solution>,
    /// The LP variable of each unknown of the group.
    pub(super) values: HashMap<usize, Variable>,
    /// Per count to bound: the switches of its rows `z ≤ x` and `z ≤ −x`.
    pub(super) switches: HashMap<usize, [Variable; 2]>,
}

impl Attack {
    /// The LP of the group (`unknowns`, `relations`) of `model`, with switches for `targets`,
    /// solved with `weights` on the counts: a round. The weights stay, too small to outweigh
    /// the switched rows, and break the ties among the optima of each bound, so that these
    /// too land on varied vertices. `None` when there is nothing to bound.
    pub(super) fn new(
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
    pub(super) fn point(&self) -> HashMap<usize, f64> {
        let solution = self.solution.as_ref();
        self.values
            .iter()
            .filter_map(|(&u, &v)| Some((u, solution?.var_value(v))))
            .collect()
    }

    /// The values of the group's unknowns where `target` is largest (`direction` 0) or
    /// smallest (1).
    pub(super) fn extreme(
        &mut self,
        target: usize,
        direction: usize,
    ) -> Result<HashMap<usize, f64>> {
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

    pub(super) fn take(&mut self) -> Result<Solution> {
        self.solution
            .take()
            .ok_or_else(|| PublishError::Audit("attacker audit LP lost after an error".to_owned()))
    }
}

/// A weight for each of `targets` in round `round`: a sign and a size drawn from the count and
/// the round, so that the audit is the same in every run.
pub(super) fn round_weights(targets: &[usize], round: u64) -> HashMap<usize, f64> {
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
/// is ever found wider, as every point is checked ([`super::Seen::see`]).
pub(super) const ROUND_WEIGHT: f64 = 1e-5;

/// The solution of a solve that must finish: the truth is a feasible point and every count is
/// bounded, so anything else is an error of the solver.
pub(super) fn finished(
    outcome: std::result::Result<SolveOutcome, microlp::Error>,
) -> Result<Solution> {
    outcome
        .map_err(|e| PublishError::Audit(format!("attacker audit LP: {e}")))?
        .into_solution()
        .map_err(|_| PublishError::Audit("attacker audit LP did not finish".to_owned()))
}
