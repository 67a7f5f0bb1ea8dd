#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A release recomputes only the periods a change reaches (the other periods' parts are taken
//! as computed for the release before) and decodes only the submissions stored since the last
//! one, and the result is the same as computing everything afresh.

mod common;

use arrow_array::RecordBatch;
use common::{World, golden, ttp};
use spiegel_pseudonymise::TtpKey;

const SUBMISSIONS: [&str; 4] = [
    "11111111_2025-H1.csv",
    "22222222_2025-H1.csv",
    "11111111_2025-H2.csv",
    "22222222_2025-H2.csv",
];

/// The parts of the newest release on the aggregates topic, without their metadata (release
/// id and watermark differ between worlds), by period.
fn last_release(world: &World) -> Vec<RecordBatch> {
    let releases = world.releases();
    let batches: Vec<RecordBatch> = releases
        .iter()
        .map(|payload| spiegel_core::ipc::from_ipc(payload).unwrap())
        .collect();
    let meta = |batch: &RecordBatch, key: &str| batch.schema().metadata()[key].clone();
    let newest = meta(batches.last().unwrap(), spiegel_aggregate::META_RELEASE);
    batches
        .into_iter()
        .filter(|b| meta(b, spiegel_aggregate::META_RELEASE) == newest)
        .map(|b| {
            let schema = b
                .schema()
                .as_ref()
                .clone()
                .with_metadata(std::collections::HashMap::new());
            RecordBatch::try_new(schema.into(), b.columns().to_vec()).unwrap()
        })
        .collect()
}

/// `from` with the referrer (verwijzer) of its last row changed: a correction that changes the
/// figures of its own period and no linkage (the child, its start, end and hulpvorm stay).
fn referrer_corrected(from: &std::path::Path, to: &std::path::Path) {
    let text = std::fs::read_to_string(from).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last = lines.last_mut().unwrap();
    let mut fields: Vec<&str> = last.split(',').collect();
    fields[4] = if fields[4] == "01" { "04" } else { "01" };
    *last = fields.join(",");
    std::fs::write(to, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_correction_recomputes_only_the_periods_it_reaches_and_equals_a_fresh_computation() {
    let key = || TtpKey::from_bytes(1, ttp(), [2; 32]);
    let world = World::new();
    for name in SUBMISSIONS {
        world.submit(&golden(name));
    }
    assert_eq!(world.pseudonymise(key()), 4);
    let mut stage = world.aggregate(1);
    let first = stage.run_until_idle().unwrap();
    assert!(first.released.is_some());
    assert_eq!(
        (first.parts_computed, first.parts_reused, first.decoded),
        (2, 0, 4)
    );

    // Provider 11111111 corrects 2025-H2: only that period is computed again.
    let correction = world.dir.path().join("11111111_2025-H2.csv");
    referrer_corrected(&golden("11111111_2025-H2.csv"), &correction);
    world.submit(&correction);
    assert_eq!(world.pseudonymise(key()), 1);
    let second = stage.run_until_idle().unwrap();
    assert!(second.released.is_some() && second.released != first.released);
    assert_eq!(
        (second.parts_computed, second.parts_reused, second.decoded),
        (1, 1, 1),
        "{second:?}"
    );

    // The same as a stage that only ever saw the corrected submission, part for part.
    let fresh = computed_afresh(&[&correction]);
    assert_eq!(last_release(&world), last_release(&fresh));

    // A correction of 2025-H1 that its linkage carries into 2025-H2: without child
    // 111222345's trajectory that ended in February, its start in December is no longer a
    // repeat request. Both periods are computed again, and the result still equals a fresh
    // computation.
    let first_period = world.dir.path().join("11111111_2025-H1.csv");
    without_child(&golden("11111111_2025-H1.csv"), &first_period, "111222345");
    world.submit(&first_period);
    assert_eq!(world.pseudonymise(key()), 1);
    let third = stage.run_until_idle().unwrap();
    assert!(third.released.is_some());
    assert_eq!(
        (third.parts_computed, third.parts_reused, third.decoded),
        (2, 0, 1),
        "{third:?}"
    );
    let again = computed_afresh(&[&first_period, &correction]);
    assert_eq!(last_release(&world), last_release(&again));
}

/// A world that only ever saw the golden submissions with `corrections` (files of the same
/// names) in their place, and the release its aggregate stage computes from them in one go.
fn computed_afresh(corrections: &[&std::path::Path]) -> World {
    let world = World::new();
    for name in SUBMISSIONS {
        match corrections.iter().find(|c| c.ends_with(name)) {
            Some(correction) => world.submit(correction),
            None => world.submit(&golden(name)),
        }
    }
    assert_eq!(world.pseudonymise(TtpKey::from_bytes(1, ttp(), [2; 32])), 4);
    let computed = world.aggregate(1).run_until_idle().unwrap();
    assert_eq!((computed.parts_computed, computed.parts_reused), (2, 0));
    world
}

/// `from` without the rows of the child with citizen number `bsn` (a test BSN).
fn without_child(from: &std::path::Path, to: &std::path::Path, bsn: &str) {
    let text = std::fs::read_to_string(from).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with(&format!("{bsn},")))
        .collect();
    assert!(kept.len() < text.lines().count());
    std::fs::write(to, kept.join("\n") + "\n").unwrap();
}
