#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Poison messages through the real stages on the embedded transport: what a stage cannot
//! decode or apply goes to the dead-letter topic with where it was, the stage and why, and
//! the stages go on to the release the valid input alone gives.

mod common;

use std::sync::Arc;

use common::{World, golden, ttp};
use spiegel_pseudonymise::stage::{PseudonymiseStage, group};
use spiegel_pseudonymise::{Pseudonymiser, TtpKey};
use spiegel_transport::{DeadLetter, Transport, topic};

const FILES: [&str; 3] = [
    "11111111_2025-H1.csv",
    "22222222_2025-H1.csv",
    "11111111_2025-H2.csv",
];

fn key() -> TtpKey {
    TtpKey::from_bytes(1, ttp(), [2; 32])
}

/// Runs the pseudonymise stage over what its group has not read; returns its progress.
fn pseudonymise(world: &World) -> spiegel_pseudonymise::stage::Progress {
    PseudonymiseStage::new(
        Pseudonymiser::new(key(), vec![1]),
        world
            .transport
            .consumer(topic::SUBMISSIONS, &group(1))
            .unwrap(),
        world.transport.producer().unwrap(),
    )
    .run_until_idle()
    .unwrap()
}

fn dead_letters(world: &World) -> Vec<DeadLetter> {
    world
        .transport
        .consumer(topic::DEAD_LETTER, "reader")
        .unwrap()
        .poll(100)
        .unwrap()
        .iter()
        .map(|m| DeadLetter::from_message(m).unwrap())
        .collect()
}

/// A pseudonymised submission with every stamp of the pseudonymise stage but without its
/// gemeentecode column: it decodes, and fails only the validation of its rows.
fn without_gemeentecode(payload: &[u8]) -> Vec<u8> {
    let batch = spiegel_core::ipc::from_ipc(payload).unwrap();
    let schema = batch.schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != spiegel_core::wire::submission_column::GEMEENTECODE)
        .collect();
    let projected = batch.project(&keep).unwrap();
    let stamped = arrow_array::RecordBatch::try_new(
        Arc::new(
            projected
                .schema()
                .as_ref()
                .clone()
                .with_metadata(schema.metadata().clone()),
        ),
        projected.columns().to_vec(),
    )
    .unwrap();
    spiegel_core::ipc::to_ipc(&stamped).unwrap()
}

#[test]
fn poison_messages_are_dead_lettered_and_the_release_is_that_of_the_valid_input() {
    let clean = World::new();
    for name in FILES {
        clean.submit(&golden(name));
    }
    assert_eq!(pseudonymise(&clean).submissions, 3);
    let expected = clean.aggregate(1).run_until_idle().unwrap();
    let expected_release = expected.released.expect("a release of the valid input");

    let world = World::new();
    let mut producer = world.transport.producer().unwrap();
    world.submit(&golden(FILES[0]));
    // Not a submission batch at all, between two valid submissions.
    producer
        .send(
            topic::SUBMISSIONS,
            "11111111_2025-H1",
            b"BSN 123456782 in plain text",
        )
        .unwrap();
    for name in &FILES[1..] {
        world.submit(&golden(name));
    }
    let progress = pseudonymise(&world);
    assert_eq!((progress.submissions, progress.dead_letters), (3, 1));

    // On the pseudonymised topic: garbage, and a batch that fails validation after ingest.
    let valid = world
        .transport
        .consumer(topic::PSEUDONYMISED, "copier")
        .unwrap()
        .poll(1)
        .unwrap()
        .remove(0);
    producer
        .send(topic::PSEUDONYMISED, &valid.key, b"\xff\xffnot arrow")
        .unwrap();
    producer
        .send(
            topic::PSEUDONYMISED,
            &valid.key,
            &without_gemeentecode(&valid.payload),
        )
        .unwrap();
    let progress = world.aggregate(1).run_until_idle().unwrap();
    assert_eq!(progress.dead_letters, 2);
    assert_eq!(progress.forwarded, 3);
    assert_eq!(
        progress.released.as_deref(),
        Some(expected_release.as_str())
    );
    assert_eq!(world.releases(), clean.releases(), "the same master table");

    let letters = dead_letters(&world);
    let places: Vec<(&str, &str, u64)> = letters
        .iter()
        .map(|l| (l.stage.as_str(), l.topic.as_str(), l.offset))
        .collect();
    assert_eq!(
        places,
        [
            ("pseudonymise", topic::SUBMISSIONS, 1),
            ("aggregate", topic::PSEUDONYMISED, 3),
            ("aggregate", topic::PSEUDONYMISED, 4),
        ]
    );
    assert!(
        letters[2].reason.contains("gemeentecode"),
        "{}",
        letters[2].reason
    );
    for letter in &letters {
        let json = serde_json::to_string(letter).unwrap();
        assert!(
            !json.contains("123456782") && !json.contains("ps."),
            "{json}"
        );
    }

    // Committed past: a second pass takes nothing, dead-letters nothing again.
    assert_eq!(pseudonymise(&world).dead_letters, 0);
    let again = world.aggregate(1).run_until_idle().unwrap();
    assert_eq!((again.dead_letters, again.forwarded), (0, 0));
    assert_eq!(dead_letters(&world).len(), 3);
}
