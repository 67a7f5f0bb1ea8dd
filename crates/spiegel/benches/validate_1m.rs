//! `cargo bench -p spiegel --bench validate_1m`: throughput and peak memory of `spiegel
//! generate` and `spiegel validate` over 1M generated records, measured on the real binary as
//! a provider runs it. Set `SPIEGEL_BENCH_RECORDS` for another size.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;

use common::{Measured, report, run};

fn main() {
    let records = common::bench_records();
    let n = records.to_string();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    let single = dir.path().join("single");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    println!(
        "spiegel validate benchmark, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let generated: Vec<Measured> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("gen{i}"));
            run(&[
                "generate",
                "--out",
                &path(&out),
                "--records",
                &n,
                "--seed",
                "1",
            ])
        })
        .collect();
    report(
        "generate (5 half-years, many providers)",
        records,
        &generated,
    );
    std::fs::rename(dir.path().join("gen0"), &set).unwrap();
    let files = std::fs::read_dir(&set).unwrap().count();

    let validate: Vec<Measured> = (0..5)
        .map(|_| run(&["validate", "--json", &path(&set)]))
        .collect();
    report(
        &format!("validate, generated set ({files} files)"),
        records,
        &validate,
    );

    run(&[
        "generate",
        "--out",
        &path(&single),
        "--records",
        &n,
        "--seed",
        "1",
        "--providers",
        "1",
        "--periods",
        "2026-H1",
    ]);
    let file = std::fs::read_dir(&single)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::metadata(&file).unwrap().len();
    let one: Vec<Measured> = (0..5)
        .map(|_| run(&["validate", "--json", &path(&file)]))
        .collect();
    report(
        &format!("validate, one file ({} MB)", bytes / 1_000_000),
        records,
        &one,
    );
}
