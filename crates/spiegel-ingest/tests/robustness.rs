//! Corrupted uploads: whatever the bytes, the readers answer with a receipt (never a panic),
//! the counts add up, and no value from the file is echoed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use spiegel_ingest::{Column::*, Ingest, IngestConfig, Status};

/// A small deterministic generator (xorshift64*), so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CANARY: &str = "249566758";

fn seed_rows() -> Vec<Row> {
    (0..12)
        .map(|i| {
            let day = format!("202601{:02}", i + 1);
            with(base_row(), &[(Bsn, CANARY), (DatumAanvang, day.as_str())])
        })
        .collect()
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    const SPECIAL: &[u8] = b"\",;\n\r{}[]:\\0\xff\xc3\xef";
    for _ in 0..1 + rng.below(6) {
        if bytes.is_empty() {
            bytes.push(b'x');
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => bytes[at] = SPECIAL[rng.below(SPECIAL.len())],
            1 => bytes[at] = rng.next() as u8,
            2 => bytes.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
            3 => {
                bytes.remove(at);
            }
            4 => bytes.truncate(at),
            _ => {
                let end = (at + rng.below(40)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, copy);
            }
        }
    }
}

fn check(format: &str, original: &[u8], seed: u64, rounds: usize) {
    let config = IngestConfig::default();
    let meta = meta(format);
    let key = test_key();
    let mut rng = Rng(seed);
    for round in 0..rounds {
        let mut bytes = original.to_vec();
        mutate(&mut rng, &mut bytes);
        let outcome = Ingest::new(&config, &meta)
            .tokenise_with(&key)
            .read(&bytes[..])
            .unwrap_or_else(|e| panic!("{format} round {round}: {e}"));
        let receipt = &outcome.receipt;
        let counts = receipt.counts;
        if receipt.status == Status::Accepted {
            assert_eq!(
                counts.rows,
                counts.accepted + counts.merged + counts.rejected,
                "{format} round {round}: {counts:?}"
            );
            assert_eq!(outcome.records.len() as u64, counts.accepted);
        } else {
            assert!(outcome.records.is_empty());
        }
        let json = serde_json::to_string(receipt).unwrap();
        assert!(
            !json.contains(CANARY),
            "{format} round {round} echoed a value: {json}"
        );
        assert!(
            !json.contains(&CANARY[1..]),
            "{format} round {round} echoed a value"
        );
    }
}

#[test]
fn corrupted_csv_never_panics_or_echoes() {
    check("csv", csv_text(&seed_rows(), ';').as_bytes(), 1, 3000);
}

#[test]
fn corrupted_json_lines_never_panic_or_echo() {
    check("jsonl", jsonl_text(&seed_rows()).as_bytes(), 2, 3000);
}

#[test]
fn corrupted_parquet_never_panics_or_echoes() {
    check("parquet", &parquet_bytes(&seed_rows()), 3, 3000);
}
