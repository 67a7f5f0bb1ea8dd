#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::consumer::Record;
use super::*;

fn reassembly() -> Reassembly {
    Reassembly {
        topic: "t".to_owned(),
        partial: HashMap::new(),
        ready: VecDeque::new(),
        open: VecDeque::new(),
        owned: Vec::new(),
    }
}

/// The records `send` would write for `payload` in chunks of `chunk` bytes, from `offset`.
fn chunks(frame: &str, payload: &[u8], chunk: usize) -> Vec<(String, Vec<u8>)> {
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
    let count = payload.len().div_ceil(chunk).max(1);
    (0..count)
        .map(|i| {
            let headers = format!("{frame}|{i}/{count}|{}|{digest}", payload.len());
            let part = payload
                [(i * chunk).min(payload.len())..((i + 1) * chunk).min(payload.len())]
                .to_vec();
            (headers, part)
        })
        .collect()
}

fn take(r: &mut Reassembly, offset: i64, (headers, payload): &(String, Vec<u8>)) -> Result<()> {
    let values: Vec<&str> = headers.split('|').collect();
    r.take(&Record {
        partition: 0,
        offset,
        key: Some(b"k"),
        payload,
        headers: vec![
            (HEADER_FRAME, values[0]),
            (HEADER_CHUNK, values[1]),
            (HEADER_LENGTH, values[2]),
            (HEADER_DIGEST, values[3]),
        ],
    })
}

#[test]
fn interleaved_transactions_are_reassembled_and_never_committed_past() {
    let mut r = reassembly();
    let a = chunks("a", b"first message", 7);
    let b = chunks("b", b"second message!", 8);
    // Two producers' transactions interleave on one partition: a0 b0 a1 b1.
    take(&mut r, 10, &a[0]).unwrap();
    take(&mut r, 11, &b[0]).unwrap();
    take(&mut r, 12, &a[1]).unwrap();
    take(&mut r, 13, &b[1]).unwrap();
    let ready: Vec<Message> = r.ready.drain(..).collect();
    assert_eq!(ready[0].payload, b"first message");
    assert_eq!(ready[0].offset, 12);
    assert_eq!(ready[1].payload, b"second message!");
    // Done with the first: the second's first chunk (11) is still needed.
    assert_eq!(r.done(&ready[0]), Some(BTreeMap::from([(0, 11)])));
    assert_eq!(r.done(&ready[1]), Some(BTreeMap::from([(0, 14)])));
    // Committing twice, or something never handed out, does nothing.
    assert_eq!(r.done(&ready[1]), None);
}

#[test]
fn a_message_still_arriving_holds_the_commit_back_to_its_first_chunk() {
    let mut r = reassembly();
    let slow = chunks("slow", b"0123456789", 4);
    let fast = chunks("fast", b"xy", 4);
    take(&mut r, 20, &slow[0]).unwrap();
    take(&mut r, 21, &fast[0]).unwrap();
    let fast = r.ready.pop_front().unwrap();
    assert_eq!(fast.payload, b"xy");
    assert_eq!(r.done(&fast), Some(BTreeMap::from([(0, 20)])));
    take(&mut r, 22, &slow[1]).unwrap();
    take(&mut r, 23, &slow[2]).unwrap();
    let slow = r.ready.pop_front().unwrap();
    assert_eq!(slow.payload, b"0123456789");
    assert_eq!(r.done(&slow), Some(BTreeMap::from([(0, 24)])));
}

#[test]
fn a_damaged_message_is_handed_out_damaged_and_committed_past() {
    let mut r = reassembly();
    let mut records = chunks("f", b"payload", 4);
    records[1].1[0] ^= 1;
    take(&mut r, 0, &records[0]).unwrap();
    take(&mut r, 1, &records[1]).unwrap();
    let damaged = r.ready.pop_front().unwrap();
    assert!(damaged.damaged.as_deref().unwrap().contains("digest"));
    assert!(damaged.payload.is_empty(), "nothing of it is handed out");
    assert_eq!(r.done(&damaged), Some(BTreeMap::from([(0, 2)])));
    // Chunks out of order: damaged from the frame's first chunk on.
    let mut r = reassembly();
    let records = chunks("g", b"payload", 2);
    take(&mut r, 0, &records[0]).unwrap();
    take(&mut r, 1, &records[2]).unwrap();
    let damaged = r.ready.pop_front().unwrap();
    assert!(damaged.damaged.as_deref().unwrap().contains("out of order"));
    assert!(r.partial.is_empty());
    assert_eq!(r.done(&damaged), Some(BTreeMap::from([(0, 2)])));
    // A record some other producer wrote, without any frame header.
    let mut r = reassembly();
    r.take(&Record {
        partition: 0,
        offset: 7,
        key: None,
        payload: b"not framed",
        headers: Vec::new(),
    })
    .unwrap();
    let damaged = r.ready.pop_front().unwrap();
    assert_eq!(damaged.offset, 7);
    assert!(damaged.damaged.as_deref().unwrap().contains("frame header"));
    assert_eq!(r.done(&damaged), Some(BTreeMap::from([(0, 8)])));
}

#[test]
fn the_tail_of_a_frame_begun_before_the_position_is_ignored() {
    let mut r = reassembly();
    let records = chunks("h", b"abcdef", 3);
    take(&mut r, 5, &records[1]).unwrap();
    assert!(r.ready.is_empty() && r.partial.is_empty());
}
