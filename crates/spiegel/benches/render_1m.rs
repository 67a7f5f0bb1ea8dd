//! `cargo bench -p spiegel --bench render_1m`: `spiegel render` on every mirror and
//! municipality report of the 1M-record demo set (the demo's generator, seed 1), measured on
//! the real binary: Dutch pages (the default) three times, then Dutch and English once. Each
//! run writes into a fresh directory after a `sync`, and nothing is deleted until the end (on
//! an ext4 without a journal, as here, creating files right after deleting many is several
//! times slower). Set `SPIEGEL_BENCH_RECORDS` for another size.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;

use common::{Measured, generated, report_in, run};

fn main() {
    let records = common::bench_records();
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (input, keys) = generated(dir.path(), records);
    let reports = dir.path().join("reports");
    let data = dir.path().join("data");
    run(&[
        "run",
        "--input",
        &path(&input),
        "--out",
        &path(&reports),
        "--data-dir",
        &path(&data),
        "--keys",
        &path(&keys),
    ]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let pages = files
        .iter()
        .filter(|f| f["kind"] == "mirror" || f["kind"] == "municipality")
        .count();
    let cells: u64 = files
        .iter()
        .filter(|f| f["kind"] == "mirror" || f["kind"] == "municipality")
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    println!(
        "spiegel render benchmark, {} cores, {records} records: {pages} mirror and municipality \
         reports with {cells} cells",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let render = |name: &str, lang: &str| -> Measured {
        let out = dir.path().join(name);
        // Each run starts with the previous run's gigabyte on disk, not dirty in the page
        // cache: otherwise the kernel throttles this run's writes for the last one's.
        assert!(
            std::process::Command::new("sync")
                .status()
                .unwrap()
                .success()
        );
        let measured = run(&[
            "render",
            "--reports",
            &path(&reports),
            "--out",
            &path(&out),
            "--data-dir",
            &path(&data),
            "--lang",
            lang,
        ]);
        let bytes: u64 = walk(&out);
        println!(
            "  {name}: {:.2} s, {:.0} MB written",
            measured.wall.as_secs_f64(),
            bytes as f64 / 1e6
        );
        measured
    };
    let dutch: Vec<Measured> = (0..3).map(|i| render(&format!("nl{i}"), "nl")).collect();
    report_in(
        "render, every report, Dutch",
        pages as u64,
        "reports",
        &dutch,
    );
    let both = vec![render("both", "both")];
    report_in(
        "render, every report, Dutch and English",
        pages as u64,
        "reports",
        &both,
    );
}

fn walk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}
