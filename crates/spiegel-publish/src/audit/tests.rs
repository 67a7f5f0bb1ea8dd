//! The audit on hand-made reports.

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

/// 100 trajectories ended, exact; end reasons 01 and 02 hidden (cells 1 and 2) with 30 each,
/// 03 to 05 published.
fn two_hidden_reasons_with_room() -> Vec<Cell> {
    let mut cells = vec![cell("trajectories_ended", Some(100), None, true)];
    for (code, n) in [
        ("end_reason_01", 30),
        ("end_reason_02", 30),
        ("end_reason_03", 20),
        ("end_reason_04", 10),
        ("end_reason_05", 10),
    ] {
        cells.push(cell(code, Some(n), Some(100), false));
    }
    for hidden in [1, 2] {
        cells[hidden].suppressed = true;
        cells[hidden].protected = [true, false];
    }
    cells
}

#[test]
fn hidden_counts_with_room_between_them_are_proven_wide_without_a_solver() {
    // One hidden end reason can rise as far as the other falls (01 up, 02 down, every sum
    // the same), so each is about 30 wide either way: walks from the truth prove it, no LP
    // is needed. Without the walks the audit solves at least one round.
    let cells = two_hidden_reasons_with_room();
    let found = audit(&cells, &PublishConfig::default(), 10, &mut Seen::default()).unwrap();
    assert_eq!(found.solves, 0, "proven by walks alone");
    assert!(found.complements.is_empty());
    for hidden in [1, 2] {
        let interval = found.intervals.iter().find(|i| i.cell == hidden).unwrap();
        assert!(interval.protects(), "{interval:?}");
    }
}

#[test]
fn a_walk_never_proves_wide_what_the_relations_pin() {
    // The count of the first test, narrow through the sum of the end reasons: whatever the
    // walks find, it stays narrow and gets its complement, as without walks.
    let found = audit(
        &end_reasons(5),
        &PublishConfig::default(),
        10,
        &mut Seen::default(),
    )
    .unwrap();
    let reason_02 = found.intervals.iter().find(|i| i.cell == 2).unwrap();
    assert!(!reason_02.protects());
    assert_eq!(found.complements, vec![vec![(1, 0)]]);
}

#[test]
fn walks_do_not_start_from_a_truth_outside_what_is_published() {
    // The example of the walks, with end reason 03 published 9 away from its exact count
    // (more than the perturbation ever moves one): the truth is then no point the attacker
    // must allow, and nothing may be proven from it without the LP.
    let cells = two_hidden_reasons_with_room();
    let model = Model::of(&cells, &PublishConfig::default()).unwrap();
    let reason_03 = model
        .unknowns
        .iter()
        .position(|u| !u.hidden && u.truth == 20)
        .unwrap();
    let mut shifted = model;
    shifted.unknowns[reason_03].lower = 25.0;
    shifted.unknowns[reason_03].upper = 33.0;
    let mut seen = Seen::default();
    seen.carry_over(&shifted);
    let targets: Vec<usize> = (0..shifted.unknowns.len())
        .filter(|&u| shifted.unknowns[u].hidden)
        .collect();
    moves::prove(&shifted, &targets, &mut seen, 10.0);
    for u in targets {
        assert_eq!(seen.low[u], seen.high[u], "nothing seen but the truth");
    }
}
