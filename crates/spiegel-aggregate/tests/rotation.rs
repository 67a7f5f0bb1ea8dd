#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Key rotation through the real stages (docs/pseudonymisation.md): the pseudonymise stage on a new
//! K2 version re-pseudonymises every stored submission, the aggregate stage switched to that
//! version replaces its state without computing a new release, rejects pseudonyms of the retired
//! version, and refuses (without taking them) pseudonyms of a version it is not yet on.

mod common;

use common::{World, corrected, golden, ttp};
use spiegel_aggregate::AggregateError;
use spiegel_pseudonymise::TtpKey;

#[test]
fn a_rotation_replaces_the_state_without_a_new_release_and_retires_the_old_version() {
    let world = World::new();
    let v1 = TtpKey::from_bytes(1, ttp(), [2; 32]);
    let v2 = v1.rotate().unwrap();
    let (v1_copy, v2_copy) = (
        TtpKey::from_bytes(1, ttp(), [2; 32]),
        TtpKey::from_file(&{
            let path = world.dir.path().join("v2.key");
            v2.write_new(&path).unwrap();
            path
        })
        .unwrap(),
    );
    for name in ["11111111_2025-H1.csv", "22222222_2025-H1.csv"] {
        world.submit(&golden(name));
    }
    // A correction of one provider and period: the replay sends the earlier submission first.
    let correction = world.dir.path().join("11111111_2025-H2.csv");
    world.submit(&golden("11111111_2025-H2.csv"));
    corrected(&golden("11111111_2025-H2.csv"), &correction);
    world.submit(&correction);

    assert_eq!(world.pseudonymise(v1), 4);
    let before = world.aggregate(1).run_until_idle().unwrap();
    let released = before.released.expect("a first release");
    let published = world.releases();

    // The stage on version 2 re-pseudonymises all four stored submissions; the aggregate stage
    // switched to version 2 keeps the earlier of the corrected pair out, replaces every stored
    // submission and finds its release unchanged.
    assert_eq!(world.pseudonymise(v2), 4);
    let mut switched = world.aggregate(2);
    let after = switched.run_until_idle().unwrap();
    assert_eq!(
        (
            after.stored,
            after.unchanged,
            after.awaiting,
            after.released.clone()
        ),
        (3, 1, 0, None),
        "{after:?}"
    );
    assert_eq!(
        world.releases(),
        published,
        "nothing new on the aggregates topic"
    );

    // A submission pseudonymised under the retired version is rejected and changes nothing.
    world.submit(&golden("22222222_2025-H2.csv"));
    assert_eq!(world.pseudonymise(v1_copy), 1);
    let rejected = switched.run_until_idle().unwrap();
    assert_eq!(
        (
            rejected.rejected,
            rejected.stored,
            rejected.released.clone()
        ),
        (1, 0, None),
        "{rejected:?}"
    );
    // Its copy under the version in force is taken, and makes a new release.
    assert_eq!(world.pseudonymise(v2_copy), 1);
    let taken = switched.run_until_idle().unwrap();
    assert_eq!((taken.stored, taken.rejected), (1, 0), "{taken:?}");
    assert!(taken.released.is_some_and(|r| r != released));
}

#[test]
fn an_aggregate_stage_on_an_older_version_takes_nothing_of_a_newer_one() {
    let world = World::new();
    let v1 = TtpKey::from_bytes(1, ttp(), [2; 32]);
    let v2 = v1.rotate().unwrap();
    world.submit(&golden("11111111_2025-H1.csv"));
    assert_eq!(world.pseudonymise(v1), 1);
    assert!(world.first_release_on(1));
    assert_eq!(world.pseudonymise(v2), 1);
    for _ in 0..2 {
        // The message stays on the topic: the same refusal each time until the switch.
        let error = world.aggregate(1).run_until_idle().unwrap_err();
        assert!(
            matches!(
                error,
                AggregateError::NewerKeyVersion {
                    found: 2,
                    in_force: 1
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("SPIEGEL_KEY_VERSION"), "{error}");
    }
    let switched = world.aggregate(2).run_until_idle().unwrap();
    assert_eq!(
        (switched.stored, switched.awaiting, switched.released),
        (1, 0, None)
    );
}

#[test]
fn stored_submissions_of_a_retired_version_hold_the_release_until_replaced() {
    let world = World::new();
    let v1 = TtpKey::from_bytes(1, ttp(), [2; 32]);
    let v2 = v1.rotate().unwrap();
    for name in ["11111111_2025-H1.csv", "22222222_2025-H1.csv"] {
        world.submit(&golden(name));
    }
    assert_eq!(world.pseudonymise(v1), 2);
    assert!(world.first_release_on(1));
    // Switched before any re-pseudonymised copy arrived: both stored submissions wait.
    let mut switched = world.aggregate(2);
    let held = switched.run_until_idle().unwrap();
    assert_eq!(
        (held.awaiting, held.released.clone()),
        (2, None),
        "{held:?}"
    );
    // The replay, with a new submission behind it, replaces both and releases all three.
    world.submit(&golden("22222222_2025-H2.csv"));
    assert_eq!(world.pseudonymise(v2), 3);
    let done = switched.run_until_idle().unwrap();
    assert_eq!((done.stored, done.awaiting), (3, 0), "{done:?}");
    assert!(done.released.is_some());
}
